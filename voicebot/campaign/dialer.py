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

A call still ringing after `ring_seconds` is cancelled (no answer). One dialer per campaign
database (a lock file beside it). SIGTERM/SIGINT stop placing calls; calls in progress finish
(drain) and are reported before the process exits.
"""

from __future__ import annotations

import fcntl
import logging
import os
import signal
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

from voicebot.campaign.ledger import Attempt, Ledger
from voicebot.campaign.loop import CampaignLoop
from voicebot.campaign.pacing import Outcome, outcome_for_sip
from voicebot.errors import CampaignError, SipError
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

    def place(self, attempt: Attempt) -> None:
        refused = self.numbers.refusal(attempt.phone)  # the database may predate the policy
        if refused is not None:
            raise NumberRefused(refused)
        uri = self.uri_for(attempt.phone)
        call_id = self.service.place_call(uri, attempt.contact, attempt.id, self.ring_seconds)
        log.info("attempt %s: calling %s (call %s)", attempt.id, uri, call_id)


@contextmanager
def dialer_lock(database: Path) -> Iterator[None]:
    """Hold the campaign database for one dialer: a second one would reconcile live calls."""
    path = database.with_name(database.name + ".dialer.lock")
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)  # beside the database, like its files
    with os.fdopen(fd, "r+") as f:
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            f.seek(0)
            holder = f.read().strip() or "another process"
            raise CampaignError(
                f"{database} is already being dialed by {holder}: one dialer per database"
            ) from None
        f.seek(0)
        f.truncate()
        f.write(f"pid {os.getpid()}")
        f.flush()
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


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
            f"--max-concurrent {MAX_CALLS}"
        )
    service = VoicebotService(replace(config, flow=Path(campaign.flow)))
    service.start()
    loop = CampaignLoop(ledger, name, now=clock())
    dialer = SipDialer(service, settings.trunk, settings.ring_seconds, config.numbers)
    events = service.endpoint.events()
    placed = 0
    opted_out: set[str] = set()
    try:
        while not stop.is_set() and not loop.done:
            for decision in loop.step(clock()):
                placed += place(dialer, loop, decision.attempt, clock)
            service.poll(events, 0.05)
            service.check_ringing()
            _opt_outs(service, ledger, name, clock, opted_out)
            _report(service, loop, clock)
        stop.set()
    finally:
        service.drain()
        _report(service, loop, clock)
    print(f"campaign {name}: {placed} call(s) placed; state {ledger.campaign(name).state}")
    return 0


def place(
    dialer: SipDialer, loop: CampaignLoop, attempt: Attempt, clock: Callable[[], datetime]
) -> bool:
    """Place one call; a call pjsua2 refuses to start (no free call slot, a bad URI) is
    reported as back-pressure (not an attempt, dialing held a moment) instead of ending the
    run with the attempt left `dialing`."""
    try:
        dialer.place(attempt)
        return True
    except NumberRefused as exc:
        log.warning("attempt %s: not dialed: %s", attempt.id, exc)
        loop.report(attempt.id, Outcome.INVALID, clock(), note=f"refused: {exc}")
        return False
    except SipError as exc:
        log.warning("attempt %s: call not placed: %s", attempt.id, exc)
        loop.report(attempt.id, Outcome.CONGESTION, clock(), note=f"not placed: {exc}")
        return False


def _opt_outs(
    service: VoicebotService,
    ledger: Ledger,
    name: str,
    clock: Callable[[], datetime],
    done: set[str],
) -> None:
    """A callee who asked not to be called goes on the do-not-call list as soon as the flow
    sets `vars.do_not_call`, while the call still runs: a dialer killed before the call ends
    (and is reported) must not dial the number again."""
    for call_id, live in list(service.calls.items()):
        out = service.outbound.get(call_id)
        if out is None or call_id in done or not live.session.engine.vars.get("do_not_call"):
            continue
        done.add(call_id)
        phone = out.contact.get("phone")
        if phone:
            reason = f"callee asked not to be called (campaign {name})"
            ledger.dnc.add(phone, reason, now=clock(), source=f"campaign:{name}")
            log.info("call %s: %s added to the do-not-call list", call_id, phone)


def _report(service: VoicebotService, loop: CampaignLoop, clock: Callable[[], datetime]) -> None:
    while not service.results.empty():
        result = service.results.get_nowait()
        disposition = loop.report(
            result.tag,
            outcome_of(result),
            clock(),
            sip_status=result.status,
            call_id=result.call_id,
            slots=result.slots,
            vars=result.vars,
        )
        log.info(
            "attempt %s: %s%s",
            result.tag,
            outcome_of(result).value,
            f" -> {disposition}" if disposition else "",
        )


def run_until_signalled(name: str, ledger: Ledger, config: ServiceConfig) -> int:
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    began = time.monotonic()
    with dialer_lock(ledger.path):
        code = run_campaign(name, ledger, config, stop=stop)
    log.info("campaign %s ran for %.0f s", name, time.monotonic() - began)
    return code
