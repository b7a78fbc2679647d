import numpy as np
import pytest

from voicebot.audio.wav import read_wav, write_wav
from voicebot.speech.prompt_cache import PromptCache, split_sentences
from voicebot.speech.synthesizer import EspeakSynthesizer, Voice
from voicebot.testing.speech import FakeSynthesizer, voice_tone


class Counting:
    """Wraps a real synthesiser and counts renders."""

    def __init__(self, inner):
        self.inner = inner
        self.engine = inner.engine
        self.default_voice = inner.default_voice
        self.renders = 0

    def synthesize(self, text, sample_rate, voice=None):
        self.renders += 1
        return self.inner.synthesize(text, sample_rate, voice)


def test_real_render_is_cached_on_disk_and_returned_identically(tmp_path):
    tts = Counting(EspeakSynthesizer())
    cache = PromptCache(tmp_path, tts, 8000)
    first = cache.get("Your call is important to us.")
    again = cache.get("Your call is important to us.")
    assert first == again and tts.renders == 1
    reopened = PromptCache(tmp_path, tts, 8000)  # another process, the same directory
    assert reopened.get("Your call is important to us.") == first and tts.renders == 1
    stored = list(tmp_path.rglob("*.wav"))
    assert len(stored) == 1 and read_wav(stored[0]) == (first, 8000)


def test_key_covers_text_voice_rate_and_sample_rate(tmp_path):
    fake = FakeSynthesizer()
    narrow, wide = PromptCache(tmp_path, fake, 8000), PromptCache(tmp_path, fake, 16000)
    keys = {
        narrow.key("Hello."),
        narrow.key("Hello!"),
        narrow.key("Hello.", Voice("fake", 200)),
        narrow.key("Hello.", Voice("other", 175)),
        wide.key("Hello."),
    }
    assert len(keys) == 5
    assert narrow.key("Hello.") == narrow.key("Hello.", Voice("fake", 175))


def test_prerender_renders_each_missing_prompt_once(tmp_path):
    fake = FakeSynthesizer()
    cache = PromptCache(tmp_path, fake, 8000)
    cache.get("Goodbye.")
    rendered = cache.prerender(["Welcome.", "Goodbye.", "Welcome.", "Main menu.", " "])
    assert rendered == 2
    assert fake.calls == ["Goodbye.", "Welcome.", "Main menu."]
    assert all(cache.contains(t) for t in ("Welcome.", "Goodbye.", "Main menu."))


def test_stream_renders_sentence_by_sentence_on_demand(tmp_path):
    fake = FakeSynthesizer()
    cache = PromptCache(tmp_path, fake, 8000)
    parts = cache.stream("Your balance is 12 dollars. It is due on Monday! Anything else?")
    first = next(parts)
    assert fake.calls == ["Your balance is 12 dollars."]  # the rest waits until asked for
    assert len(first) == len(fake.synthesize("Your balance is 12 dollars.", 8000))
    rest = list(parts)
    assert len(rest) == 2
    assert fake.calls[-2:] == ["It is due on Monday!", "Anything else?"]


@pytest.mark.parametrize(
    ("text", "sentences"),
    [
        ("One. Two? Three!", ["One.", "Two?", "Three!"]),
        ("Call Dr. Smith at 3.30 p.m. today.", ["Call Dr. Smith at 3.30 p.m. today."]),
        ("Hi; bye", ["Hi;", "bye"]),
        ("line one\nline two", ["line one", "line two"]),
        ("   ", []),
        ("好的，您的号码是幺三八。再见。", ["好的，您的号码是幺三八。", "再见。"]),
        ("您好！请问有什么可以帮您？", ["您好！", "请问有什么可以帮您？"]),
        ("普通话请按1。For English, press 9.", ["普通话请按1。", "For English, press 9."]),
        ("话费58.3元。", ["话费58.3元。"]),
    ],
)
def test_split_sentences(text, sentences):
    assert split_sentences(text) == sentences


def test_wav_asset_is_resampled_once(tmp_path):
    source = tmp_path / "assets" / "hold.wav"
    source.parent.mkdir()
    write_wav(source, voice_tone(1.0, 22050).tobytes(), 22050)
    fake = FakeSynthesizer()
    cache = PromptCache(tmp_path / "cache", fake, 8000)
    pcm = cache.asset(source)
    assert len(pcm) == 2 * 8000 and cache.misses == 1
    assert cache.asset(source) == pcm and cache.hits == 1
    write_wav(source, voice_tone(0.5, 22050).tobytes(), 22050)  # edited: a new key
    assert len(cache.asset(source)) == 8000 and cache.misses == 2
    assert np.frombuffer(pcm, "<i2").std() > 1000
