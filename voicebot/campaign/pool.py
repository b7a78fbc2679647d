"""Campaigns dialed by the worker pool of `voicebot serve` (`PoolDialer`, in the supervisor).

`voicebot campaign run` is a dialer with its own pjsua2 endpoint, so at most 4 calls. Under
`voicebot serve --workers N` the supervisor dials every running campaign of its campaign
database through its workers instead, the same processes that answer inbound calls:

    router thread    reads the workers' messages (`server/placement.py`): a worker's `Load`
                     (it is ready, and its inbound calls) and each attempt's `Report`, handed
                     to its campaign's planner; once a second, starts a planner for every
                     campaign that is `running` (started from the console, the CLI or another
                     machine) and has none
    planner threads  one per running campaign (`PoolPlanner`, the `Planner` of `dialer.py` with
                     its own connection): each step reserves the free call slots of the live
                     workers (`placement.assign`: least-loaded first, 4 per worker counting its
                     inbound calls), plans with `CampaignLoop.step(now, seats)` (so
                     `max_concurrent` is bounded by those slots) and sends each attempt to its
                     worker's queue; the worker's dispatcher places it (`server/pool_link.py`)

Each worker process gets its own lease on each campaign: its attempts are written under it. A
worker that exits (killed mid-call, crashed) is reported by the supervisor (`worker_gone`,
behind the worker's own last messages on the same queue) and every planner reconciles that
lease at once (`Ledger.reconcile(lease=...)`): its attempts still `dialing` become `unknown`,
counted and retried after their backoff, as for a dead `campaign run`. What was queued for the
dead process is ignored by its successor (orders name the pid). The leases are renewed with the
planner's; if the whole `serve` dies they expire and any dialer reconciles them. Dialers on
other machines share the campaign through the database as before (row locks, leases).
"""

from __future__ import annotations

import logging
import multiprocessing
import queue
import threading
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from voicebot.campaign.dialer import DRAINED, Inbox, OptOut, Placed, Planner
from voicebot.campaign.lease import Lease
from voicebot.campaign.ledger import Attempt, Ledger
from voicebot.server.placement import Load, Place, Report, WorkerLoad, assign, slots
from voicebot.sip.config import MAX_CALLS

log = logging.getLogger(__name__)

WAKE = "wake"  # a planner's inbox: slots were freed or a worker is ready


@dataclass(frozen=True)
class Gone:
    """The supervisor saw worker `worker` exit (on the reports queue, after its last words)."""

    worker: str
    exitcode: int | None = None


@dataclass(frozen=True)
class _Live:
    pid: int
    inbound: int


class PoolPlanner(Planner):
    """A campaign's planner whose calls go to the pool's workers, each under its own lease."""

    def __init__(
        self,
        pool: PoolDialer,
        ledger: Ledger,
        name: str,
        inbox: queue.Queue[Any],
        stop: threading.Event,
        clock: Callable[[], datetime],
    ):
        super().__init__(ledger, name, queue.Queue(), inbox, stop, clock)
        self.pool = pool
        self.seats: dict[str, tuple[int, Lease]] = {}  # worker -> (its pid, its lease)
        self._told_slots = 0  # the slot count last logged as below max_concurrent

    def run(self) -> None:
        try:
            super().run()
        finally:
            for _, lease in self.seats.values():
                self.ledger.leases.release(lease, self.clock())
            self.ledger.close()

    def _step(self, now: datetime) -> None:
        settings = self.ledger.campaign(self.name).settings
        most = self.pool.slots_live()
        if 0 < most < settings.max_concurrent and most != self._told_slots:
            self._told_slots = most
            log.info(
                "campaign %s allows %d calls at once; the live workers have %d slots: at most %d",
                self.name,
                settings.max_concurrent,
                most,
                most,
            )
        picks = self.pool.reserve(self.loop.policy.max_concurrent)
        try:
            decisions = self.loop.step(now, [self._lease(w, pid, now) for w, pid in picks])
        finally:
            self.pool.release(picks)
        for (worker, pid), decision in zip(picks, decisions, strict=False):
            deadline = self._turn_deadline(decision)
            self.pool.send(self.name, worker, pid, decision.attempt, settings, deadline)
        if self.loop.done:
            self.inbox.put(DRAINED)

    def _lease(self, worker: str, pid: int, now: datetime) -> Lease:
        held = self.seats.get(worker)
        if held is not None and held[0] == pid:
            return held[1]
        if held is not None:  # a process we did not see go
            self._gone(worker, now)
        holder = f"{self.holder} worker {worker} pid {pid}"
        lease = self.ledger.leases.acquire(self.lease.campaign_id, holder, now, self.ttl)
        self.seats[worker] = (pid, lease)
        return lease

    def _gone(self, worker: str, now: datetime) -> None:
        held = self.seats.pop(worker, None)
        if held is None:
            return
        lost = self.ledger.reconcile(now, self.name, lease=held[1].id)
        if lost:
            log.warning(
                "campaign %s: worker %s exited: %d attempt(s) reconciled as unknown",
                self.name,
                worker,
                len(lost),
            )

    def _renew(self, now: datetime) -> None:
        for worker, (pid, lease) in list(self.seats.items()):
            renewed = self.ledger.leases.renew(lease, now, self.ttl)
            if renewed is None:  # expired, and reconciled by another dialer
                del self.seats[worker]
            else:
                self.seats[worker] = (pid, renewed)
        super()._renew(now)

    def _handle(self, item: Inbox | Gone) -> None:
        if isinstance(item, Gone):
            self._gone(item.worker, self.clock())
        else:
            super()._handle(item)


