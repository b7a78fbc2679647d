"""Data handling on real files: call data 0600 whatever the umask, card numbers never stored,
retention purging old recordings and words (README "Data handling")."""

from __future__ import annotations

import os
import sqlite3
import stat
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from voicebot.audio.wav import write_wav
from voicebot.call.agent_recording import Turn, store_recording
from voicebot.call.records import CallStore, TurnRecord, format_call, format_list
from voicebot.call.retention import RetentionTimer, purge, retention_status
from voicebot.campaign.database import connect
from voicebot.private_files import private_file

ROOT = Path(__file__).resolve().parents[1]
NOW = datetime(2026, 12, 2, 12, 0, tzinfo=UTC)
CARD = "4532015112830366"
CARD_WORDS = "four five three two zero one five one one two eight three zero three six six"


@pytest.fixture
def umask_022() -> Iterator[None]:
    old = os.umask(0o022)
    yield
    os.umask(old)


def modes(root: Path) -> dict[str, int]:
    """Permission bits of everything under `root` (relative path -> mode)."""
    return {str(p.relative_to(root)): stat.S_IMODE(p.stat().st_mode) for p in root.rglob("*")}


def assert_private(root: Path) -> None:
    found = modes(root)
    assert found
    for name, mode in found.items():
        expected = 0o700 if (root / name).is_dir() else 0o600
        assert mode == expected, f"{name}: {oct(mode)}"


def test_the_records_database_and_its_wal_and_shm_are_0600_whatever_the_umask(tmp_path, umask_022):
    store = CallStore(tmp_path / "var" / "db" / "calls.db")
    store.call_started("c1", direction="inbound")
    store.add_turn("c1", TurnRecord("caller", "hello"))
    assert {"db/calls.db", "db/calls.db-wal", "db/calls.db-shm"} <= set(modes(tmp_path / "var"))
    assert_private(tmp_path / "var")
    store.close()


def test_an_existing_readable_database_is_taken_to_0600_when_opened(tmp_path, umask_022):
    CallStore(tmp_path / "calls.db").close()
    os.chmod(tmp_path / "calls.db", 0o644)
    CallStore(tmp_path / "calls.db").close()
    assert stat.S_IMODE((tmp_path / "calls.db").stat().st_mode) == 0o600


def test_the_campaign_database_is_0600_too(tmp_path, umask_022):
    db = connect(tmp_path / "var" / "campaigns.db")
    db.execute("CREATE TABLE t (x)")
    db.execute("INSERT INTO t VALUES (1)")
    assert_private(tmp_path / "var")
    db.close()


def _files_bytes(directory: Path) -> bytes:
    return b"".join(p.read_bytes() for p in directory.iterdir() if p.is_file())


def test_card_numbers_never_reach_the_records_file_and_phone_numbers_do(tmp_path):
    """Through the writer: every text a call record keeps; the raw database bytes (file and
    WAL) are searched, not only what the store reads back."""
    store = CallStore(tmp_path / "calls.db")
    store.call_started("c1", direction="inbound")
    store.add_turn("c1", TurnRecord("caller", f"my card is {CARD_WORDS}"))
    store.add_turn("c1", TurnRecord("caller", dtmf=CARD + "#"))
    store.add_turn(
        "c1", TurnRecord("caller", "卡号四五三二零一五一一二八三零三六六，手机13800138000")
    )
    store.add_turn("c1", TurnRecord("bot", "I have 4532-0151-1283-0366 and 415-555-2671"))
    store.transfer_started("c1", "warm", "sip:agent@pbx", f"caller gave card {CARD}")
    store.call_ended(
        "c1",
        outcome="completed",
        slots={"card": int(CARD), "phone": "13800138000", "amount": "1,234,567.89"},
        vars={"said": f"pay with {CARD}"},
        dtmf=CARD,
    )
    store.save_quality(
        "c1", rules="r.yaml", score=50.0, findings=[{"rule": "x", "detail": f"said {CARD}"}]
    )
    record = store.get("c1")
    assert record is not None
    texts = [t["text"] for t in record.turns]
    assert texts[0] == "my card is •••• 0366"
    assert record.turns[1]["dtmf"] == "•••• 0366#"
    assert texts[2] == "卡号•••• 0366，手机13800138000"
    assert texts[3] == "I have •••• 0366 and 415-555-2671"
    assert record.slots == {"card": "•••• 0366", "phone": "13800138000", "amount": "1,234,567.89"}
    assert record.vars == {"said": "pay with •••• 0366"} and record.dtmf == "•••• 0366"
    assert (store.transfer("c1") or {})["summary"] == "caller gave card •••• 0366"
    assert (
        record.quality is not None and record.quality["findings"][0]["detail"] == "said •••• 0366"
    )
    raw = _files_bytes(tmp_path)
    for secret in (CARD, "4532-0151", "four five three two", "四五三二"):
        assert secret.encode() not in raw, secret
    assert b"13800138000" in raw and b"415-555-2671" in raw
    store.close()


