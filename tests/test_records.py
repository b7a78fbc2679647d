"""Call records on a real SQLite file, written by several processes."""

from __future__ import annotations

import multiprocessing
from datetime import UTC, datetime
from decimal import Decimal

from voicebot.call.records import CallStore, TurnRecord, format_call, format_list


def _writer(path: str, worker: str, n: int) -> None:
    store = CallStore(path)
    for i in range(n):
        call_id = f"{worker}-{i}"
        store.call_started(call_id, direction="inbound", from_uri="sip:a@x", worker=worker)
        store.add_turn(call_id, TurnRecord("bot", "Hello", step="welcome"))
        store.add_turn(call_id, TurnRecord("caller", "yes", confidence=0.9))
        store.call_ended(call_id, outcome="completed")
    store.close()


def test_a_call_with_turns_round_trips(tmp_path):
    store = CallStore(tmp_path / "calls.db")
    t0 = datetime(2026, 11, 24, 15, 0, tzinfo=UTC)
    store.call_started(
        "c1",
        direction="inbound",
        from_uri="sip:+1555@pbx",
        to_uri="sip:bot@x",
        flow="support_line",
        worker="w1",
        at=t0,
    )
    store.call_answered("c1", at=t0)
    store.add_turn("c1", TurnRecord("bot", "Thanks for calling", step="welcome", at=t0))
    store.add_turn("c1", TurnRecord("caller", "my balance", confidence=0.91, at=t0))
    store.add_turn("c1", TurnRecord("caller", dtmf="12345678", at=t0))
    store.add_turn("c1", TurnRecord("bot", "Ann, your balance is", latency_ms=412.0, at=t0))
    store.call_ended(
        "c1",
        outcome="transferred",
        steps=["welcome", "main_menu", "agent"],
        slots={"account": "12345678", "amount": Decimal("12.50")},
        transfer_target="sip:agent@pbx",
        dtmf="12345678",
        at=t0.replace(second=42),
    )
    record = store.get("c1")
    assert record is not None
    assert record.outcome == "transferred" and record.duration == 42.0
    assert record.slots == {"account": "12345678", "amount": "12.50"}
    assert [t["who"] for t in record.turns] == ["bot", "caller", "caller", "bot"]
    assert record.turns[3]["latency_ms"] == 412.0
    shown = format_call(record)
    assert "transferred to sip:agent@pbx" in shown and "[keys 12345678]" in shown
    assert "412 ms" in shown and "welcome > main_menu > agent" in shown
    assert "c1" in format_list(store.list())


def test_unfinished_calls_of_a_dead_worker_are_failed(tmp_path):
    store = CallStore(tmp_path / "calls.db")
    store.call_started("a", direction="inbound", worker="w1")
    store.call_started("b", direction="inbound", worker="w2")
    assert store.fail_unfinished(worker="w1") == ["a"]
    assert store.get("a").outcome == "failed" and store.get("a").reason == "worker crashed"
    assert store.get("b").outcome == "in_progress"


def test_several_processes_write_without_losing_anything(tmp_path):
    path = str(tmp_path / "calls.db")
    CallStore(path).close()
    ctx = multiprocessing.get_context("spawn")
    procs = [ctx.Process(target=_writer, args=(path, f"w{i}", 25)) for i in range(3)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
        assert p.exitcode == 0
    store = CallStore(path)
    records = store.list(limit=1000)
    assert len(records) == 75 and {r.outcome for r in records} == {"completed"}
    assert all(len(store.get(r.id).turns) == 2 for r in records)


def test_calls_commands(tmp_path):
    import subprocess
    import sys

    db = tmp_path / "calls.db"
    store = CallStore(db)
    store.call_started("call-77", direction="outbound", to_uri="sip:+1555@trunk")
    store.add_turn("call-77", TurnRecord("bot", "Hello Maria"))
    store.call_ended("call-77", outcome="completed")

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "voicebot", "calls", *args, "--db", str(db)],
            capture_output=True,
            text=True,
            timeout=60,
        )

    listed = run("list")
    assert listed.returncode == 0 and "call-77" in listed.stdout and "completed" in listed.stdout
    shown = run("show", "call-77")
    assert shown.returncode == 0 and "Hello Maria" in shown.stdout
    missing = run("show", "nope")
    assert missing.returncode == 1 and "no call 'nope'" in missing.stderr


