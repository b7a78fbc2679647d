"""The real smart-turn model on real synthesised speech at telephone rate, and its thread."""

import threading

import numpy as np
import pytest

from voicebot.speech.recognizer import to_model_audio
from voicebot.speech.synthesizer import EspeakSynthesizer, Voice
from voicebot.speech.turn_model import SmartTurn, TurnJob, TurnPredictor, load_turn_model

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def model():
    found = load_turn_model()
    assert found is not None, "make setup installs the turn model (Makefile TURN_MODEL)"
    return found


def spoken(text, voice="en-us"):
    pcm = EspeakSynthesizer(Voice(voice, 160)).synthesize(text, 8000)
    audio = to_model_audio(pcm, 8000)
    return np.concatenate([audio, np.zeros(2400, np.float32)])  # the 150 ms pause it is asked at


def test_the_model_is_the_bundled_file(model):
    assert model.path == SmartTurn.bundled() and model.path.stat().st_size > 8_000_000


def test_a_finished_sentence_scores_high_and_a_cut_one_low(model):
    finished = model.finished(spoken("My phone stopped working yesterday."))
    cut = model.finished(spoken("I would like to check my"))
    assert finished >= 0.5 > cut
    assert 0.0 <= cut <= finished <= 1.0


def test_silence_and_long_audio_are_taken(model):
    assert 0.0 <= model.finished(np.zeros(1600, np.float32)) <= 1.0
    long = np.concatenate([spoken("one two three four five six seven eight nine ten")] * 3)
    assert 0.0 <= model.finished(long) <= 1.0  # only the last 8 s are read


def test_the_predictor_scores_off_the_callers_thread_latest_first(model):
    predictor = TurnPredictor(model)
    got: list[tuple[str, int, float, str]] = []
    done = threading.Event()

    def on_score(job, score):
        got.append((job.call, job.turn, score, threading.current_thread().name))
        if (job.call, job.turn) == ("b", 2):
            done.set()

    audio = spoken("My phone stopped working yesterday.")
    try:
        predictor.submit(TurnJob("a", 1, audio, 1.0), on_score)
        predictor.submit(TurnJob("b", 1, audio, 1.0), on_score)
        predictor.submit(TurnJob("b", 2, audio, 2.0), on_score)  # replaces b's turn 1 if waiting
        assert done.wait(30)
    finally:
        predictor.close()
    assert {c for c, *_ in got} == {"a", "b"}
    assert ("b", 2) in [(c, t) for c, t, *_ in got]
    assert all(name == "turn-model" and s >= 0.5 for *_, s, name in got)
