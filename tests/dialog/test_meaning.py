"""The engine understanding by meaning, with the fake embedder (voicebot/testing/embeddings.py):
intents after phrases, near ties asked back, knowledge answers in a menu and in an `answer`
step, `turn.intent`/`turn.answered`, and the expectation a meaning menu gives the recogniser."""

from __future__ import annotations

import datetime as dt
import textwrap
from pathlib import Path

import numpy as np

from voicebot.dialog.actions import Listen, Say, Transfer
from voicebot.dialog.embeddings import VectorCache
from voicebot.dialog.engine import DialogEngine
from voicebot.dialog.events import CallStarted, Dtmf, Utterance
from voicebot.dialog.meaning import Meaning
from voicebot.flow.loader import load_flow
from voicebot.testing.embeddings import FakeEmbedder

NOW = dt.datetime(2026, 11, 24, 10, 0, tzinfo=dt.UTC)

FLOW = """
version: 1
name: t
intents:
  check_balance: {examples: {en: ["my balance", "how much do I have left"], zh-CN: ["我的余额"]}}
  pay:           {examples: {en: ["my payment", "pay the bill"], zh-CN: ["我的付款"]}}
  agent:         {examples: {en: ["talk to a person"]}}
knowledge: faq.yaml
globals:
  operator: {dtmf: "0", say: [operator], intent: agent, goto: agent}
start: menu
steps:
  menu:
    menu:
      prompt: "How can I help?"
      options:
        money_left: {dtmf: "1", intent: check_balance, goto: balance}
        pay_bill:   {dtmf: "2", say: [billing], intent: pay, goto: payment}
      knowledge: true
  balance: {say: "Balance {{ turn.intent }} {{ turn.answered }}", next: end}
  payment: {say: "Payment", next: faq}
  faq:
    answer: {prompt: "What would you like to know?", no_answer: "I don't know that one."}
    on: {answered: end, no_answer: agent}
  agent: {transfer: {to: "sip:agent@pbx.example.com"}}
  end: {hangup: {}}
"""
FAQ = """
version: 1
entries:
  - id: roaming
    questions: {en: ["roaming abroad", "phone abroad"]}
    answer: {en: "Text ROAM to turn on roaming."}
  - id: hours
    questions: {en: ["shop opening hours"]}
    answer: "Shops open at nine."
"""


def engine(tmp_path: Path, flow: str = FLOW, embedder: FakeEmbedder | None = None) -> DialogEngine:
    (tmp_path / "faq.yaml").write_text(textwrap.dedent(FAQ))
    path = tmp_path / "flow.yaml"
    path.write_text(textwrap.dedent(flow))
    meaning = Meaning(embedder or FakeEmbedder(), VectorCache())
    e = DialogEngine(load_flow(path), meaning=meaning)
    e.handle(CallStarted("c1", "+1555", "+1666"), NOW)
    return e


def said(actions: list) -> list[str]:
    return [a.text for a in actions if isinstance(a, Say)]


def test_an_option_is_chosen_by_the_meaning_of_its_intent(tmp_path):
    e = engine(tmp_path)
    out = e.handle(Utterance("how much have I got left", 0.9), NOW)
    assert e.trace.steps[-2][1] == "balance"
    assert said(out) == ["Balance check_balance None"]
    assert e.turn["intent"] == "check_balance" and 0.5 <= e.turn["intent_confidence"] <= 1


def test_phrases_and_keys_come_first_and_still_say_the_intent(tmp_path):
    e = engine(tmp_path)
    e.handle(Utterance("billing", 0.9), NOW)
    assert e.step_id == "faq" and e.turn["intent"] == "pay"
    assert e.turn["intent_confidence"] == 1.0  # the phrase said whole
    e = engine(tmp_path)
    e.handle(Dtmf("1"), NOW)
    assert e.turn["intent"] == "check_balance" and e.turn["intent_confidence"] == 1.0


def test_a_global_by_meaning(tmp_path):
    e = engine(tmp_path)
    out = e.handle(Utterance("can I talk to a real person", 0.9), NOW)
    assert any(isinstance(a, Transfer) for a in out)
    assert e.turn["intent"] == "agent"


def test_a_near_tie_asks_which_one_and_the_answer_picks(tmp_path):
    e = engine(tmp_path)
    out = e.handle(Utterance("balance payment", 0.9), NOW)  # "my balance" / "my payment": 0.5
    assert said(out) == ["Did you mean money left or billing?"]
    assert any(isinstance(a, Listen) for a in out) and e.step_id == "menu"
    assert e.no_match == 0  # asking back is not a no-match
    e.handle(Utterance("billing please", 0.9), NOW)
    assert e.step_id == "faq"


