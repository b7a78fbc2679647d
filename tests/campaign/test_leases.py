"""Leases, claims and the daily cap per number, on SQLite and on a real PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from voicebot.campaign.config import CampaignSettings
from voicebot.campaign.contacts import Contact, ImportResult
from voicebot.campaign.ledger import Ledger
from voicebot.campaign.loop import CampaignLoop

NOW = datetime(2026, 11, 23, 16, 0, tzinfo=UTC)  # 11:00 in New York, a Monday
TTL = timedelta(seconds=30)


def contacts(*phones: str) -> ImportResult:
    rows = tuple(
        Contact(i + 2, p, {"phone": p}, ("America/New_York",)) for i, p in enumerate(phones)
    )
    return ImportResult("c.csv", ("phone",), rows, ())


def started(ledger: Ledger, name: str, *phones: str, **settings) -> None:
    ledger.create(
        name,
        flow="/flows/f.yaml",
        imported=contacts(*phones),
        settings=CampaignSettings(**{"cps": 100, "burst": 10, **settings}),
        now=NOW,
    )
    ledger.transition(name, "start", NOW)


def test_two_dialers_claim_disjoint_contacts_within_the_campaigns_limits(database_url):
    ledger = Ledger(database_url)
    phones = [f"+1212555{n:04d}" for n in range(100, 110)]
    started(ledger, "c", *phones, max_concurrent=6)
    cid = ledger.campaign("c").id
    a = CampaignLoop(ledger, "c", now=NOW, lease=ledger.leases.acquire(cid, "a", NOW, TTL))
    b = CampaignLoop(Ledger(database_url), "c", now=NOW,
                     lease=ledger.leases.acquire(cid, "b", NOW, TTL))  # fmt: skip
    first, second = a.step(NOW), b.step(NOW)
    assert len(first) + len(second) == 6  # max_concurrent counts both dialers' calls
    dialed = [d.attempt.phone for d in first + second]
    assert len(set(dialed)) == 6
    assert b.step(NOW) == [] and a.step(NOW) == []
    for d in first:
        a.report(d.attempt.id, "answered", NOW)
    more = b.step(NOW + timedelta(seconds=1))
    assert len(more) == 4 and not {d.attempt.phone for d in more} & set(dialed)
    assert a.wake_at is None  # nothing due: it waits for a call to end


def test_an_expired_leases_calls_are_reconciled_a_live_ones_are_not(database_url):
    ledger = Ledger(database_url)
    started(ledger, "c", "+12125550100", "+12125550101", max_concurrent=2, burst=1)
    cid = ledger.campaign("c").id
    dead = ledger.leases.acquire(cid, "dead", NOW, TTL)
    alive = ledger.leases.acquire(cid, "alive", NOW, TTL)
    x = CampaignLoop(ledger, "c", now=NOW, lease=dead).step(NOW)[0]
    y = CampaignLoop(ledger, "c", now=NOW, lease=alive).step(NOW + timedelta(seconds=0.1))[0]
    assert ledger.reconcile(NOW + timedelta(seconds=10), "c") == []  # both leases live
    later = NOW + timedelta(seconds=31)
    renewed = ledger.leases.renew(alive, NOW + timedelta(seconds=20), TTL)
    assert renewed is not None
    assert ledger.reconcile(later, "c") == [x.attempt.id]  # only the dead dialer's call
    assert ledger.leases.renew(dead, later, TTL) is None  # it learns it lost its lease
    assert ledger.finish_attempt(x.attempt.id, "answered", later) is None  # ignored: closed
    (row,) = [r for r in ledger.attempts(ledger.campaign("c")) if r["id"] == x.attempt.id]
    assert (row["outcome"], row["counts"]) == ("unknown", 1)
    assert ledger.in_flight(ledger.campaign("c")) == 1
    assert ledger.reconcile(later, "c", lease=alive.id) == [y.attempt.id]  # forced, per lease
    assert [lease.holder for lease in ledger.leases.live(cid, later)] == []


def test_a_lost_call_keeps_its_slot_for_the_hold_then_frees_it(database_url):
    """A worker dies with a call up: its attempt is closed as `unknown` at once, but the far
    end may hold the call until it times the silence out: the slot stays taken
    `lost_call_hold_seconds` (10 s here), for every dialer, then is free again."""
    ledger = Ledger(database_url)
    phones = [f"+1212555{n:04d}" for n in range(100, 104)]
    started(ledger, "c", *phones, max_concurrent=2, lost_call_hold_seconds=10)
    cid = ledger.campaign("c").id
    worker = ledger.leases.acquire(cid, "w1", NOW, TTL)
    first = CampaignLoop(ledger, "c", now=NOW, lease=worker).step(NOW)
    assert len(first) == 2
    assert len(ledger.reconcile(NOW, "c", lease=worker.id)) == 2  # the worker was seen to die
    other = CampaignLoop(Ledger(database_url), "c", now=NOW,
                         lease=ledger.leases.acquire(cid, "w2", NOW, TTL))  # fmt: skip
    campaign = ledger.campaign("c")
    assert ledger.in_flight(campaign) == 0
    assert ledger.lost_lately(campaign, NOW) == (2, NOW + timedelta(seconds=10))
    assert other.step(NOW + timedelta(seconds=9)) == []  # both slots still held
    assert other.wake_at == NOW + timedelta(seconds=10)  # no report will come: it wakes then
    assert len(other.step(NOW + timedelta(seconds=10.1))) == 2  # the hold is over


def test_the_daily_cap_counts_per_number_across_campaigns(database_url):
    ledger = Ledger(database_url)
    shared = "+12125550100"
    started(ledger, "a", shared, daily_cap=1)
    started(ledger, "b", shared, "+12125550101", daily_cap=1)
    (first,) = CampaignLoop(ledger, "a", now=NOW).step(NOW)
    ledger.finish_attempt(first.attempt.id, "busy", NOW + timedelta(seconds=20))
    loop = CampaignLoop(ledger, "b", now=NOW)
    soon = NOW + timedelta(minutes=1)
    assert [d.attempt.phone for d in loop.step(soon)] == ["+12125550101"]
    # the shared number waits for its next local midnight (05:00 UTC), not for the window
    midnight = datetime(2026, 11, 24, 5, 0, tzinfo=UTC)
    due = ledger.db.execute("SELECT due_at FROM contacts WHERE phone = ? AND campaign_id = ?",
                            (shared, ledger.campaign("b").id)).scalar()  # fmt: skip
    assert datetime.fromisoformat(due) >= midnight
    morning = datetime(2026, 11, 24, 14, 0, tzinfo=UTC)  # 09:00 the next day
    assert [d.attempt.phone for d in loop.step(morning)] == [shared]


def test_the_plan_wakes_when_the_next_contact_is_due(database_url):
    ledger = Ledger(database_url)
    started(ledger, "c", "+12125550100", "+12125550101")
    loop = CampaignLoop(ledger, "c", now=NOW)
    (one, two) = loop.step(NOW)
    loop.report(one.attempt.id, "busy", NOW)  # retried after 10 minutes
    loop.report(two.attempt.id, "no_answer", NOW)  # retried after an hour
    assert loop.step(NOW + timedelta(seconds=1)) == []
    assert loop.wake_at == NOW + timedelta(minutes=10)
    night = datetime(2026, 11, 24, 3, 0, tzinfo=UTC)  # 22:00 in New York: window closed
    assert loop.step(night) == []
    assert loop.wake_at == datetime(2026, 11, 24, 13, 0, tzinfo=UTC)  # 08:00 local


def test_an_invite_placed_late_delays_every_dialers_next_one(database_url):
    """The worker placing a call was busy: its INVITE left 180 ms after the plan. The shared
    bucket counts from then, so neither this dialer nor another dials 250 ms after the plan."""
    ledger = Ledger(database_url)
    started(ledger, "c", *[f"+1212555{n:04d}" for n in range(100, 104)], cps=4, burst=1)
    cid = ledger.campaign("c").id
    a = CampaignLoop(ledger, "c", now=NOW, lease=ledger.leases.acquire(cid, "a", NOW, TTL))
    b = CampaignLoop(Ledger(database_url), "c", now=NOW,
                     lease=ledger.leases.acquire(cid, "b", NOW, TTL))  # fmt: skip
    assert len(a.step(NOW)) == 1
    a.sent(NOW + timedelta(seconds=0.18))
    assert a.step(NOW + timedelta(seconds=0.19)) == []  # counts the late INVITE, saves it
    assert a.wake_at == NOW + timedelta(seconds=0.43)
    assert b.step(NOW + timedelta(seconds=0.25)) == []  # the plan's 250 ms: too early
    assert len(b.step(NOW + timedelta(seconds=0.43))) == 1


def test_a_grant_is_dated_when_the_lock_is_held_so_the_next_dialer_keeps_its_distance(
    database_url,
):
    """A dialer that stepped with a `now` taken before it waited for the lock dates its grant
    from its clock once the lock is held: the shared bucket counts the next dialer's token
    from then, not from the stale `now` (two machines' INVITEs 60 ms apart at cps 4)."""
    ledger = Ledger(database_url)
    started(ledger, "c", "+12125550100", "+12125550101", max_concurrent=2, cps=4, burst=1)
    cid = ledger.campaign("c").id
    locked_at = NOW + timedelta(seconds=0.2)  # what the clock reads once the lock is held
    a = CampaignLoop(ledger, "c", now=NOW, lease=ledger.leases.acquire(cid, "a", NOW, TTL),
                     clock=lambda: locked_at)  # fmt: skip
    b = CampaignLoop(Ledger(database_url), "c", now=NOW,
                     lease=ledger.leases.acquire(cid, "b", NOW, TTL))  # fmt: skip
    (first,) = a.step(NOW)
    assert first.at == locked_at
    # 0.21 s: 0.25 s (1/cps) after the stale `now`, but only 0.01 s after the grant
    assert b.step(NOW + timedelta(seconds=0.21)) == []
    assert b.wake_at == locked_at + timedelta(seconds=0.25)
    (second,) = b.step(locked_at + timedelta(seconds=0.25))
    assert second.at == locked_at + timedelta(seconds=0.25)  # no clock: the step's `now`
