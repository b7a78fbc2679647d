"""G.711 coders checked bit for bit against CPython 3.11's audioop (the reference g711.c)."""

import warnings

import numpy as np
import pytest

from voicebot.audio.g711 import alaw_decode, alaw_encode, ulaw_decode, ulaw_encode

with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    import audioop

EVERY_SAMPLE = np.arange(-32768, 32768, dtype=np.int16)
EVERY_CODE = bytes(range(256))


@pytest.mark.parametrize(
    ("ours", "reference"),
    [(ulaw_encode, audioop.lin2ulaw), (alaw_encode, audioop.lin2alaw)],
)
def test_encoding_matches_reference_for_every_sample(ours, reference):
    assert ours(EVERY_SAMPLE) == reference(EVERY_SAMPLE.tobytes(), 2)
    assert ours(EVERY_SAMPLE.tobytes()) == reference(EVERY_SAMPLE.tobytes(), 2)


@pytest.mark.parametrize(
    ("ours", "reference"),
    [(ulaw_decode, audioop.ulaw2lin), (alaw_decode, audioop.alaw2lin)],
)
def test_decoding_matches_reference_for_every_code(ours, reference):
    assert ours(EVERY_CODE) == reference(EVERY_CODE, 2)


@pytest.mark.parametrize(
    ("encode", "decode"), [(ulaw_encode, ulaw_decode), (alaw_encode, alaw_decode)]
)
def test_round_trip_keeps_speech_level_signal_at_telephone_quality(encode, decode):
    t = np.arange(8000) / 8000
    tone = (8000 * np.sin(2 * np.pi * 440 * t)).astype(np.int16)
    coded = encode(tone)
    assert len(coded) == len(tone)
    back = np.frombuffer(decode(coded), "<i2").astype(np.float64)
    snr = 10 * np.log10(np.sum(tone.astype(np.float64) ** 2) / np.sum((back - tone) ** 2))
    assert snr > 35  # G.711 gives ~38 dB over most of its range


def test_rejects_float_samples():
    with pytest.raises(TypeError):
        ulaw_encode(np.zeros(4, dtype=np.float32))
