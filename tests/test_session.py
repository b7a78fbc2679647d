"""The call session with plain data: real listener, real engine, synthetic audio, virtual time."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np

from voicebot.call.session import (
    AudioIn,
    Beep,
    CallSession,
    KeyIn,
    PausePlayback,
    Perform,
    Play,
    PlaybackFinished,
    PlaybackStarted,
    Recognize,
    Recognized,
    Saved,
    SaveRecording,
    StopPlayback,
    Tick,
)
from voicebot.dialog import actions as act
from voicebot.dialog import events as ev
from voicebot.dialog.engine import DialogEngine
from voicebot.flow.loader import load_flow
from voicebot.speech.listener import Listener
from voicebot.testing.speech import silence, timed_frames, voice_tone

FLOWS = Path(__file__).resolve().parents[1] / "dialog_flows"
OPEN = dt.datetime(2026, 11, 24, 10, 0, tzinfo=dt.timezone(dt.timedelta(hours=-5)))
NIGHT = OPEN.replace(hour=23)


class Clock:
    def __init__(self) -> None:
        self.now = 0.0


def session(origin: dt.datetime = OPEN) -> tuple[CallSession, Clock]:
    engine = DialogEngine(
        load_flow(FLOWS / "support_line.yaml"), env={"ACCOUNTS_API": "http://accounts.test"}
    )
    s = CallSession(engine, Listener(rate=8000), wall_clock_origin=origin)
    return s, Clock()


def feed(s: CallSession, clock: Clock, samples: np.ndarray) -> list:
    out = []
    for pcm, t in timed_frames(samples, 8000, clock.now):
        out += s.handle(AudioIn(pcm), t)
        clock.now = t
    return out


def texts(outputs: list) -> list[str]:
    return [o.say.text for o in outputs if isinstance(o, Play)]


def started(s: CallSession, clock: Clock) -> list:
    out = s.start(ev.CallStarted("c1", "+1555", "+1666"), clock.now)
    out += s.handle(PlaybackFinished(), clock.now)
    return out


def test_prompts_play_then_listening_times_out_from_the_end_of_the_prompt():
    s, clock = session()
    out = s.start(ev.CallStarted("c1"), 0.0)
    assert texts(out) == [
        "Thanks for calling Acme support. This call may be recorded.",
        "For your balance say balance or press 1. For billing say billing or press 2.",
    ]
    assert feed(s, clock, silence(6.0)) == []  # still playing: no-input waits for the prompt
    s.handle(PlaybackFinished(), clock.now)
    out = feed(s, clock, silence(5.2))
    assert texts(out)[0] == "Sorry, I didn't hear anything."


def test_speech_goes_to_the_recogniser_and_the_answer_to_the_engine():
    s, clock = session()
    started(s, clock)
    out = feed(s, clock, np.concatenate([silence(0.3), voice_tone(0.8), silence(1.2)]))
    finals = [o for o in out if isinstance(o, Recognize) and o.final]
    assert len(finals) == 1
    request = finals[0]
    assert request.expect.kind == "menu" and request.rate == 8000
    assert 0.8 * 16000 <= len(request.pcm) <= 1.6 * 16000
    out = s.handle(Recognized(request.turn, "my balance please", 0.91, True), clock.now)
    assert texts(out) == ["Please say or key in your eight digit account number."]
    assert s.turns[-1].text == "my balance please"
    assert 0.9 < s.turns[-1].speech_end < 1.3


def test_partial_is_requested_while_the_caller_pauses():
    s, clock = session()
    started(s, clock)
    out = feed(s, clock, np.concatenate([voice_tone(0.6), silence(0.16)]))
    partials = [o for o in out if isinstance(o, Recognize) and not o.final]
    assert len(partials) == 1 and partials[0].pcm


def test_barge_in_stops_the_prompt_and_keys_do_too():
    s, clock = session()
    s.start(ev.CallStarted("c1"), 0.0)
    s.handle(PlaybackFinished(), 0.0)
    s.handle(Recognized(s.turn, "billing", 0.9, True), 0.0)  # billing subflow prompt plays
    out = feed(s, clock, np.concatenate([silence(0.3), voice_tone(0.5), silence(0.2)]))
    assert PausePlayback() in out and StopPlayback() not in out  # not yet known what it is
    partial = next(o for o in out if isinstance(o, Recognize) and not o.final)
    out = s.handle(Recognized(partial.turn, "a payment", 0.9, False, partial.audio_end), 1.1)
    assert StopPlayback() in out  # words that are no backchannel: an interruption
    s2, _ = session()
    s2.start(ev.CallStarted("c2"), 0.0)
    s2.handle(PlaybackFinished(), 0.0)
    out = s2.handle(KeyIn("1"), 0.5)  # account prompt now playing
    out = s2.handle(KeyIn("1"), 0.7)
    assert StopPlayback() in out


def test_noise_with_no_text_listens_again_without_an_attempt():
    s, clock = session()
    started(s, clock)
    out = feed(s, clock, np.concatenate([voice_tone(0.5), silence(1.2)]))
    request = next(o for o in out if isinstance(o, Recognize) and o.final)
    out = s.handle(Recognized(request.turn, "", 0.0, True), clock.now)
    assert out == [] and s.engine.no_match == 0 and s.listener.listening


def test_stale_results_are_ignored():
    s, clock = session()
    started(s, clock)
    assert s.handle(Recognized(s.turn - 1, "balance", 0.9, True), 0.0) == []


def test_hangup_waits_for_the_goodbye_to_play_and_latency_is_measured():
    s, clock = session()
    started(s, clock)
    s.handle(KeyIn("1"), 1.0)
    s.handle(PlaybackFinished(), 2.0)
    out = s.handle(KeyIn("12345678"), 3.0)
    fetch = next(o.action for o in out if isinstance(o, Perform))
    assert fetch.url == "http://accounts.test/accounts/12345678"
    s.handle(ev.HttpResult(200, {"balance": 5, "owner": {"first_name": "Al"}}), 3.1)
    s.handle(PlaybackFinished(), 6.0)
    feed_at = 6.0
    clock.now = feed_at
    out = feed(s, clock, np.concatenate([voice_tone(0.7), silence(1.2)]))
    request = next(o for o in out if isinstance(o, Recognize) and o.final)
    out = s.handle(Recognized(request.turn, "no thanks", 0.95, True), clock.now)
    assert texts(out) == ["Thank you for calling. Goodbye."]
    assert not any(isinstance(o, Perform) for o in out)  # not before the goodbye is heard
    s.handle(PlaybackStarted(), clock.now + 0.05)
    turn = s.turns[-1]
    assert turn.latency is not None and 0.0 < turn.latency < 1.5
    out = s.handle(PlaybackFinished(), clock.now + 2.0)
    assert out[-1] == Perform(act.HangUp("flow")) and s.ended


def test_interdigit_timer_runs_on_ticks():
    s, clock = session()
    started(s, clock)
    s.handle(KeyIn("1"), 1.0)
    s.handle(PlaybackFinished(), 2.0)
    s.handle(KeyIn("1234"), 2.5)
    assert s.handle(Tick(), 4.0) == []
    out = s.handle(Tick(), 5.6)
    assert texts(out)[0] == "Sorry, I didn't catch that."


def test_voicemail_records_after_a_beep_until_silence():
    s, clock = session(NIGHT)
    out = s.start(ev.CallStarted("c1"), 0.0)
    assert texts(out)[-1] == "We are closed now. Please leave a message after the tone."
    out = s.handle(PlaybackFinished(), 3.0)
    assert out == [Beep()]
    clock.now = 3.0
    out = feed(s, clock, np.concatenate([voice_tone(1.5), silence(5.5)]))
    saves = [o for o in out if isinstance(o, SaveRecording)]
    assert len(saves) == 1 and len(saves[0].pcm) >= 1.5 * 16000
    out = s.handle(Saved("/var/rec/c1.wav", 1.5), clock.now)
    assert s.engine.vars["message"] == "/var/rec/c1.wav"
    assert texts(out) == ["Thank you for calling. Goodbye."]


def test_silent_voicemail_saves_nothing():
    s, clock = session(NIGHT)
    s.start(ev.CallStarted("c1"), 0.0)
    s.handle(PlaybackFinished(), 0.0)
    out = feed(s, clock, silence(5.5))
    assert [o for o in out if isinstance(o, SaveRecording)] == [SaveRecording(b"", 8000)]


def test_far_end_hangup_ends_the_session():
    s, clock = session()
    started(s, clock)
    assert s.handle(ev.Hangup(), 1.0) == [] and s.ended and s.engine.ended
    assert feed(s, clock, voice_tone(0.5)) == []


def test_a_key_ends_a_recording_and_keys_during_announcements_are_ignored():
    s, clock = session(NIGHT)
    assert s.handle(KeyIn("5"), 0.5) == []  # welcome still playing, nobody asked anything
    s.start(ev.CallStarted("c1"), 0.0)
    s.handle(PlaybackFinished(), 0.0)
    feed(s, clock, np.concatenate([silence(0.3), voice_tone(1.0)]))
    out = s.handle(KeyIn("#"), clock.now)
    assert len(out) == 1 and isinstance(out[0], SaveRecording) and out[0].pcm
    assert s.turns == []


# -- outbound: answering-machine detection decides where the flow starts --------------------
from voicebot.call.session import AMD_TURN  # noqa: E402
from voicebot.testing.amd import BeepHeard, Decision, ScriptedDetector  # noqa: E402

REMINDER = FLOWS / "appointment_reminder.yaml"
CONTACT = {"name": "Maria", "clinic": "Acme Dental", "appointment": "2026-12-03", "time": "9 AM"}


def outbound(detector: ScriptedDetector | None) -> CallSession:
    engine = DialogEngine(load_flow(REMINDER))
    return CallSession(engine, Listener(rate=8000), wall_clock_origin=OPEN, amd=detector)


def start_outbound(s: CallSession) -> list:
    return s.start(ev.CallStarted("o1", direction="outbound", contact=CONTACT), 0.0)


def test_a_human_answer_starts_the_flow_when_detected():
    s = outbound(ScriptedDetector([(1.0, Decision("human", 1.0))]))
    assert start_outbound(s) == []
    clock = Clock()
    out = feed(s, clock, silence(1.2))
    assert texts(out)[0].startswith("Hello Maria, this is Acme Dental")
    assert s.answered_by == "human"


def test_a_machine_gets_its_message_after_the_beep():
    s = outbound(ScriptedDetector([(2.0, Decision("machine", 2.0)), (5.0, BeepHeard(5.0))]))
    start_outbound(s)
    clock = Clock()
    before = feed(s, clock, silence(4.0))
    assert texts(before) == []
    out = feed(s, clock, silence(1.2))
    assert texts(out) == [
        "Hello, this is Acme Dental with a reminder for Maria about an "
        "appointment on Thursday, December 3 at 9 AM. Please call us if you "
        "need to change it. Goodbye."
    ]
    assert s.answered_by == "machine"


def test_the_greeting_is_transcribed_for_cue_phrases():
    detector = ScriptedDetector([(9.0, BeepHeard(9.0))], cues=("leave a message",))
    s = outbound(detector)
    start_outbound(s)
    clock = Clock()
    out = feed(s, clock, voice_tone(1.1))
    asks = [o for o in out if isinstance(o, Recognize)]
    assert asks and asks[0].turn == AMD_TURN and not asks[0].final
    assert s.handle(Recognized(AMD_TURN, "please leave a message", 0.8, False), 1.2) == []
    assert s.amd_machine_at == 1.2 and detector.transcripts == ["please leave a message"]


def test_no_decision_at_all_counts_as_a_human_and_no_detector_means_human():
    s = outbound(ScriptedDetector([]))
    start_outbound(s)
    clock = Clock()
    out = feed(s, clock, silence(6.1))
    assert texts(out)[0].startswith("Hello Maria") and s.answered_by == "human"
    s2 = outbound(None)
    assert texts(start_outbound(s2))[0].startswith("Hello Maria")


def test_a_partial_request_carries_the_end_of_the_audio_it_covers():
    s, clock = session()
    started(s, clock)
    out = feed(s, clock, np.concatenate([voice_tone(0.6), silence(0.16)]))
    partial = next(o for o in out if isinstance(o, Recognize) and not o.final)
    assert partial.audio_end is not None
    # the frames of `pcm` end at `audio_end`: the listener's stale-partial guard needs it
    assert abs(partial.audio_end - len(partial.pcm) / 2 / 8000 - s.listener._utt_start) < 0.021


def test_a_partial_never_answered_does_not_stop_partials_of_later_turns():
    """The recognition queue drops a call's waiting partial when its final comes (the final
    covers that audio): the session must not wait for that partial's result forever."""
    s, clock = session()
    started(s, clock)
    out = feed(s, clock, np.concatenate([voice_tone(0.6), silence(1.0)]))
    asked = [o for o in out if isinstance(o, Recognize)]
    assert [o.final for o in asked] == [False, True]
    out = s.handle(Recognized(asked[-1].turn, "balance", 0.9, final=True), clock.now)
    assert texts(out)  # the account prompt
    s.handle(PlaybackFinished(), clock.now)
    out = feed(s, clock, np.concatenate([voice_tone(0.6), silence(0.16)]))
    assert [o.final for o in out if isinstance(o, Recognize)] == [False]


