"""Barge-in: interruptions stop a prompt, backchannels and the bot's own echo do not.

The listener core on a virtual clock with synthetic voice and real speech (FSDD digits as the
bot's voice), the recogniser's partials given by hand, the backchannel table for real."""

from pathlib import Path

import numpy as np
import pytest

from voicebot.audio.wav import read_wav
from voicebot.dialog.expectation import Expectation
from voicebot.speech.backchannel import is_backchannel
from voicebot.speech.listener import (
    Backchannel,
    BargeIn,
    EndOfUtterance,
    Interruption,
    Listener,
    ListenerSettings,
    NoInput,
    SpeechPaused,
)
from voicebot.testing.speech import silence, timed_frames, voice_tone

MENU = Expectation(kind="menu", options=(("billing", ("billing",)), ("balance", ("balance",))))
YES_NO = Expectation(kind="yes_no")
ZH_MENU = Expectation(kind="menu", options=(("bill", ("话费",)),), language="zh-CN")
FSDD = Path(__file__).resolve().parents[1] / "data" / "fsdd"


def satisfies(expect, text):
    said = text.strip().lower().rstrip(".")
    if expect.kind == "yes_no":
        return said in ("yes", "yeah", "no")
    return said in expect.phrases


def prompting(expect=MENU, **settings):
    lis = Listener(8000, ListenerSettings(**settings), satisfies=satisfies)
    lis.prompt_started(0.0, barge_in=True)
    lis.start_listening(expect, now=0.0, timeout=2.0)
    run(lis, silence(0.5))  # the line before the caller speaks (the VAD's noise floor)
    return lis


def run(lis, samples, start=0.0, played=None):
    """Feed frames; `played`: the bot's output peak per frame (the echo reference)."""
    out = []
    for i, (pcm, now) in enumerate(timed_frames(samples, 8000, start)):
        ref = int(played[i]) if played is not None and i < len(played) else 0
        out.extend((now, e) for e in lis.feed(pcm, now, ref))
    return out


def of(events, kind):
    return [(t, e) for t, e in events if isinstance(e, kind)]


def kinds(events):
    return [type(e).__name__ for _, e in events]


def talk_over(lis, seconds, start=0.5):
    """Speech of `seconds` over the prompt, then silence until the VAD's pause."""
    audio = np.concatenate([voice_tone(seconds), silence(0.2)])
    return run(lis, audio, start=start)


def test_a_backchannel_pauses_the_prompt_then_resumes_it_and_is_no_answer():
    lis = prompting()
    events = talk_over(lis, 0.45)
    assert kinds(events)[:2] == ["SpeechStarted", "BargeIn"]
    (t_pause, barge), (t_paused, pause) = of(events, BargeIn)[0], of(events, SpeechPaused)[0]
    assert t_pause - barge.speech_start == pytest.approx(0.2, abs=0.05)  # paused at once
    assert lis.deciding_barge
    out = lis.partial("Uh-huh.", t_paused + 0.15, audio_end=pause.at)
    assert [type(e) for e in out] == [Backchannel]
    assert out[0].text == "Uh-huh." and out[0].speech_start == pytest.approx(0.5, abs=0.05)
    assert lis.listening and not lis.in_utterance and not lis.deciding_barge
    later = run(lis, silence(3.0), start=1.5)
    assert later == []  # the prompt goes on: no end of utterance, no no-input while it plays
    lis.prompt_finished(4.5)
    assert kinds(run(lis, silence(2.2), start=4.5)) == ["NoInput"]


def test_a_second_backchannel_is_judged_afresh_and_an_answer_still_comes_through():
    lis = prompting()
    events = talk_over(lis, 0.4)
    pause = of(events, SpeechPaused)[0][1]
    assert isinstance(lis.partial("mm", pause.at + 0.1, audio_end=pause.at)[0], Backchannel)
    events = talk_over(lis, 0.4, start=2.0)
    pause = of(events, SpeechPaused)[0][1]
    out = lis.partial("billing", pause.at + 0.1, audio_end=pause.at)
    assert isinstance(out[0], Interruption) and out[0].reason == "words"
    events = run(lis, silence(0.5), start=3.0)
    ((_, eou),) = of(events, EndOfUtterance)
    assert eou.text == "billing" and eou.reason == "complete"


def test_yeah_over_a_yes_no_question_is_the_answer():
    lis = prompting(YES_NO)
    events = talk_over(lis, 0.4)
    pause = of(events, SpeechPaused)[0][1]
    out = lis.partial("Yeah.", pause.at + 0.1, audio_end=pause.at)
    assert isinstance(out[0], Interruption)
    ((_, eou),) = of(run(lis, silence(0.5), start=1.5), EndOfUtterance)
    assert eou.text == "Yeah."


def test_words_that_are_no_backchannel_interrupt():
    lis = prompting()
    events = talk_over(lis, 0.45)
    pause = of(events, SpeechPaused)[0][1]
    out = lis.partial("I want to pay", pause.at + 0.1, audio_end=pause.at)
    assert [type(e) for e in out] == [Interruption]
    assert of(run(lis, silence(1.0), start=1.5), EndOfUtterance)


def test_speech_longer_than_any_backchannel_interrupts_at_once():
    lis = prompting()
    events = run(lis, voice_tone(2.0), start=0.5)
    assert kinds(events) == ["SpeechStarted", "BargeIn", "Interruption"]
    t, stop = of(events, Interruption)[0]
    assert stop.reason == "long" and t == pytest.approx(0.5 + 0.8, abs=0.05)


