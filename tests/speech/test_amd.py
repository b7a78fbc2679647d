"""Answering-machine detection: rules on synthetic frames with a virtual clock, then real audio."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from voicebot.audio import read_wav, ulaw_decode, ulaw_encode
from voicebot.dialog.expectation import Expectation
from voicebot.speech.amd import (
    AmdDecision,
    AmdEvent,
    AmdSettings,
    AnsweringMachineDetector,
    BeepHeard,
    GreetingEnded,
    machine_cue,
)
from voicebot.testing.speech import noise, silence, timed_frames, voice_tone

FSDD = Path(__file__).resolve().parents[1] / "data" / "fsdd"


def tone(seconds: float, *hz: float, level_dbfs: float = -15.0) -> np.ndarray:
    t = np.arange(round(seconds * 8000)) / 8000
    wave = sum(np.sin(2 * np.pi * f * t) for f in hz) / len(hz)
    return (wave * 32768 * 10 ** (level_dbfs / 20) * np.sqrt(2)).astype(np.int16)


def run(*parts: np.ndarray, det: AnsweringMachineDetector | None = None) -> list[AmdEvent]:
    """Answer at 0 and feed the parts, one after the other, as 20 ms frames."""
    det = det or AnsweringMachineDetector()
    det.start(0.0)
    audio = np.concatenate(parts)
    return [e for pcm, now in timed_frames(audio) for e in det.feed(pcm, round(now, 2))]


def decisions(events: list[AmdEvent]) -> list[AmdDecision]:
    return [e for e in events if isinstance(e, AmdDecision)]


def test_short_answer_then_silence_is_human_within_three_seconds():
    events = run(silence(0.5), voice_tone(0.6), silence(4.0))
    assert events == [AmdDecision("human", pytest.approx(1.9, abs=0.05), events[0].reason)]
    assert events[0].reason == "short greeting then silence"


def test_long_greeting_is_machine_then_greeting_ended_after_silence():
    events = run(silence(0.5), voice_tone(4.0), silence(3.0))
    first, ready = events
    assert first == AmdDecision("machine", pytest.approx(2.7, abs=0.05), "long greeting")
    assert ready == GreetingEnded(pytest.approx(4.5 + 2.0, abs=0.15))


def test_greeting_with_pauses_shorter_than_human_silence_stays_one_greeting():
    part = voice_tone(0.8)
    events = run(silence(0.3), part, silence(0.5), part, silence(0.5), part, silence(1.0))
    assert decisions(events)[0].kind == "machine"


def test_from_the_deadline_a_shorter_silence_decides_human():
    events = run(silence(1.2), voice_tone(1.5), silence(3.0))
    assert events == [AmdDecision("human", pytest.approx(3.2, abs=0.15), events[0].reason)]
    assert events[0].reason == "short greeting then silence (deadline)"
    det = AnsweringMachineDetector(settings=AmdSettings(human_deadline=0))
    assert decisions(run(silence(1.2), voice_tone(1.5), silence(3.0), det=det))[0].at > 3.4


def test_initial_silence_defaults_to_human_and_is_configurable():
    assert decisions(run(silence(5.0))) == [AmdDecision("human", 3.0, "initial silence")]
    det = AnsweringMachineDetector(settings=AmdSettings(initial_silence_kind="machine"))
    assert decisions(run(silence(5.0), det=det))[0].kind == "machine"
    with pytest.raises(ValueError):
        AmdSettings(initial_silence_kind="robot")


@pytest.mark.parametrize("hz", [440.0, 1000.0, 1400.0])
def test_beep_after_greeting_is_heard_with_its_timing(hz):
    greeting = voice_tone(3.0)
    events = run(silence(0.5), greeting, silence(0.5), tone(0.4, hz), silence(2.5))
    beeps = [e for e in events if isinstance(e, BeepHeard)]
    assert decisions(events)[0].reason == "long greeting"
    assert len(beeps) == 1 and not [e for e in events if isinstance(e, GreetingEnded)]
    assert beeps[0].start == pytest.approx(4.0, abs=0.021)
    assert beeps[0].at == pytest.approx(4.4, abs=0.021)
    assert beeps[0].frequency == pytest.approx(hz, abs=15)


def test_beep_alone_decides_machine_through_mu_law_and_line_noise():
    audio = np.concatenate([silence(0.8), tone(0.5, 1000.0, level_dbfs=-20), silence(1.0)])
    audio = audio + noise(audio.size / 8000, level_dbfs=-45)
    line = np.frombuffer(ulaw_decode(ulaw_encode(audio.astype("<i2").tobytes())), "<i2")
    events = run(line)
    assert events[0] == AmdDecision("machine", pytest.approx(0.96, abs=0.03), "beep")
    assert isinstance(events[1], BeepHeard) and events[1].at == pytest.approx(1.3, abs=0.03)


@pytest.mark.parametrize(
    "audio",
    [
        tone(0.6, 697.0, 1209.0),  # DTMF "1"
        tone(0.6, 852.0, 1477.0),  # DTMF "9"
        tone(0.1, 1000.0),  # too short for a beep
        voice_tone(0.6, f0=220.0),  # speech-like harmonics
        tone(0.6, 200.0),  # below the beep band
    ],
    ids=["dtmf-1", "dtmf-9", "blip", "voice", "hum"],
)
def test_not_a_beep(audio):
    events = run(silence(0.5), audio, silence(3.0))
    assert not [e for e in events if isinstance(e, BeepHeard)]
    assert all(d.reason != "beep" for d in decisions(events))


@pytest.mark.parametrize(
    ("text", "cue"),
    [
        ("Hi, you've reached Maria.", "you've reached"),
        ("I can't come to the phone right now", "can't come to the phone"),
        ("Please leave a message after the tone.", "leave a message"),
        ("Leave your name and number", "leave a message"),
        ("Please leave my message.", "leave a message"),  # as tiny.en hears it
        ("He is not available", "not available"),
        ("The subscriber is unavailable.", "not available"),
        ("Record your message after the beep", "after the tone"),
        ("Welcome to the voice mail system", "voicemail"),
        ("This mailbox is full", "mailbox"),
        ("and I'll get back to you", "get back to you"),
    ],
)
def test_transcript_cues_decide_machine(text, cue):
    assert machine_cue(text) == cue
    det = AnsweringMachineDetector()
    det.start(10.0)
    assert det.transcript(text, 11.5) == [AmdDecision("machine", 11.5, f"cue: {cue}")]


@pytest.mark.parametrize("text", ["Hello?", "Yes, speaking.", "Hi, this is Sam.", "Who is this?"])
def test_human_answers_have_no_cue(text):
    assert machine_cue(text) is None
    det = AnsweringMachineDetector()
    det.start(0.0)
    assert det.transcript(text, 1.0) == [] and det.decided is None


def test_decision_happens_once_and_a_human_ends_reporting():
    det = AnsweringMachineDetector()
    events = run(silence(0.4), voice_tone(0.5), silence(2.0), det=det)
    assert [d.kind for d in decisions(events)] == ["human"]
    assert det.transcript("please leave a message", 3.0) == []
    later = [
        e for pcm, now in timed_frames(tone(1.0, 1000.0), start=3.0) for e in det.feed(pcm, now)
    ]
    assert later == [] and det.decided is not None and det.decided.kind == "human"


def test_cue_then_beep_reports_one_decision_and_one_beep():
    det = AnsweringMachineDetector()
    det.start(0.0)
    assert det.transcript("You have reached", 0.5)[0].reason == "cue: you've reached"
    events = run(voice_tone(1.0), silence(0.3), tone(0.3, 800.0), silence(3.0), det=det)
    assert [type(e) for e in events] == [BeepHeard] and det.ready == events[0]


def test_once_transcripts_arrive_long_greeting_can_wait_for_a_cue():
    det = AnsweringMachineDetector(settings=AmdSettings(long_greeting_with_text=4.0))
    det.start(0.0)
    assert det.transcript("Hello, this is", 0.0) == []
    events = run(silence(0.3), voice_tone(3.0), silence(2.0), det=det)
    assert [d.kind for d in decisions(events)] == ["human"]


def test_a_long_tone_is_reported_without_waiting_for_its_end():
    events = run(silence(0.5), voice_tone(2.5), silence(0.4), tone(3.0, 1000.0))
    beep = events[-1]
    assert isinstance(beep, BeepHeard) and beep.start == pytest.approx(3.4, abs=0.021)
    assert beep.at == pytest.approx(3.4 + 1.5, abs=0.021)


def test_line_noise_alone_is_initial_silence():
    events = run(noise(5.0, level_dbfs=-40))
    assert decisions(events) == [AmdDecision("human", 3.0, "initial silence")]


def test_frames_before_answer_are_ignored():
    det = AnsweringMachineDetector()
    assert [e for pcm, now in timed_frames(tone(1.0, 425.0)) for e in det.feed(pcm, now)] == []
    assert det.decided is None


# Real audio: espeak-ng greetings and answers, FSDD speakers, through a G.711 round trip.


def telephone(pcm: bytes, lead: float = 0.5, tail: float = 3.5, beep: float = 0.0) -> np.ndarray:
    parts = [silence(lead), np.frombuffer(pcm, "<i2")]
    if beep:
        parts += [silence(0.4), tone(0.3, beep, level_dbfs=-14)]
    line = np.concatenate([*parts, silence(tail)]).astype("<i2").tobytes()
    return np.frombuffer(ulaw_decode(ulaw_encode(line)), "<i2")


GREETING = "Hi, you've reached Maria. I can't come to the phone right now. Please leave a message."


@pytest.mark.slow
@pytest.mark.parametrize("beep", [0.0, 1000.0])
def test_espeak_greeting_is_machine(espeak, beep):
    events = run(telephone(espeak.synthesize(GREETING, 8000), beep=beep))
    assert decisions(events)[0] == AmdDecision("machine", decisions(events)[0].at, "long greeting")
    assert decisions(events)[0].at < 3.5
    assert isinstance(events[-1], BeepHeard if beep else GreetingEnded)


@pytest.mark.slow
@pytest.mark.parametrize("text", ["Hello?", "Yes, speaking.", "Hi, this is Sam."])
def test_espeak_short_answer_is_human_within_three_seconds(espeak, text):
    [decision] = run(telephone(espeak.synthesize(text, 8000)))
    assert decision.kind == "human" and decision.at <= 3.0


@pytest.mark.slow
@pytest.mark.parametrize("name", ["3_george_0", "7_jackson_1", "1_theo_2", "5_yweweler_3"])
def test_fsdd_speaker_short_answer_is_human(name):
    pcm, _ = read_wav(FSDD / f"{name}.wav", 8000)
    [decision] = run(telephone(pcm))
    assert decision.kind == "human" and decision.at <= 3.0


@pytest.mark.slow
def test_short_greeting_is_machine_by_its_transcript(whisper, espeak):
    """A 1.5 s greeting looks like a human by timing; tiny.en's partial gives it away."""
    from voicebot.speech.recognizer import WhisperRecognizer, to_model_audio

    audio = telephone(espeak.synthesize("Please leave a message.", 8000), tail=0.3)
    partial = WhisperRecognizer(whisper).partial(
        to_model_audio(audio.tobytes(), 8000), Expectation("text")
    )
    det = AnsweringMachineDetector()
    det.start(0.0)
    assert det.transcript(partial.text, audio.size / 8000)[0].reason == "cue: leave a message"
