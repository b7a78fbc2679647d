"""The engine in the call's language: prompts, listening, globals, slots, templates, switching."""

from __future__ import annotations

import datetime as dt
import textwrap
from pathlib import Path

import pytest

from voicebot.dialog.actions import HangUp, Listen, Say, Transfer
from voicebot.dialog.engine import (
    APOLOGY,
    DEFAULT_NO_MATCH,
    ZH_APOLOGY,
    ZH_NO_INPUT,
    ZH_NO_MATCH,
    DialogEngine,
)
from voicebot.dialog.events import CallStarted, Dtmf, TimerFired, Utterance
from voicebot.flow.lint import lint
from voicebot.flow.loader import load_flow
from voicebot.flow.templates import LOCALE

NOW = dt.datetime(2026, 11, 24, 10, 0, tzinfo=dt.UTC)

SUPPORT = """
language: zh-CN
languages: [zh-CN, en]
defaults:
  retries: {no_input: 2, no_match: 2, exhausted: agent}
globals:
  operator: {dtmf: "0", say: [人工, 转人工, agent], goto: agent}
start: menu
steps:
  menu:
    menu:
      prompt: {zh-CN: "查话费请按1，换套餐请按2。", en: "Bills, press 1. Plans, press 2."}
      options:
        bill: {dtmf: "1", say: [话费, 查话费, bill], goto: bill}
        plan: {dtmf: "2", say: [套餐, 换套餐, plan], goto: plan}
  bill:
    set: {vars.amount: "{{ 58.3 }}", vars.due: "2026-12-03"}
    next: tell
  tell:
    say: {zh-CN: "您的话费是{{ vars.amount | money }}，{{ vars.due | date }}到期。",
          en: "Your bill is {{ vars.amount | money }}, due {{ vars.due | date }}."}
    next: more
  more:
    ask:
      slot: {name: more, type: yes_no}
      prompt: {zh-CN: "还需要其他帮助吗？", en: "Anything else?"}
    next:
      - {when: "slots.more", goto: menu}
      - {goto: bye}
  plan:
    ask:
      slot: {name: plan, type: choice, options: {small: [小套餐, 五十八元套餐], big: [大套餐]}}
      prompt: {zh-CN: "您想换哪个套餐？", en: "Which plan?"}
    next: bye
  agent: {transfer: {to: "sip:queue@pbx.example.com"}}
  bye: {say: {zh-CN: "再见。", en: "Goodbye."}, next: end}
  end: {hangup: {}}
"""


def make(tmp_path: Path, body: str = SUPPORT, **kw) -> DialogEngine:
    path = tmp_path / "flow.yaml"
    path.write_text("version: 1\nname: t\n" + textwrap.dedent(body))
    return DialogEngine(load_flow(path), **kw)


def said(actions: list) -> list[str]:
    return [a.text for a in actions if isinstance(a, Say)]


def listen(actions: list) -> Listen:
    [found] = [a for a in actions if isinstance(a, Listen)]
    return found


def start(engine: DialogEngine) -> list:
    return engine.handle(CallStarted("c1", "+8613800138000", "+861010"), NOW)


def test_the_support_flow_checks_clean(tmp_path):
    engine = make(tmp_path)
    assert lint(engine.loaded) == []


def test_a_mandarin_call_listens_in_mandarin(tmp_path):
    engine = make(tmp_path)
    out = start(engine)
    assert said(out) == ["查话费请按1，换套餐请按2。"]
    expect = listen(out).expect
    assert (expect.kind, expect.language) == ("menu", "zh-CN")
    assert expect.global_phrases == ("人工", "转人工", "agent")


@pytest.mark.parametrize(
    ("words", "step"),
    [
        ("我想查话费", "more"),
        ("花费", "more"),  # a homophone of 话费, as the recogniser may write it
        ("嗯，换个套餐", "plan"),
        ("我要转人工", "agent"),  # a global command, said in Mandarin
        ("人工服务", "agent"),
    ],
)
def test_mandarin_answers_at_a_menu(tmp_path, words, step):
    engine = make(tmp_path)
    start(engine)
    engine.handle(Utterance(words, 0.9), NOW)
    assert engine.step_id == step


