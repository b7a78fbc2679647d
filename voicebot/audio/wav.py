"""Read and write mono PCM16 WAV files with the stdlib `wave` module.

API::

    read_wav(path: str | os.PathLike, rate: int | None = None) -> tuple[bytes, int]
        # -> (PCM16 mono bytes, sample rate); stereo is averaged to mono; 8-bit and 32-bit
        # integer PCM are converted; with `rate`, the audio is resampled (soxr) to it.
    read_wav_channels(path, rate=None) -> tuple[list[bytes], int]
        # -> one PCM16 mono bytes per channel (left first), the same conversions
    write_wav(path: str | os.PathLike | BinaryIO, pcm: bytes, rate: int) -> None   # mono PCM16
"""

from __future__ import annotations

import os
import wave
from typing import BinaryIO

import numpy as np

from voicebot.audio.resample import resample
from voicebot.errors import SpeechError


def _to_int16(raw: bytes, width: int) -> np.ndarray:
    if width == 2:
        return np.frombuffer(raw, dtype="<i2")
    if width == 1:  # unsigned 8-bit
        return ((np.frombuffer(raw, dtype=np.uint8).astype(np.int16) - 128) << 8).astype(np.int16)
    if width == 4:
        return (np.frombuffer(raw, dtype="<i4") >> 16).astype(np.int16)
    raise SpeechError(f"{width * 8}-bit WAV samples are not supported: convert to 16-bit PCM")


def _read(path: str | os.PathLike[str]) -> tuple[np.ndarray, int]:
    """The samples of a PCM WAV as int16, shaped (frames, channels), and its rate."""
    try:
        with wave.open(os.fspath(path), "rb") as w:
            channels, width, src_rate = w.getnchannels(), w.getsampwidth(), w.getframerate()
            raw = w.readframes(w.getnframes())
    except (wave.Error, EOFError) as exc:
        raise SpeechError(f"{os.fspath(path)}: not a PCM WAV file ({exc})") from exc
    return _to_int16(raw, width).reshape(-1, channels), src_rate


def _pcm(samples: np.ndarray, src_rate: int, rate: int | None) -> tuple[bytes, int]:
    pcm = samples.astype("<i2", copy=False).tobytes()
    if rate is not None and rate != src_rate:
        return resample(pcm, src_rate, rate), rate
    return pcm, src_rate


def read_wav(path: str | os.PathLike[str], rate: int | None = None) -> tuple[bytes, int]:
    """Read a PCM WAV as mono PCM16; resample to `rate` when given. Returns (pcm, rate)."""
    samples, src_rate = _read(path)
    if samples.shape[1] > 1:
        return _pcm(samples.mean(axis=1).astype(np.int16), src_rate, rate)
    return _pcm(samples[:, 0], src_rate, rate)


def read_wav_channels(
    path: str | os.PathLike[str], rate: int | None = None
) -> tuple[list[bytes], int]:
    """Each channel of a PCM WAV as mono PCM16 (left first), resampled to `rate` when given."""
    samples, src_rate = _read(path)
    out = [
        _pcm(np.ascontiguousarray(samples[:, c]), src_rate, rate) for c in range(samples.shape[1])
    ]
    return [pcm for pcm, _ in out], rate or src_rate


def write_wav(path: str | os.PathLike[str] | BinaryIO, pcm: bytes, rate: int) -> None:
    """Write mono PCM16 bytes as a WAV file (a path, or a file opened to write bytes)."""
    target: str | BinaryIO = os.fspath(path) if isinstance(path, str | os.PathLike) else path
    with wave.open(target, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(pcm)
