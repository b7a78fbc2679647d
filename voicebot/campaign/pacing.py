"""Pacing, sans-IO: who to dial at `now`, what an outcome means, and when to look again.

Nothing here reads a clock, sleeps or touches a database: `plan(policy, pacer, contacts, now)`
takes plain data and returns the contacts to dial, the pacer state after dialing them, and the
next wake-up time. `verdict(policy, contact, outcome, now)` says whether an outcome counts as an
attempt, ends the contact (its disposition) or when it may be retried; `after_outcome` updates
the pacer. All times are timezone-aware UTC datetimes.

Rules:

* Calling window: a contact may be dialed at `now` only when `now` is inside the window in its
  local time (start inclusive, end exclusive), per weekday (`Policy.weekdays`, Monday = 0; a
  weekday mapped to None is not called). With several time zones the window must be open in
  every one of them (the narrowest window).
* Concurrency: never more than `max_concurrent` calls in flight.
* Calls per second: a token bucket of `burst` tokens refilled at `cps` per second; each dial
  spends one, so with burst 1 two dials are at least 1/cps seconds apart. An INVITE that left
  later than planned (`Pacer.sent`, its worker was busy) counts from when it left. An INVITE
  that cannot leave within `Policy.turn_margin()` of its turn is not sent at all (`late`: not
  an attempt and no back-pressure hold; the contact waits as after a 503), so with burst 1 two
  INVITEs are at least 0.7/cps apart whichever machines sent them.
* Daily cap: at most `daily_cap` counted attempts per number per local calendar day (in the
  contact's first time zone); a capped contact waits for its next local midnight.
* Outcomes (`outcome_for_sip` maps SIP codes): `answered` ends the contact (`completed`, or
  the flow's own disposition); `invalid` (404/410/484/604) ends it, never retried; `busy`,
  `no_answer`, `failed`, `machine` and `unknown` (a crash left the outcome unknown) follow
  their `RetryRule`: no retry ends the contact with the outcome's name, a retry waits
  `backoff * factor ** (attempts - 1)`, and the attempt that reaches `max_attempts` ends it
  as `max_attempts`.
* Back-pressure (503): not an attempt. The contact waits `congestion_pause`; the dialer holds
  all dialing for `congestion_pause * 2 ** (n - 1)` (at most `congestion_max`) after the n-th
  503 in a row and divides its rate by 2 ** n (n at most 5); each other outcome brings n down
  by one.
* Order: among contacts ready now, the one waiting longest first (`not_before`), fresh
  contacts (no `not_before`) by id.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, time, timedelta
from enum import StrEnum
from functools import lru_cache
from zoneinfo import ZoneInfo

_MAX_CONGESTION = 5
_HORIZON_DAYS = 8  # how far ahead a window is looked for


class Outcome(StrEnum):
    ANSWERED = "answered"
    MACHINE = "machine"
    BUSY = "busy"
    NO_ANSWER = "no_answer"
    FAILED = "failed"
    INVALID = "invalid"
    CONGESTION = "congestion"
    UNKNOWN = "unknown"


def outcome_for_sip(status: int) -> Outcome:
    """The outcome of an INVITE's final status (2xx = answered; AMD decides `machine`)."""
    if 200 <= status < 300:
        return Outcome.ANSWERED
    if status in (486, 600, 603):
        return Outcome.BUSY
    if status in (408, 480, 487):
        return Outcome.NO_ANSWER
    if status in (404, 410, 484, 604):
        return Outcome.INVALID
    if status == 503:
        return Outcome.CONGESTION
    return Outcome.FAILED


@dataclass(frozen=True)
class Window:
    """Local opening hours, start inclusive, end exclusive (end 00:00 means midnight)."""

    start: time = time(8, 0)
    end: time = time(21, 0)

    @classmethod
    def parse(cls, text: str) -> Window:
        """'08:00-21:00' -> Window; ValueError with the reason otherwise."""
        try:
            a, b = (part.strip() for part in text.split("-"))
            start, end = (datetime.strptime(x, "%H:%M").time() for x in (a, b))
            window = cls(start, end)
        except ValueError:
            raise ValueError(f"'{text}' is not a window like 08:00-21:00") from None
        if window.end != time(0) and window.end <= window.start:
            raise ValueError(f"'{text}': the window ends before it starts")
        return window

    def __str__(self) -> str:
        return f"{self.start:%H:%M}-{self.end:%H:%M}"


@dataclass(frozen=True)
class RetryRule:
    retry: bool = True
    backoff: timedelta = timedelta(minutes=30)
    factor: float = 1.0  # the backoff is multiplied by this for each earlier attempt

    def delay(self, attempts: int) -> timedelta:
        return self.backoff * (self.factor ** max(0, attempts - 1))