def test_templates_read_chinese_in_a_mandarin_call(tmp_path):
    engine = make(tmp_path)
    start(engine)
    out = engine.handle(Dtmf("1"), NOW)
    assert said(out)[0] == "您的话费是五十八元三角，十二月三日星期四到期。"
    assert engine.names()[LOCALE] == "zh-CN"


def test_yes_no_and_choice_in_mandarin(tmp_path):
    engine = make(tmp_path)
    start(engine)
    engine.handle(Dtmf("1"), NOW)
    out = engine.handle(Utterance("是的", 0.9), NOW)
    assert engine.slots["more"] is True and engine.step_id == "menu"
    assert listen(out).expect.language == "zh-CN"
    engine.handle(Utterance("换套餐", 0.9), NOW)
    engine.handle(Utterance("五十八元套餐", 0.9), NOW)
    assert engine.slots["plan"] == "small" and engine.step_id == "end"


def test_default_retry_prompts_and_the_apology_are_in_the_call_language(tmp_path):
    engine = make(tmp_path)
    start(engine)
    out = engine.handle(Utterance("今天天气不错", 0.9), NOW)
    assert said(out)[0] == ZH_NO_MATCH
    assert (out[1].voice, out[1].language) == ("cmn-latn-pinyin", "zh-CN")  # flow sets no voice
    assert said(engine.handle(TimerFired("no_input"), NOW))[0] == ZH_NO_INPUT
    broken = make(
        tmp_path,
        'language: zh-CN\nstart: a\nsteps:\n  a: {say: "{{ vars.nothing }}", next: b}\n'
        "  b: {hangup: {}}\n",
    )
    out = start(broken)
    assert said(out) == [ZH_APOLOGY] and isinstance(out[-1], HangUp)
    assert ZH_APOLOGY != APOLOGY


SWITCH = """
language: zh-CN
languages: [zh-CN, en]
voice: {zh-CN: {name: cmn, rate: 170}, en: {name: en-us, rate: 165}}
defaults:
  retries: {no_input: 2, no_match: 2, exhausted: agent}
globals:
  operator: {dtmf: "0", say: [人工, 转人工, agent], goto: agent}
start: pick
steps:
  pick:
    menu:
      prompt: {zh-CN: "普通话请按1。For English, press 9."}
      options:
        zh: {dtmf: "1", say: [普通话], goto: menu}
        en: {dtmf: "9", say: [English], goto: to_english}
  to_english: {set: {call.language: en}, next: menu}
""" + SUPPORT.split("start: menu\nsteps:\n", 1)[1]


def test_set_call_language_switches_the_rest_of_the_call(tmp_path):
    engine = make(tmp_path, SWITCH)
    start(engine)
    out = engine.handle(Dtmf("9"), NOW)
    assert engine.language == "en" and engine.call["language"] == "en"
    assert said(out) == ["Bills, press 1. Plans, press 2."]
    assert [(s.voice, s.rate, s.language) for s in out if isinstance(s, Say)] == [
        ("en-us", 165, "en")
    ]
    assert listen(out).expect.language == "en"
    out = engine.handle(Utterance("my bill please", 0.9), NOW)
    assert said(out)[0] == "Your bill is $58.30, due Thursday, December 3."
    assert engine.names()[LOCALE] == "en_US"
    out = engine.handle(Utterance("nonsense words here", 0.9), NOW)
    assert said(out)[0] == DEFAULT_NO_MATCH
    assert (out[1].voice, out[1].rate, out[1].language) == ("en-us", 165, "en")
    out = engine.handle(Utterance("agent", 0.9), NOW)  # the English matcher for globals too
    assert any(isinstance(a, Transfer) for a in out)


