"""Fakes and synthetic audio for testing the speech core without a model or a sound card.

API::

    silence(seconds: float, rate: int = 8000) -> np.ndarray                       # int16
    noise(seconds: float, rate: int = 8000, level_dbfs: float = -45.0, seed: int = 0)
    voice_tone(seconds: float, rate: int = 8000, f0: float = 140.0, level_dbfs: float = -18.0)
        # a speech-like harmonic complex with 4 Hz syllable modulation (webrtcvad hears voice)
    timed_frames(samples: np.ndarray, rate: int = 8000, start: float = 0.0)
        -> Iterator[tuple[bytes, float]]   # (20 ms PCM16 frame, time of its last sample)
    run_listener(listener: Listener, samples: np.ndarray, start: float = 0.0)
        -> list[tuple[float, SpeechEvent]]  # every event with the frame time it came at

    class FakeSynthesizer(Synthesizer):   # a tone 60 ms per character; records its calls
        engine = "fake"; default_voice = Voice("fake", 175); calls: list[str]
        synthesize(text: str, sample_rate: int, voice: Voice | None = None) -> bytes
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from voicebot.audio.frames import bytes_per_frame
from voicebot.speech.listener import Listener, SpeechEvent
from voicebot.speech.synthesizer import Voice


def _amplitude(level_dbfs: float) -> float:
    return 32768.0 * 10 ** (level_dbfs / 20)


def silence(seconds: float, rate: int = 8000) -> np.ndarray:
    return np.zeros(round(seconds * rate), dtype=np.int16)


def noise(seconds: float, rate: int = 8000, level_dbfs: float = -45.0, seed: int = 0) -> np.ndarray:
    """White noise at an RMS level of `level_dbfs`."""
    rng = np.random.default_rng(seed)
    samples = rng.normal(0.0, _amplitude(level_dbfs), round(seconds * rate))
    return np.clip(samples, -32768, 32767).astype(np.int16)


def voice_tone(
    seconds: float, rate: int = 8000, f0: float = 140.0, level_dbfs: float = -18.0
) -> np.ndarray:
    """Harmonics of `f0` up to 3.4 kHz, amplitude-modulated at 4 Hz like syllables."""
    t = np.arange(round(seconds * rate)) / rate
    harmonics = range(1, int(3400 // f0) + 1)
    wave = sum(np.sin(2 * np.pi * f0 * k * t) / k for k in harmonics)
    wave = wave * (1.0 + 0.5 * np.sin(2 * np.pi * 4.0 * t))
    rms = float(np.sqrt(np.mean(wave**2))) or 1.0
    return np.clip(wave / rms * _amplitude(level_dbfs), -32768, 32767).astype(np.int16)


def timed_frames(
    samples: np.ndarray, rate: int = 8000, start: float = 0.0
) -> Iterator[tuple[bytes, float]]:
    """Cut samples into 20 ms frames (the tail padded) with the time each frame ends."""
    pcm = samples.astype("<i2").tobytes()
    size = bytes_per_frame(rate)
    for i, offset in enumerate(range(0, len(pcm), size)):
        chunk = pcm[offset : offset + size]
        yield chunk + bytes(size - len(chunk)), start + (i + 1) * 0.02


def run_listener(
    listener: Listener, samples: np.ndarray, start: float = 0.0
) -> list[tuple[float, SpeechEvent]]:
    """Feed every frame of `samples` to `listener`; collect (frame time, event) pairs."""
    out: list[tuple[float, SpeechEvent]] = []
    for pcm, now in timed_frames(samples, listener.rate, start):
        out.extend((now, event) for event in listener.feed(pcm, now))
    return out


class FakeSynthesizer:
    """Deterministic stand-in for a TTS engine: 60 ms of tone per character."""

    engine = "fake"

    def __init__(self) -> None:
        self.default_voice = Voice("fake", 175)
        self.calls: list[str] = []

    def synthesize(self, text: str, sample_rate: int, voice: Voice | None = None) -> bytes:
        self.calls.append(text)
        if not text.strip():
            return b""
        return voice_tone(0.06 * len(text), sample_rate).astype("<i2").tobytes()
