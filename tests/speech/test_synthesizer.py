"""The espeak-ng synthesiser for real: rates, voices, sound that the VAD hears as speech."""

import numpy as np
import pytest

from voicebot.errors import SpeechError
from voicebot.speech.synthesizer import EspeakSynthesizer, Voice
from voicebot.speech.vad import Vad
from voicebot.testing.speech import timed_frames

TEXT = "Thank you for calling. Please say your account number."


@pytest.fixture(scope="module")
def tts():
    return EspeakSynthesizer()


def seconds(pcm, rate):
    return len(pcm) / (2 * rate)


def test_renders_at_both_call_rates(tts):
    narrow = np.frombuffer(tts.synthesize(TEXT, 8000), "<i2")
    wide = np.frombuffer(tts.synthesize(TEXT, 16000), "<i2")
    assert 2.0 < len(narrow) / 8000 < 6.0
    assert len(wide) / 16000 == pytest.approx(len(narrow) / 8000, abs=0.05)
    for samples in (narrow, wide):
        assert np.sqrt(np.mean(samples.astype(np.float64) ** 2)) > 1000  # not silence
        assert np.abs(samples).max() < 32767  # not clipped by the resampler


def test_narrowband_render_has_no_energy_above_nyquist_artefacts(tts):
    samples = np.frombuffer(tts.synthesize(TEXT, 8000), "<i2").astype(np.float64)
    spectrum = np.abs(np.fft.rfft(samples)) ** 2
    freqs = np.fft.rfftfreq(len(samples), 1 / 8000)
    speech_band = spectrum[(freqs > 100) & (freqs < 3400)].sum()
    assert speech_band / spectrum.sum() > 0.95


def test_speaking_rate_is_applied_every_time(tts):
    tts.voices()  # listing voices broke later rate changes in pyttsx3's own driver
    slow = Voice("en-us", 120)
    fast = Voice("en-us", 240)
    lengths = [seconds(tts.synthesize(TEXT, 8000, v), 8000) for v in (slow, fast, slow, fast)]
    assert lengths[0] > 1.7 * lengths[1]
    assert lengths[2] == pytest.approx(lengths[0], rel=0.02)
    assert lengths[3] == pytest.approx(lengths[1], rel=0.02)


def test_another_voice_sounds_different(tts):
    us = tts.synthesize("Hello", 8000, Voice("en-us"))
    french = tts.synthesize("Bonjour", 8000, Voice("roa/fr"))
    assert us and french and us != french


def test_unknown_voice_and_rate_are_refused_with_a_hint(tts):
    with pytest.raises(SpeechError, match="unknown espeak-ng voice 'en-zz'.*did you mean"):
        tts.synthesize("Hello", 8000, Voice("en-zz"))
    with pytest.raises(SpeechError, match="words/minute"):
        EspeakSynthesizer(Voice("en-us", 20))


def test_blank_text_is_no_audio(tts):
    assert tts.synthesize("  ", 8000) == b""


def test_the_vad_hears_the_synthesised_prompt_as_speech(tts):
    pcm = bytes(16000) + tts.synthesize("Yes, please.", 8000) + bytes(16000)
    vad = Vad()
    starts = [vad.process(f, 8000, t) for f, t in timed_frames(np.frombuffer(pcm, "<i2"))]
    speaking = [c.at for c in starts if c is not None and c.speaking]
    assert speaking and speaking[0] == pytest.approx(1.0, abs=0.1)