def test_the_language_can_come_from_call_data_and_is_readable_in_conditions(tmp_path):
    engine = make(
        tmp_path,
        """
        language: en
        languages: [en, zh-CN]
        start: pick
        steps:
          pick: {set: {call.language: "{{ contact.lang }}"}, next: route}
          route:
            say: {en: "Hello.", zh-CN: "您好。"}
            next:
              - {when: "call.language == 'zh-CN'", goto: zh}
              - {goto: end}
          zh: {say: "{{ 13800138000 | spell }}", next: end}
          end: {hangup: {}}
        """,
    )
    out = engine.handle(CallStarted("c1", "+86", "+86", "outbound", NOW, {"lang": "zh-CN"}), NOW)
    assert said(out) == ["您好。", "幺三八零零幺三八零零零"]
    assert [s.voice for s in out if isinstance(s, Say)] == ["cmn-latn-pinyin"] * 2


@pytest.mark.parametrize(
    ("service_locale", "call_language", "locale"),
    [
        ("en_US", "en", "en_US"),  # English flows: the service's locale, as before
        ("en_GB", "en-GB", "en_GB"),
        ("en_US", "zh-CN", "zh-CN"),
        ("zh_CN", "zh-CN", "zh_CN"),
        ("zh_CN", "en", "en"),  # a Chinese service's English call formats in English
    ],
)
def test_template_locale_follows_the_call_language(tmp_path, service_locale, call_language, locale):
    engine = make(
        tmp_path,
        f"language: {call_language}\nstart: a\nsteps:\n  a: {{hangup: {{}}}}\n",
        locale=service_locale,
    )
    assert engine.names()[LOCALE] == locale


def test_an_english_flow_is_as_it_was(tmp_path):
    engine = make(
        tmp_path,
        """
        start: a
        steps:
          a: {ask: {slot: {name: n, type: digits, min: 4, max: 4}, prompt: "Your PIN?"}, next: b}
          b: {say: "{{ slots.n | spell }}", next: c}
          c: {hangup: {}}
        """,
    )
    out = start(engine)
    [say] = [a for a in out if isinstance(a, Say)]
    assert (say.voice, say.rate, say.language) == (None, None, "en")  # the service's voice
    assert listen(out).expect.language == "en"
    assert said(engine.handle(Utterance("four two oh seven", 0.9), NOW)) == ["4 2 0 7"]


def test_a_malformed_language_from_call_data_keeps_the_call_language(tmp_path):
    engine = make(
        tmp_path,
        """
        language: zh-CN
        languages: [zh-CN, en]
        start: pick
        steps:
          pick: {set: {call.language: "{{ contact.lang }}"}, next: hi}
          hi: {say: {en: "Hello.", zh-CN: "您好。"}, next: end}
          end: {hangup: {}}
        """,
    )
    out = engine.handle(CallStarted("c1", "a", "b", "outbound", NOW, {"lang": "Klingon!"}), NOW)
    assert said(out) == ["您好。"] and engine.language == "zh-CN"
    assert engine.trace.errors == [
        "pick: call.language: 'Klingon!' is not a BCP 47 language tag (e.g. en, en-US, zh-CN)"
    ]


def test_recorded_prompts_per_language(tmp_path):
    audio = tmp_path / "audio"
    audio.mkdir()
    (audio / "welcome_zh.wav").write_bytes(b"RIFF")
    (audio / "welcome_en.wav").write_bytes(b"RIFF")
    path = tmp_path / "flow.yaml"
    path.write_text(
        textwrap.dedent("""
        version: 1
        name: t
        language: zh-CN
        languages: [zh-CN, en]
        prompts:
          welcome:
            zh-CN: {audio: welcome_zh.wav, text: "您好。"}
            en: {audio: welcome_en.wav, text: "Hello."}
        start: a
        steps:
          a: {say: welcome, next: b}
          b: {set: {call.language: en}, next: c}
          c: {say: welcome, next: end}
          end: {hangup: {}}
        """)
    )
    engine = DialogEngine(load_flow(path), audio_dir=audio)
    says = [a for a in start(engine) if isinstance(a, Say)]
    assert [(s.text, s.audio, s.language) for s in says] == [
        ("您好。", str(audio / "welcome_zh.wav"), "zh-CN"),
        ("Hello.", str(audio / "welcome_en.wav"), "en"),
    ]
