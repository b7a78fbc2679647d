"""Noise suppression in front of the recogniser, where the bench shows it helps: by default nowhere.

bench/noise_bench.py compares speex's preprocessor, RNNoise and DeepFilterNet3 (all with what
they need in their wheels) against none, per kind of answer (`answer_kind`), choosing on two
FSDD speakers and scoring on four others (BENCHMARKS.md, "Noise suppression"). On the line
with hiss and hum, speex on a noisy line gave Whisper more 8-digit strings and sentences right
on the test speakers, but fewer 4-10 digit strings; run on every line it also cost on clean
ones; RNNoise and DeepFilterNet3 cost nearly everywhere. On the dev speakers no setting the
recogniser can run beat none by the bench's margin for any kind of answer. So
`RecognizerSettings.suppress_noise` is empty by default: nothing is suppressed. Set, it runs
speex for the answer kinds it names, only when the utterance's floor says the line is noisy,
and never on what the VAD, the listener, the recording or the barge-in detector see.

It runs per utterance, on the recogniser's 16 kHz float32 audio (the listener's pre-roll
first, so speex learns the floor before the speech), with a fresh state each time: nothing
runs per 20 ms frame on the media clock thread. Cost: about 0.03 ms of CPU per 20 ms of audio.
"""

from __future__ import annotations

import numpy as np

from voicebot.audio import float32_to_pcm16, pcm16_to_float32
from voicebot.dialog.expectation import Expectation

RATE = 16000
FRAME = RATE // 50  # 20 ms, for the floor
LEVEL_DB = -30  # the most speex may take off the noise
NOISY_FLOOR_DB = -60.0  # a floor at or above this (dBFS) is a noisy line


def answer_kind(expect: Expectation) -> str:
    """The kinds of answer suppression is chosen for: "one digit", "digits, fixed length" (an
    account number), "digits, a range" (4-10), "text" (everything else)."""
    if expect.kind != "digits":
        return "text"
    if expect.max_digits == 1:
        return "one digit"
    fixed = expect.max_digits is not None and expect.min_digits == expect.max_digits
    return "digits, fixed length" if fixed else "digits, a range"


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


def on_noisy_line(
    audio: np.ndarray, level_db: int = LEVEL_DB, noisy_floor_db: float = NOISY_FLOOR_DB
) -> np.ndarray:
    """speex at `level_db` when the floor is at or above `noisy_floor_db`; else `audio` as is."""
    return speex(audio, level_db) if floor_db(audio) >= noisy_floor_db else audio