def test_a_near_tie_answered_with_the_intent_in_other_words(tmp_path):
    e = engine(tmp_path)
    e.handle(Utterance("balance payment", 0.9), NOW)
    e.handle(Utterance("the one about my balance", 0.9), NOW)
    assert e.trace.steps[-2][1] == "balance"


def test_a_mandarin_near_tie_asks_in_mandarin(tmp_path):
    flow = FLOW.replace("name: t\n", "name: t\nlanguage: zh-CN\n").replace(
        'prompt: "How can I help?"', 'prompt: "请问有什么可以帮您？"'
    )
    e = engine(tmp_path, flow)
    out = e.handle(Utterance("我的余额付款", 0.9), NOW)
    # options without a Chinese phrase are named by their intent's first Chinese example
    assert said(out) == ["请问您是想我的余额，还是我的付款？"]


def test_a_question_no_option_matches_is_answered_then_the_menu_again(tmp_path):
    e = engine(tmp_path)
    out = e.handle(Utterance("can I use roaming abroad", 0.9), NOW)
    assert said(out) == ["Text ROAM to turn on roaming.", "How can I help?"]
    assert e.turn["answered"] == "roaming" and e.step_id == "menu" and e.no_match == 0


def test_on_answered_routes_the_menu(tmp_path):
    e = engine(
        tmp_path,
        FLOW.replace("      knowledge: true\n", "      knowledge: true\n    on: {answered: end}\n"),
    )
    out = e.handle(Utterance("shop opening hours", 0.9), NOW)
    assert said(out) == ["Shops open at nine."] and e.ended


def test_words_meaning_nothing_are_a_no_match(tmp_path):
    e = engine(tmp_path)
    out = e.handle(Utterance("weather tomorrow", 0.9), NOW)
    assert said(out) == ["Sorry, I didn't understand.", "How can I help?"]
    assert e.no_match == 1 and e.turn["intent"] is None and e.turn["answered"] is None


def test_the_answer_step(tmp_path):
    e = engine(tmp_path)
    e.handle(Dtmf("2"), NOW)
    assert e.step_id == "faq"
    out = e.handle(Utterance("phone abroad", 0.9), NOW)
    assert said(out) == ["Text ROAM to turn on roaming."] and e.ended
    e = engine(tmp_path)
    e.handle(Dtmf("2"), NOW)
    out = e.handle(Utterance("weather tomorrow", 0.9), NOW)
    assert said(out) == ["I don't know that one."]
    assert any(isinstance(a, Transfer) for a in out)  # on.no_answer: agent


def test_a_meaning_menu_is_free_text_for_the_recogniser(tmp_path):
    e = engine(tmp_path)
    expect = e.expectation()
    assert expect.kind == "menu" and expect.open and not expect.is_closed
    assert "billing" in expect.phrases  # phrases still bias decoding
    e.handle(Dtmf("2"), NOW)
    assert e.expectation().kind == "text"


def test_a_menu_without_intents_stays_a_closed_grammar(tmp_path):
    flow = """
    version: 1
    name: t
    start: m
    steps:
      m:
        menu:
          prompt: "Yes or no?"
          options: {y: {say: [yes], goto: e}, n: {say: [no], goto: e}}
      e: {hangup: {}}
    """
    e = engine(tmp_path, flow)
    assert e.expectation().is_closed and not e.expectation().open


def test_a_flow_without_intents_never_embeds(tmp_path):
    fake = FakeEmbedder()
    flow = (
        FLOW.split("steps:")[0].split("intents:")[0]
        + """start: m
steps:
  m:
    menu:
      prompt: "Balance?"
      options: {b: {say: [balance], goto: e}}
  e: {hangup: {}}
"""
    )
    e = engine(tmp_path, flow, fake)
    e.handle(Utterance("something else", 0.9), NOW)
    assert fake.calls == 0 and e.no_match == 1


def test_example_vectors_are_cached_on_disk_by_content(tmp_path):
    fake = FakeEmbedder()
    cache_dir = tmp_path / "embeddings"
    texts = ["my balance", "pay the bill"]
    first = VectorCache(cache_dir).vectors(fake, texts)
    assert fake.calls == 1 and len(list(cache_dir.glob("*.npy"))) == 1
    again = VectorCache(cache_dir).vectors(fake, texts)  # a new process: read back
    assert fake.calls == 1 and np.array_equal(first, again)
    VectorCache(cache_dir).vectors(fake, [*texts, "one more"])  # other content: computed
    assert fake.calls == 2 and len(list(cache_dir.glob("*.npy"))) == 2