def _call(store: CallStore, call_id: str, at: datetime, recording: Path | None) -> None:
    store.call_started(call_id, direction="inbound", from_uri="sip:+15551234567@pbx", at=at)
    store.call_answered(call_id, at=at)
    store.add_turn(call_id, TurnRecord("bot", "Welcome", step="welcome", at=at))
    store.add_turn(call_id, TurnRecord("caller", "my name is Ann", dtmf="12", at=at))
    store.add_turn(call_id, TurnRecord("bot", "Thanks Ann", latency_ms=300.0, at=at))
    store.transfer_started(call_id, "blind", "sip:agent@pbx", "Ann wants her balance")
    store.call_ended(
        call_id,
        outcome="transferred",
        steps=["welcome", "agent"],
        slots={"name": "Ann"},
        vars={"message": str(recording)},
        dtmf="12",
        recording_path=str(recording) if recording else None,
        at=at + timedelta(seconds=30),
    )
    finding = {"rule": "greet", "status": "ok", "turn": 1, "detail": "said Ann", "weight": 1}
    store.save_quality(call_id, rules="r.yaml", score=80.0, findings=[finding])


def _wav(path: Path, mtime: datetime) -> Path:
    with private_file(path) as f:
        write_wav(f, b"\x01\x00" * 8000, 8000)
    os.utime(path, (mtime.timestamp(), mtime.timestamp()))
    return path


@pytest.fixture
def old_and_new(tmp_path: Path) -> tuple[CallStore, Path, Path]:
    """A store with an old call (40 days) and a new one (2 days), each with its recording, an
    old orphan recording, an old call still in progress, and an agent's call brought in from a
    file outside the recordings directory; file times backdated like the calls."""
    data = tmp_path / "var"
    rec = data / "recordings"
    store = CallStore(data / "calls.db")
    old, new = NOW - timedelta(days=40), NOW - timedelta(days=2)
    _call(store, "old", old, _wav(rec / "old.wav", old))
    _call(store, "new", new, _wav(rec / "new.wav", new))
    _wav(rec / "orphan.wav", old)
    store.call_started("live", direction="inbound", at=old)
    outside = _wav(tmp_path / "agent_call.wav", old)
    turns = [Turn("agent", 0.0, 1.0, "hello", 0.9, None, False)]
    store_recording(store, outside, turns, started_at=old, duration=5.0)
    return store, data, outside


def test_a_purge_deletes_old_recordings_and_words_and_keeps_the_calls(old_and_new):
    store, data, outside = old_and_new
    rec = data / "recordings"
    dry = purge(store, rec, days=30, now=NOW, dry_run=True)
    assert sorted(c.id for c in dry.calls) == sorted(["old", outside_id(store)])
    assert sorted(p.name for p in dry.files) == ["old.wav", "orphan.wav"]
    assert (rec / "old.wav").exists() and store.get("old").turns[1]["text"] == "my name is Ann"
    assert dry.lines()[-1].startswith("would purge 2 call(s) and 2 recording(s) from before")

    report = purge(store, rec, days=30, now=NOW)
    assert sorted(p.name for p in rec.iterdir()) == ["new.wav"]
    assert outside.exists()  # the operator's file, brought in by `qa transcribe`
    old = store.get("old")
    assert old is not None and old.purged_at == NOW.isoformat(timespec="milliseconds")
    assert [t["text"] for t in old.turns] == ["", "", ""] and old.turns[1]["dtmf"] == ""
    assert old.slots == {} and old.vars == {} and old.dtmf == "" and old.recording_path is None
    assert old.outcome == "transferred" and old.steps == ["welcome", "agent"]
    assert old.answered_at and old.ended_at and old.turns[2]["latency_ms"] == 300.0
    assert (store.transfer("old") or {})["summary"] == ""
    assert old.quality is not None and old.quality["score"] == 80.0
    assert old.quality["findings"] == [
        {"rule": "greet", "status": "ok", "turn": 1, "detail": "", "weight": 1}
    ]
    new = store.get("new")
    assert new is not None and new.purged_at is None and new.turns[1]["text"] == "my name is Ann"
    live = store.get("live")
    assert live is not None and live.purged_at is None  # still in progress: not touched
    imported = store.get(outside_id(store))
    assert imported is not None and imported.recording_path is None and imported.purged_at
    assert any("not voicebot's" in line for line in report.lines())
    assert "purged" in format_list(store.list()) and "purged 2026-12-02" in format_call(old)

    status = retention_status(store, 30, NOW)
    assert status.purged == 2 and status.last_purge == old.purged_at
    assert status.oldest_kept == live.started_at  # in progress, so kept
    assert status.before == NOW - timedelta(days=30)
    assert status.as_dict() == {
        "days": 30,
        "before": "2026-11-02T12:00:00+00:00",
        "oldest_kept": live.started_at,
        "last_purge": old.purged_at,
        "purged": 2,
    }
    assert status.line().startswith("retention: keep 30 days; oldest kept 2026-10-23T12:00:00;")
    again = purge(store, rec, days=30, now=NOW)
    assert again.calls == [] and again.files == []
    assert retention_status(store, 30, NOW).purged == 2