DEFAULT_RETRIES: Mapping[Outcome, RetryRule] = {
    Outcome.BUSY: RetryRule(True, timedelta(minutes=10), 2.0),
    Outcome.NO_ANSWER: RetryRule(True, timedelta(hours=1)),
    Outcome.FAILED: RetryRule(True, timedelta(minutes=30)),
    Outcome.MACHINE: RetryRule(False, timedelta(hours=4)),
    Outcome.UNKNOWN: RetryRule(True, timedelta(minutes=30)),
}


@dataclass(frozen=True)
class Policy:
    window: Window = Window()
    weekdays: Mapping[int, Window | None] = field(default_factory=dict, hash=False)
    max_concurrent: int = 4
    cps: float = 1.0
    burst: int = 1
    max_attempts: int = 3
    daily_cap: int = 2
    retries: Mapping[Outcome, RetryRule] = field(default_factory=lambda: DEFAULT_RETRIES)
    congestion_pause: timedelta = timedelta(seconds=5)
    congestion_max: timedelta = timedelta(minutes=2)

    def week(self) -> tuple[Window | None, ...]:
        """The window of each weekday, Monday first."""
        return tuple(self.weekdays.get(d, self.window) for d in range(7))

    def rule(self, outcome: Outcome) -> RetryRule:
        return self.retries.get(outcome, RetryRule(retry=False))

    def turn_margin(self) -> float:
        """Seconds an INVITE may leave after its turn was granted (30% of 1/cps, at most 0.1):
        a dialer on another machine may send the next one on time, 1/cps after the grant."""
        return min(0.1, 0.3 / self.cps)


@dataclass(frozen=True)
class ContactState:
    """A contact waiting to be dialed (no disposition, no attempt in flight)."""

    id: int
    timezones: tuple[str, ...]
    attempts: int = 0  # counted attempts so far
    not_before: datetime | None = None  # set by a retry's backoff or a 503
    recent: tuple[datetime, ...] = ()  # starts of counted attempts, for the daily cap


@dataclass(frozen=True)
class Pacer:
    """The dialer's own state: in-flight calls, the token bucket, back-pressure."""

    in_flight: int = 0
    tokens: float = 1.0
    at: datetime | None = None  # when `tokens` was counted
    congestion: int = 0  # 503s in a row (at most 5)
    hold_until: datetime | None = None

    def rate(self, policy: Policy) -> float:
        return policy.cps / (2**self.congestion)

    def refill(self, policy: Policy, now: datetime) -> Pacer:
        if self.at is None:
            return replace(self, tokens=float(policy.burst), at=now)
        gained = max(0.0, (now - self.at).total_seconds()) * self.rate(policy)
        return replace(self, tokens=min(float(policy.burst), self.tokens + gained), at=now)

    def sent(self, policy: Policy, at: datetime) -> Pacer:
        """An INVITE left at `at`, later than its token was granted when the worker placing it
        was busy: right after it the bucket holds at most `burst - 1` tokens, so the next call
        keeps its distance from the INVITE on the wire, not from the plan."""
        if self.at is None:
            return self
        if at > self.at:
            counted = self.refill(policy, at)
            return replace(counted, tokens=min(counted.tokens, policy.burst - 1.0))
        since = (self.at - at).total_seconds() * self.rate(policy)
        return replace(self, tokens=min(self.tokens, policy.burst - 1.0 + since))


@dataclass(frozen=True)
class Plan:
    dial: tuple[int, ...]  # contact ids, in order
    pacer: Pacer  # after these dials (tokens spent, in_flight counted)
    wake_at: datetime | None  # call plan() again then (None: only when an outcome arrives)
    unreachable: tuple[int, ...] = ()  # contacts whose window never opens (no shared hour)
    deferred: tuple[tuple[int, datetime], ...] = ()  # contacts not dialable yet, and from when
    ready: int = 0  # contacts dialable now (dialed or not)


@dataclass(frozen=True)
class Verdict:
    counts: bool  # counts as an attempt
    final: str | None  # the contact's disposition when it is done
    not_before: datetime | None = None  # earliest next dial when it is not done


def plan(policy: Policy, pacer: Pacer, contacts: Iterable[ContactState], now: datetime) -> Plan:
    """Who to dial now (see the module docstring for the rules)."""
    pacer = pacer.refill(policy, now)
    ready: list[ContactState] = []
    deferred: list[tuple[int, datetime]] = []
    unreachable: list[int] = []
    for contact in contacts:
        at = eligible_at(policy, contact, now)
        if at is None:
            unreachable.append(contact.id)
        elif at <= now:
            ready.append(contact)
        else:
            deferred.append((contact.id, at))
    later = [at for _, at in deferred]
    ready.sort(key=lambda c: (c.not_before or datetime.min.replace(tzinfo=UTC), c.id))
    held = pacer.hold_until is not None and pacer.hold_until > now
    room = 0 if held else max(0, policy.max_concurrent - pacer.in_flight)
    count = min(len(ready), room, math.floor(pacer.tokens + 1e-9))
    dial = tuple(c.id for c in ready[:count])
    pacer = replace(pacer, tokens=pacer.tokens - count, in_flight=pacer.in_flight + count)
    if len(ready) > count:
        if held:
            later.append(pacer.hold_until)  # type: ignore[arg-type]
        elif pacer.in_flight < policy.max_concurrent:  # waiting for a token
            wait = (1.0 - pacer.tokens) / pacer.rate(policy)
            later.append(now + timedelta(seconds=max(wait, 0.001)))
    wake_at = min(later, default=None)
    return Plan(dial, pacer, wake_at, tuple(unreachable), tuple(deferred), len(ready))


