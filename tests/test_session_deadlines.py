"""Every request the session makes comes back as an event: result, error or timeout; and the
watchdog. Plain data and virtual time, as in test_session.py."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np

from voicebot.call.session import (
    AudioIn,
    CallSession,
    Deadlines,
    Perform,
    Play,
    PlaybackFinished,
    Recognize,
    Recognized,
    Reply,
    RequestFailed,
    Saved,
    SaveRecording,
    Tick,
)
from voicebot.dialog import actions as act
from voicebot.dialog import events as ev
from voicebot.dialog.engine import APOLOGY, DialogEngine
from voicebot.flow.loader import load_flow
from voicebot.speech.listener import Listener
from voicebot.testing.speech import silence, timed_frames, voice_tone

OPEN = dt.datetime(2026, 11, 24, 10, 0, tzinfo=dt.UTC)

FLOW = """
version: 1
name: deadlines
defaults: {on_error: sorry}
start: lookup
steps:
  lookup:
    http: {url: "http://api.test/a", timeout: 2s}
    on: {ok: ask, error: sorry, timeout: sorry}
  slow:
    http: {url: "http://api.test/slow", timeout: 60s}
    on: {ok: ask}
  ask:
    ask: {slot: {name: word, type: text}, prompt: "Say a word."}
    next: bye
  record: {record: {max: 30s, silence: 1s, beep: false}, next: bye}
  transfer:
    transfer: {to: "sip:agent@pbx.test"}
    on: {failed: sorry}
  sorry: {say: "Our system is down, sorry.", next: bye}
  bye: {say: "Goodbye.", next: end}
  end: {hangup: {}}
