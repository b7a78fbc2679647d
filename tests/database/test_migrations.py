"""Schema versions on both backends, and a SQLite file written before versions were kept."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

from voicebot.call.records import CallStore
from voicebot.campaign.ledger import Ledger
from voicebot.campaign.loop import CampaignLoop
from voicebot.database import Database
from voicebot.database.migrate import current, head

BEFORE = Path(__file__).parents[1] / "data" / "database" / "before_versions.sql"
TABLES = {"campaigns", "contacts", "attempts", "rejects", "dnc", "calls", "turns", "leases"}


def _tables(db: Database) -> set[str]:
    if db.dialect == "sqlite":
        query = "SELECT name FROM sqlite_master WHERE type = 'table'"
    else:
        query = "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public'"
    return {r[0] for r in db.execute(query)}


def test_a_new_database_is_created_at_the_newest_version(database_url):
    db = Database(database_url)
    assert current(db.engine) == head() == "v0002"
    assert TABLES <= _tables(db)
    Database(database_url)  # a second opening (another process) changes nothing
    assert current(db.engine) == head()


def test_the_same_statements_and_savepoints_on_both_backends(database_url):
    db = Database(database_url)
    with db.transaction():
        db.execute("INSERT INTO dnc (number, reason, source, added_at) VALUES (?, ?, ?, ?)",
                   ("+12125550100", "asked", "manual", "2026-11-23"))  # fmt: skip
        try:
            with db.transaction():  # a savepoint: rolled back alone
                db.execute("DELETE FROM dnc")
                raise ValueError
        except ValueError:
            pass
    row = db.execute("SELECT number, reason FROM dnc").fetchone()
    assert (row["number"], row[1], dict(row)) == (
        "+12125550100", "asked", {"number": "+12125550100", "reason": "asked"},
    )  # fmt: skip
    try:
        with db.transaction():
            db.execute("DELETE FROM dnc")
            raise RuntimeError("crash mid-change")
    except RuntimeError:
        pass
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
    assert [t["text"] for t in record.turns] == ["two"]
    later = now + timedelta(hours=2)
    assert {d.attempt.phone for d in loop.step(later)} == {"+12125550100"}
