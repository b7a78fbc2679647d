"""Quality rules files (`*.qa.yaml`): the documented example loads, every mistake is located."""

from __future__ import annotations

import re
import shutil
import textwrap
from pathlib import Path

import pytest

from voicebot.cli import main
from voicebot.errors import FlowValidationError
from voicebot.flow.quality_file import load_rules, rules_beside
from voicebot.quality.rules import BotSays, CallerTalksOver, NobodySays, Outcome, Silence

ROOT = Path(__file__).resolve().parents[2]
FLOWS = ROOT / "dialog_flows"


def doc_example() -> str:
    """The example of docs/flow-format.md, "Quality rules", as written there."""
    text = (ROOT / "docs" / "flow-format.md").read_text(encoding="utf-8")
    section = text.split("## Quality rules (`*.qa.yaml`)", 1)[1]
    m = re.search(r"```yaml\n(.*?)```", section, re.S)
    assert m is not None
    return m.group(1)


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text).lstrip(), encoding="utf-8")
    return path


def problems(path: Path) -> list[str]:
    with pytest.raises(FlowValidationError) as info:
        load_rules(path)
    return [str(p).replace(str(path.parent) + "/", "") for p in info.value.problems]


def test_the_documented_example_loads(tmp_path):
    rules = load_rules(write(tmp_path, "x.qa.yaml", doc_example()))
    by_id = {r.id: r for r in rules.rules}
    assert by_id["disclosure"].check == BotSays(("may be recorded", "可能会被录音"), "first_turn")
    assert by_id["no_promises"].check == NobodySays(("guarantee", "保证"))
    assert by_id["no_dead_air"].check == Silence(6.0)
    assert by_id["resolved"].check == Outcome(("abandoned", "error"))
    assert sum(r.weight for r in rules.rules) == 100
    assert rules.source.endswith("x.qa.yaml")


def test_schema_mistakes_are_located_with_this_formats_hints(tmp_path):
    path = write(
        tmp_path,
        "x.qa.yaml",
        """
        version: 1
        rules:
          - {id: a, bot_says: {any: ["may be recorded"], in: first}, weight: 20}
          - {id: b, nobody_sayz: ["guarantee"], weight: 30}
          - {id: c, silence: {longer_thn: 6s}, weight: 0}
          - {id: d, caller_talks_over: {more_than: -1}, weight: 5}
        rulez: []
        """,
    )
    assert problems(path) == [
        "x.qa.yaml:3:54: rules[0].bot_says.in: 'first' is not one of: first_turn, any_turn, "
        "last_turn (did you mean 'first_turn'?)",
        "x.qa.yaml:4:13: rules[1]: unknown key 'nobody_sayz' (did you mean 'nobody_says'?)",
        "x.qa.yaml:5:48: rules[2].weight: Input should be greater than 0",
        "x.qa.yaml:5:22: rules[2].silence: missing required key 'longer_than'",
        "x.qa.yaml:5:23: rules[2].silence: unknown key 'longer_thn' (did you mean 'longer_than'?)",
        "x.qa.yaml:6:44: rules[3].caller_talks_over.more_than: Input should be greater than or "
        "equal to 0",
        "x.qa.yaml:7:1: unknown key 'rulez' (did you mean 'rules'?)",
    ]


def test_rule_mistakes_are_located_all_at_once(tmp_path):
    path = write(
        tmp_path,
        "x.qa.yaml",
        """
        version: 1
        rules:
          - {id: a, bot_says: {any: ["may be recorded"]}, weight: 20}
          - {id: a, nobody_says: guarantee, weight: 30}
          - {id: b, silence: {longer_than: 6s}, outcome: {not: [error]}, weight: 10}
          - {id: c, weight: 5}
          - {id: d, nobody_says: ["ok", " "], weight: 5}
        """,
    )
    assert problems(path) == [
        "x.qa.yaml:4:10: rules[1].id: duplicate id 'a' (rules[0] has it already; ids name rules "
        "in findings)",
        "x.qa.yaml:5:5: rules[2]: rule 'b' has silence, outcome (give exactly one of: bot_says, "
        "nobody_says, silence, caller_talks_over, caller_frustration, outcome)",
        "x.qa.yaml:6:5: rules[3]: rule 'c' has no kind (give exactly one of: bot_says, "
        "nobody_says, silence, caller_talks_over, caller_frustration, outcome)",
        "x.qa.yaml:7:33: rules[4].nobody_says: empty phrase",
    ]


@pytest.mark.parametrize("path", sorted(FLOWS.glob("*.qa.yaml")), ids=lambda p: p.name)
def test_the_shipped_rules_load_and_sit_beside_their_flow(path):
    flow = path.with_name(path.name.replace(".qa.yaml", ".yaml"))
    assert flow.is_file() and rules_beside(flow) == path
    rules = load_rules(path)
    assert sum(r.weight for r in rules.rules) == 100


def test_the_inbound_lines_rules_ask_for_the_disclosure_their_first_prompt_gives():
    for name, phrase in (("support_line", "may be recorded"), ("zh_support_line", "可能会被录音")):
        rules = load_rules(FLOWS / f"{name}.qa.yaml")
        disclosure = next(r.check for r in rules.rules if r.id == "disclosure")
        assert disclosure == BotSays((phrase,), "first_turn")
        assert phrase in (FLOWS / f"{name}.yaml").read_text(encoding="utf-8")
        talk = next(r.check for r in rules.rules if r.id == "no_talking_over")
        assert talk == CallerTalksOver(2)


def test_flow_check_checks_the_rules_beside_a_flow_and_a_rules_file_given_alone(tmp_path, capsys):
    for name in ("support_line.yaml", "billing.yaml", "support_line.faq.yaml"):
        shutil.copy(FLOWS / name, tmp_path / name)
    rules = write(tmp_path, "support_line.qa.yaml", "version: 1\nrules:\n  - {id: a, weight: 1}\n")
    assert main(["flow", "check", str(tmp_path / "support_line.yaml")]) == 1
    out = capsys.readouterr()
    assert f"{rules}:3:5: rules[0]: rule 'a' has no kind" in out.err
    assert "support_line.yaml: errors (1 error(s), 0 warning(s))" in out.out
    shutil.copy(FLOWS / "support_line.qa.yaml", rules)
    assert main(["flow", "check", str(tmp_path / "support_line.yaml"), str(rules)]) == 0
    out = capsys.readouterr()
    assert f"{rules}: ok (0 error(s), 0 warning(s)); quality rules, 6 rules" in out.out
