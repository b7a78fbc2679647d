"""A call session in Mandarin and after a switch to English, with plain data: what the runner is
asked to play (text, voice) and to recognise (the expectation's language)."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

import numpy as np

from voicebot.call.session import (
    AudioIn,
    CallSession,
    KeyIn,
    Play,
    PlaybackFinished,
    Recognize,
    Recognized,
)
from voicebot.dialog import events as ev
from voicebot.dialog.engine import DialogEngine
from voicebot.flow.loader import load_flow
from voicebot.speech.listener import Listener
from voicebot.testing.speech import silence, timed_frames, voice_tone

ROOT = Path(__file__).resolve().parents[1]
NOW = dt.datetime(2026, 11, 24, 10, 0, tzinfo=dt.UTC)


def galaxy(tmp_path: Path) -> Path:
    """The contract's "Languages" example (docs/flow-format.md)."""
    text = (ROOT / "docs" / "flow-format.md").read_text()
    [part] = [p for p in re.split(r"^## ", text, flags=re.M) if p.startswith("Languages\n")]
    [block] = re.findall(r"```yaml\n(.*?)```", part, re.S)
    path = tmp_path / "galaxy_telecom.yaml"
    path.write_text(block)
    return path


def plays(outputs: list) -> list[tuple[str, str | None, str | None]]:
    return [(o.say.text, o.say.voice, o.say.language) for o in outputs if isinstance(o, Play)]


def speak(s: CallSession, now: float) -> tuple[Recognize, float]:
    out = []
    for pcm, t in timed_frames(np.concatenate([voice_tone(0.8), silence(1.2)]), 8000, now):
        out += s.handle(AudioIn(pcm), t)
        now = t
    [request] = [o for o in out if isinstance(o, Recognize) and o.final]
    return request, now


def test_a_mandarin_caller_is_heard_in_mandarin_and_answered_in_the_pinyin_voice(tmp_path):
    s = CallSession(DialogEngine(load_flow(galaxy(tmp_path))), Listener(rate=8000))
    out = s.start(ev.CallStarted("c1", "+8613800138000", "+861010"), 0.0)
    assert plays(out) == [
        ("您好，欢迎致电星河通信。", "cmn-latn-pinyin", "zh-CN"),
        ("普通话请按1。For English, press 9.", "cmn-latn-pinyin", "zh-CN"),
    ]
    s.handle(PlaybackFinished(), 0.0)
    request, now = speak(s, 0.0)
    assert (request.expect.kind, request.expect.language) == ("menu", "zh-CN")
    out = s.handle(Recognized(request.turn, "普通话", 0.9, True), now)
    assert plays(out) == [("请说出或按键输入您的十一位手机号码。", "cmn-latn-pinyin", "zh-CN")]
    s.handle(PlaybackFinished(), now)
    request, now = speak(s, now)
    assert (request.expect.kind, request.expect.language) == ("digits", "zh-CN")
    assert (request.expect.min_digits, request.expect.max_digits) == (11, 11)
    out = s.handle(Recognized(request.turn, "幺三八零零幺三八零零零", 0.9, True), now)
    assert plays(out) == [
        ("好的，您的号码是幺三八零零幺三八零零零。再见。", "cmn-latn-pinyin", "zh-CN")
    ]


def test_after_nine_the_call_is_recognised_and_spoken_in_english(tmp_path):
    s = CallSession(DialogEngine(load_flow(galaxy(tmp_path))), Listener(rate=8000))
    s.start(ev.CallStarted("c1"), 0.0)
    s.handle(PlaybackFinished(), 0.0)
    out = s.handle(KeyIn("9"), 0.5)
    assert plays(out) == [("Please say or key in your eleven digit phone number.", "en-us", "en")]
    s.handle(PlaybackFinished(), 0.5)
    request, _ = speak(s, 0.5)
    assert request.expect.language == "en"
