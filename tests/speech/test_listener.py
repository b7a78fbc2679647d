"""Endpointing, barge-in and timers, driven by synthetic and real frames on a virtual clock."""

from pathlib import Path

import numpy as np
import pytest

from voicebot.audio.resample import resample_array
from voicebot.audio.wav import read_wav
from voicebot.dialog.expectation import Expectation
from voicebot.speech.listener import (
    BargeIn,
    EndOfUtterance,
    Listener,
    ListenerSettings,
    MaxSpeech,
    NoInput,
    SpeechPaused,
    SpeechStarted,
)
from voicebot.testing.speech import noise, run_listener, silence, timed_frames, voice_tone

YES_NO = Expectation(kind="yes_no")
DIGITS = Expectation(kind="digits", min_digits=3, max_digits=3)
FSDD = Path(__file__).resolve().parents[1] / "data" / "fsdd"
FRAME = 0.02


def yes_is_enough(expect, text):
    return text.strip().lower() in ("yes", "no")


def kinds(events):
    return [type(e).__name__ for _, e in events]


def only(events, kind):
    found = [(t, e) for t, e in events if isinstance(e, kind)]
    assert len(found) == 1, kinds(events)
    return found[0]


def digit(name, rate=8000):
    pcm, src = read_wav(FSDD / f"{name}.wav", rate=rate)
    return np.frombuffer(pcm, "<i2")


def listener(**settings):
    return Listener(8000, ListenerSettings(**settings), satisfies=yes_is_enough)


def test_silence_gives_one_no_input_at_the_timeout():
    lis = listener()
    lis.start_listening(YES_NO, now=0.0, timeout=2.0)
    events = run_listener(lis, silence(3.0))
    t, _ = only(events, NoInput)
    assert t == pytest.approx(2.0)
    assert not lis.listening


def test_line_noise_is_not_input():
    lis = listener()
    lis.start_listening(YES_NO, now=0.0, timeout=5.0)
    events = run_listener(lis, noise(6.0, level_dbfs=-30))
    assert kinds(events) == ["NoInput"]


def test_tick_runs_the_no_input_timer_without_frames():
    lis = listener()
    lis.start_listening(YES_NO, now=10.0, timeout=1.0)
    assert lis.tick(10.5) == []
    assert lis.tick(11.0) == [NoInput(11.0)]


def test_without_a_satisfying_partial_the_incomplete_window_ends_the_utterance():
    lis = listener()
    lis.start_listening(YES_NO, now=0.0)
    events = run_listener(lis, np.concatenate([silence(0.5), voice_tone(1.0), silence(2.0)]))
    assert kinds(events) == ["SpeechStarted", "SpeechPaused", "EndOfUtterance"]
    t_start, started = only(events, SpeechStarted)
    assert started.at == pytest.approx(0.5, abs=FRAME)
    assert len(started.pre_roll) / 16000 == pytest.approx(t_start - 0.2, abs=FRAME)  # 0.3 s back
    t_end, eou = only(events, EndOfUtterance)
    assert eou.speech_end == pytest.approx(1.5, abs=FRAME)
    assert t_end - eou.speech_end == pytest.approx(0.8, abs=FRAME)
    assert not eou.complete and eou.text == ""
    assert len(eou.audio) / 16000 == pytest.approx(0.3 + 1.0 + 0.2, abs=2 * FRAME)


def test_a_satisfying_partial_ends_the_utterance_on_the_short_window():
    lis = listener()
    lis.start_listening(YES_NO, now=0.0)
    events = []
    for pcm, now in timed_frames(np.concatenate([silence(0.5), voice_tone(0.6), silence(2.0)])):
        for event in lis.feed(pcm, now):
            events.append((now, event))
            if isinstance(event, SpeechPaused):  # the recogniser decodes what it has
                events.extend((now, e) for e in lis.partial("Yes", now + 0.05, audio_end=now))
    t_end, eou = only(events, EndOfUtterance)
    assert eou.complete and eou.text == "Yes"
    assert t_end - eou.speech_end == pytest.approx(0.3, abs=FRAME)


