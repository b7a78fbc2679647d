"""The espeak-ng synthesiser for real: rates, voices, sound that the VAD hears as speech."""

import numpy as np
import pytest

from voicebot.errors import SpeechError
from voicebot.speech.synthesizer import _LOCK as _espeak_lock_object
from voicebot.speech.synthesizer import EspeakSynthesizer, Voice, spoken_runs
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


# -- Mandarin ------------------------------------------------------------------------------------
WELCOME = "您好，欢迎致电星河通信。"
BILINGUAL = "普通话请按1。For English, press 9."
PINYIN = Voice("cmn-latn-pinyin", 170)


@pytest.mark.parametrize(
    ("text", "voice", "default", "pieces"),
    [
        (TEXT, Voice("en-us"), Voice(), [(TEXT, Voice("en-us"))]),  # English: as it always was
        ("Hello", Voice("cmn", 170), Voice(), [("Hello", Voice("en-us", 170))]),
        (
            WELCOME,
            Voice("cmn", 170),
            Voice(),
            [("nin2 hao3, huan1 ying2 zhi4 dian4 xing1 he2 tong1 xin4.", PINYIN)],
        ),
        ("您好", Voice("en-gb", 150), Voice(), [("nin2 hao3", Voice("cmn-latn-pinyin", 150))]),
        ("58元", Voice("sit/cmn", 170), Voice(), [("wu3 shi2 ba1 yuan2", PINYIN)]),
        (
            BILINGUAL,
            Voice("cmn", 170),
            Voice("en-gb"),  # Latin runs of a Mandarin prompt: the default voice
            [
                ("pu3 tong1 hua4 qing3 an4 yi1.", PINYIN),
                ("For English, press 9.", Voice("en-gb", 170)),
            ],
        ),
        (
            BILINGUAL,
            Voice("zh", 170),
            Voice("cmn-latn-pinyin"),  # ... unless it is Mandarin too
            [
                ("pu3 tong1 hua4 qing3 an4 yi1.", PINYIN),
                ("For English, press 9.", Voice("en-us", 170)),
            ],
        ),
        (
            BILINGUAL,
            Voice("en-us", 170),  # an English voice given Chinese still speaks it as Mandarin
            Voice(),
            [
                ("pu3 tong1 hua4 qing3 an4 yi1.", PINYIN),
                ("For English, press 9.", Voice("en-us", 170)),
            ],
        ),
    ],
)
def test_spoken_runs(text, voice, default, pieces):
    assert spoken_runs(text, voice, default) == pieces


def rms(pcm: bytes) -> float:
    return float(np.sqrt(np.mean(np.frombuffer(pcm, "<i2").astype(np.float64) ** 2)))


def test_mandarin_is_spoken_from_pinyin_with_the_pinyin_voice(tts):
    cmn = tts.synthesize(WELCOME, 8000, Voice("cmn", 170))  # a flow's `{name: cmn}`
    assert rms(cmn) > 1000 and 1.5 < seconds(cmn, 8000) < 6.0  # 12 syllables, two phrases
    with _espeak_lock_object:  # rendered as they are, in one voice
        pinyin = tts._render(spoken_runs(WELCOME, PINYIN, Voice())[0][0], PINYIN)
        plain = tts._render(WELCOME, Voice("cmn", 170))
    native = 2 * tts.native_rate
    assert seconds(cmn, 8000) == pytest.approx(len(pinyin) / native, abs=0.05)
    # what Debian's plain cmn voice makes of the characters is something else entirely
    assert abs(len(plain) / native - seconds(cmn, 8000)) > 0.2


def test_a_bilingual_prompt_is_one_result_in_two_voices(tts):
    both = tts.synthesize(BILINGUAL, 8000, Voice("cmn", 170))
    chinese = tts.synthesize("普通话请按1。", 8000, PINYIN)
    english = tts.synthesize("For English, press 9.", 8000, Voice("en-us", 170))
    assert rms(chinese) > 1000 and rms(english) > 1000
    assert seconds(both, 8000) == pytest.approx(
        seconds(chinese, 8000) + seconds(english, 8000), abs=0.1
    )
    pcm = bytes(16000) + both + bytes(16000)
    vad = Vad()
    changes = [vad.process(f, 8000, t) for f, t in timed_frames(np.frombuffer(pcm, "<i2"))]
    speaking = [c.at for c in changes if c is not None and c.speaking]
    assert speaking and speaking[0] == pytest.approx(1.0, abs=0.1)


def test_chinese_punctuation_alone_is_no_audio(tts):
    assert tts.synthesize("。", 8000, Voice("cmn")) == b""


def test_the_engine_names_its_mandarin_reading(tts):
    assert tts.engine.endswith("+pinyin")  # prompt caches keyed before it are not reused