class PoolDialer:
    def __init__(
        self,
        database: str,
        region: str,
        workers: Sequence[str],
        *,
        slots: int = MAX_CALLS,
        poll: float = 1.0,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ):
        ctx = multiprocessing.get_context("spawn")
        self.database, self.region, self.names = database, region, list(workers)
        self.slots, self.poll, self.clock = slots, poll, clock
        self.orders: dict[str, Any] = {name: ctx.Queue() for name in self.names}
        self.reports: Any = ctx.Queue()
        self._lock = threading.Lock()
        self._live: dict[str, _Live] = {}  # ready workers taking calls
        self._out: dict[int, str] = {}  # attempt id -> its worker: sent, not reported yet
        self._campaign_of: dict[int, str] = {}  # attempt id -> campaign, until its result
        self._reserved: Counter[str] = Counter()
        self._planners: dict[str, tuple[queue.Queue[Any], threading.Event, threading.Thread]] = {}
        self._watch_now = threading.Event()
        self._stop = threading.Event()
        self._router = threading.Thread(target=self._run, name="campaign pool", daemon=True)

    @property
    def queues(self) -> tuple[dict[str, Any], Any]:
        """What each worker process is given (`worker.worker_main(pool=...)`)."""
        return self.orders, self.reports

    # -- the supervisor's side --------------------------------------------------------------
    def start(self) -> None:
        self._router.start()

    def on_campaign(self, name: str, action: str) -> None:
        """The console changed a campaign's state: look for running campaigns now."""
        self._watch_now.set()

    def worker_gone(self, worker: str, exitcode: int | None = None) -> None:
        self.reports.put(Gone(worker, exitcode))

    def status(self) -> dict[str, Any]:
        with self._lock:
            return {
                "dialing": sorted(n for n, p in self._planners.items() if p[2].is_alive()),
                "workers": {w: self._calls(w, False) for w in self.names if w in self._live},
            }

    def stop(self, timeout: float = 10.0) -> None:
        """After the workers drained: take their last reports, then stop the planners."""
        deadline = time.monotonic() + timeout
        with self._lock:
            planners = list(self._planners.values())
            self._live.clear()  # no more calls placed
        for _, stop, _ in planners:
            stop.set()
        while self._out and time.monotonic() < deadline and self._router.is_alive():
            time.sleep(0.1)
        for inbox, _, _ in planners:
            inbox.put(DRAINED)
        for _, _, thread in planners:
            thread.join(max(1.0, deadline - time.monotonic()))
        self._stop.set()
        self._router.join(5)

    # -- the planners' side -----------------------------------------------------------------
    def _loads(self) -> list[WorkerLoad]:
        return [WorkerLoad(w, self._calls(w), self.slots) for w in self.names if w in self._live]

    def _calls(self, worker: str, reserved: bool = True) -> int:
        """Its calls: inbound, placed for the pool, and (`reserved`) slots held by a planner."""
        placed = sum(1 for w in self._out.values() if w == worker)
        held = self._reserved[worker] if reserved else 0
        return self._live[worker].inbound + placed + held

    def slots_live(self) -> int:
        """Every call slot of the workers taking campaign calls (`placement.slots`)."""
        with self._lock:
            return slots(self._loads())

    def reserve(self, count: int) -> list[tuple[str, int]]:
        """Up to `count` free slots, (worker, pid) each, held until `send` or `release`."""
        with self._lock:
            picks = [(w, self._live[w].pid) for w in assign(self._loads(), count)]
            self._reserved.update(w for w, _ in picks)
        return picks

    def release(self, picks: Sequence[tuple[str, int]]) -> None:
        with self._lock:
            self._reserved.subtract(w for w, _ in picks)

    def send(
        self,
        campaign: str,
        worker: str,
        pid: int,
        attempt: Attempt,
        settings: Any,
        not_after: float | None = None,
    ) -> None:
        """Queue `attempt` for worker process `pid` (the planner's reservation is released
        right after), to leave by `not_after`. A worker gone meanwhile: the attempt waits for
        its lease's reconcile."""
        with self._lock:
            live = self._live.get(worker)
            self._campaign_of[attempt.id] = campaign
            if live is None or live.pid != pid:
                return
            self._out[attempt.id] = worker
        spacing = 1.0 / settings.cps if settings.burst == 1 else 0.0
        order = Place(pid, attempt, settings.trunk, settings.ring_seconds, spacing, not_after)
        self.orders[worker].put(order)

    # -- the router thread ------------------------------------------------------------------
    def _run(self) -> None:
        ledger: Ledger | None = None
        next_watch = 0.0
        while not self._stop.is_set():
            try:
                if time.monotonic() >= next_watch or self._watch_now.is_set():
                    self._watch_now.clear()
                    ledger = ledger or Ledger(self.database, self.region)
                    self._watch(ledger)
                    next_watch = time.monotonic() + self.poll
                try:
                    message = self.reports.get(timeout=0.2)
                except queue.Empty:
                    continue
                self._receive(message)
            except Exception:  # the pool must outlive one bad message or database hiccup
                log.exception("campaign pool")
                time.sleep(self.poll)
        if ledger is not None:
            ledger.close()

    def _watch(self, ledger: Ledger) -> None:
        running = [c.name for c in ledger.campaigns() if c.state == "running"]
        with self._lock:
            for name in running:
                held = self._planners.get(name)
                if (held is None or not held[2].is_alive()) and not self._stop.is_set():
                    self._planners[name] = self._start_planner(name)

    def _start_planner(
        self, name: str
    ) -> tuple[queue.Queue[Any], threading.Event, threading.Thread]:
        inbox: queue.Queue[Any] = queue.Queue()
        stop = threading.Event()

        def plan() -> None:
            planner = PoolPlanner(
                self, Ledger(self.database, self.region), name, inbox, stop, self.clock
            )
            log.info("campaign %s: dialing through the workers", name)
            planner.run()

        thread = threading.Thread(target=plan, name=f"planner {name}", daemon=True)
        thread.start()
        return inbox, stop, thread

    def _receive(self, message: Any) -> None:
        with self._lock:
            if isinstance(message, Load):
                self._loaded(message)
            elif isinstance(message, Gone):
                live = self._live.pop(message.worker, None)
                for attempt_id in [a for a, w in self._out.items() if w == message.worker]:
                    del self._out[attempt_id]
                if live is not None:
                    level = logging.INFO if message.exitcode == 0 else logging.WARNING
                    log.log(level, "worker %s (pid %s) exited with %s", message.worker,
                            live.pid, message.exitcode)  # fmt: skip
                for inbox, _, _ in self._planners.values():
                    inbox.put(message)
            elif isinstance(message, Report):
                self._reported(message)

    def _loaded(self, load: Load) -> None:
        known = self._live.get(load.worker)
        if not load.accepting:
            self._live.pop(load.worker, None)
            return
        self._live[load.worker] = _Live(load.pid, load.inbound)
        if known is None or known.pid != load.pid:
            log.info("worker %s (pid %s) takes campaign calls", load.worker, load.pid)
            self._wake()
        elif load.inbound < known.inbound:
            self._wake()

    def _reported(self, report: Report) -> None:
        final = not isinstance(report.item, (Placed, OptOut))  # both come before the result
        campaign = self._campaign_of.get(report.attempt_id)
        if final:
            self._out.pop(report.attempt_id, None)
            self._campaign_of.pop(report.attempt_id, None)
        held = self._planners.get(campaign) if campaign else None
        if held is None:
            log.warning("attempt %s: report from %s for no planner", report.attempt_id,
                        report.worker)  # fmt: skip
            return
        held[0].put(report.item)
        if final:
            self._wake(but=campaign)

    def _wake(self, but: str | None = None) -> None:
        """Freed slots may let every other campaign's planner dial."""
        for name, (inbox, _, _) in self._planners.items():
            if name != but:
                inbox.put(WAKE)
