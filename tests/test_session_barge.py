"""Barge-in in the call session: a backchannel resumes the prompt and is no answer; an
interruption stops it and is the answer (real listener, real engine, virtual time)."""

from __future__ import annotations

import numpy as np
from test_session import feed, session

from voicebot.call.session import (
    PausePlayback,
    PlaybackFinished,
    Recognize,
    Recognized,
    ResumePlayback,
    StopPlayback,
)
from voicebot.dialog import events as ev
from voicebot.testing.speech import silence, voice_tone


def over_the_menu(text: str, partials: bool = True):
    """The caller says something short over the main menu; its partial comes back as `text`."""
    s, clock = session()
    s.partials = partials
    s.start(ev.CallStarted("c1"), 0.0)
    out = feed(s, clock, np.concatenate([silence(0.5), voice_tone(0.45), silence(0.2)]))
    assert PausePlayback() in out and StopPlayback() not in out
    partial = next(o for o in out if isinstance(o, Recognize) and not o.final)
    out = s.handle(Recognized(partial.turn, text, 0.8, False, partial.audio_end), clock.now + 0.1)
    return s, clock, out


def test_a_backchannel_resumes_the_menu_and_the_call_goes_on_as_if_nothing_was_said():
    s, clock, out = over_the_menu("Uh-huh.")
    (resume,) = out
    assert isinstance(resume, ResumePlayback) and 0.45 <= resume.rewind <= 0.65
    assert s.engine.step_id == "main_menu" and s.engine.no_match == 0
    assert s.turns[-1].end_of_turn == "backchannel" and s.turns[-1].barged_in
    later = feed(s, clock, silence(1.5))
    assert not [o for o in later if isinstance(o, Recognize) and o.final]  # no answer asked for
    s.handle(PlaybackFinished(), clock.now)  # the menu played to its end
    out = feed(s, clock, np.concatenate([voice_tone(0.6), silence(1.0)]))
    final = next(o for o in out if isinstance(o, Recognize) and o.final)
    out = s.handle(Recognized(final.turn, "billing", 0.9, True), clock.now)
    assert s.engine.step_id == "billing_menu" and not s.turns[-1].barged_in


def test_an_interruption_stops_the_menu_and_is_the_answer():
    s, clock, out = over_the_menu("billing")
    assert StopPlayback() in out
    out += feed(s, clock, silence(0.5))
    final = next(o for o in out if isinstance(o, Recognize) and o.final)
    s.handle(PlaybackFinished(), clock.now)  # the stopped menu's end
    s.handle(Recognized(final.turn, "billing", 0.9, True), clock.now)
    assert s.engine.step_id == "billing_menu" and s.turns[-1].barged_in


def test_a_barge_is_transcribed_even_with_partials_off():
    s, _, out = over_the_menu("mm", partials=False)
    assert isinstance(out[0], ResumePlayback)


def _partial_too_late(final_text: str):
    """Speech over the menu whose partial never comes in time: the final transcript judges."""
    s, clock = session()
    s.start(ev.CallStarted("c1"), 0.0)
    out = feed(s, clock, np.concatenate([silence(0.5), voice_tone(0.45), silence(1.2)]))
    assert PausePlayback() in out and StopPlayback() not in out
    final = next(o for o in out if isinstance(o, Recognize) and o.final)
    out = s.handle(Recognized(final.turn, final_text, 0.8, True), clock.now)
    return s, clock, out


def test_a_slow_transcript_of_a_backchannel_still_resumes_and_listens_again():
    s, clock, out = _partial_too_late("Mm-hmm.")
    assert isinstance(out[0], ResumePlayback)
    assert s.turns[-1].end_of_turn == "backchannel" and s.engine.no_match == 0
    assert s.listener.listening and s.engine.step_id == "main_menu"


def test_a_slow_transcript_of_an_answer_stops_the_prompt_and_is_the_answer():
    s, clock, out = _partial_too_late("billing")
    assert out[0] == StopPlayback() and s.engine.step_id == "billing_menu"
    assert s.turns[-1].barged_in
    assert s.handle(PlaybackFinished(), clock.now + 0.1) == []  # the stopped menu's late end
    assert s.playing  # the billing menu still plays