def verdict(policy: Policy, contact: ContactState, outcome: Outcome, now: datetime) -> Verdict:
    """What an attempt's outcome means for its contact (rules in the module docstring)."""
    if outcome == Outcome.CONGESTION:
        return Verdict(False, None, now + policy.congestion_pause)
    if outcome == Outcome.ANSWERED:
        return Verdict(True, "completed")
    if outcome == Outcome.INVALID:
        return Verdict(True, "invalid")
    rule = policy.rule(outcome)
    attempts = contact.attempts + 1
    if not rule.retry:
        return Verdict(True, outcome.value)
    if attempts >= policy.max_attempts:
        return Verdict(True, "max_attempts")
    return Verdict(True, None, now + rule.delay(attempts))


def after_outcome(
    policy: Policy, pacer: Pacer, outcome: Outcome, now: datetime, *, late: bool = False
) -> Pacer:
    """The pacer once a call in flight has ended with `outcome` (`late`: its INVITE was not
    sent, its turn had passed: no hold, the rate unchanged)."""
    in_flight = max(0, pacer.in_flight - 1)
    pacer = pacer.refill(policy, now)  # count tokens at the old rate before it changes
    if late:
        return replace(pacer, in_flight=in_flight)
    if outcome != Outcome.CONGESTION:
        return replace(pacer, in_flight=in_flight, congestion=max(0, pacer.congestion - 1))
    level = min(_MAX_CONGESTION, pacer.congestion + 1)
    hold = min(policy.congestion_pause * 2 ** (level - 1), policy.congestion_max)
    return replace(pacer, in_flight=in_flight, congestion=level, hold_until=now + hold)


def eligible_at(policy: Policy, contact: ContactState, now: datetime) -> datetime | None:
    """The earliest time >= now the contact may be dialed; None if its window never opens."""
    at = max(now, contact.not_before or now)
    for _ in range(_HORIZON_DAYS * 2):
        opens = next_open(policy.week(), contact.timezones, at)
        if opens is None:
            return None
        day_zone = ZoneInfo(contact.timezones[0])
        day = opens.astimezone(day_zone).date()
        used = sum(1 for t in contact.recent if t.astimezone(day_zone).date() == day)
        if used < policy.daily_cap:
            return opens
        at = datetime.combine(day + timedelta(days=1), time(0), tzinfo=day_zone).astimezone(UTC)
    return None


def in_window(policy: Policy, timezones: Sequence[str], at: datetime) -> bool:
    """Whether `at` is inside the calling window in every one of the time zones."""
    return next_open(policy.week(), tuple(timezones), at) == at


def next_open(
    week: tuple[Window | None, ...], timezones: tuple[str, ...], at: datetime
) -> datetime | None:
    """The first instant >= at inside the window in all zones (None within 8 days)."""
    for start, end in _open_intervals(week, timezones, at.astimezone(UTC).date()):
        if end > at:
            return max(start, at)
    return None


@lru_cache(maxsize=4096)
def _open_intervals(
    week: tuple[Window | None, ...], timezones: tuple[str, ...], day: date
) -> tuple[tuple[datetime, datetime], ...]:
    """UTC intervals, from the day before `day` on, when the window is open in every zone."""
    shared: list[tuple[datetime, datetime]] | None = None
    for name in timezones:
        zone = ZoneInfo(name)
        spans = []
        for offset in range(-1, _HORIZON_DAYS):
            local = day + timedelta(days=offset)
            window = week[local.weekday()]
            if window is None:
                continue
            end_day = local + timedelta(days=1) if window.end == time(0) else local
            start = datetime.combine(local, window.start, tzinfo=zone).astimezone(UTC)
            end = datetime.combine(end_day, window.end, tzinfo=zone).astimezone(UTC)
            spans.append((start, end))
        shared = spans if shared is None else _intersect(shared, spans)
    return tuple(shared or ())


def _intersect(
    a: list[tuple[datetime, datetime]], b: list[tuple[datetime, datetime]]
) -> list[tuple[datetime, datetime]]:
    out, i, j = [], 0, 0
    while i < len(a) and j < len(b):
        start, end = max(a[i][0], b[j][0]), min(a[i][1], b[j][1])
        if start < end:
            out.append((start, end))
        if a[i][1] < b[j][1]:
            i += 1
        else:
            j += 1
    return out
