"""Noise suppression before decoding (voicebot/speech/noise.py): speex runs on answers of
digits over a noisy line only. How much it helps is bench/noise_bench.py's (BENCHMARKS.md)."""

from __future__ import annotations

import numpy as np
import pytest
from asr_audio import digit_string, model_audio, telephone

from voicebot.dialog.expectation import Expectation
from voicebot.speech import noise
from voicebot.speech.recognizer import RecognizerSettings, WhisperRecognizer

RATE = 16000


def hiss(seconds: float, db: float = -50.0, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return rng.normal(0, 10 ** (db / 20), int(seconds * RATE)).astype(np.float32)


def test_the_floor_tells_a_noisy_line_from_a_clean_one() -> None:
    clean = model_audio(telephone(digit_string("4178", seed=39)), 8000)
    noisy = clean + hiss(len(clean) / RATE)
    assert noise.floor_db(clean) < -80
    assert -55 < noise.floor_db(noisy) < noise.NOISY_FLOOR_DB + 15
    assert noise.floor_db(np.zeros(10, np.float32)) == -120.0  # shorter than a frame


def test_speex_takes_off_steady_hiss_and_keeps_the_length() -> None:
    noisy = hiss(1.5)
    out = noise.speex(noisy)
    assert len(out) == len(noisy) and out.dtype == np.float32
    tail = slice(RATE // 2, None)  # once speex has learnt the floor
    assert np.sqrt(np.mean(out[tail] ** 2)) < 0.5 * np.sqrt(np.mean(noisy[tail] ** 2))


def test_a_clean_line_is_left_exactly_as_it_was() -> None:
    clean = model_audio(telephone(digit_string("93", seed=0)), 8000)
    assert noise.on_noisy_line(clean) is clean
    noisy = clean + hiss(len(clean) / RATE)
    assert not np.array_equal(noise.on_noisy_line(noisy), noisy)


def test_answer_kinds() -> None:
    digits = Expectation(kind="digits", min_digits=8, max_digits=8)
    assert noise.answer_kind(digits) == "digits, fixed length"
    assert noise.answer_kind(Expectation(kind="digits", min_digits=4, max_digits=10)) == (
        "digits, a range"
    )
    assert noise.answer_kind(Expectation(kind="digits", min_digits=1, max_digits=1)) == (
        "one digit"
    )
    assert noise.answer_kind(Expectation(kind="menu", options=())) == "text"


@pytest.mark.slow
@pytest.mark.parametrize(
    "expect, suppressed",
    [
        (Expectation(kind="digits", min_digits=4, max_digits=4), True),
        (Expectation(kind="digits", min_digits=4, max_digits=10), False),
        (Expectation(kind="text", modes=("speech",)), False),
    ],
)
def test_the_recogniser_suppresses_for_the_kinds_it_is_set_for(
    whisper, monkeypatch: pytest.MonkeyPatch, expect: Expectation, suppressed: bool
) -> None:
    seen: list[tuple[int, float]] = []

    def on_noisy_line(audio: np.ndarray, level: int, floor: float) -> np.ndarray:
        seen.append((level, floor))
        return noise.speex(audio, level) if noise.floor_db(audio) >= floor else audio

    monkeypatch.setattr(noise, "on_noisy_line", on_noisy_line)
    audio = model_audio(telephone(digit_string("4178", seed=39)), 8000)
    noisy = audio + hiss(len(audio) / RATE)
    settings = RecognizerSettings(suppress_noise=(("digits, fixed length", -15),))
    result = WhisperRecognizer(whisper, settings).final(noisy, expect)
    assert seen == ([(-15, settings.noisy_floor_db)] if suppressed else [])
    if suppressed:
        assert result.text == "4178", result
    seen.clear()
    WhisperRecognizer(whisper, RecognizerSettings(suppress_noise=())).final(noisy, expect)
    assert seen == []