def test_a_turn_that_barged_in_is_marked_for_the_call_record():
    s, clock = session()
    s.start(ev.CallStarted("c1"), 0.0)
    s.handle(PlaybackFinished(), 0.0)
    s.handle(Recognized(s.turn, "billing", 0.9, True), 0.0)  # billing subflow prompt plays
    out = feed(s, clock, np.concatenate([silence(0.3), voice_tone(0.6), silence(1.2)]))
    assert PausePlayback() in out and StopPlayback() not in out  # no partial came: undecided
    request = next(o for o in out if isinstance(o, Recognize) and o.final)
    out = s.handle(Recognized(request.turn, "my bill", 0.9, True), clock.now)
    assert StopPlayback() in out  # the final transcript is no backchannel: an interruption
    assert s.turns[-1].barged_in
    s.handle(PlaybackFinished(), clock.now)  # the stopped prompt's end, reported late
    s.handle(PlaybackFinished(), clock.now)  # the next prompt played out: the caller waited
    out = feed(s, clock, np.concatenate([silence(0.3), voice_tone(0.6), silence(1.2)]))
    assert StopPlayback() not in out
    assert len(s.turns) == 2 and not s.turns[-1].barged_in


def test_an_open_answer_asks_the_turn_model_and_its_score_ends_the_turn_early():
    from voicebot.call.session import PredictTurn, TurnScored

    engine = DialogEngine(
        load_flow(FLOWS / "support_line.yaml"), env={"ACCOUNTS_API": "http://accounts.test"}
    )
    s, clock = (
        CallSession(engine, Listener(rate=8000), turn_model=True, wall_clock_origin=OPEN),
        Clock(),
    )
    started(s, clock)
    assert s.expect is not None and not s.expect.is_closed  # the main menu is by meaning
    out = feed(s, clock, np.concatenate([silence(0.3), voice_tone(0.8), silence(0.14)]))
    (ask,) = [o for o in out if isinstance(o, PredictTurn)]
    assert ask.turn == s.turn and ask.pcm and clock.now - 0.04 <= ask.audio_end <= clock.now
    assert not [o for o in out if isinstance(o, Recognize) and o.final]
    s.handle(TurnScored(ask.turn, 0.97, ask.audio_end), clock.now)
    out = feed(s, clock, silence(0.1))
    assert [o for o in out if isinstance(o, Recognize) and o.final]
    turn = s.turns[-1]
    assert turn.end_of_turn == "turn" and turn.turn_score == 0.97
    assert clock.now - turn.speech_end < 0.3  # not the 0.8 s silence


def test_without_the_turn_model_nothing_is_asked_and_the_long_pause_ends_the_turn():
    s, clock = session()
    started(s, clock)
    out = feed(s, clock, np.concatenate([silence(0.3), voice_tone(0.8), silence(1.0)]))
    assert not [o for o in out if type(o).__name__ == "PredictTurn"]
    assert s.turns[-1].end_of_turn == "timeout" and s.turns[-1].turn_score is None