def outside_id(store: CallStore) -> str:
    return next(r.id for r in store.list() if r.id.startswith("rec-"))


def _voicebot(tmp: Path, *args: str, days: int = 0) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "VOICEBOT_DATA_DIR": str(tmp / "var"),
        "VOICEBOT_CALL_RECORDS": str(tmp / "var" / "calls.db"),
        "VOICEBOT_RETENTION__DAYS": str(days),
        "VOICEBOT_CONFIG": str(ROOT / "config" / "voicebot.yaml"),
    }
    return subprocess.run(
        [sys.executable, "-m", "voicebot", *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp,
        timeout=120,
    )


def test_calls_purge_prints_what_it_deletes_and_calls_list_shows_retention(old_and_new, tmp_path):
    """The CLI on the real clock: the old call is 40 days before NOW, so far older than 30 days
    now; the new one (NOW - 2 days) is younger than 30 days as long as it is before 2026-12-30."""
    store, data, _ = old_and_new
    store.close()
    refused = _voicebot(tmp_path, "calls", "purge")
    assert refused.returncode == 1
    assert "settings retention.days is 0: give --older-than DAYS" in refused.stderr

    dry = _voicebot(tmp_path, "calls", "purge", "--older-than", "30", "--dry-run")
    assert dry.returncode == 0, dry.stderr
    assert "would purge call old started 2026-10-23T12:00:00.000+00:00" in dry.stdout
    assert f"would delete {data / 'recordings' / 'orphan.wav'}" in dry.stdout
    assert (data / "recordings" / "old.wav").exists()

    done = _voicebot(tmp_path, "calls", "purge", days=30)
    assert done.returncode == 0, done.stderr
    assert "purged call old started" in done.stdout
    assert done.stdout.strip().splitlines()[-1].startswith("purged 2 call(s) and 2 recording(s)")
    assert not (data / "recordings" / "old.wav").exists()

    listed = _voicebot(tmp_path, "calls", "list", days=30)
    assert listed.returncode == 0, listed.stderr
    lines = listed.stdout.strip().splitlines()
    assert any(line.startswith("old ") and line.endswith("purged") for line in lines)
    assert lines[-1].startswith("retention: keep 30 days; oldest kept 2026-10-23T12:00:00")
    assert lines[-1].endswith("2 call(s) purged")
    shown = _voicebot(tmp_path, "calls", "show", "old")
    assert "words and audio deleted" in shown.stdout and "my name is Ann" not in shown.stdout


def test_the_retention_timer_purges_at_start_and_again_later(tmp_path):
    data = tmp_path / "var"
    store = CallStore(data / "calls.db")
    _call(store, "first", datetime.now(UTC) - timedelta(days=10), None)
    timer = RetentionTimer(data / "calls.db", data / "recordings", days=7, every=0.2)
    timer.start()
    try:
        deadline = time.monotonic() + 20
        while (store.get("first") or _never()).purged_at is None:
            assert time.monotonic() < deadline, "not purged at start"
            time.sleep(0.05)
        _call(store, "second", datetime.now(UTC) - timedelta(days=8), None)
        while (store.get("second") or _never()).purged_at is None:
            assert time.monotonic() < deadline, "not purged later"
            time.sleep(0.05)
    finally:
        timer.stop()
    assert retention_status(store, 7, datetime.now(UTC)).purged == 2
    with sqlite3.connect(data / "calls.db") as db:  # two purges, one call each
        assert db.execute("SELECT calls FROM purges ORDER BY at").fetchall() == [(1,), (1,)]


def _never() -> object:
    raise AssertionError("the call disappeared")
