"""Real audio for the recogniser tests: FSDD digits, espeak-ng speech, line noise (G.711)."""

from __future__ import annotations

import random
from pathlib import Path

import numpy as np

from voicebot.audio import read_wav, ulaw_decode, ulaw_encode
from voicebot.speech.recognizer import to_model_audio

FSDD = Path(__file__).resolve().parents[1] / "data" / "fsdd"
SPEAKERS = ("george", "jackson", "lucas", "nicolas", "theo", "yweweler")
# FSDD's test split, the population random samples are drawn from: recordings 0-4 of every
# digit by every speaker. The repository holds only the files that the tests pick from it.
SPLIT = sorted(f"{d}_{s}_{i}" for d in "0123456789" for s in SPEAKERS for i in range(5))


def fsdd(name: str) -> Path:
    """The recording `name` ("7_jackson_0") in tests/data/fsdd."""
    path = FSDD / f"{name}.wav"
    if not path.is_file():
        raise FileNotFoundError(
            f"{path} is not in the repository: copy {name}.wav from FSDD's recordings/ "
            "(tests/data/fsdd/README.md)"
        )
    return path


def telephone(pcm: bytes) -> bytes:
    """A G.711 μ-law round trip, as a PSTN call delivers it."""
    return ulaw_decode(ulaw_encode(pcm))


def model_audio(pcm: bytes, rate: int) -> np.ndarray:
    return to_model_audio(pcm, rate)


def digit_string(digits: str, seed: int, rate: int = 8000) -> bytes:
    """FSDD recordings of `digits` (random speakers) joined by 0.15-0.45 s pauses, 0.3 s before."""
    rng = random.Random(seed)
    by_digit: dict[str, list[str]] = {}
    for name in SPLIT:
        by_digit.setdefault(name[0], []).append(name)
    parts = [bytes(int(0.3 * rate) * 2)]
    for d in digits:
        pcm, _ = read_wav(fsdd(rng.choice(by_digit[d])), rate)
        parts += [pcm, bytes(int(rng.uniform(0.15, 0.45) * rate) * 2)]
    return b"".join(parts)


def line_noise(seconds: float, rate: int = 8000, seed: int = 0) -> bytes:
    """Hiss at -50 dBFS with 50 Hz hum and a few clicks, then silence: 50/50."""
    rng = np.random.default_rng(seed)
    n = int(seconds * rate)
    t = np.arange(n) / rate
    noise = rng.normal(0, 32768 * 10 ** (-50 / 20), n) + 200 * np.sin(2 * np.pi * 50 * t)
    for at in rng.integers(0, n - 40, size=max(1, int(seconds / 5))):
        noise[at : at + 40] += rng.normal(0, 3000, 40)
    noise[n // 2 :] = 0
    return np.clip(noise, -32768, 32767).astype("<i2").tobytes()
