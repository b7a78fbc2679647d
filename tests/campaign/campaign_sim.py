"""A virtual-clock harness for `CampaignLoop`: scripted callees behind a fake `Dialer`.

`FakeDialer.place` starts a call that ends after the callee's scripted duration with the
scripted outcome; `drive()` alternates `loop.step(now)` and jumping the clock to the next call
end or `loop.wake_at`, and checks every placement against the limits as it goes. A "crash" is
`drive(..., stop_after=N)`: it returns with calls still in flight, whose outcomes never arrive.
"""

from __future__ import annotations

import heapq
import itertools
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from voicebot.campaign.ledger import Attempt, Ledger
from voicebot.campaign.loop import CampaignLoop
from voicebot.campaign.pacing import Outcome, in_window


@dataclass(frozen=True)
class Reply:
    outcome: Outcome
    seconds: float = 20.0
    vars: dict[str, Any] = field(default_factory=dict)
    slots: dict[str, Any] = field(default_factory=dict)
    sip_status: int | None = None


@dataclass(frozen=True)
class Placed:
    at: datetime
    phone: str
    attempt_id: int


class FakeDialer:
    """Callees by number: each call gets the next reply of its script (the last repeats)."""

    def __init__(self, scripts: dict[str, list[Reply]], tries: Counter[str] | None = None):
        self.scripts = scripts
        self.tries: Counter[str] = tries if tries is not None else Counter()
        self.placed: list[Placed] = []
        self.ends: list[tuple[datetime, int, int, Reply]] = []
        self.now: datetime | None = None
        self._seq = itertools.count()

    def place(self, attempt: Attempt) -> None:
        assert self.now is not None
        script = self.scripts[attempt.phone]
        reply = script[min(self.tries[attempt.phone], len(script) - 1)]
        self.tries[attempt.phone] += 1
        self.placed.append(Placed(self.now, attempt.phone, attempt.id))
        end = self.now + timedelta(seconds=reply.seconds)
        heapq.heappush(self.ends, (end, next(self._seq), attempt.id, reply))

    def next_end(self) -> datetime | None:
        return self.ends[0][0] if self.ends else None


@dataclass
class Checks:
    """What the callees would log: concurrency, spacing, windows, calls per local day."""

    max_in_flight: int = 0
    min_gap: float = float("inf")
    outside_window: list[Placed] = field(default_factory=list)
    per_day: Counter[tuple[str, str]] = field(default_factory=Counter)


def drive(
    ledger: Ledger,
    name: str,
    dialer: FakeDialer,
    start: datetime,
    *,
    until: timedelta = timedelta(days=7),
    stop_after: int | None = None,
    checks: Checks | None = None,
) -> tuple[datetime, Checks]:
    campaign = ledger.campaign(name)
    zones = {
        r["phone"]: tuple(r["timezones"].split())
        for r in ledger.db.execute(
            "SELECT phone, timezones FROM contacts WHERE campaign_id = ?", (campaign.id,)
        )
    }
    policy = campaign.policy
    checks = checks or Checks()
    loop = CampaignLoop(ledger, name, now=start)
    now = start
    last_dial = dialer.placed[-1].at if dialer.placed else None
    live: dict[int, datetime] = defaultdict()
    while not loop.done:
        dialer.now = now
        for decision in loop.step(now):
            dialer.place(decision.attempt)
            placed = dialer.placed[-1]
            live[placed.attempt_id] = now
            checks.max_in_flight = max(checks.max_in_flight, len(live))
            if last_dial is not None:
                checks.min_gap = min(checks.min_gap, (now - last_dial).total_seconds())
            last_dial = now
            if not in_window(policy, zones[placed.phone], now):
                checks.outside_window.append(placed)
            day = now.astimezone(ZoneInfo(zones[placed.phone][0])).date().isoformat()
            checks.per_day[(placed.phone, day)] += 1
            if stop_after is not None and len(dialer.placed) >= stop_after:
                return now, checks  # crash: calls in flight are never reported
        if loop.done:
            break
        times = [t for t in (loop.wake_at, dialer.next_end()) if t is not None]
        assert times, "the loop is stuck: nothing in flight and no wake-up time"
        now = max(now, min(times))
        assert now - start < until, "the campaign did not finish in time"
        while dialer.ends and dialer.ends[0][0] <= now:
            _, _, attempt_id, reply = heapq.heappop(dialer.ends)
            live.pop(attempt_id, None)
            loop.report(
                attempt_id,
                reply.outcome,
                now,
                sip_status=reply.sip_status,
                call_id=f"call-{attempt_id}",
                slots=reply.slots,
                vars=reply.vars,
            )
    return now, checks
