"""Loading flows: every problem located at file:line:column with a hint; the contract's examples."""

from __future__ import annotations

import re
import textwrap
from pathlib import Path

import pytest

from voicebot.errors import FlowSyntaxError, FlowValidationError
from voicebot.flow.flowtests import run_files
from voicebot.flow.loader import load_flow
from voicebot.flow.schema import parse_duration

SHARED = Path(__file__).resolve().parents[3] / "shared"
FLOW_FORMAT = SHARED / "FLOW_FORMAT.md"


def write(tmp_path: Path, text: str, name: str = "support.yaml") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text).lstrip())
    return path


def messages(tmp_path: Path, text: str) -> list[str]:
    path = write(tmp_path, text)
    with pytest.raises((FlowSyntaxError, FlowValidationError)) as info:
        load_flow(path)
    return [str(p).replace(str(tmp_path) + "/", "") for p in info.value.problems]


GOOD = """
    version: 1
    name: t
    start: a
    steps:
      a: {say: Hello, next: b}
      b: {hangup: {}}
"""


def test_unknown_step_is_located_with_did_you_mean(tmp_path):
    out = messages(
        tmp_path,
        """
        version: 1
        name: t
        start: account
        steps:
          account:
            say: Hi
            next: acount
          end: {hangup: {}}
    """,
    )
    assert out == [
        "support.yaml:7:11: steps.account.next: unknown step 'acount' (did you mean 'account'?)"
    ]


def test_duplicate_keys_are_rejected_not_overwritten(tmp_path):
    out = messages(tmp_path, GOOD + "      a: {say: again}\n")
    assert out == [
        "support.yaml:7:3: steps.a: duplicate key 'a' "
        "(first defined at line 5; remove or rename one of them)"
    ]


def test_tabs_get_a_hint(tmp_path):
    out = messages(tmp_path, "version: 1\nname: t\nsteps:\n\ta: {say: x}\n")
    assert len(out) == 1 and out[0].startswith("support.yaml:4:1: invalid YAML")
    assert "spaces, not tabs" in out[0]


def test_wrong_types_unknown_keys_and_bad_values_are_all_reported(tmp_path):
    out = messages(
        tmp_path,
        """
        version: 1
        name: t
        start: a
        defaults:
          input: {timeout: soon}
        steps:
          a:
            ask:
              slot: {name: n, type: digitz}
              prompt: "?"
              colour: red
            nxt: b
          b: {hangup: {}, say: x}
    """,
    )
    assert out == [
        "support.yaml:5:20: defaults.input.timeout: 'soon' is not a duration "
        "(use 300ms, 5s, 2m, or a number of seconds)",
        "support.yaml:9:29: steps.a.ask.slot.type: 'digitz' is not one of: yes_no, digits, "
        "number, choice, date, money, text (did you mean 'digits'?)",
        "support.yaml:11:7: steps.a.ask: unknown key 'colour'",
        "support.yaml:12:5: steps.a: unknown key 'nxt' (did you mean 'next'?)",
        "support.yaml:13:6: steps.b: a step has exactly one action key (say, ask, menu, set, "
        "http, hours, transfer, record, call, return, hangup); found say, hangup",
    ]


def test_on_outcomes_must_fit_the_step(tmp_path):
    out = messages(
        tmp_path,
        GOOD.replace("a: {say: Hello, next: b}", "a: {say: Hello, next: b, on: {timout: b}}"),
    )
    assert out == [
        "support.yaml:5:33: steps.a.on: 'timout' is not an outcome of a say step "
        "(valid outcomes: error)"
    ]


def test_missing_subflow_and_missing_keys(tmp_path):
    out = messages(
        tmp_path,
        """
        version: 1
        name: t
        steps:
          a: {call: nowhere.yaml, next: b}
          b: {hangup: {}}
    """,
    )
    assert out == ["support.yaml:1:1: missing required key 'start'"]
    path = write(
        tmp_path, GOOD.replace("a: {say: Hello, next: b}", "a: {call: nowhere.yaml, next: b}")
    )
    with pytest.raises(FlowValidationError) as info:
        load_flow(path)
    assert "subflow file 'nowhere.yaml' not found" in str(info.value)


def test_yaml_1_1_traps_are_plain_text(tmp_path):
    path = write(
        tmp_path,
        """
        version: 1
        name: t
        start: m
        steps:
          m:
            menu:
              prompt: Yes or no?
              options:
                y: {say: [yes, on], dtmf: 1, goto: b}
                n: {say: [no, off], dtmf: 2, goto: b}
          b:
            hours: {timezone: UTC, open: {mon-fri: 08:00-20:00}}
            on: {open: c, closed: c}
          c: {hangup: {}}
    """,
    )
    flow = load_flow(path).flow
    assert flow.steps["m"].menu.options["y"].say == ["yes", "on"]
    assert flow.steps["m"].menu.options["y"].dtmf == "1"
    assert flow.steps["b"].hours.open == {"mon-fri": "08:00-20:00"}


@pytest.mark.parametrize(
    ("text", "seconds"), [("300ms", 0.3), ("5s", 5.0), ("2m", 120.0), (4, 4.0), ("1.5s", 1.5)]
)
def test_durations(text, seconds):
    assert parse_duration(text) == seconds


def test_flow_format_examples_load_and_their_tests_pass(tmp_path):
    """Every YAML example of shared/FLOW_FORMAT.md, exactly as written there."""
    blocks = re.findall(r"```yaml\n(.*?)```", FLOW_FORMAT.read_text(), re.S)
    assert len(blocks) == 2
    (tmp_path / "support_line.yaml").write_text(blocks[0])
    (tmp_path / "support_line.test.yaml").write_text(blocks[1])
    billing = Path(__file__).resolve().parents[2] / "dialog_flows" / "billing.yaml"
    (tmp_path / "billing.yaml").write_text(billing.read_text())
    loaded = load_flow(tmp_path / "support_line.yaml")
    assert set(loaded.flow.steps) >= {"welcome", "main_menu", "account", "agent", "end"}
    report = run_files([tmp_path / "support_line.test.yaml"])
    assert [(r.name, r.failure) for r in report.results] == [
        ("balance by speech", ""),
        ("keys work too and silence escalates", ""),
    ]


def test_shipped_flow_is_the_contract_example():
    blocks = re.findall(r"```yaml\n(.*?)```", FLOW_FORMAT.read_text(), re.S)
    shipped = Path(__file__).resolve().parents[2] / "dialog_flows" / "support_line.yaml"
    assert shipped.read_text() == blocks[0]