"""


def session(tmp: Path, start: str = "lookup", **deadlines: float) -> CallSession:
    path = tmp / "flow.yaml"
    path.write_text(FLOW.replace("start: lookup", f"start: {start}"))
    engine = DialogEngine(load_flow(path))
    return CallSession(
        engine, Listener(rate=8000), wall_clock_origin=OPEN, deadlines=Deadlines(**deadlines)
    )


def texts(outputs: list) -> list[str]:
    return [o.say.text for o in outputs if isinstance(o, Play)]


def ticks(s: CallSession, start: float, end: float, step: float = 0.1) -> list:
    out, t = [], start
    while t <= end + 1e-9 and not s.ended:
        out += s.handle(Tick(), t)
        t += step
    return out


def test_http_is_timed_from_the_session_side_and_a_late_reply_is_dropped(tmp_path):
    s = session(tmp_path)
    out = s.start(ev.CallStarted("c1"), 0.0)
    fetch = next(o for o in out if isinstance(o, Perform))
    assert fetch.request == 1 and fetch.key == "http:1"
    assert ticks(s, 0.1, 2.4) == []  # the backend's own timeout should report first
    out = ticks(s, 2.5, 2.6)
    assert texts(out)[:1] == ["Our system is down, sorry."]
    assert s.handle(Reply(1, ev.HttpResult(200, {})), 2.7) == []  # too late: dropped
    assert [step for _, step in s.engine.trace.steps] == ["lookup", "sorry", "bye", "end"]
    assert s.incidents == ["2.5 s: http:1 timeout: no answer in time"]


def test_work_that_failed_in_the_runner_takes_the_error_route(tmp_path):
    s = session(tmp_path)
    out = s.start(ev.CallStarted("c1"), 0.0)
    fetch = next(o for o in out if isinstance(o, Perform))
    out = s.handle(RequestFailed(fetch.key, "error", "RuntimeError: pool broke"), 0.3)
    assert texts(out)[:1] == ["Our system is down, sorry."]
    assert "http:1 error: RuntimeError: pool broke" in s.incidents[0]


def _asking(tmp: Path, **deadlines: float) -> tuple[CallSession, Recognize, float]:
    s = session(tmp, start="ask", **deadlines)
    s.start(ev.CallStarted("c1"), 0.0)
    s.handle(PlaybackFinished(), 0.5)
    for pcm, t in timed_frames(np.concatenate([voice_tone(0.6), silence(1.5)]), 8000, 0.52):
        final = [o for o in s.handle(AudioIn(pcm), t) if isinstance(o, Recognize) and o.final]
        if final:
            return s, final[0], t
    raise AssertionError("no final recognition asked for")


def test_a_recogniser_that_fails_takes_the_error_route(tmp_path):
    s, final, t = _asking(tmp_path)
    out = s.handle(RequestFailed(final.key, "error", "RuntimeError: CUDA"), t)
    assert texts(out)[:1] == ["Our system is down, sorry."]
    assert s.engine.trace.errors == ["ask: recognition error: RuntimeError: CUDA"]


def test_a_recogniser_that_never_answers_times_out(tmp_path):
    s, final, t = _asking(tmp_path, recognition=3.0)
    assert ticks(s, t + 0.1, t + 2.9) == []
    out = ticks(s, t + 3.0, t + 3.1)
    assert texts(out)[:1] == ["Our system is down, sorry."]
    assert s.handle(Recognized(final.turn, "hello", 0.9, True), t + 4) == []


def test_a_recording_never_saved_times_out(tmp_path):
    s = session(tmp_path, start="record", recording=2.0)
    s.start(ev.CallStarted("c1"), 0.0)
    out, t = [], 0.0
    for pcm, t in timed_frames(np.concatenate([voice_tone(0.5), silence(1.5)]), 8000, 0.02):
        out += s.handle(AudioIn(pcm), t)
    assert any(isinstance(o, SaveRecording) for o in out)
    out = ticks(s, t + 0.1, t + 2.2)
    assert texts(out)[:1] == ["Our system is down, sorry."]
    assert s.handle(Saved("/r.wav", 0.5), t + 3) == []


def test_a_transfer_with_no_outcome_is_no_answer(tmp_path):
    s = session(tmp_path, start="transfer", transfer=20.0)
    out = s.start(ev.CallStarted("c1"), 0.0)
    assert any(isinstance(o, Perform) and isinstance(o.action, act.Transfer) for o in out)
    assert ticks(s, 0.1, 19.9, step=0.5) == []  # no watchdog while the transfer rings
    out = ticks(s, 20.0, 20.5)
    assert texts(out)[:1] == ["Our system is down, sorry."]  # no_answer -> failed -> sorry


def test_the_watchdog_takes_the_error_route(tmp_path):
    # the step's own deadline (60.5 s) is past the watchdog's; its error route plays a prompt
    flow = FLOW.replace("  slow:\n    http: {url: \"http://api.test/slow\", timeout: 60s}\n    on: {ok: ask}",
                        "  slow:\n    http: {url: \"http://api.test/slow\", timeout: 60s}\n    on: {ok: ask, timeout: sorry}")  # fmt: skip
    path = tmp_path / "flow.yaml"
    path.write_text(flow.replace("start: lookup", "start: slow"))
    s = CallSession(DialogEngine(load_flow(path)), Listener(rate=8000))
    s.start(ev.CallStarted("c1"), 0.0)
    assert ticks(s, 0.1, 9.9) == []
    out = ticks(s, 10.0, 10.2)
    assert texts(out)[:1] == ["Our system is down, sorry."]
    assert s.engine.trace.errors[0].startswith("slow: watchdog timeout: neither playing")
    assert [i.split(": ")[1] for i in s.incidents] == ["watchdog timeout"]
    assert s.handle(Reply(1, ev.HttpResult(200, {})), 11.0) == []  # what it waited for: dropped


def test_a_watchdog_error_route_that_is_silent_too_apologises_and_hangs_up(tmp_path):
    # found by test_generated_flows: an error route that waits in silence again gave the
    # caller a second watchdog period of dead air
    flow = FLOW.replace("defaults: {on_error: sorry}", "defaults: {on_error: slow}")
    path = tmp_path / "flow.yaml"
    path.write_text(flow.replace("start: lookup", "start: lookup").replace(
        "on: {ok: ask, error: sorry, timeout: sorry}", "on: {ok: ask}").replace(
        'timeout: 2s}', 'timeout: 30s}'))  # fmt: skip
    s = CallSession(DialogEngine(load_flow(path)), Listener(rate=8000))
    s.start(ev.CallStarted("c1"), 0.0)
    out = ticks(s, 0.1, 10.2)  # watchdog -> defaults.on_error: `slow`, silent -> the apology
    assert texts(out) == [APOLOGY]
    assert [i.split(": ")[1] for i in s.incidents] == ["watchdog timeout", "watchdog hang-up"]
    assert s.handle(PlaybackFinished(), 12.0) == [Perform(act.HangUp("error"))] and s.ended


def test_listening_and_playing_are_not_idle(tmp_path):
    s = session(tmp_path, start="ask")
    s.start(ev.CallStarted("c1"), 0.0)
    assert ticks(s, 0.1, 15.0) == []  # a long prompt
    s.handle(PlaybackFinished(), 15.0)
    out = ticks(s, 15.1, 19.0)  # listening (the no-input timeout is 5 s)
    assert out == [] and s.incidents == []


def test_a_lost_partial_only_costs_the_early_end(tmp_path):
    s = session(tmp_path, start="ask")
    s.start(ev.CallStarted("c1"), 0.0)
    s.handle(PlaybackFinished(), 0.5)
    partial = None
    for pcm, t in timed_frames(np.concatenate([voice_tone(0.6), silence(0.4)]), 8000, 0.52):
        for o in s.handle(AudioIn(pcm), t):
            if isinstance(o, Recognize) and not o.final:
                partial = o
    assert partial is not None and s.partial_pending
    assert s.handle(RequestFailed(partial.key, "error", "dropped"), t) == []
    assert not s.partial_pending and s.incidents == []
