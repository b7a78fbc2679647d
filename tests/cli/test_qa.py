"""`voicebot qa run` over stored calls and `voicebot qa transcribe` of an agent's stereo call.

The stereo recordings are built here from real speech committed in tests/data/qa (espeak-ng,
an en-us "agent" and an en-gb "caller"), one side per channel; `qa transcribe` splits them with
the real VAD and transcribes them with the real tiny.en.
"""

from __future__ import annotations

import json
import wave
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest

from voicebot.audio.wav import read_wav, read_wav_channels
from voicebot.call import agent_recording as ar
from voicebot.call.records import CallStore, TurnRecord
from voicebot.cli import main
from voicebot.cli.qa import parse_since
from voicebot.speech.recognizer import Recognition

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT / "tests" / "data" / "qa"
RULES = ROOT / "dialog_flows" / "support_line.qa.yaml"
RATE = 8000


def speech(name: str) -> np.ndarray:
    """A fixture of tests/data/qa by name, or any WAV by path, at RATE."""
    path = Path(name) if name.endswith(".wav") else DATA / f"{name}.wav"
    pcm, _ = read_wav(path, rate=RATE)
    return np.frombuffer(pcm, "<i2")


def stereo(path: Path, placed: list[tuple[str, str, float]], tail: float = 1.0) -> Path:
    """A stereo WAV: each (channel, fixture, start seconds) placed on "left" or "right"."""
    clips = [(side, speech(name), int(at * RATE)) for side, name, at in placed]
    n = max(at + len(clip) for _, clip, at in clips) + int(tail * RATE)
    channels = {"left": np.zeros(n, np.int16), "right": np.zeros(n, np.int16)}
    for side, clip, at in clips:
        channels[side][at : at + len(clip)] = clip
    with wave.open(str(path), "wb") as w:
        w.setnchannels(2)
        w.setsampwidth(2)
        w.setframerate(RATE)
        w.writeframes(np.stack([channels["left"], channels["right"]], 1).astype("<i2").tobytes())
    return path


def agent_call(path: Path, *, agent: str = "left") -> Path:
    """Greeting with the disclosure; the caller asks 1 s later; 7 s of dead air; a promise."""
    caller = "right" if agent == "left" else "left"
    greeting = len(speech("agent_greeting")) / RATE
    question = len(speech("caller_question")) / RATE
    asked = 0.5 + greeting + 1.0
    return stereo(
        path,
        [
            (agent, "agent_greeting", 0.5),
            (caller, "caller_question", asked),
            (agent, "agent_promise", asked + question + 7.0),
        ],
    )


def test_a_conversation_is_split_by_the_vad_into_each_sides_turns_in_order(tmp_path):
    path = agent_call(tmp_path / "call.wav")
    channels, rate = read_wav_channels(path, rate=16000)
    spans = ar.conversation(channels, rate)
    assert [s.who for s in spans] == ["agent", "caller", "agent"]
    greeting = len(speech("agent_greeting")) / RATE
    assert spans[0].start == pytest.approx(0.5, abs=0.3)
    assert spans[0].end == pytest.approx(0.5 + greeting, abs=0.5)
    assert spans[2].start - spans[1].end == pytest.approx(7.0, abs=0.6)
    swapped = ar.conversation(
        read_wav_channels(agent_call(tmp_path / "r.wav", agent="right"), rate=16000)[0],
        rate,
        agent_channel="right",
    )
    assert [s.who for s in swapped] == ["agent", "caller", "agent"]


class _Words:
    """Stands in for the recogniser where only the turns' timing is under test."""

    def final(self, audio, expect, stream=""):
        return Recognition(f"{stream} words", 0.9, True, "free")


def test_silences_and_a_caller_talking_over_the_agent_are_marked(tmp_path):
    greeting = len(speech("agent_greeting")) / RATE
    path = stereo(
        tmp_path / "over.wav",
        [("left", "agent_greeting", 0.5), ("right", "caller_question", 0.5 + greeting - 1.5)],
    )
    channels, rate = read_wav_channels(path, rate=16000)
    turns = ar.transcribe(ar.conversation(channels, rate), channels, rate, _Words())
    assert [(t.who, t.text, t.barge_in) for t in turns] == [
        ("agent", "agent words", False),
        ("caller", "caller words", True),
    ]
    assert turns[0].latency_ms is None and turns[1].latency_ms is None  # overlapping: no gap


