"""G.711 μ-law and A-law coding (ITU-T G.711), vectorised through lookup tables.

The coders follow the reference C code (Sun Microsystems' g711.c, also behind CPython's
``audioop``): μ-law encodes the top 14 bits of a sample, A-law the top 13. Encoding is one
lookup in a 65536-entry table indexed by the int16 sample; decoding one lookup in a 256-entry
table. Both tables are built once, with numpy, when the module is imported.

API::

    ulaw_encode(pcm: bytes | np.ndarray) -> bytes   # PCM16 (bytes or int16) -> 1 byte/sample
    ulaw_decode(data: bytes) -> bytes               # -> PCM16 bytes
    alaw_encode(pcm: bytes | np.ndarray) -> bytes
    alaw_decode(data: bytes) -> bytes
    ULAW_TO_LINEAR, ALAW_TO_LINEAR: np.ndarray      # int16[256] decode tables
"""

from __future__ import annotations

import numpy as np

_BIAS = 0x84
_ULAW_CLIP = 8159
_SEG_UEND = np.array([0x3F, 0x7F, 0xFF, 0x1FF, 0x3FF, 0x7FF, 0xFFF, 0x1FFF])
_SEG_AEND = np.array([0x1F, 0x3F, 0x7F, 0xFF, 0x1FF, 0x3FF, 0x7FF, 0xFFF])


def _segment(values: np.ndarray, ends: np.ndarray) -> np.ndarray:
    """Index of the first segment end >= value (8 when above every end)."""
    return np.searchsorted(ends, values, side="left")


def _build_ulaw_encoder() -> np.ndarray:
    pcm = np.arange(-32768, 32768, dtype=np.int64) >> 2  # 14-bit
    mask = np.where(pcm < 0, 0x7F, 0xFF)
    mag = np.minimum(np.abs(pcm), _ULAW_CLIP) + (_BIAS >> 2)
    seg = _segment(mag, _SEG_UEND)
    code = (np.minimum(seg, 7) << 4) | ((mag >> (np.minimum(seg, 7) + 1)) & 0xF)
    code = np.where(seg >= 8, 0x7F, code)
    return (code ^ mask).astype(np.uint8)


def _build_alaw_encoder() -> np.ndarray:
    pcm = np.arange(-32768, 32768, dtype=np.int64) >> 3  # 13-bit
    mask = np.where(pcm >= 0, 0xD5, 0x55)
    mag = np.where(pcm >= 0, pcm, -pcm - 1)
    seg = _segment(mag, _SEG_AEND)
    s = np.minimum(seg, 7)
    low = np.where(s < 2, (mag >> 1) & 0xF, (mag >> s) & 0xF)
    code = np.where(seg >= 8, 0x7F, (s << 4) | low)
    return (code ^ mask).astype(np.uint8)


def _build_ulaw_decoder() -> np.ndarray:
    u = ~np.arange(256, dtype=np.int64) & 0xFF
    t = (((u & 0x0F) << 3) + _BIAS) << ((u & 0x70) >> 4)
    return np.where(u & 0x80, _BIAS - t, t - _BIAS).astype(np.int16)


def _build_alaw_decoder() -> np.ndarray:
    a = np.arange(256, dtype=np.int64) ^ 0x55
    t = (a & 0x0F) << 4
    seg = (a & 0x70) >> 4
    t = np.where(seg == 0, t + 8, t + 0x108)
    t = np.where(seg > 1, t << np.maximum(seg - 1, 0), t)
    return np.where(a & 0x80, t, -t).astype(np.int16)


_ULAW_ENCODE = _build_ulaw_encoder()
_ALAW_ENCODE = _build_alaw_encoder()
ULAW_TO_LINEAR = _build_ulaw_decoder()
ALAW_TO_LINEAR = _build_alaw_decoder()


def _indices(pcm: bytes | np.ndarray) -> np.ndarray:
    samples = np.frombuffer(pcm, dtype="<i2") if isinstance(pcm, bytes | bytearray) else pcm
    if samples.dtype != np.int16:
        raise TypeError(f"G.711 encodes int16 samples, not {samples.dtype}")
    return samples.astype(np.int32) + 32768


def ulaw_encode(pcm: bytes | np.ndarray) -> bytes:
    """PCM16 -> G.711 μ-law, one byte per sample."""
    return _ULAW_ENCODE[_indices(pcm)].tobytes()


def alaw_encode(pcm: bytes | np.ndarray) -> bytes:
    """PCM16 -> G.711 A-law, one byte per sample."""
    return _ALAW_ENCODE[_indices(pcm)].tobytes()


def ulaw_decode(data: bytes) -> bytes:
    """G.711 μ-law -> PCM16 bytes."""
    return ULAW_TO_LINEAR[np.frombuffer(data, dtype=np.uint8)].astype("<i2").tobytes()


def alaw_decode(data: bytes) -> bytes:
    """G.711 A-law -> PCM16 bytes."""
    return ALAW_TO_LINEAR[np.frombuffer(data, dtype=np.uint8)].astype("<i2").tobytes()
