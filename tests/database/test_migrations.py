"""Schema versions on both backends, and a SQLite file written before versions were kept."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from voicebot.call.records import CallStore
from voicebot.campaign.ledger import Ledger
from voicebot.campaign.loop import CampaignLoop
from voicebot.database import Database
from voicebot.database.migrate import current, head, upgrade

DATA = Path(__file__).parents[1] / "data" / "database"
BEFORE = DATA / "before_versions.sql"
RECORDS_BEFORE = DATA / "records_before_versions.sql"  # with the tables and columns of v0003
TABLES = {"campaigns", "contacts", "attempts", "rejects", "dnc", "calls", "turns", "leases"}
TABLES |= {"transfers", "quality"}


def _tables(db: Database) -> set[str]:
    if db.dialect == "sqlite":
        query = "SELECT name FROM sqlite_master WHERE type = 'table'"
    else:
        query = "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public'"
    return {r[0] for r in db.execute(query)}


def test_a_new_database_is_created_at_the_newest_version(database_url):
    db = Database(database_url)
    assert current(db.engine) == head() == "v0007"
    assert TABLES <= _tables(db)
    Database(database_url)  # a second opening (another process) changes nothing
    assert current(db.engine) == head()


def test_the_same_statements_and_savepoints_on_both_backends(database_url):
    db = Database(database_url)
    with db.transaction():
        db.execute("INSERT INTO dnc (number, reason, source, added_at) VALUES (?, ?, ?, ?)",
                   ("+12125550100", "asked", "manual", "2026-11-23"))  # fmt: skip
        with pytest.raises(ValueError), db.transaction():  # a savepoint: rolled back alone
            db.execute("DELETE FROM dnc")
            raise ValueError
    row = db.execute("SELECT number, reason FROM dnc").fetchone()
    assert (row["number"], row[1], dict(row)) == (
        "+12125550100", "asked", {"number": "+12125550100", "reason": "asked"},
    )  # fmt: skip
    with pytest.raises(RuntimeError), db.transaction():
        db.execute("DELETE FROM dnc")
        raise RuntimeError("crash mid-change")
    assert db.execute("SELECT COUNT(*) FROM dnc").scalar() == 1  # nothing half-written


def test_a_file_from_before_versions_is_upgraded_and_keeps_every_row(tmp_path):
    """The dump of a file made by the code before this schema (campaigns, contacts, an attempt
    left `dialing` by a dead dialer, do-not-call, a call record): upgraded in place."""
    path = tmp_path / "campaigns.db"
    with sqlite3.connect(path) as old:
        old.executescript(BEFORE.read_text())
    ledger = Ledger(path)
    assert current(ledger.db.engine) == head()
    campaign = ledger.campaign("reminders")
    assert (campaign.state, len(ledger.attempts(campaign))) == ("running", 2)
    contacts = ledger.db.execute("SELECT phone, disposition, attempts FROM contacts ORDER BY id")
    assert [tuple(r) for r in contacts] == [
        ("+12125550100", None, 1),
        ("+12125550101", None, 0),
        ("+12125550102", None, 0),
        ("+12125550103", "dnc", 0),
    ]
    assert ledger.dnc.reason("+12125550103") == "asked"
    assert ledger.in_flight(campaign) == 1
    now = datetime(2026, 11, 23, 16, 0, tzinfo=UTC)  # 11:00 in New York
    loop = CampaignLoop(ledger, "reminders", now=now)  # the old attempt had no lease
    assert ledger.in_flight(campaign) == 0
    lost = ledger.attempts(campaign)[1]
    assert (lost["outcome"], lost["phone"]) == ("unknown", "+12125550101")
    (decision,) = loop.step(now)  # the never-dialed contact; the busy one waits its backoff
    assert decision.attempt.phone == "+12125550102"
    record = CallStore(path).get("call-1")
    assert record is not None and record.incidents == ["1.0 s: x"]
    assert [
        (t["text"], t["barge_in"], t["end_of_turn"], t["turn_score"]) for t in record.turns
    ] == [
        ("two", 0, "", None)  # the columns of barge-ins and the turn model, at their defaults
    ]
    later = now + timedelta(hours=2)
    assert {d.attempt.phone for d in loop.step(later)} == {"+12125550100"}


def _store_keeps_transfers_and_quality(store: CallStore, call_id: str) -> None:
    store.transfer_started(call_id, "warm", "sip:agent@example.com", "wants an agent")
    store.transfer_finished(call_id, "ok", join_ms=640.0)
    store.save_quality(call_id, rules="a.qa.yaml", score=50.0, findings=[])
    store.save_quality(call_id, rules="b.qa.yaml", score=75.0, findings=[])  # replaces
    transfer = store.transfer(call_id)
    assert transfer is not None
    assert (transfer["mode"], transfer["outcome"], transfer["join_ms"]) == ("warm", "ok", 640.0)
    record = store.get(call_id)
    assert record is not None and record.quality is not None
    assert (record.quality["rules"], record.quality["score"]) == ("b.qa.yaml", 75.0)


def test_a_database_of_the_second_version_is_upgraded_and_keeps_its_call_records(database_url):
    """A database made at v0002 (before barge-ins, the turn model, transfers and quality were
    kept) with a call and its turn in it: opened again, it is at the newest version, the rows
    are there, the new columns hold their defaults and the new tables take rows."""
    db = Database(database_url, migrate=False)
    upgrade(db.engine, "v0002")
    assert current(db.engine) == "v0002" and not {"transfers", "quality"} & _tables(db)
    db.execute(
        "INSERT INTO calls (id, direction, started_at, outcome, incidents)"
        " VALUES ('c1', 'inbound', '2026-11-30T10:00:00.000+00:00', 'completed', '[\"2.0 s: y\"]')"
    )
    db.execute(
        "INSERT INTO turns (call_id, seq, at, who, text, confidence)"
        " VALUES ('c1', 1, '2026-11-30T10:00:01.000+00:00', 'caller', 'yes', 0.75)"
    )
    store = CallStore(database_url)
    assert current(db.engine) == head()
    record = store.get("c1")
    assert record is not None and (record.outcome, record.incidents) == ("completed", ["2.0 s: y"])
    assert [
        (t["text"], t["confidence"], t["barge_in"], t["end_of_turn"], t["turn_score"])
        for t in record.turns
    ] == [("yes", 0.75, 0, "", None)]
    _store_keeps_transfers_and_quality(store, "c1")


def test_call_records_from_before_versions_keep_transfers_turn_scores_and_quality(tmp_path):
    """Call records written before versions were kept, already with the tables and columns the
    third version adds: taken as they are, every row kept."""
    path = tmp_path / "calls.db"
    with sqlite3.connect(path) as old:
        old.executescript(RECORDS_BEFORE.read_text())
    store = CallStore(path)
    assert current(Database(path).engine) == head()
    record = store.get("call-2")
    assert record is not None
    assert (record.outcome, record.transfer_target, record.steps) == (
        "transferred", "sip:agent@x", ["greet"],
    )  # fmt: skip
    assert [
        (t["who"], t["text"], t["barge_in"], t["end_of_turn"], t["turn_score"])
        for t in record.turns
    ] == [("bot", "Thanks for calling", 0, "", None), ("caller", "agent please", 1, "turn", 0.93)]
    assert record.quality is not None and record.quality["score"] == 80.0
    assert record.quality["findings"][0]["rule"] == "greets"
    transfer = store.transfer("call-2")
    assert transfer is not None
    assert (transfer["mode"], transfer["summary"], transfer["join_ms"]) == (
        "warm", "wants an agent", 850.0,
    )  # fmt: skip
    _store_keeps_transfers_and_quality(store, "call-2")
