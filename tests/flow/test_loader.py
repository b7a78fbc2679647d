"""Loading flows: every problem located at file:line:column with a hint; the contract's examples."""

from __future__ import annotations

import re
import textwrap
from pathlib import Path

import pytest

from voicebot.errors import FlowSyntaxError, FlowValidationError
from voicebot.flow.flowtests import run_files
from voicebot.flow.loader import load_flow
from voicebot.flow.schema import ACTION_KEYS, parse_duration

ROOT = Path(__file__).resolve().parents[2]
FLOW_FORMAT = ROOT / "docs" / "flow-format.md"  # the project's copy of the designers' contract


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
        "http, hours, transfer, record, call, return, hangup, answer, llm, callback); "
        "found say, hangup",
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


def contract_sections() -> dict[str, str]:
    """docs/flow-format.md by `## ` section: title -> text."""
    parts = re.split(r"^## ", FLOW_FORMAT.read_text(), flags=re.M)[1:]
    return {part.split("\n", 1)[0]: part for part in parts}


def examples(section: str) -> list[str]:
    return re.findall(r"```yaml\n(.*?)```", contract_sections()[section], re.S)


BUILT = (
    "Shape",
    "Rules",
    "Flow tests (`*.test.yaml` beside the flow)",
    "Languages",
    "Understanding",  # tests/flow/test_understanding_contract.py, tests/dialog/test_assistant.py
    "Quality rules (`*.qa.yaml`)",  # tests/quality (the example is loaded from the doc)
    "Escalation and hand-off",  # test_the_escalation_example_loads
)


def test_every_section_of_the_contract_is_built_or_listed_as_not_built():
    assert sorted(contract_sections()) == sorted(BUILT)  # each section, once


def test_the_contract_names_the_step_actions_the_schema_has():
    rules = contract_sections()["Rules"]
    built, _, later = (
        re.search(r"action key: (.*?)\. Routing", rules, re.S)
        .group(1)
        .partition("and (sections below)")
    )
    later_built = ("answer", "llm", "callback")  # of the sections below: all built now
    assert tuple(re.findall(r"`(\w+)`", built)) + later_built == ACTION_KEYS
    assert re.findall(r"`(\w+)`", later) == list(later_built)


def test_the_escalation_example_loads(tmp_path):
    """The "Escalation and hand-off" example (frustration rule, warm transfer, callback step)
    loads as written; what it does is tests/dialog/test_engine_warm.py and the escalation flow
    tests (dialog_flows/*_escalation.test.yaml)."""
    [block] = examples("Escalation and hand-off")
    # "these keys go into a flow like the one in Languages": its escalation before that flow's
    # steps, its steps among them (both written with steps at the top level, two-space indent)
    escalation, steps = block.split("\nsteps:\n")
    base = examples("Languages")[0]
    assert base.count("\nsteps:\n") == 1
    path = tmp_path / "example.yaml"
    voicemail = "  voicemail: {record: {max: 60s}, next: end}\n"  # the route the fragment names
    path.write_text(base.replace("\nsteps:\n", f"\n{escalation}\nsteps:\n{steps}{voicemail}"))
    flow = load_flow(path).flow
    assert flow.escalation is not None and flow.escalation.frustrated.above > 0
    assert any(s.callback is not None for s in flow.steps.values())
    assert any(s.transfer is not None and s.transfer.mode == "warm" for s in flow.steps.values())


def test_flow_format_examples_load_and_their_tests_pass(tmp_path):
    """Every YAML example of the built sections of docs/flow-format.md, exactly as written."""
    assert [len(examples(s)) for s in BUILT] == [
        1,
        0,
        1,
        1,
        2,
        1,
        1,
    ]  # Languages: tests/flow/test_languages.py; Understanding: test_understanding_contract.py;
    # Quality rules: the quality tests load it from the doc
    (tmp_path / "support_line.yaml").write_text(examples("Shape")[0])
    (tmp_path / "support_line.test.yaml").write_text(examples(BUILT[2])[0])
    billing = ROOT / "dialog_flows" / "billing.yaml"
    (tmp_path / "billing.yaml").write_text(billing.read_text())
    loaded = load_flow(tmp_path / "support_line.yaml")
    assert set(loaded.flow.steps) >= {"welcome", "main_menu", "account", "agent", "end"}
    report = run_files([tmp_path / "support_line.test.yaml"])
    assert [(r.name, r.failure) for r in report.results] == [
        ("balance by speech", ""),
        ("keys work too and silence escalates", ""),
    ]


def test_shipped_flow_is_the_contract_example_plus_understanding():
    """The shipped support line is the "Shape" example with its menu understood by meaning
    ("Understanding": `intents`, `knowledge`, options' `intent`, the menu's `knowledge: true`)
    and its agent reached by a warm transfer, with a call back offered when nobody is free and
    a message announced ("Escalation and hand-off"); everything else exactly as the contract
    writes it."""
    from voicebot.flow import source

    shipped = source.load_file(ROOT / "dialog_flows" / "support_line.yaml").data
    assert shipped.pop("escalation")["frustrated"]["goto"] == "agent"  # "Escalation and hand-off"
    steps = shipped["steps"]
    agent = steps["agent"]
    assert agent["on"].pop("busy") == agent["on"].pop("no_answer") == "callback_offer"
    assert agent["on"]["failed"] == "leave_message"
    agent["on"]["failed"] = "voicemail"  # the same message, announced first
    transfer = agent["transfer"]
    queue = "sip:billing-queue@pbx.example.com"  # the queue, unless the operator sets another
    assert transfer.pop("to") == f"{{{{ env.AGENT_QUEUE | default('{queue}') }}}}"
    transfer["to"] = queue
    assert transfer.pop("mode") == "warm" and transfer.pop("whisper") == "{{ call.summary }}"
    assert transfer.pop("hold")["text"] and transfer.pop("timeout") == "30s"
    for offered in ("callback_offer", "callback_day", "callback", "leave_message"):
        del steps[offered]  # when no agent is free
    assert set(shipped.pop("intents")) == {"check_bill", "billing"}
    assert shipped.pop("knowledge") == "support_line.faq.yaml"
    menu = shipped["steps"]["main_menu"]["menu"]
    assert menu.pop("knowledge") is True
    assert {n: o.pop("intent") for n, o in menu["options"].items()} == {
        "balance": "check_bill",
        "billing": "billing",
    }
    assert shipped == source.load(examples("Shape")[0]).data