def test_a_mono_recording_is_refused(tmp_path, capsys):
    mono = tmp_path / "mono.wav"
    with wave.open(str(mono), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(RATE)
        w.writeframes(speech("agent_greeting").tobytes())
    code = main(["qa", "transcribe", str(mono), "--db", str(tmp_path / "calls.db")])
    assert code == 1
    assert "needs two channels, one per side (this one has 1)" in capsys.readouterr().err


@pytest.mark.slow
def test_transcribe_brings_in_an_agents_call_that_the_shipped_rules_inspect(tmp_path, capsys):
    path = agent_call(tmp_path / "agent_call.wav")
    db = tmp_path / "calls.db"
    assert main(["qa", "transcribe", str(path), "--rules", str(RULES), "--db", str(db)]) == 0
    out = capsys.readouterr().out
    store = CallStore(db)
    (summary,) = store.list()
    record = store.get(summary.id)
    assert record is not None and record.recording_path == str(path.resolve())
    assert [t["who"] for t in record.turns] == ["agent", "caller", "agent"]
    said = " ".join(t["text"].lower() for t in record.turns)
    assert "may be recorded" in said and "refund" in said and "guarantee" in said
    assert record.turns[2]["latency_ms"] > 6000
    assert record.quality is not None
    found = {(f["rule"], f["status"], f["turn"]) for f in record.quality["findings"]}
    assert found == {
        ("no_promises", "broken", 3),
        ("no_dead_air", "broken", 3),
        ("calm_end", "not_measured", None),
    }
    assert record.quality["score"] == 62.5  # measured 80, broken 20 + 10
    assert "quality 62.5/100" in out and "no_promises (turn 3)" in out
    # brought in once: the same file again is refused, saying which call it is
    assert main(["qa", "transcribe", str(path), "--db", str(db)]) == 1
    assert f"brought in already as call {record.id}" in capsys.readouterr().err


@pytest.mark.slow
def test_transcribe_in_mandarin_with_the_multilingual_model(tmp_path, capsys):
    """Real Mandarin speech (tests/data/zh: an AISHELL-1 sentence as the agent, a WeNet voice
    command as the caller), recognised by Whisper base forced to Mandarin."""
    zh = ROOT / "tests" / "data" / "zh"
    agent = str(zh / "BAC009S0764W0121.wav")  # 甚至出现交易几乎停滞的情况
    caller = str(zh / "IT0011W0001.wav")  # 换一首歌
    path = stereo(
        tmp_path / "zh_call.wav",
        [("left", agent, 0.5), ("right", caller, 0.5 + len(speech(agent)) / RATE + 1.0)],
    )
    rules = tmp_path / "zh.qa.yaml"
    rules.write_text(
        "version: 1\nrules:\n"
        '  - {id: opening, bot_says: {any: ["交易"], in: first_turn}, weight: 50}\n'
        '  - {id: no_stall, nobody_says: ["停滞"], weight: 50}\n',
        encoding="utf-8",
    )
    db = tmp_path / "calls.db"
    args = ["qa", "transcribe", str(path), "--language", "zh", "--rules", str(rules)]
    assert main([*args, "--db", str(db)]) == 0
    capsys.readouterr()
    store = CallStore(db)
    record = store.get(store.list()[0].id)
    assert record is not None and [t["who"] for t in record.turns] == ["agent", "caller"]
    assert "交易" in record.turns[0]["text"] and "歌" in record.turns[1]["text"]
    assert record.quality is not None and record.quality["score"] == 50.0
    assert [(f["rule"], f["turn"]) for f in record.quality["findings"]] == [("no_stall", 1)]


def _stored_call(store: CallStore, call_id: str, started: datetime, *turns: TurnRecord) -> None:
    store.call_started(call_id, direction="inbound", at=started)
    for t in turns:
        store.add_turn(call_id, t)
    outcome = "caller_hangup" if call_id == "abandoned" else "completed"
    store.call_ended(call_id, outcome=outcome, at=started + timedelta(seconds=30))


def test_run_rescores_stored_calls_since_a_time_one_json_object_per_call(tmp_path, capsys):
    db = tmp_path / "calls.db"
    store = CallStore(db)
    now = datetime.now(UTC)
    greeting = TurnRecord("bot", "Thanks for calling Acme support. This call may be recorded.")
    _stored_call(store, "old", now - timedelta(days=3), greeting)
    _stored_call(
        store,
        "good",
        now - timedelta(hours=2),
        greeting,
        TurnRecord("caller", "balance please", barge_in=True),
        TurnRecord("bot", "Your balance is $3.", latency_ms=800.0),
    )
    _stored_call(
        store,
        "abandoned",
        now - timedelta(hours=1),
        TurnRecord("bot", "Thanks for calling."),
        TurnRecord("caller", "do you guarantee it"),
    )
    store.call_started("ringing", direction="outbound", at=now)  # in progress: not scored
    assert main(["qa", "run", str(RULES), "--since", "1d", "--json", "--db", str(db)]) == 0
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [x["id"] for x in lines] == ["good", "abandoned"]  # oldest first, since a day
    good, bad = lines
    assert good["score"] == 100.0 and good["broken"] == [] and good["not_measured"] == ["calm_end"]
    assert bad["broken"] == ["disclosure", "no_promises", "resolved"]
    assert {(f["rule"], f["turn"]) for f in bad["findings"] if f["status"] == "broken"} == {
        ("disclosure", 1),
        ("no_promises", 2),
        ("resolved", 2),
    }
    assert bad["score"] == 25.0  # measured 80 (calm_end not), broken 20 + 20 + 20
    stored = store.get("abandoned")
    assert stored is not None and stored.quality is not None
    assert stored.quality["score"] == 25.0 and stored.quality["rules"] == str(RULES)
    assert main(["qa", "run", str(RULES), "--db", str(db)]) == 0
    text = capsys.readouterr().out
    assert "3 call(s) scored, mean score 75.0; rules broken: " in text
    assert "abandoned" in text and "broken: disclosure, no_promises, resolved" in text


def test_since_takes_iso_times_and_times_back_from_now():
    now = datetime(2026, 12, 2, 8, 0, tzinfo=UTC)
    assert parse_since("24h", now) == now - timedelta(hours=1 * 24)
    assert parse_since("90m", now) == now - timedelta(minutes=90)
    assert parse_since("2026-12-01T08:00+08:00", now) == datetime(2026, 12, 1, 0, 0, tzinfo=UTC)
    assert parse_since("2026-12-01", now).tzinfo is not None
    with pytest.raises(Exception, match="cannot use --since 'yesterday'"):
        parse_since("yesterday", now)