def test_no_transcript_in_time_leaves_the_judgement_to_the_final_one():
    lis = prompting()
    events = talk_over(lis, 0.4) + run(lis, silence(1.0), start=1.1)
    assert kinds(events)[-1] == "EndOfUtterance" and not of(events, Interruption)
    assert of(events, EndOfUtterance)[0][1].barge  # the prompt is still paused
    assert lis.backchannel(MENU, "Uh-huh.") and lis.backchannel(MENU, "")
    assert not lis.backchannel(MENU, "billing") and not lis.backchannel(YES_NO, "yeah")


def test_a_cough_the_recogniser_hears_no_words_in_lets_the_prompt_go_on():
    lis = prompting()
    pause = of(talk_over(lis, 0.3), SpeechPaused)[0][1]
    out = lis.partial("", pause.at + 0.1, audio_end=pause.at)
    assert [type(e) for e in out] == [Backchannel]


def test_a_partial_that_speech_outran_decides_nothing():
    lis = prompting()
    events = talk_over(lis, 0.4)
    pause = of(events, SpeechPaused)[0][1]
    assert lis.partial("uh-huh", pause.at, audio_end=pause.at - 0.3) == []
    assert lis.deciding_barge


def test_a_backchannel_after_the_prompt_ended_starts_the_no_input_timer():
    lis = prompting()
    events = talk_over(lis, 0.4)
    lis.prompt_finished(0.9)  # the queue ran dry just as the caller spoke
    pause = of(events, SpeechPaused)[0][1]
    out = lis.partial("okay", 1.2, audio_end=pause.at)
    assert isinstance(out[0], Backchannel)
    t, _ = of(run(lis, silence(2.5), start=1.2), NoInput)[0]
    assert t == pytest.approx(3.2, abs=0.03)


def _bot_voice() -> np.ndarray:
    """Real speech as the bot's prompt: FSDD digits one after another, 2.4 s."""
    names = ["3_jackson_0", "5_jackson_0", "6_jackson_0", "7_jackson_0", "9_jackson_0"]
    parts = [np.frombuffer(read_wav(FSDD / f"{n}.wav", rate=8000)[0], "<i2") for n in names]
    audio = np.concatenate([p.astype(np.float64) for p in parts])
    return (audio / np.abs(audio).max() * 20000).astype(np.int16)  # loud: -4 dBFS peaks


def _peaks(samples: np.ndarray) -> list[int]:
    n = len(samples) // 160
    frames = np.abs(samples[: n * 160].astype(np.int32)).reshape(n, 160)
    return [int(x) for x in frames.max(axis=1)]


@pytest.mark.parametrize("delay_ms, loss_db", [(50, 6), (100, 8), (150, 10), (300, 6)])
def test_the_bots_own_voice_echoed_back_does_not_barge_in(delay_ms, loss_db):
    bot = _bot_voice()
    echo = np.concatenate([silence(delay_ms / 1000), bot * 10 ** (-loss_db / 20)])
    lis = prompting()
    events = run(lis, echo.astype(np.int16), start=0.5, played=_peaks(bot))
    assert of(events, BargeIn) == [], kinds(events)
    # the same echo with no reference (a runtime that does not say what it plays) barges in
    lis = prompting()
    assert of(run(lis, echo.astype(np.int16), start=0.5), BargeIn)


def test_a_caller_as_loud_as_the_bot_barges_in_through_its_echo():
    bot = _bot_voice()
    echo = np.concatenate([silence(0.1), bot * 10 ** (-6 / 20)])[: len(bot)]
    caller = np.concatenate([silence(0.8), voice_tone(len(bot) / 8000 - 0.8, level_dbfs=-12.0)])
    caller = caller[: len(bot)]
    line = np.clip(echo + caller, -32768, 32767).astype(np.int16)
    lis = prompting()
    events = run(lis, line, start=0.5, played=_peaks(bot))
    ((t, barge),) = of(events, BargeIn)
    assert barge.speech_start == pytest.approx(1.3, abs=0.1) and t - 1.3 < 0.35


@pytest.mark.parametrize(
    "text, expect, backchannel",
    [
        ("Uh-huh.", MENU, True),
        ("uh huh", MENU, True),
        ("Mm-hmm.", MENU, True),
        ("Yeah, yeah. Right.", MENU, True),
        ("Okay.", MENU, True),
        ("I see", MENU, True),
        ("Write.", MENU, True),  # "right" as the recogniser heard it once
        ("billing", MENU, False),
        ("yeah billing", MENU, False),
        ("right away please", MENU, False),
        ("", MENU, False),
        ("嗯", ZH_MENU, True),
        ("对对对", ZH_MENU, True),
        ("嗯，好的。", ZH_MENU, True),
        ("对不起", ZH_MENU, False),
        ("话费", ZH_MENU, False),
        ("yeah", ZH_MENU, False),  # the call's language's table only
        ("嗯", MENU, False),
    ],
)
def test_the_backchannel_table(text, expect, backchannel):
    assert is_backchannel(expect, text) is backchannel


def test_on_a_line_without_echo_a_caller_quieter_than_half_the_bot_still_barges_in():
    """A full-scale prompt (Mandarin espeak-ng clips) and a caller 12 dB below it: plain
    Geigel (0.5) would never hear them; the measured echo level (none) lets them through."""
    bot = _bot_voice().astype(np.float64) * 32767 / 20000
    line = np.concatenate([silence(1.2), voice_tone(1.0, level_dbfs=-24.0)])
    lis = prompting()
    events = run(lis, line, start=0.5, played=_peaks(bot.astype(np.int16)) * 2)
    ((t, barge),) = of(events, BargeIn)
    assert barge.speech_start == pytest.approx(1.7, abs=0.1)
