"""20 ms frames of PCM16 audio at telephone rates, and conversions between sample formats.

A `Frame` is the unit the media thread hands to the listener: 20 ms of mono signed 16-bit
little-endian PCM at 8000 Hz (160 samples, 320 bytes) or 16000 Hz (320 samples, 640 bytes),
with the time in seconds at which its first sample was captured.

API::

    FRAME_MS = 20
    SAMPLE_RATES = (8000, 16000)
    samples_per_frame(rate: int, ms: int = FRAME_MS) -> int
    bytes_per_frame(rate: int, ms: int = FRAME_MS) -> int

    @dataclass(frozen=True)
    class Frame:
        pcm: bytes        # PCM16 LE mono
        rate: int         # 8000 or 16000
        timestamp: float  # seconds, first sample
        played: int = 0   # live calls: peak of the bot audio sent at the same tick
        samples -> np.ndarray   # int16, read-only view of pcm
        duration -> float       # seconds
        end -> float            # timestamp + duration
        Frame.from_samples(samples: np.ndarray, rate: int, timestamp: float = 0.0) -> Frame

    split_frames(pcm: bytes, rate: int, start: float = 0.0, ms: int = FRAME_MS,
                 pad: bool = True) -> list[Frame]
    join_frames(frames: Iterable[Frame]) -> bytes
    pcm16_to_float32(pcm: bytes | np.ndarray) -> np.ndarray   # float32 in [-1, 1)
    float32_to_pcm16(audio: np.ndarray) -> bytes               # clipped, rounded
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

FRAME_MS = 20
SAMPLE_RATES = (8000, 16000)
_SAMPLE_BYTES = 2


def samples_per_frame(rate: int, ms: int = FRAME_MS) -> int:
    """Samples in one frame of `ms` milliseconds at `rate` Hz (160 for 20 ms at 8 kHz)."""
    return rate * ms // 1000


def bytes_per_frame(rate: int, ms: int = FRAME_MS) -> int:
    """Bytes of PCM16 in one frame of `ms` milliseconds at `rate` Hz (320 for 20 ms at 8 kHz)."""
    return samples_per_frame(rate, ms) * _SAMPLE_BYTES


@dataclass(frozen=True)
class Frame:
    """A short run of mono PCM16 audio and the time its first sample was captured."""

    pcm: bytes
    rate: int
    timestamp: float = 0.0
    played: int = 0  # live calls: peak of the bot audio sent at this frame's tick (echo test)

    def __post_init__(self) -> None:
        if self.rate not in SAMPLE_RATES:
            raise ValueError(f"frame rate {self.rate} Hz: use one of {SAMPLE_RATES}")
        if len(self.pcm) % _SAMPLE_BYTES:
            raise ValueError(f"frame of {len(self.pcm)} bytes: PCM16 needs an even length")

    @classmethod
    def from_samples(cls, samples: np.ndarray, rate: int, timestamp: float = 0.0) -> Frame:
        """A frame from int16 samples (other dtypes are converted: floats as [-1, 1) audio)."""
        if samples.dtype != np.int16:
            if np.issubdtype(samples.dtype, np.floating):
                return cls(float32_to_pcm16(samples), rate, timestamp)
            samples = np.clip(samples, -32768, 32767).astype(np.int16)
        return cls(samples.astype("<i2", copy=False).tobytes(), rate, timestamp)

    @property
    def samples(self) -> np.ndarray:
        """The samples as a read-only int16 array (no copy)."""
        return np.frombuffer(self.pcm, dtype="<i2")

    @property
    def duration(self) -> float:
        return len(self.pcm) / (_SAMPLE_BYTES * self.rate)

    @property
    def end(self) -> float:
        return self.timestamp + self.duration


def split_frames(
    pcm: bytes, rate: int, start: float = 0.0, ms: int = FRAME_MS, pad: bool = True
) -> list[Frame]:
    """Cut PCM16 into consecutive frames of `ms` milliseconds, timestamped from `start`.

    A short last piece is padded with silence when `pad` is true, dropped otherwise.
    """
    size = bytes_per_frame(rate, ms)
    step = ms / 1000.0
    frames: list[Frame] = []
    for i, offset in enumerate(range(0, len(pcm), size)):
        chunk = pcm[offset : offset + size]
        if len(chunk) < size:
            if not pad:
                break
            chunk = chunk + bytes(size - len(chunk))
        frames.append(Frame(chunk, rate, start + i * step))
    return frames


def join_frames(frames: Iterable[Frame]) -> bytes:
    """Concatenate the PCM of frames in order."""
    return b"".join(f.pcm for f in frames)


def pcm16_to_float32(pcm: bytes | np.ndarray) -> np.ndarray:
    """PCM16 bytes or int16 samples -> float32 in [-1, 1) (divided by 32768)."""
    samples = np.frombuffer(pcm, dtype="<i2") if isinstance(pcm, bytes | bytearray) else pcm
    return samples.astype(np.float32) / np.float32(32768.0)


def float32_to_pcm16(audio: np.ndarray) -> bytes:
    """Float audio in [-1, 1) -> PCM16 bytes; out-of-range samples are clipped, not wrapped."""
    scaled = np.round(np.asarray(audio, dtype=np.float32) * 32768.0)
    return np.clip(scaled, -32768, 32767).astype("<i2").tobytes()
