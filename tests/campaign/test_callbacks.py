"""Call-backs booked into a callback campaign (voicebot/campaign/callbacks.py), on SQLite and a
real PostgreSQL: the contact is created with the call's context, its time is when the planner
dials it, a number already waiting is moved, refused numbers and missing campaigns say why."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from voicebot.campaign.callbacks import CallbackBook, number_of
from voicebot.campaign.config import CampaignSettings
from voicebot.campaign.contacts import ImportResult
from voicebot.campaign.lease import Lease
from voicebot.campaign.ledger import Ledger
from voicebot.campaign.loop import CampaignLoop
from voicebot.dialog.actions import ScheduleCallback

NOW = datetime(2026, 11, 23, 16, 0, tzinfo=UTC)  # 11:00 in New York, a Monday
TTL = timedelta(seconds=30)


def empty_campaign(ledger: Ledger, name: str = "callbacks") -> None:
    """`campaign create` with a header-only CSV: a campaign with no contact yet."""
    ledger.create(
        name,
        flow="/flows/callback.yaml",
        imported=ImportResult("c.csv", ("phone",), (), ()),
        settings=CampaignSettings(cps=100, burst=10),
        now=NOW,
    )
    ledger.transition(name, "start", NOW)


def loop(ledger: Ledger, name: str = "callbacks") -> CampaignLoop:
    cid = ledger.campaign(name).id
    lease: Lease = ledger.leases.acquire(cid, "test", NOW, TTL)
    return CampaignLoop(ledger, name, now=NOW, lease=lease)


def test_number_of_a_sip_uri_or_a_plain_number():
    assert number_of('"Ann" <sip:+12125551234@pbx.example.com>') == "+12125551234"
    assert number_of("tel:2125551234") == "2125551234"
    assert number_of(" +8613800138000 ") == "+8613800138000"


def test_a_call_back_is_a_contact_dialed_from_its_time(database_url):
    ledger = Ledger(database_url)
    empty_campaign(ledger)
    book = CallbackBook(database_url)
    later = NOW + timedelta(hours=2)
    request = ScheduleCallback(
        "sip:2125551234@pbx.example.com",
        "callbacks",
        at=later,
        context={"call_id": "c-1", "account": "12345678", "reason": "agents\nbusy"},
    )
    result = book.book(request, NOW)
    assert result.ok, result.detail
    assert "+12125551234" in result.detail
    campaign = ledger.campaign("callbacks")
    assert loop(ledger).step(NOW) == []  # not before the time the caller chose
    [dial] = loop(ledger).step(later)
    assert dial.attempt.phone == "+12125551234" and campaign.state == "running"
    contact = dial.attempt.contact  # the callback flow's `contact.*`: the call's context
    assert contact["account"] == "12345678" and contact["call_id"] == "c-1"
    assert contact["reason"] == "agents busy"  # a control character is not carried


def test_the_same_number_again_moves_its_time_and_refusals_say_why(database_url):
    ledger = Ledger(database_url)
    empty_campaign(ledger)
    book = CallbackBook(database_url)
    first = book.book(
        ScheduleCallback("+12125551234", "callbacks", at=NOW + timedelta(days=1)), NOW
    )
    again = book.book(ScheduleCallback("+12125551234", "callbacks"), NOW)
    assert first.ok and again.ok
    [dial] = loop(ledger).step(NOW)  # one contact, now due at once
    assert dial.attempt.phone == "+12125551234"
    premium = book.book(ScheduleCallback("+19005551234", "callbacks"), NOW)
    assert not premium.ok and "+19005551234" in premium.detail
    missing = book.book(ScheduleCallback("+12125550000", "nope"), NOW)
    assert not missing.ok and "nope" in missing.detail