def test_threads_sharing_one_store_write_without_clashing(tmp_path):
    """Live calls of one worker (a thread each) write turns through one CallStore at once."""
    import threading

    store = CallStore(tmp_path / "calls.db")
    for i in range(4):
        store.call_started(f"c{i}", direction="outbound")
    errors: list[BaseException] = []

    def talk(call_id: str) -> None:
        try:
            for n in range(200):
                store.add_turn(call_id, TurnRecord("bot", f"turn {n}"))
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=talk, args=(f"c{i}",)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert errors == []
    assert [len(store.get(f"c{i}").turns) for i in range(4)] == [200] * 4


def test_barge_ins_and_the_quality_inspection_are_kept_with_the_call(tmp_path):
    store = CallStore(tmp_path / "calls.db")
    store.call_started("c1", direction="inbound")
    store.add_turn("c1", TurnRecord("bot", "Thanks for calling"))
    store.add_turn("c1", TurnRecord("caller", "agent", barge_in=True))
    store.call_ended("c1", outcome="completed")
    assert store.get("c1").quality is None  # type: ignore[union-attr]
    finding = {"rule": "r", "status": "broken", "turn": 2, "detail": "d", "weight": 5.0}
    store.save_quality("c1", rules="a.qa.yaml", score=50.0, findings=[finding])
    store.save_quality("c1", rules="b.qa.yaml", score=75.0, findings=[finding])  # replaces
    record = store.get("c1")
    assert record is not None and [t["barge_in"] for t in record.turns] == [0, 1]
    assert record.quality is not None
    assert {k: record.quality[k] for k in ("rules", "score", "findings")} == {
        "rules": "b.qa.yaml",
        "score": 75.0,
        "findings": [finding],
    }
    shown = format_call(record)
    assert "agent  (talked over the bot)" in shown
    assert "quality 75/100 by b.qa.yaml" in shown and "broken       r (turn 2): d" in shown


def test_a_database_from_before_barge_ins_gains_the_column(tmp_path):
    import sqlite3

    path = tmp_path / "old.db"
    db = sqlite3.connect(path)
    db.executescript(
        "CREATE TABLE turns (call_id TEXT NOT NULL, seq INTEGER NOT NULL, at TEXT NOT NULL,"
        " who TEXT NOT NULL, text TEXT NOT NULL DEFAULT '', dtmf TEXT NOT NULL DEFAULT '',"
        " confidence REAL, latency_ms REAL, step TEXT NOT NULL DEFAULT '',"
        " PRIMARY KEY (call_id, seq));"
        "INSERT INTO turns (call_id, seq, at, who) VALUES ('old', 1, '2026-11-24', 'caller');"
    )
    db.close()
    store = CallStore(path)
    store.call_started("c1", direction="inbound")
    store.add_turn("c1", TurnRecord("caller", "yes", barge_in=True))
    assert store.get("c1").turns[0]["barge_in"] == 1  # type: ignore[union-attr]


def test_calls_are_found_by_the_last_digits_of_either_number(tmp_path):
    """The number search reads the numbers' digits, last first (an index's prefix range): the
    whole number, national or E.164, or its tail; digits ending in 9s; a name without digits."""
    from voicebot.call.records import CallQuery

    store = CallStore(tmp_path / "calls.db")
    t0 = datetime(2026, 11, 24, 15, 0, tzinfo=UTC)
    calls = {
        "in": ("sip:+12125550151@carrier", "sip:support@bot"),
        "out": ("sip:+12125550100@bot", "sip:+13105559999;user=phone@trunk"),
        "tel": ("tel:+1-212-555-0919", "sip:billing@bot"),
        "name": ("sip:alice@pbx", "sip:support@bot"),
    }
    for call_id, (from_uri, to_uri) in calls.items():
        store.call_started(call_id, direction="inbound", from_uri=from_uri, to_uri=to_uri, at=t0)

    def found(number: str) -> set[str]:
        total, page = store.search(CallQuery(number=number))
        assert total == len(page)
        return {r.id for r in page}

    assert found("5550151") == found("+12125550151") == found("(212) 555-0151") == {"in"}
    assert found("0100") == {"out"} and found("9999") == found("99") == {"out"}
    assert found("0919") == found("919") == {"tel"} and found("19") == {"tel"}
    assert found("555") == set() and found("0") == {"out"}  # a tail, not anywhere inside
    assert found("alice") == {"name"} and found("bot") == {"in", "out", "tel", "name"}
