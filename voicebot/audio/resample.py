"""Sample-rate conversion with soxr (the SoX resampler): band-limited, never naive interpolation.

Call audio is 8 kHz (G.711) or 16 kHz; Whisper wants 16 kHz; espeak-ng renders 22.05 kHz.

API::

    resample(pcm: bytes, from_rate: int, to_rate: int, quality: str = "HQ") -> bytes
    resample_array(audio: np.ndarray, from_rate: int, to_rate: int,
                   quality: str = "HQ") -> np.ndarray   # int16 or float32 in, same dtype out

    class StreamResampler:
        __init__(from_rate: int, to_rate: int, quality: str = "HQ")
        process(pcm: bytes) -> bytes   # PCM16 in, whatever output is ready (may be b"")
        flush() -> bytes               # the rest; the stream is then ready for a new signal

`StreamResampler` keeps filter state across chunks, so a call's audio can be converted 20 ms
at a time with no clicks at the seams. soxr works in blocks: at "HQ" it holds back about
100 ms and then releases output in bursts, so `process` often returns ``b""``. Whoever needs
the whole signal (the recogniser at end of utterance) calls `flush()`; the total output of
`process`+`flush` equals, within filter rounding, the one-shot `resample` of the same input.
Quality names are soxr's: "VHQ", "HQ", "MQ", "LQ", "QQ" ("QQ" is cubic: avoid).
"""

from __future__ import annotations

import numpy as np
import soxr


def resample_array(
    audio: np.ndarray, from_rate: int, to_rate: int, quality: str = "HQ"
) -> np.ndarray:
    """Resample a mono int16 or float32 array; the result has the input's dtype."""
    if from_rate == to_rate or audio.size == 0:
        return audio.copy()
    if audio.dtype not in (np.int16, np.float32, np.float64, np.int32):
        raise TypeError(f"cannot resample {audio.dtype} audio: use int16 or float32")
    return soxr.resample(np.ascontiguousarray(audio), from_rate, to_rate, quality=quality)


def resample(pcm: bytes, from_rate: int, to_rate: int, quality: str = "HQ") -> bytes:
    """Resample mono PCM16 bytes from `from_rate` to `to_rate` Hz in one go."""
    if from_rate == to_rate:
        return bytes(pcm)
    samples = np.frombuffer(pcm, dtype="<i2")
    return resample_array(samples, from_rate, to_rate, quality).astype("<i2").tobytes()


class StreamResampler:
    """Resample a stream of PCM16 chunks, keeping filter state between them."""

    def __init__(self, from_rate: int, to_rate: int, quality: str = "HQ") -> None:
        self.from_rate = from_rate
        self.to_rate = to_rate
        self.quality = quality
        self._stream = self._new_stream()

    def _new_stream(self) -> soxr.ResampleStream | None:
        if self.from_rate == self.to_rate:
            return None
        return soxr.ResampleStream(
            self.from_rate, self.to_rate, 1, dtype="int16", quality=self.quality
        )

    def process(self, pcm: bytes) -> bytes:
        """Feed PCM16; return the output soxr has ready (possibly empty)."""
        if self._stream is None:
            return bytes(pcm)
        out = self._stream.resample_chunk(np.frombuffer(pcm, dtype="<i2"))
        return out.astype("<i2", copy=False).tobytes()

    def flush(self) -> bytes:
        """Drain what soxr holds back and reset, so the next `process` starts a new signal."""
        if self._stream is None:
            return b""
        out = self._stream.resample_chunk(np.zeros(0, dtype=np.int16), last=True)
        self._stream = self._new_stream()
        return out.astype("<i2", copy=False).tobytes()