def test_a_late_satisfying_partial_ends_the_utterance_at_once():
    lis = listener()
    lis.start_listening(YES_NO, now=0.0)
    run_listener(lis, np.concatenate([silence(0.5), voice_tone(0.6), silence(0.5)]))
    assert lis.in_utterance  # 0.5 s of silence: past the complete window, not the incomplete
    (eou,) = lis.partial("no", now=1.62, audio_end=1.6)
    assert isinstance(eou, EndOfUtterance) and eou.complete and eou.at == 1.62


def test_a_partial_that_misses_later_speech_is_stale():
    lis = listener()
    lis.start_listening(YES_NO, now=0.0)
    run_listener(lis, np.concatenate([silence(0.5), voice_tone(0.6)]))
    lis.partial("yes", now=1.1, audio_end=1.0)  # decoded before the caller went on speaking
    events = run_listener(lis, np.concatenate([voice_tone(0.4), silence(2.0)]), start=1.1)
    t_end, eou = only(events, EndOfUtterance)
    assert not eou.complete
    assert t_end - eou.speech_end == pytest.approx(0.8, abs=FRAME)


def test_an_unsatisfying_partial_keeps_the_long_window():
    lis = listener()
    lis.start_listening(DIGITS, now=0.0)
    run_listener(lis, np.concatenate([silence(0.5), voice_tone(0.6), silence(0.4)]))
    assert lis.partial("one two", now=1.5) == []
    assert lis.in_utterance


def test_a_pause_shorter_than_the_window_keeps_one_utterance():
    lis = listener()
    lis.start_listening(DIGITS, now=0.0)
    sound = np.concatenate([silence(0.3), voice_tone(0.6), silence(0.5), voice_tone(0.6)])
    events = run_listener(lis, np.concatenate([sound, silence(1.5)]))
    assert kinds(events).count("SpeechStarted") == 1
    _, eou = only(events, EndOfUtterance)
    assert eou.speech_start == pytest.approx(0.3, abs=FRAME)
    assert eou.speech_end == pytest.approx(2.0, abs=FRAME)


def test_max_speech_cuts_a_long_utterance():
    lis = listener(max_speech=2.0)
    lis.start_listening(YES_NO, now=0.0)
    events = run_listener(lis, np.concatenate([silence(0.2), voice_tone(4.0)]))
    t, cut = only(events, MaxSpeech)
    assert t == pytest.approx(2.2, abs=FRAME)
    assert len(cut.audio) / 16000 == pytest.approx(2.0 + 0.2, abs=2 * FRAME)
    assert kinds(events)[-1] == "MaxSpeech" and not lis.listening


def test_barge_in_needs_sustained_speech_under_the_prompt():
    lis = listener()
    lis.prompt_started(0.0, barge_in=True)
    lis.start_listening(YES_NO, now=0.0, timeout=1.0)
    cough = np.concatenate([silence(0.5), voice_tone(0.1, f0=200), silence(1.0)])
    assert run_listener(lis, cough) == []  # a burst under the prompt, and no no-input timer
    events = run_listener(lis, np.concatenate([voice_tone(1.0), silence(1.0)]), start=1.6)
    assert kinds(events)[:2] == ["SpeechStarted", "BargeIn"]
    t_barge, _ = only(events, BargeIn)
    assert t_barge == pytest.approx(1.6 + 0.2, abs=2 * FRAME)
    _, started = only(events, SpeechStarted)
    assert started.at == pytest.approx(1.6, abs=FRAME)
    assert kinds(events)[-1] == "EndOfUtterance"


def test_speech_under_a_prompt_without_barge_in_is_ignored():
    lis = listener()
    lis.prompt_started(0.0, barge_in=False)
    lis.start_listening(YES_NO, now=0.0, timeout=1.0)
    assert run_listener(lis, np.concatenate([voice_tone(1.0), silence(0.5)])) == []
    lis.prompt_finished(1.5)
    events = run_listener(lis, silence(1.5), start=1.5)
    t, _ = only(events, NoInput)
    assert t == pytest.approx(2.5)  # the timer runs from the end of the prompt


