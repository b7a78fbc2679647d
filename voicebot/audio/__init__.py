"""Audio primitives at telephone rates: frames, resampling, G.711, WAV files.

Everything here is plain PCM16 (signed 16-bit little-endian, mono) as ``bytes`` or numpy
``int16`` arrays; float audio is ``float32`` in [-1, 1). No module here does I/O on a call.

    frames     Frame (20 ms of PCM16 at 8 or 16 kHz), split_frames/join_frames,
               pcm16_to_float32/float32_to_pcm16
    resample   resample (one-shot), resample_array, StreamResampler (soxr)
    g711       ulaw_encode/ulaw_decode, alaw_encode/alaw_decode (vectorised tables)
    wav        read_wav (optionally resampled to a rate), write_wav
"""

from voicebot.audio.frames import (
    FRAME_MS,
    SAMPLE_RATES,
    Frame,
    bytes_per_frame,
    float32_to_pcm16,
    join_frames,
    pcm16_to_float32,
    samples_per_frame,
    split_frames,
)
from voicebot.audio.g711 import alaw_decode, alaw_encode, ulaw_decode, ulaw_encode
from voicebot.audio.resample import StreamResampler, resample, resample_array
from voicebot.audio.wav import read_wav, write_wav

__all__ = [
    "FRAME_MS",
    "SAMPLE_RATES",
    "Frame",
    "StreamResampler",
    "alaw_decode",
    "alaw_encode",
    "bytes_per_frame",
    "float32_to_pcm16",
    "join_frames",
    "pcm16_to_float32",
    "read_wav",
    "resample",
    "resample_array",
    "samples_per_frame",
    "split_frames",
    "ulaw_decode",
    "ulaw_encode",
    "write_wav",
]
