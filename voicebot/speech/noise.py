"""Noise suppression in front of the recogniser, only where it helps: digits on a noisy line.

bench/noise_bench.py compared speex's preprocessor, RNNoise and DeepFilterNet3 (all with what
they need in their wheels) against none, per kind of answer, on FSDD speakers not used to
choose (BENCHMARKS.md, "Noise suppression"): on a line with hiss and hum, speex gave Whisper
more digit strings fully right; on a clean line it cost some; on sentences it never helped;
RNNoise and DeepFilterNet3 cost on every set. So the recogniser runs speex on an answer of
digits when the utterance's noise floor says the line is noisy, and nowhere else — never on
what the VAD, the listener, the recording or the barge-in detector see.

It runs per utterance, on the recogniser's 16 kHz float32 audio (the listener's pre-roll
first, so speex learns the floor before the speech), with a fresh state each time: nothing
runs per 20 ms frame on the media clock thread. Cost: about 0.03 ms of CPU per 20 ms of audio.
"""

from __future__ import annotations

import numpy as np

from voicebot.audio import float32_to_pcm16, pcm16_to_float32

RATE = 16000
FRAME = RATE // 50  # 20 ms, for the floor
LEVEL_DB = -30  # the most speex may take off the noise
NOISY_FLOOR_DB = -60.0  # a floor at or above this (dBFS) is a noisy line


def floor_db(audio: np.ndarray) -> float:
    """The utterance's noise floor: the 10th percentile of its 20 ms frames' RMS, in dBFS
    (a digital-silence line is about -90; the bench's hiss and hum about -52)."""
    n = len(audio) // FRAME
    if n == 0:
        return -120.0
    rms = np.sqrt(np.mean(audio[: n * FRAME].reshape(n, FRAME).astype(np.float64) ** 2, axis=1))
    return float(20 * np.log10(np.percentile(rms, 10) + 1e-6))


def speex(audio: np.ndarray, level_db: int = LEVEL_DB, auto_gain: float = 0.0) -> np.ndarray:
    """`audio` through a fresh speex preprocessor (16 kHz, 10 ms at a time): noise taken off by
    up to `level_db` dB, automatic gain towards `auto_gain` when > 0 (off by default). The
    result has the input's length (the last partial 10 ms is padded for speex, then cut)."""
    from pyspeex_noise import AudioProcessor

    processor = AudioProcessor(auto_gain, level_db)
    chunk = RATE // 100
    pcm = float32_to_pcm16(np.concatenate([audio, np.zeros((-len(audio)) % chunk, np.float32)]))
    step = 2 * chunk
    out = b"".join(processor.process_10ms(pcm[i : i + step]) for i in range(0, len(pcm), step))
    return pcm16_to_float32(out)[: len(audio)]


def on_noisy_line(audio: np.ndarray, noisy_floor_db: float = NOISY_FLOOR_DB) -> np.ndarray:
    """speex at `LEVEL_DB` when the floor is at or above `noisy_floor_db`; else `audio` as is."""
    return speex(audio) if floor_db(audio) >= noisy_floor_db else audio