def test_no_input_timer_starts_when_the_prompt_finishes():
    lis = listener()
    lis.prompt_started(0.0)
    lis.start_listening(YES_NO, now=0.0, timeout=1.0)
    assert run_listener(lis, silence(3.0)) == []
    lis.prompt_finished(3.0)
    assert lis.tick(3.9) == []
    assert lis.tick(4.0) == [NoInput(4.0)]


def test_stop_listening_abandons_the_turn():
    lis = listener()
    lis.start_listening(YES_NO, now=0.0, timeout=1.0)
    run_listener(lis, np.concatenate([silence(0.3), voice_tone(0.3)]))
    lis.stop_listening()
    assert run_listener(lis, silence(3.0), start=0.6) == []


def test_frames_before_listening_only_feed_the_pre_roll():
    lis = listener()
    assert run_listener(lis, np.concatenate([voice_tone(0.5), silence(1.0)])) == []
    lis.start_listening(YES_NO, now=1.5, timeout=1.0)
    assert kinds(run_listener(lis, silence(1.2), start=1.5)) == ["NoInput"]


@pytest.mark.parametrize("rate", [8000, 16000])
def test_real_digit_string_with_pauses_is_one_utterance(rate):
    gap = silence(0.35, rate)
    said = [
        digit("4_jackson_1", rate),
        gap,
        digit("2_george_3", rate),
        gap,
        digit("9_theo_2", rate),
    ]
    speech = np.concatenate(said)
    lis = Listener(rate, satisfies=lambda e, t: False)
    lis.start_listening(DIGITS, now=0.0)
    events = run_listener(lis, np.concatenate([silence(0.5, rate), speech, silence(1.5, rate)]))
    assert kinds(events).count("SpeechStarted") == 1
    _, eou = only(events, EndOfUtterance)
    assert eou.rate == rate
    assert eou.speech_start == pytest.approx(0.5, abs=0.1)
    assert eou.speech_end == pytest.approx(0.5 + len(speech) / rate, abs=0.15)
    # every sample of the speech is in the utterance audio
    audio = np.frombuffer(eou.audio, "<i2")
    offset = round((0.5 - (eou.speech_start - 0.3)) * rate)
    start = np.argmax(np.abs(audio) > 0)
    assert abs(start - offset) < 0.35 * rate
    assert np.abs(audio).sum() >= np.abs(speech.astype(np.int64)).sum()


def test_real_speech_in_line_noise_is_found():
    speech = digit("6_yweweler_0").astype(np.int32)
    samples = np.concatenate([np.zeros(8000, np.int32), speech, np.zeros(12000, np.int32)])
    samples = np.clip(samples + noise(len(samples) / 8000, level_dbfs=-42), -32768, 32767)
    lis = Listener(8000, satisfies=yes_is_enough)
    lis.start_listening(YES_NO, now=0.0)
    events = run_listener(lis, samples.astype(np.int16))
    assert kinds(events)[0] == "SpeechStarted" and kinds(events)[-1] == "EndOfUtterance"
    _, eou = only(events, EndOfUtterance)
    assert eou.speech_start == pytest.approx(1.0, abs=0.1)


def test_default_satisfies_comes_from_dialog_understanding(monkeypatch):
    import sys
    import types

    fake = types.ModuleType("voicebot.dialog.understanding")
    fake.satisfies = lambda expect, text: text == "ok"
    monkeypatch.setitem(sys.modules, "voicebot.dialog.understanding", fake)
    lis = Listener(8000)
    lis.start_listening(YES_NO, now=0.0)
    run_listener(lis, np.concatenate([silence(0.3), voice_tone(0.5), silence(0.4)]))
    (eou,) = lis.partial("ok", now=1.21, audio_end=1.2)
    assert eou.complete


def test_resampled_16k_tone_behaves_like_8k():
    tone8 = np.concatenate([silence(0.5), voice_tone(1.0), silence(1.5)])
    lis = Listener(16000, satisfies=yes_is_enough)
    lis.start_listening(YES_NO, now=0.0)
    events = run_listener(lis, resample_array(tone8, 8000, 16000))
    _, eou = only(events, EndOfUtterance)
    assert eou.speech_end == pytest.approx(1.5, abs=2 * FRAME)


