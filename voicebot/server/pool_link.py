"""A worker's end of the campaign pool (`campaign/pool.py`): orders in, loads and reports out.

`VoicebotService.poll` (the worker's dispatcher thread) calls `step` each round: it tells the
supervisor the worker's load when it changes (the first one says the worker is ready), places
the calls ordered for this process, cancels calls that rang too long, and hands every result,
refusal and opt-out back. The INVITE itself is a command on the pjsua2 thread
(`SipEndpoint.make_call`), as for every call. A draining worker refuses new orders (back-pressure:
the attempt does not count) and says so in its load. Orders that waited while the worker was
busy do not leave together: two INVITEs of one campaign leave at least the order's `spacing`
(1/cps with burst 1) apart. An order whose turn passed (`not_after`: the planner's grant plus
`Policy.turn_margin`) is not sent; its report says so and it is dialed again later, not counted.
"""

from __future__ import annotations

import logging
import os
import queue
import time
from typing import TYPE_CHECKING, Any

from voicebot.server.placement import Load, Place, Report

if TYPE_CHECKING:
    from voicebot.server.worker import VoicebotService

log = logging.getLogger(__name__)

LOAD_EVERY = 2.0  # seconds: the load is sent again at least this often


class _ReportsFor:
    """`campaign.dialer.place`'s inbox for one attempt: what it puts goes out as a `Report`."""

    def __init__(self, link: PoolLink, attempt_id: int):
        self.link, self.attempt_id = link, attempt_id

    def put(self, item: Any) -> None:
        self.link.report(self.attempt_id, item)


class PoolLink:
    def __init__(self, worker: str, orders: Any, reports: Any):
        self.worker, self.orders, self.reports = worker, orders, reports
        self.pid = os.getpid()
        self._load: tuple[int, bool] | None = None
        self._load_at = 0.0
        self._opted_out: set[str] = set()
        self._waiting: list[Place] = []  # in order of arrival
        self._sent_at: dict[str, float] = {}  # campaign -> when its latest INVITE here left

    def report(self, attempt_id: int, item: Any) -> None:
        self.reports.put(Report(self.worker, attempt_id, item))

    def step(self, service: VoicebotService) -> None:
        from voicebot.campaign.dialer import OptOut, opted_out

        self.send_load(service)
        while True:
            try:
                self._waiting.append(self.orders.get_nowait())
            except queue.Empty:
                break
        self._place_due(service)
        service.check_ringing()
        for tag, phone in opted_out(service, self._opted_out):
            self.report(tag, OptOut(phone))
        self.flush(service)

    def flush(self, service: VoicebotService) -> None:
        """Hand over the results of the calls that ended."""
        while not service.results.empty():
            result = service.results.get_nowait()
            self.report(result.tag, result)

    def send_load(self, service: VoicebotService) -> None:
        now = time.monotonic()
        load = (service.inbound_calls(), not service.draining.is_set())
        if load != self._load or now - self._load_at >= LOAD_EVERY:
            self._load, self._load_at = load, now
            self.reports.put(Load(self.worker, self.pid, *load))

    def refuse_waiting(self, service: VoicebotService) -> None:
        """The worker stops: the orders it still holds go back (not attempts)."""
        for order in self._waiting:
            self._place(service, order)
        self._waiting.clear()

    def _place_due(self, service: VoicebotService) -> None:
        from voicebot.campaign.dialer import NotPlaced
        from voicebot.campaign.pacing import Outcome

        for order in list(self._waiting):
            campaign = order.attempt.campaign
            due = self._sent_at.get(campaign, 0.0) + order.spacing
            held = time.time() < due and not service.draining.is_set()
            if held and (order.not_after is None or due <= order.not_after):
                continue  # it can still leave in its turn
            self._waiting.remove(order)
            if held:  # its spacing ends after its turn: it would leave late
                note = f"not placed: its spacing ends {due - time.time():.3f} s on, past its turn"
                late = NotPlaced(order.attempt.id, Outcome.CONGESTION, note, late=True)
                self.report(order.attempt.id, late)
            elif self._place(service, order):
                self._sent_at[campaign] = time.time()

    def _place(self, service: VoicebotService, order: Place) -> bool:
        """Send the order's INVITE (True), or report why not: past `not_after` (held for
        spacing, or a busy dispatcher or SIP thread) it is not sent (`campaign.dialer.place`)."""
        from voicebot.campaign.dialer import NotPlaced, SipDialer, place
        from voicebot.campaign.pacing import Outcome

        attempt = order.attempt
        if order.pid != self.pid:  # queued for the worker this one replaced: reconciled
            log.info("attempt %s was for worker pid %s: not placed", attempt.id, order.pid)
            return False
        if service.draining.is_set():
            note = f"not placed: worker {self.worker} is draining"
            self.report(attempt.id, NotPlaced(attempt.id, Outcome.CONGESTION, note))
            return False
        dialer = SipDialer(service, order.trunk, order.ring_seconds, service.config.numbers)
        try:
            return place(dialer, _ReportsFor(self, attempt.id), attempt, order.not_after)
        except Exception as exc:  # e.g. the campaign's flow does not load: counted, retried
            log.exception("attempt %s: not placed", attempt.id)
            self.report(attempt.id, NotPlaced(attempt.id, Outcome.FAILED, f"not placed: {exc}"))
            return False
