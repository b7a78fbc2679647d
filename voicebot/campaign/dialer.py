"""The SIP dialer: `voicebot campaign run NAME` places a campaign's calls and runs its flow.

One process: a `VoicebotService` (one pjsua2 endpoint, so at most 4 calls at once: a campaign
allowing more is refused with a clear error) and the campaign loop on the same thread:

    loop.step(now)  -> attempts to place (each already written to the ledger as `dialing`)
    the number      -> checked again against the outbound policy (settings `outbound:`): a
                       refused one is not dialed and ends `invalid`
    SipDialer.place -> INVITE to the trunk URI ({number} filled in)
    service events  -> never answered: the INVITE's final status (486 busy, 408/480/487 no
                       answer, 404/484 invalid, 503 congestion) ; answered: AMD decides human or
                       machine, the flow runs, its slots and vars come back
    opt-outs        -> a flow setting `vars.do_not_call` puts the number on the do-not-call
                       list at once, while the call still runs (a crash must not lose it)
    loop.report     -> ledger (disposition, retries, do-not-call when the flow set it)

A call still ringing after `ring_seconds` is cancelled (no answer). SIGTERM/SIGINT stop
placing calls; calls in progress finish (drain) and are reported before the process exits.

Two threads, one queue each way: the SIP thread (the caller's, which owns pjsua2) polls the
endpoint, places the attempts it finds in `dials` and hands every result, refusal and opt-out
to `inbox`; the planner thread (`Planner`, which owns the database) steps the campaign loop
when the next contact is due or a result arrives (never on a fixed tick), records outcomes and
keeps the dialer's lease (`lease.py`) renewed. Several dialers, on one machine or several
sharing one PostgreSQL, may run the same campaign: each holds its own lease, contacts are
claimed under row locks, and each takes over a dead one's calls once its lease expires.
Under `voicebot serve` the workers dial instead (`pool.py`: the same `Planner`, in the
supervisor, sending each attempt to a worker).
"""

from __future__ import annotations

import logging
import os
import queue
import signal
import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Protocol

from voicebot.campaign.lease import Lease
from voicebot.campaign.ledger import Attempt, Ledger
from voicebot.campaign.loop import CampaignLoop, DialDecision
from voicebot.campaign.pacing import Outcome, outcome_for_sip
from voicebot.errors import CampaignError, SipError, TooLate
from voicebot.policy.numbers import NumberPolicy
from voicebot.server.worker import OutboundResult, ServiceConfig, VoicebotService
from voicebot.sip.config import MAX_CALLS

log = logging.getLogger(__name__)


def outcome_of(result: OutboundResult) -> Outcome:
    if result.answered_by is None:
        return outcome_for_sip(result.status or 0)
    if result.outcome == "failed":  # the flow crashed mid-call: retry per policy, not done
        return Outcome.FAILED
    return Outcome.MACHINE if result.answered_by == "machine" else Outcome.ANSWERED


class NumberRefused(Exception):
    """The outbound policy refuses the attempt's number (checked again before each dial)."""


class SipDialer:
    """`voicebot.campaign.loop.Dialer` over the service's SIP endpoint."""

    def __init__(
        self,
        service: VoicebotService,
        trunk: str,
        ring_seconds: float,
        numbers: NumberPolicy | None = None,
    ):
        self.service = service
        self.trunk = trunk
        self.ring_seconds = ring_seconds
        self.numbers = numbers or NumberPolicy()

    def uri_for(self, phone: str) -> str:
        return self.trunk.format(number=phone, digits=phone.lstrip("+"))

    def place(self, attempt: Attempt, not_after: float | None = None) -> None:
        refused = self.numbers.refusal(attempt.phone)  # the database may predate the policy
        if refused is not None:
            raise NumberRefused(refused)
        uri = self.uri_for(attempt.phone)
        flow = Path(attempt.flow)
        call_id = self.service.place_call(
            uri, attempt.contact, attempt.id, self.ring_seconds, flow, not_after
        )
        log.info("attempt %s: calling %s (call %s)", attempt.id, uri, call_id)


@dataclass(frozen=True)
class NotPlaced:
    """The SIP thread did not place an attempt: the outcome to record instead (`late`: its
    turn had passed, `pacing.after_outcome`)."""

    attempt_id: int
    outcome: Outcome
    note: str
    late: bool = False


@dataclass(frozen=True)
class Placed:
    """The INVITE of attempt `attempt_id` left at `at` (`time.time()` of the SIP thread, which
    runs on the planner's machine): the calls-per-second bucket counts from then
    (`Pacer.sent`), however late a busy SIP thread placed it."""

    attempt_id: int
    at: float