def test_listening_that_starts_while_the_caller_speaks_catches_the_speech():
    lis = listener()
    run_listener(lis, np.concatenate([silence(0.3), voice_tone(0.4)]))
    (started,) = lis.start_listening(YES_NO, now=0.7)
    assert isinstance(started, SpeechStarted) and started.at == pytest.approx(0.3)
    assert len(started.pre_roll) / 16000 > 0.4  # the speech so far, as far as history goes
    events = run_listener(lis, np.concatenate([voice_tone(0.3), silence(1.0)]), start=0.7)
    assert kinds(events) == ["SpeechPaused", "EndOfUtterance"]


def test_a_partial_of_a_sensitive_answer_is_never_logged(caplog):
    """Issue 15: the listener's debug line about a partial masks the answer to a PIN slot."""
    for expect, shown in ((Expectation("digits", sensitive=True), "'[masked]'"),
                          (DIGITS, "'four two one'")):  # fmt: skip
        lis = listener()
        lis.start_listening(expect, now=0.0)
        run_listener(lis, np.concatenate([silence(0.5), voice_tone(0.6), silence(0.4)]))
        caplog.clear()
        with caplog.at_level("DEBUG", logger="voicebot.speech.listener"):
            lis.partial("four two one", now=1.5)
        (line,) = [r.getMessage() for r in caplog.records if r.getMessage().startswith("partial")]
        assert line.startswith(f"partial {shown}"), line


FREE = Expectation(kind="text")


def _paused_free_text(lis, speech=0.8):
    """Free speech, then silence up to the pause; returns the pause's time."""
    lis.start_listening(FREE, now=0.0)
    events = run_listener(lis, np.concatenate([silence(0.5), voice_tone(speech), silence(0.14)]))
    (t_pause, _) = only(events, SpeechPaused)
    assert lis.wants_turn_score
    return t_pause


@pytest.mark.parametrize("score, reason, window", [(0.93, "turn", 0.2), (0.1, "timeout", 0.8)])
def test_the_turn_models_score_picks_the_window_of_free_text(score, reason, window):
    lis = listener(turn_threshold=0.5)
    t_pause = _paused_free_text(lis)
    assert lis.turn_score(score, now=t_pause + 0.05, audio_end=t_pause) == []  # 0.2 s not yet
    events = run_listener(lis, silence(1.0), start=t_pause + 0.02)
    t_end, eou = only(events, EndOfUtterance)
    assert eou.reason == reason and eou.turn_score == pytest.approx(score)
    assert t_end - eou.speech_end == pytest.approx(window, abs=FRAME)


def test_a_late_score_ends_the_turn_when_it_comes():
    lis = listener()
    t_pause = _paused_free_text(lis)
    run_listener(lis, silence(0.1), start=t_pause + 0.02)  # the model is slow: 0.26 s of quiet
    (eou,) = lis.turn_score(0.8, now=t_pause + 0.14, audio_end=t_pause)
    assert isinstance(eou, EndOfUtterance) and eou.reason == "turn" and eou.at == t_pause + 0.14


def test_a_score_that_speech_outran_is_stale():
    lis = listener()
    t_pause = _paused_free_text(lis)
    events = run_listener(lis, np.concatenate([voice_tone(0.5), silence(1.2)]), start=t_pause)
    events += [(t_pause + 0.8, e) for e in lis.turn_score(0.99, t_pause + 0.8, t_pause)]
    t_end, eou = only(events, EndOfUtterance)
    assert eou.reason == "timeout"  # the score read only the first part of the speech
    assert t_end - eou.speech_end == pytest.approx(0.8, abs=FRAME)


def test_a_closed_answer_is_judged_by_its_text_not_the_turn_model():
    lis = listener()
    lis.start_listening(DIGITS, now=0.0)
    run_listener(lis, np.concatenate([silence(0.5), voice_tone(0.6), silence(0.14)]))
    assert lis.in_utterance and not lis.wants_turn_score
    assert lis.turn_score(0.99, now=1.3, audio_end=1.25) == []
    events = run_listener(lis, silence(1.0), start=1.26)
    assert only(events, EndOfUtterance)[1].reason == "timeout"
