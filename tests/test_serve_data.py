"""Data handling of `voicebot serve` on a real SIP call on loopback, under umask 022: every file
the service writes is 0600 in 0700 directories, a card number keyed by the caller is used in
the call and redacted in the record, and retention purges an old call when the service starts.
"""

from __future__ import annotations

import os
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from test_data_handling import CARD, _call, _wav, assert_private, modes
from test_serve import call, heard, start_bot, stop_bot

from voicebot.call.records import CallStore

pytestmark = [pytest.mark.sip, pytest.mark.slow]

FLOW = Path(__file__).resolve().parent / "data" / "flows" / "card_voicemail.yaml"


def test_a_served_call_writes_private_files_keeps_no_card_and_old_calls_are_purged(tmp_path):
    old = datetime.now(UTC) - timedelta(days=40)
    seeded = CallStore(tmp_path / "calls.db")  # a database from before: readable by all
    _call(seeded, "old", old, _wav(tmp_path / "recordings" / "old.wav", old))
    seeded.close()
    os.chmod(tmp_path / "calls.db", 0o644)
    umask = os.umask(0o022)  # the service inherits it
    try:
        bot = start_bot(
            tmp_path, "--flow", str(FLOW), "--port", "0", env={"VOICEBOT_RETENTION__DAYS": "30"}
        )
    finally:
        os.umask(umask)
    try:
        out = call(bot.uri, "--dtmf", CARD + "#", "--say", "please call me back tomorrow")
    finally:
        stop_bot(bot)
    assert bot.proc.returncode == 0, "".join(bot.log)
    lines = [line for line in out.splitlines() if line.startswith("bot ")]
    assert heard(lines[1], "card 4 5 3 2"), out  # the flow used the digits in the call
    assert "bot hung up" in out

    store = bot.records()
    purged = store.get("old")
    assert purged is not None and purged.purged_at is not None  # at start (retention.days 30)
    assert purged.turns[1]["text"] == "" and not (tmp_path / "recordings" / "old.wav").exists()
    record = next(store.get(r.id) for r in store.list() if r.id != "old")
    assert record is not None and record.outcome == "completed"
    assert record.slots["card"] == "•••• 0366" and record.dtmf == "•••• 0366"
    assert record.vars["message"] == record.recording_path
    said = [t["text"] for t in record.turns if t["who"] == "bot"]
    assert any(text.startswith("Card •••• 0366.") for text in said), said
    recording = Path(record.recording_path or "")
    assert recording.parent == tmp_path / "recordings" and recording.stat().st_size > 1000
    store.close()

    deadline = time.monotonic() + 10  # the WAL and shared memory go when the last one closes
    while "calls.db-shm" in modes(tmp_path) and time.monotonic() < deadline:
        time.sleep(0.1)
    raw = b"".join(p.read_bytes() for p in tmp_path.iterdir() if p.is_file())
    assert CARD.encode() not in raw and b"4 5 3 2 0" not in raw
    written = modes(tmp_path)
    assert {"calls.db", f"recordings/{recording.name}"} <= set(written), written
    assert any(name.startswith("prompts/") and name.endswith(".wav") for name in written)
    assert_private(tmp_path)
