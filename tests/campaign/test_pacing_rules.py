"""Pacing tables: windows in local time, limits, retries by outcome, back-pressure, wake-ups."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta

import pytest

from voicebot.campaign.pacing import (
    ContactState,
    Outcome,
    Pacer,
    Policy,
    RetryRule,
    Window,
    after_outcome,
    eligible_at,
    in_window,
    next_open,
    outcome_for_sip,
    plan,
    verdict,
)

NY, LA = "America/New_York", "America/Los_Angeles"
MON = datetime(2026, 11, 23, tzinfo=UTC)  # a Monday; New York is UTC-5, Los Angeles UTC-8


def at(day: int, hh: int, mm: int = 0, ss: float = 0) -> datetime:
    """Monday + day, hh:mm:ss UTC."""
    return MON + timedelta(days=day, hours=hh, minutes=mm, seconds=ss)


@pytest.mark.parametrize(
    ("zones", "when", "open_"),
    [
        ((NY,), at(0, 12, 59, 59), False),  # 07:59:59 in New York
        ((NY,), at(0, 13), True),  # 08:00 start is inside
        ((NY,), at(1, 1, 59, 59), True),  # 20:59:59
        ((NY,), at(1, 2), False),  # 21:00 end is outside
        ((LA,), at(0, 15, 59), False),
        ((LA,), at(0, 16), True),
        ((NY, LA), at(0, 15), False),  # open in New York only: all zones must be open
        ((NY, LA), at(1, 1, 30), True),
        ((NY, LA), at(1, 2, 30), False),  # open in Los Angeles only
        ((NY,), at(6, 15), False),  # Sunday: weekday override 'off'
        ((NY,), at(5, 14, 59), False),  # Saturday 09:59 with a 10:00-14:00 window
        ((NY,), at(5, 15), True),
        ((NY,), at(5, 19), False),
    ],
)
def test_calling_window_in_local_time(zones: tuple[str, ...], when: datetime, open_: bool) -> None:
    policy = Policy(weekdays={5: Window.parse("10:00-14:00"), 6: None})
    assert in_window(policy, zones, when) is open_


def test_next_open_crosses_days_weekends_and_dst() -> None:
    week = Policy(weekdays={5: None, 6: None}).week()
    assert next_open(week, (NY,), at(0, 6)) == at(0, 13)
    assert next_open(week, (NY,), at(5, 3)) == at(7, 13)  # Friday 22:00 -> Monday
    # 2026-03-08 US clocks go forward: Monday March 9 08:00 EDT is 12:00 UTC
    assert next_open(week, (NY,), datetime(2026, 3, 9, 5, tzinfo=UTC)) == datetime(
        2026, 3, 9, 12, tzinfo=UTC
    )
    closed = Policy(weekdays={d: None for d in range(7)}).week()
    assert next_open(closed, (NY,), at(0, 6)) is None


@pytest.mark.parametrize(
    ("status", "outcome"),
    [
        (200, Outcome.ANSWERED),
        (486, Outcome.BUSY),
        (600, Outcome.BUSY),
        (408, Outcome.NO_ANSWER),
        (480, Outcome.NO_ANSWER),
        (404, Outcome.INVALID),
        (484, Outcome.INVALID),
        (503, Outcome.CONGESTION),
        (500, Outcome.FAILED),
        (488, Outcome.FAILED),
    ],
)
def test_sip_status_to_outcome(status: int, outcome: Outcome) -> None:
    assert outcome_for_sip(status) is outcome


POLICY = Policy(
    max_attempts=3,
    retries={
        Outcome.BUSY: RetryRule(True, timedelta(minutes=10), 2.0),
        Outcome.NO_ANSWER: RetryRule(True, timedelta(hours=1)),
        Outcome.FAILED: RetryRule(True, timedelta(minutes=30)),
        Outcome.MACHINE: RetryRule(False),
        Outcome.UNKNOWN: RetryRule(True, timedelta(minutes=30)),
    },
)
T = at(0, 14)


@pytest.mark.parametrize(
    ("outcome", "attempts", "counts", "final", "wait"),
    [
        (Outcome.ANSWERED, 0, True, "completed", None),
        (Outcome.INVALID, 0, True, "invalid", None),  # never retried
        (Outcome.BUSY, 0, True, None, timedelta(minutes=10)),
        (Outcome.BUSY, 1, True, None, timedelta(minutes=20)),  # factor 2
        (Outcome.BUSY, 2, True, "max_attempts", None),
        (Outcome.NO_ANSWER, 0, True, None, timedelta(hours=1)),
        (Outcome.FAILED, 1, True, None, timedelta(minutes=30)),
        (Outcome.MACHINE, 0, True, "machine", None),  # no retry: ends with its own name
        (Outcome.UNKNOWN, 0, True, None, timedelta(minutes=30)),  # never at once
        (Outcome.CONGESTION, 2, False, None, timedelta(seconds=5)),  # not an attempt
    ],
)
def test_retries_by_outcome(
    outcome: Outcome, attempts: int, counts: bool, final: str | None, wait: timedelta | None
) -> None:
    v = verdict(POLICY, ContactState(1, (NY,), attempts), outcome, T)
    assert (v.counts, v.final) == (counts, final)
    assert v.not_before == (T + wait if wait else None)


def contacts(n: int, zones: tuple[str, ...] = (NY,)) -> list[ContactState]:
    return [ContactState(i, zones) for i in range(1, n + 1)]


def test_concurrency_and_token_bucket() -> None:
    policy = Policy(max_concurrent=2, cps=2.0, burst=1)
    p = plan(policy, Pacer(), contacts(5), T)
    assert p.dial == (1,)
    assert p.wake_at == T + timedelta(seconds=0.5)  # the next token
    p2 = plan(policy, p.pacer, contacts(5)[1:], T + timedelta(seconds=0.5))
    assert p2.dial == (2,)
    assert p2.pacer.in_flight == 2
    full = plan(policy, p2.pacer, contacts(5)[2:], T + timedelta(seconds=5))
    assert full.dial == () and full.wake_at is None  # wait for a call to end
    freed = after_outcome(policy, full.pacer, Outcome.BUSY, T + timedelta(seconds=6))
    assert plan(policy, freed, contacts(5)[2:], T + timedelta(seconds=6)).dial == (3,)


def test_an_invite_that_left_late_counts_the_next_from_when_it_left() -> None:
    policy = Policy(max_concurrent=5, cps=4.0, burst=1)
    p = plan(policy, Pacer(), contacts(5), T)
    assert p.dial == (1,) and p.wake_at == T + timedelta(seconds=0.25)
    late = p.pacer.sent(policy, T + timedelta(seconds=0.18))  # its worker was busy 180 ms
    on_plan = plan(policy, late, contacts(5)[1:], T + timedelta(seconds=0.25))
    assert on_plan.dial == () and on_plan.wake_at == T + timedelta(seconds=0.43)
    assert plan(policy, late, contacts(5)[1:], T + timedelta(seconds=0.43)).dial == (2,)
    # counted after a later step: the bucket already counted at 0.3 s holds 0.12 s of refill
    later = plan(policy, p.pacer, [], T + timedelta(seconds=0.3)).pacer
    assert later.sent(policy, T + timedelta(seconds=0.18)).tokens == pytest.approx(0.48)
    # on time, or with a burst still to spend, it changes nothing
    assert p.pacer.sent(policy, T) == p.pacer
    burst = plan(Policy(max_concurrent=10, cps=3.0, burst=3), Pacer(), contacts(1), T).pacer
    assert burst.sent(Policy(cps=3.0, burst=3), T + timedelta(seconds=0.1)).tokens == (
        pytest.approx(2.0)
    )


def test_burst_allows_several_at_once() -> None:
    policy = Policy(max_concurrent=10, cps=3.0, burst=3)
    assert plan(policy, Pacer(), contacts(5), T).dial == (1, 2, 3)


def test_wake_up_when_the_first_window_opens() -> None:
    p = plan(Policy(), Pacer(), contacts(2, (LA,)) + [ContactState(9, (NY,))], at(0, 6))
    assert p.dial == () and p.wake_at == at(0, 13)


def test_retry_backoff_and_order() -> None:
    waiting = [
        ContactState(1, (NY,), 1, not_before=T + timedelta(minutes=5)),
        ContactState(2, (NY,)),
        ContactState(3, (NY,), 1, not_before=T - timedelta(minutes=1)),
    ]
    p = plan(Policy(cps=10, burst=5), Pacer(), waiting, T)
    assert p.dial == (2, 3)  # fresh first, then the retry that is due; 1 not yet
    assert p.wake_at == T + timedelta(minutes=5)


def test_daily_cap_counts_in_the_contacts_local_day() -> None:
    policy = Policy(daily_cap=2)
    # two attempts on Monday in New York (the second at 20:30 local = Tuesday 01:30 UTC)
    done = ContactState(1, (NY,), 2, recent=(at(0, 14), at(1, 1, 30)))
    assert eligible_at(policy, done, at(1, 1, 45)) == at(1, 13)  # Tuesday 08:00 New York
    one = ContactState(1, (NY,), 1, recent=(at(0, 14),))
    assert eligible_at(policy, one, at(0, 15)) == at(0, 15)


def test_503_holds_and_slows_the_dialer_then_recovers() -> None:
    policy = Policy(cps=4.0, congestion_pause=timedelta(seconds=5))
    pacer = Pacer(in_flight=3, tokens=1.0, at=T)
    pacer = after_outcome(policy, pacer, Outcome.CONGESTION, T)
    assert (pacer.congestion, pacer.hold_until, pacer.in_flight) == (1, T + timedelta(seconds=5), 2)
    assert pacer.rate(policy) == 2.0
    pacer = after_outcome(policy, pacer, Outcome.CONGESTION, T)
    assert (pacer.congestion, pacer.hold_until) == (2, T + timedelta(seconds=10))
    held = plan(policy, pacer, contacts(3), T + timedelta(seconds=1))
    assert held.dial == () and held.wake_at == T + timedelta(seconds=10)
    pacer = after_outcome(policy, pacer, Outcome.ANSWERED, T + timedelta(seconds=11))
    assert pacer.congestion == 1
    assert plan(policy, pacer, contacts(3), T + timedelta(seconds=11)).dial == (1,)


def test_an_invite_not_sent_for_its_turn_passing_neither_holds_nor_slows_the_dialer() -> None:
    policy = Policy(cps=4.0, congestion_pause=timedelta(seconds=5))
    pacer = Pacer(in_flight=3, tokens=0.0, at=T, congestion=1)
    late = after_outcome(policy, pacer, Outcome.CONGESTION, T + timedelta(seconds=1), late=True)
    assert (late.in_flight, late.congestion, late.hold_until) == (2, 1, None)
    assert late.tokens == 1.0  # refilled at the rate of before (2 a second, capped at burst)
    assert plan(policy, late, contacts(3), T + timedelta(seconds=1)).dial == (1,)


@pytest.mark.parametrize(("cps", "margin"), [(1.0, 0.1), (4.0, 0.075), (10.0, 0.03)])
def test_an_invite_may_leave_at_most_30_percent_of_its_interval_late(cps, margin) -> None:
    """So with burst 1 two INVITEs are >= 0.7/cps apart whichever dialers sent them."""
    assert Policy(cps=cps).turn_margin() == pytest.approx(margin)


def test_no_shared_hour_is_reported_unreachable() -> None:
    policy = Policy(window=Window(time(8), time(10)))
    p = plan(policy, Pacer(), [ContactState(1, (NY, "Asia/Tokyo"))], T)
    assert p.unreachable == (1,) and p.dial == ()


def test_window_parse() -> None:
    assert str(Window.parse("8:00 - 21:30")) == "08:00-21:30"
    with pytest.raises(ValueError, match="ends before it starts"):
        Window.parse("21:00-08:00")
    with pytest.raises(ValueError, match="is not a window"):
        Window.parse("morning")