@dataclass(frozen=True)
class OptOut:
    """A callee asked, mid-call, not to be called again."""

    phone: str


DRAINED = "drained"  # the SIP thread's last message: every call has ended and been handed over
RECHECK = timedelta(seconds=1)  # a step at least this often: other dialers' calls, CLI changes
Inbox = OutboundResult | NotPlaced | Placed | OptOut | str


class Planner:
    """The campaign loop on its own thread: it alone touches the database."""

    def __init__(
        self,
        ledger: Ledger,
        name: str,
        dials: queue.Queue[tuple[Attempt, float]],
        inbox: queue.Queue[Inbox],
        stop: threading.Event,
        clock: Callable[[], datetime],
    ):
        self.ledger, self.name, self.dials, self.inbox = ledger, name, dials, inbox
        self.stop, self.clock = stop, clock
        campaign = ledger.campaign(name)
        self.ttl = timedelta(seconds=campaign.settings.lease_seconds)
        self.holder = f"{socket.gethostname()} pid {os.getpid()}"
        self.lease: Lease = ledger.leases.acquire(campaign.id, self.holder, clock(), self.ttl)
        self.loop = CampaignLoop(ledger, name, now=clock(), lease=self.lease, clock=clock)
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            self._run()
        except BaseException as exc:  # the SIP thread stops and re-raises it
            self.error = exc
            self.stop.set()
            log.exception("campaign %s: the planner stopped", self.name)
        finally:
            self.ledger.leases.release(self.lease, self.clock())

    def _run(self) -> None:
        while True:
            now = self.clock()
            if now >= self.lease.renew_at(self.ttl):
                self._renew(now)
            if not self.stop.is_set():
                self._step(now)
            wake = min(
                t
                for t in (self.loop.wake_at, self.lease.renew_at(self.ttl), now + RECHECK)
                if t is not None
            )
            try:
                items = [self.inbox.get(timeout=max(0.0, (wake - self.clock()).total_seconds()))]
            except queue.Empty:
                continue
            while not self.inbox.empty():
                items.append(self.inbox.get_nowait())
            for item in items:
                self._handle(item)
            if DRAINED in items:
                return

    def _step(self, now: datetime) -> None:
        """Plan and hand the attempts to place over to the SIP thread, each with the time
        after which its INVITE must not leave (`Policy.turn_margin`)."""
        for decision in self.loop.step(now):
            self.dials.put((decision.attempt, self._turn_deadline(decision)))
        if self.loop.done:
            self.stop.set()

    def _turn_deadline(self, decision: DialDecision) -> float:
        """When the INVITE of `decision` must have left (`time.time()`): its turn margin from
        its grant, counted on the planner's clock (the grant time, not the step's start)."""
        since = 0.0 if decision.at is None else (self.clock() - decision.at).total_seconds()
        return time.time() + self.loop.policy.turn_margin() - max(0.0, since)

    def _renew(self, now: datetime) -> None:
        renewed = self.ledger.leases.renew(self.lease, now, self.ttl)
        if renewed is None:  # it ran out and another dialer reconciled our calls
            log.warning(
                "campaign %s: lease %s was lost: taking a new one", self.name, self.lease.id
            )
            renewed = self.ledger.leases.acquire(self.lease.campaign_id, self.holder, now, self.ttl)
            self.loop.lease = renewed
        self.lease = renewed
        lost = self.ledger.reconcile(now, self.name)  # dead dialers' calls, once expired
        if lost:
            log.warning("campaign %s: %d attempt(s) reconciled as unknown", self.name, len(lost))

    def _handle(self, item: Inbox) -> None:
        now = self.clock()
        if isinstance(item, Placed):  # its SIP thread is on this machine: time.time() is ours
            self.loop.sent(now - timedelta(seconds=max(0.0, time.time() - item.at)))
        elif isinstance(item, NotPlaced):
            self.loop.report(item.attempt_id, item.outcome, now, note=item.note, late=item.late)
        elif isinstance(item, OptOut):
            reason = f"callee asked not to be called (campaign {self.name})"
            self.ledger.dnc.add(item.phone, reason, now=now, source=f"campaign:{self.name}")
            log.info("%s added to the do-not-call list", item.phone)
        elif isinstance(item, OutboundResult):
            outcome = outcome_of(item)
            disposition = self.loop.report(
                item.tag,
                outcome,
                now,
                sip_status=item.status,
                call_id=item.call_id,
                slots=item.slots,
                vars=item.vars,
            )
            log.info(
                "attempt %s: %s%s",
                item.tag,
                outcome.value,
                f" -> {disposition}" if disposition else "",
            )


