"""What a worker prerenders for a bilingual flow: each language's prompts in that language's
voice, named as the calls' `Say`s name them (the prompt cache is keyed by text, voice and rate)."""

from __future__ import annotations

import textwrap
from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace

import pytest

from voicebot.dialog import engine as eng
from voicebot.dialog.actions import Say
from voicebot.dialog.engine import DialogEngine
from voicebot.dialog.events import CallStarted, Dtmf
from voicebot.flow.loader import load_flow
from voicebot.server.worker import VoicebotService, static_prompts
from voicebot.speech.synthesizer import Voice

NOW = datetime(2026, 11, 24, 10, 0, tzinfo=UTC)
FLOW = """
version: 1
name: t
language: zh-CN
languages: [zh-CN, en]
voice: {zh-CN: {name: cmn, rate: 170}, en: {name: en-us, rate: 165}}
prompts:
  welcome: {zh-CN: "您好。", en: "Hello."}
start: welcome
steps:
  welcome: {say: welcome, next: pick}
  pick:
    menu:
      prompt: "普通话请按1。For English, press 9."
      options:
        zh: {dtmf: "1", goto: bye}
        en: {dtmf: "9", goto: to_en}
  to_en: {set: {call.language: en}, next: bye}
  bye: {say: {zh-CN: "再见。", en: "Goodbye."}, next: end}
  end: {hangup: {}}
"""


def test_static_prompts_per_language(tmp_path):
    path = tmp_path / "flow.yaml"
    path.write_text(textwrap.dedent(FLOW))
    loaded = load_flow(path)
    bilingual = "普通话请按1。For English, press 9."
    assert static_prompts(loaded, "zh-CN") == {
        "您好。",
        bilingual,
        "再见。",
        eng.ZH_NO_INPUT,
        eng.ZH_NO_MATCH,
        eng.ZH_APOLOGY,
    }
    assert static_prompts(loaded, "en") == {
        "Hello.",
        bilingual,
        "Goodbye.",
        eng.DEFAULT_NO_INPUT,
        eng.DEFAULT_NO_MATCH,
        eng.APOLOGY,
    }
    assert static_prompts(loaded) >= {"您好。", "Hello.", "再见。", "Goodbye."}  # every variant


def test_prerender_voices_are_the_ones_calls_ask_for(tmp_path):
    path = tmp_path / "flow.yaml"
    path.write_text(textwrap.dedent(FLOW))
    loaded = load_flow(path)
    service = SimpleNamespace(loaded=loaded, voice=Voice("cmn-latn-pinyin", 170))
    voices = VoicebotService.voices(service)  # type: ignore[arg-type]
    assert voices == {"zh-CN": Voice("cmn-latn-pinyin", 170), "en": Voice("en-us", 165)}
    engine = DialogEngine(loaded)
    out = engine.handle(CallStarted("c1", "a", "b"), NOW)
    out += engine.handle(Dtmf("9"), NOW)
    asked = {(s.language, Voice(s.voice or "", s.rate or 0)) for s in out if isinstance(s, Say)}
    assert asked == {("zh-CN", voices["zh-CN"]), ("en", voices["en"])}


def test_a_flow_without_voice_prerenders_in_the_service_voice(tmp_path):
    path = tmp_path / "flow.yaml"
    path.write_text(
        'version: 1\nname: t\nstart: a\nsteps:\n  a: {say: "Hi", next: b}\n  b: {hangup: {}}\n'
    )
    service = SimpleNamespace(loaded=load_flow(path), voice=Voice("en-gb", 150))
    assert VoicebotService.voices(service) == {"en": Voice("en-gb", 150)}  # type: ignore[arg-type]


FLOWS = Path(__file__).resolve().parents[1] / "dialog_flows"
ENGLISH_FLOWS = ("appointment_reminder", "billing", "payment_reminder", "support_line")
MANDARIN_FLOWS = ("zh_parcel_delivery", "zh_support_line")


def _shipped() -> dict[str, Path]:
    flows = sorted(FLOWS.glob("*.yaml"))  # less flow tests, knowledge and quality rules
    return {
        p.stem: p for p in flows if not p.name.endswith((".test.yaml", ".faq.yaml", ".qa.yaml"))
    }


def test_shipped_english_flows_prerender_what_they_did():
    english = {name for name, path in _shipped().items() if load_flow(path).flow.language == "en"}
    assert english == set(ENGLISH_FLOWS)
    for name in ENGLISH_FLOWS:
        loaded = load_flow(FLOWS / f"{name}.yaml")
        assert loaded.flow.declared_languages == ["en"]
        assert static_prompts(loaded, "en") == static_prompts(loaded)
        settings = SimpleNamespace(voice=Voice("en-us", 165))
        voice = VoicebotService.voice.fget(SimpleNamespace(loaded=loaded, config=settings))  # type: ignore[attr-defined]
        service = SimpleNamespace(loaded=loaded, voice=voice)
        assert VoicebotService.voices(service) == {"en": voice}  # type: ignore[arg-type]


@pytest.mark.slow
@pytest.mark.parametrize("name", [*MANDARIN_FLOWS, "language_menu"])
def test_shipped_mandarin_flows_prerender_every_prompt_from_pinyin(name):
    """Every prompt of the Mandarin flows, as the worker prerenders it at start and as their
    flow tests render it (money, dates, numbers), in the pinyin voice: each Chinese run turned
    wholly into pinyin (no character left for espeak-ng to misread), each sentence with audio."""
    from voicebot.flow.flowtests import load_test_file, run_case
    from voicebot.lang.zh_pinyin import speakable
    from voicebot.speech.prompt_cache import split_sentences
    from voicebot.speech.synthesizer import EspeakSynthesizer, spoken_runs

    loaded = load_flow(FLOWS / f"{name}.yaml")
    settings = SimpleNamespace(voice=Voice("en-us", 165))
    voice = VoicebotService.voice.fget(SimpleNamespace(loaded=loaded, config=settings))  # type: ignore[attr-defined]
    voices = VoicebotService.voices(SimpleNamespace(loaded=loaded, voice=voice))  # type: ignore[arg-type]
    assert voices["zh-CN"] == Voice("cmn-latn-pinyin", 170)
    synthesizer = EspeakSynthesizer(Voice("en-us", 165))
    texts = static_prompts(loaded, "zh-CN")
    tests, doc = load_test_file(FLOWS / f"{name}.test.yaml")
    for i, case in enumerate(tests.tests):
        _, call = run_case(loaded, tests, case, doc, i)
        texts |= {line.text for line in call.lines if line.who == "bot"}
    for text in sorted(texts):
        for sentence in split_sentences(text):
            for said, spoken in spoken_runs(sentence, voices["zh-CN"], synthesizer.default_voice):
                if spoken.name == "cmn-latn-pinyin":
                    assert said.isascii(), (sentence, said, speakable(sentence))
            assert synthesizer.synthesize(sentence, 8000, voices["zh-CN"]), sentence
