"""A 200-contact campaign on a virtual clock: dispositions, limits, windows, and a crash."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

import phonenumbers
import pytest
from campaign_sim import Checks, FakeDialer, Reply, drive

from voicebot.campaign.config import CampaignSettings, RetrySettings
from voicebot.campaign.contacts import flow_fields, read_contacts
from voicebot.campaign.ledger import Ledger
from voicebot.campaign.pacing import Outcome
from voicebot.campaign.results import results
from voicebot.flow.loader import load_flow

FLOW = Path(__file__).resolve().parents[2] / "dialog_flows" / "payment_reminder.yaml"
START = datetime(2026, 11, 23, 5, 0, tzinfo=UTC)  # Monday; 00:00 in New York: all closed
AREAS = ("212", "415", "312", "808")  # New York, Los Angeles, Chicago, Honolulu
PROMISE = {"promise_amount": "42.17", "promise_date": "2026-12-01"}

# kind -> (script, expected disposition, expected dials)
KINDS: dict[str, tuple[list[Reply], str, int]] = {
    "promise": (
        [Reply(Outcome.ANSWERED, 90, {"disposition": "promise_to_pay"}, PROMISE)],
        "promise_to_pay",
        1,
    ),
    "busy_then_paid": (
        [Reply(Outcome.BUSY, 2), Reply(Outcome.ANSWERED, 40, {"disposition": "already_paid"})],
        "already_paid",
        2,
    ),
    "always_busy": ([Reply(Outcome.BUSY, 2)], "max_attempts", 3),
    "never_answers": ([Reply(Outcome.NO_ANSWER, 30)], "max_attempts", 3),
    "machine": (
        [Reply(Outcome.MACHINE, 25, {"disposition": "machine_message"})],
        "machine_message",
        1,
    ),
    "invalid": ([Reply(Outcome.INVALID, 1, sip_status=404)], "invalid", 1),
    "congested": (
        [Reply(Outcome.CONGESTION, 0.2, sip_status=503), Reply(Outcome.ANSWERED, 30)],
        "completed",
        2,
    ),
    "opt_out": (
        [Reply(Outcome.ANSWERED, 15, {"disposition": "opt_out", "do_not_call": True})],
        "opt_out",
        1,
    ),
    "failed_then_callback": (
        [Reply(Outcome.FAILED, 1), Reply(Outcome.ANSWERED, 60, {"disposition": "callback"})],
        "callback",
        2,
    ),
    "listed": ([Reply(Outcome.ANSWERED)], "dnc", 0),
}
ORDER = list(KINDS)


def number(i: int) -> str:
    e164 = f"+1{AREAS[i % len(AREAS)]}{234 + i:03d}{1000 + i:04d}"
    assert phonenumbers.is_valid_number(phonenumbers.parse(e164)), e164
    return e164


def kind(i: int) -> str:
    return ORDER[i % len(ORDER)]


@pytest.fixture
def campaign(tmp_path: Path) -> tuple[Ledger, Path, FakeDialer]:
    rows = ["phone,name,amount_due,due_date,timezone"]
    for i in range(200):
        zone = "Asia/Tokyo" if i % 17 == 0 else ""  # an explicit zone beats the number's
        rows.append(f"{number(i)},Customer {i},{10 + i}.50,2026-11-01,{zone}")
    csv_path = tmp_path / "reminders.csv"
    csv_path.write_text("\n".join(rows) + "\n", encoding="utf-8")
    loaded = load_flow(FLOW)
    imported = read_contacts(csv_path, region="US", required=flow_fields(loaded))
    assert imported.rejected == () and len(imported.accepted) == 200
    db = tmp_path / "campaigns.db"
    ledger = Ledger(db)
    for i in range(200):
        if kind(i) == "listed":
            ledger.dnc.add(number(i), "asked last year", now=START)
    settings = CampaignSettings(
        max_concurrent=5,
        cps=2.0,
        max_attempts=3,
        daily_cap=2,
        retries={
            "busy": RetrySettings(backoff_minutes=10, factor=2),
            "no_answer": RetrySettings(backoff_minutes=60),
            "failed": RetrySettings(backoff_minutes=30),
        },
    )
    ledger.create("reminders", flow=str(FLOW), imported=imported, settings=settings, now=START)
    ledger.transition("reminders", "start", START)
    scripts = {number(i): KINDS[kind(i)][0] for i in range(200)}
    return ledger, db, FakeDialer(scripts)


def check_outcome(ledger: Ledger, dialer: FakeDialer, checks: Checks) -> None:
    c = ledger.campaign("reminders")
    assert c.state == "finished"
    dials = Counter(p.phone for p in dialer.placed)
    by_phone = {r.phone: r for r in results(ledger, c)}
    for i in range(200):
        script, disposition, expected_dials = KINDS[kind(i)]
        row = by_phone[number(i)]
        assert (row.disposition, dials[number(i)]) == (disposition, expected_dials), (i, kind(i))
    promise = by_phone[number(ORDER.index("promise"))]
    assert promise.slots == PROMISE and promise.call_id.startswith("call-")
    assert by_phone[number(ORDER.index("congested"))].attempts == 1  # the 503 did not count
    assert number(ORDER.index("opt_out")) in ledger.dnc
    # what the callees saw
    assert checks.max_in_flight <= 5
    assert checks.min_gap >= 0.5  # 2 calls per second at most
    assert checks.outside_window == []
    assert max(checks.per_day.values()) <= 2


def test_200_contacts_finish_with_correct_dispositions_within_limits(
    campaign: tuple[Ledger, Path, FakeDialer],
) -> None:
    ledger, _, dialer = campaign
    end, checks = drive(ledger, "reminders", dialer, START)
    check_outcome(ledger, dialer, checks)
    assert checks.max_in_flight == 5  # the limit was reached, not just respected
    tokyo = {number(i) for i in range(0, 200, 17)}
    assert dialer.placed[0].at == START and dialer.placed[0].phone in tokyo  # 14:00 in Tokyo
    first = {
        area: next(p.at for p in dialer.placed if p.phone[2:5] == area and p.phone not in tokyo)
        for area in AREAS
    }
    assert first["808"] < START + timedelta(seconds=1)  # 19:00 on Sunday in Honolulu
    assert first["212"] == datetime(2026, 11, 23, 13, 0, tzinfo=UTC)  # 08:00 in New York
    assert first["312"] >= datetime(2026, 11, 23, 14, 0, tzinfo=UTC)  # 08:00 in Chicago
    assert first["415"] >= datetime(2026, 11, 23, 16, 0, tzinfo=UTC)  # 08:00 in Los Angeles
    assert end - START < timedelta(days=3)


def test_crash_mid_campaign_loses_nothing_and_double_dials_nothing(
    campaign: tuple[Ledger, Path, FakeDialer],
) -> None:
    ledger, db, dialer = campaign
    crash_at, checks = drive(ledger, "reminders", dialer, START, stop_after=120)
    lost = [attempt_id for _, _, attempt_id, _ in dialer.ends]
    assert lost, "calls were in flight at the crash"
    # the process dies: the loop and its connection are gone; a new dialer opens the file
    ledger.close()
    dialer.ends.clear()
    ledger = Ledger(db)
    restart = crash_at + timedelta(seconds=0.1)  # the bucket must not refill at restart
    _, checks = drive(ledger, "reminders", dialer, restart, checks=checks)
    attempts = {a["id"]: a for a in ledger.attempts(ledger.campaign("reminders"))}
    assert {attempts[i]["outcome"] for i in lost} == {"unknown"}
    assert all(attempts[i]["counts"] == 1 for i in lost)
    # every INVITE has exactly one attempt row and every attempt row one INVITE
    assert sorted(p.attempt_id for p in dialer.placed) == sorted(attempts)
    # a contact whose outcome was lost is not redialed before its backoff
    lost_phones = {attempts[i]["phone"] for i in lost}
    for p in dialer.placed:
        if p.phone in lost_phones and p.at > crash_at:
            assert p.at >= restart + timedelta(minutes=30)
    c = ledger.campaign("reminders")
    rows = results(ledger, c)
    assert len(rows) == 200 and all(r.disposition not in ("pending", "in_flight") for r in rows)
    counted = Counter(a["phone"] for a in attempts.values() if a["counts"])
    congested = Counter(a["phone"] for a in attempts.values() if a["outcome"] == "congestion")
    dials = Counter(p.phone for p in dialer.placed)
    for r in rows:
        assert r.attempts == counted[r.phone] <= 3  # max_attempts, crash or not
        assert dials[r.phone] == counted[r.phone] + congested[r.phone]  # 503s are not attempts
    assert checks.max_in_flight <= 5 and checks.min_gap >= 0.5
    assert checks.outside_window == [] and max(checks.per_day.values()) <= 2


def test_progress_counted_by_the_database_is_the_one_of_every_row(
    campaign: tuple[Ledger, Path, FakeDialer],
) -> None:
    """`summary` counts in SQL and asks a few stand-ins when the next contact may be dialed
    (`Ledger.wake_candidates`): the same as reading every contact, at points of a campaign
    with retries waiting, daily caps reached, five time zones and calls in flight."""
    from voicebot.campaign.pacing import eligible_at
    from voicebot.campaign.results import summary

    ledger, _, dialer = campaign
    start, seen = START, 0
    for stop in (3, 40, 120, 200, 260):
        start, _checks = drive(ledger, "reminders", dialer, start, stop_after=stop)
        c = ledger.campaign("reminders")
        rows = results(ledger, c)
        night = start.replace(hour=9, minute=0) + timedelta(days=1)  # 04:00 in New York
        for now in (start, start + timedelta(hours=5), night, night + timedelta(hours=2)):
            got = summary(ledger, c, now)
            assert got.counts == dict(sorted(Counter(r.disposition for r in rows).items()))
            assert got.total == len(rows) and got.in_flight == got.counts.get("in_flight", 0)
            times = [eligible_at(c.policy, s, now) for s, _ in ledger.pending(c, now)]
            assert got.next_wake == min((t for t in times if t is not None), default=None)
            seen += len({t for t in times if t is not None}) > 2  # contacts due at other times
    assert seen >= 4