def run_campaign(
    name: str,
    ledger: Ledger,
    config: ServiceConfig,
    *,
    stop: threading.Event | None = None,
    clock: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> int:
    """Dial campaign `name` until it is finished, cancelled or `stop` is set."""
    stop = stop or threading.Event()
    campaign = ledger.campaign(name)
    settings = campaign.settings
    if settings.max_concurrent > MAX_CALLS:
        raise CampaignError(
            f"campaign {name} allows {settings.max_concurrent} calls at once; one dialer "
            f"process places at most {MAX_CALLS} (pjsua2's limit): create it with "
            f"--max-concurrent {MAX_CALLS}, or let `voicebot serve --workers N` dial it "
            f"({MAX_CALLS} calls per worker)"
        )
    service = VoicebotService(replace(config, flow=Path(campaign.flow)))
    service.start()
    dials: queue.Queue[tuple[Attempt, float]] = queue.Queue()
    inbox: queue.Queue[Inbox] = queue.Queue()
    planner = Planner(ledger, name, dials, inbox, stop, clock)
    thread = threading.Thread(target=planner.run, name=f"planner {name}", daemon=True)
    thread.start()
    dialer = SipDialer(service, settings.trunk, settings.ring_seconds, config.numbers)
    events = service.endpoint.events()
    placed = 0
    opted_out: set[str] = set()
    try:
        while not stop.is_set():
            while not dials.empty():
                placed += place(dialer, inbox, *dials.get_nowait())
            service.poll(events, 0.02)
            service.check_ringing()
            _opt_outs(service, inbox, opted_out)
            _hand_over(service, inbox)
    finally:
        while not dials.empty():  # written, never sent: not an attempt
            attempt, _ = dials.get_nowait()
            inbox.put(NotPlaced(attempt.id, Outcome.CONGESTION, "not placed: the dialer stopped"))
        service.drain()
        _hand_over(service, inbox)
        inbox.put(DRAINED)
        thread.join()
    if planner.error is not None:
        raise planner.error
    print(f"campaign {name}: {placed} call(s) placed; state {ledger.campaign(name).state}")
    return 0


class Put(Protocol):
    def put(self, item: Any) -> None: ...


def place(dialer: SipDialer, inbox: Put, attempt: Attempt, not_after: float | None = None) -> bool:
    """Place one call (on the SIP thread); a call pjsua2 refuses to start (no free call slot, a
    bad URI) is reported as back-pressure (not an attempt, dialing held a moment) instead of
    ending the run with the attempt left `dialing`; one whose turn passed before the SIP thread
    came to it (`not_after`) is not sent and not an attempt either, with no hold."""
    try:
        dialer.place(attempt, not_after)
        inbox.put(Placed(attempt.id, time.time()))
        return True
    except TooLate as exc:
        log.info("attempt %s: %s", attempt.id, exc)
        inbox.put(NotPlaced(attempt.id, Outcome.CONGESTION, f"not placed: {exc}", late=True))
        return False
    except NumberRefused as exc:
        log.warning("attempt %s: not dialed: %s", attempt.id, exc)
        inbox.put(NotPlaced(attempt.id, Outcome.INVALID, f"refused: {exc}"))
        return False
    except SipError as exc:
        log.warning("attempt %s: call not placed: %s", attempt.id, exc)
        inbox.put(NotPlaced(attempt.id, Outcome.CONGESTION, f"not placed: {exc}"))
        return False


def _opt_outs(service: VoicebotService, inbox: queue.Queue[Inbox], done: set[str]) -> None:
    for _, phone in opted_out(service, done):
        inbox.put(OptOut(phone))


def opted_out(service: VoicebotService, done: set[str]) -> Iterator[tuple[Any, str]]:
    """(tag, phone) of each callee who asked not to be called, once, as soon as the flow sets
    `vars.do_not_call` while the call still runs: the number goes on the do-not-call list at
    once, as a dialer killed before the call ends (and is reported) must not dial it again."""
    for call_id, live in list(service.calls.items()):
        out = service.outbound.get(call_id)
        if out is None or call_id in done or not live.session.engine.vars.get("do_not_call"):
            continue
        done.add(call_id)
        phone = out.contact.get("phone")
        if phone:
            log.info("call %s: %s asked not to be called", call_id, phone)
            yield out.tag, phone


def _hand_over(service: VoicebotService, inbox: queue.Queue[Inbox]) -> None:
    while not service.results.empty():
        inbox.put(service.results.get_nowait())


def run_until_signalled(name: str, ledger: Ledger, config: ServiceConfig) -> int:
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    began = time.monotonic()
    code = run_campaign(name, ledger, config, stop=stop)
    log.info("campaign %s ran for %.0f s", name, time.monotonic() - began)
    return code
