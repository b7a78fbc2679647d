"""Lint findings: each with its code, dotted path and line, on small flows written to tmp_path."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
import yaml

from voicebot.errors import Problem
from voicebot.flow.lint import lint
from voicebot.flow.loader import load_flow

FLOWS = Path(__file__).resolve().parents[2] / "dialog_flows"
AUDIO = FLOWS.parent / "audio_assets"


def write(tmp_path: Path, text: str, name: str = "flow.yaml") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
    return path


def findings(tmp_path: Path, text: str, **options) -> list[tuple[str, str, int]]:
    return [(p.code, p.path, p.location.line) for p in check(tmp_path, text, **options)]


def check(tmp_path: Path, text: str, **options) -> list[Problem]:
    return lint(load_flow(write(tmp_path, text)), **options)


def test_unreachable_step(tmp_path):
    problems = check(
        tmp_path,
        """
        name: t
        start: hello
        steps:
          hello: {say: "Hello.", next: bye}
          orphan: {say: "Nobody hears this.", next: bye}
          bye: {hangup: {}}
        """,
    )
    assert [(p.code, p.path, p.location.line, p.location.column) for p in problems] == [
        ("unreachable-step", "steps.orphan", 5, 3)
    ]
    assert problems[0].severity == "warning"
    assert str(problems[0]).startswith(f"{tmp_path / 'flow.yaml'}:5:3: warning: steps.orphan: ")


def test_error_routes_count_as_reachable(tmp_path):
    text = """
        name: t
        defaults: {on_error: oops, retries: {exhausted: agent}}
        start: hello
        steps:
          hello: {say: "Hello.", next: bye}
          oops: {say: "Something went wrong.", next: agent}
          agent: {transfer: {to: "sip:desk@pbx"}}
          bye: {hangup: {}}
        """
    assert findings(tmp_path, text) == []


def test_say_or_set_without_next_is_a_dead_end(tmp_path):
    problems = check(
        tmp_path,
        """
        name: t
        start: hello
        steps:
          hello: {say: "Hello.", next: note}
          note: {set: {vars.greeted: "yes"}, next: bye}
          bye: {say: "Goodbye."}
        """,
    )
    assert [(p.code, p.path, p.location.line) for p in problems] == [("dead-end", "steps.bye", 6)]
    assert "hangs up" in problems[0].message


def test_ask_without_next_is_a_dead_end(tmp_path):
    text = """
        name: t
        start: q
        defaults: {retries: {exhausted: bye}}
        steps:
          q: {ask: {slot: {name: more, type: yes_no}, prompt: "More?"}}
          bye: {hangup: {}}
        """
    assert findings(tmp_path, text) == [("dead-end", "steps.q", 5)]


def test_http_without_success_route_is_a_dead_end(tmp_path):
    text = """
        name: t
        start: h
        steps:
          h: {http: {url: "http://x"}, on: {error: bye}}
          bye: {hangup: {}}
        """
    assert findings(tmp_path, text) == [("dead-end", "steps.h", 4)]


def test_loop_without_way_out_is_a_dead_end(tmp_path):
    text = """
        name: t
        start: a
        steps:
          a: {say: "Ping.", next: b}
          b: {say: "Pong.", next: a}
        """
    assert findings(tmp_path, text) == [("dead-end", "steps.a", 4), ("dead-end", "steps.b", 5)]


def test_undefined_prompt_with_did_you_mean(tmp_path):
    problems = check(
        tmp_path,
        """
        name: t
        prompts:
          ask_account: "Your account number?"
        start: q
        defaults: {retries: {exhausted: bye}}
        steps:
          q:
            ask:
              slot: {name: account, type: digits}
              prompt: ask_acount
              no_input: [ask_account, nm_acount]
            next: bye
          bye: {say: Goodbye, next: end}
          end: {hangup: {}}
        """,
    )
    assert [(p.code, p.path, p.location.line) for p in problems] == [
        ("undefined-prompt", "steps.q.ask.prompt", 10),
        ("undefined-prompt", "steps.q.ask.no_input[1]", 11),
    ]
    assert problems[0].hint == "did you mean 'ask_account'?"
    assert [p.location.column for p in problems] == [15, 31]


def test_unused_prompt(tmp_path):
    text = """
        name: t
        globals:
          help: {dtmf: "9", action: help}
        prompts:
          hello: "Hello."
          help: "Say yes or no."
          spare: "Never said."
        start: q
        defaults: {retries: {exhausted: bye}}
        steps:
          q: {ask: {slot: {name: ok, type: yes_no}, prompt: hello}, next: bye}
          bye: {hangup: {}}
        """
    assert findings(tmp_path, text) == [("unused-prompt", "prompts.spare", 7)]


def test_undefined_slot_var_name(tmp_path):
    problems = check(
        tmp_path,
        """
        name: t
        start: q
        defaults: {retries: {exhausted: bye}}
        steps:
          q: {ask: {slot: {name: account, type: digits}, prompt: "Account?"}, next: s}
          s: {set: {vars.total: "{{ vars.balanse + 1 }}"}, next: tell}
          tell:
            say: "{{ slots.acount }} {{ vars.total }} {{ call.caller }} {{ call.number }} {{ foo }}"
            next: bye
          bye: {hangup: {}}
        """,
    )
    assert [(p.code, p.path, p.location.line) for p in problems] == [
        ("undefined-var", "steps.s.set.vars.total", 6),
        ("undefined-name", "steps.tell.say", 8),
        ("undefined-name", "steps.tell.say", 8),
        ("undefined-slot", "steps.tell.say", 8),
    ]
    messages = sorted(p.message for p in problems)
    assert messages == [
        "'call.number': no such call field",
        "'slots.acount': no ask fills it",
        "'vars.balanse': nothing assigns it",
        "unknown name 'foo'",
    ]
    assert {p.hint for p in problems if p.code == "undefined-slot"} == {"did you mean 'account'?"}


def test_vars_from_http_record_menu_and_set_are_defined(tmp_path):
    text = """
        name: t
        start: m
        defaults: {retries: {exhausted: bye}}
        steps:
          m:
            menu: {prompt: "One or two?", options: {one: {dtmf: "1"}, two: {dtmf: "2"}}}
            next: s
          s: {set: {vars.picked: "{{ vars.last_choice }}", slots.seen: "{{ true }}"}, next: h}
          h:
            http: {url: "http://x/{{ vars.picked }}", save: {name: "owner.name"}}
            next: r
          r: {record: {save: msg}, next: tell}
          tell: {say: "{{ vars.name }} {{ vars.msg }} {{ slots.seen }}", next: bye}
          bye: {hangup: {}}
        """
    assert findings(tmp_path, text) == []


def test_undefined_env_and_contact_only_when_names_are_given(tmp_path):
    text = """
        name: t
        start: h
        steps:
          h:
            http: {url: "{{ env.API }}/x", headers: {Authorization: "Bearer {{ env.TOKEN }}"}}
            on: {ok: agent, error: agent}
          agent:
            transfer: {to: "sip:{{ contact.agnet }}@pbx", context: {name: "{{ contact.name }}"}}
        """
    from_call_data = ("transfer-from-call-data", "steps.agent.transfer.to", 8)
    assert findings(tmp_path, text) == [from_call_data]
    problems = check(tmp_path, text, env_names={"API"}, contact_fields={"agent", "name"})
    assert [(p.code, p.path, p.location.line) for p in problems] == [
        ("undefined-env", "steps.h.http.headers.Authorization", 5),
        from_call_data,
        ("undefined-contact", "steps.agent.transfer.to", 8),
    ]
    assert problems[2].hint == "did you mean 'agent'?"


def test_an_env_name_read_with_a_default_is_optional(tmp_path):
    """`env.AGENT_QUEUE | default('sip:...')`: the operator may set it; not warned about when
    the service does not expose it (the shipped support lines' agent queue)."""
    text = """
        name: t
        start: agent
        steps:
          agent:
            transfer: {to: "{{ env.QUEUE | default('sip:q@pbx') }}", context: {a: "{{ env.QEUE }}"}}
        """
    problems = check(tmp_path, text, env_names={"API"})
    assert [(p.code, p.path, p.message) for p in problems] == [
        ("undefined-env", "steps.agent.transfer.context.a", "'env.QEUE': not exposed to flows"),
    ]


def test_template_syntax_is_an_error(tmp_path):
    problems = check(
        tmp_path,
        """
        name: t
        start: q
        defaults: {retries: {exhausted: bye}}
        steps:
          q:
            ask: {slot: {name: more, type: yes_no}, prompt: "Hello {{ slots.more "}
            next:
              - {when: "slots.more and", goto: bye}
              - {goto: bye}
          bye: {hangup: {}}
        """,
    )
    assert [(p.code, p.path, p.location.line, p.severity) for p in problems] == [
        ("template-syntax", "steps.q.ask.prompt", 6, "error"),
        ("template-syntax", "steps.q.next[0].when", 8, "error"),
    ]


def test_no_exhausted_route(tmp_path):
    text = """
        name: t
        start: q
        steps:
          q: {ask: {slot: {name: more, type: yes_no}, prompt: "More?"}, next: r}
          r:
            ask: {slot: {name: sure, type: yes_no}, prompt: "Sure?"}
            on: {exhausted: bye}
            next: bye
          bye: {hangup: {}}
        """
    assert findings(tmp_path, text) == [("no-exhausted-route", "steps.q", 4)]


def test_dtmf_collisions(tmp_path):
    problems = check(
        tmp_path,
        """
        name: t
        defaults: {retries: {exhausted: bye}}
        globals:
          operator: {dtmf: "0", goto: bye}
          again: {dtmf: "0", action: repeat}
        start: m
        steps:
          m:
            menu:
              prompt: "Pick."
              options:
                zero: {dtmf: "0", goto: bye}
                one: {dtmf: "1", goto: bye}
                uno: {dtmf: "1", goto: bye}
                twelve: {dtmf: "12", goto: bye}
                pound: {dtmf: "3#", goto: bye}
          quiet:
            menu: {prompt: "Pick.", options: {zero: {dtmf: "0", goto: bye}}}
            globals: false
          spoken:
            menu:
              prompt: "Pick."
              options: {a: {dtmf: "1", say: a, goto: bye}, b: {dtmf: "1", say: b, goto: bye}}
              input: {modes: [speech]}
          bye: {hangup: {}}
        """,
    )
    assert [(p.code, p.path, p.location.line) for p in problems] == [
        ("dtmf-collision", "globals.again.dtmf", 5),
        ("dtmf-collision", "steps.m.menu.options.zero.dtmf", 12),
        ("dtmf-collision", "steps.m.menu.options.uno.dtmf", 14),
        ("dtmf-collision", "steps.m.menu.options.twelve.dtmf", 15),
        ("dtmf-collision", "steps.m.menu.options.pound.dtmf", 16),
        ("unreachable-step", "steps.quiet", 17),
        ("unreachable-step", "steps.spoken", 20),
    ]
    by_path = {p.path: p.message for p in problems}
    assert by_path["steps.m.menu.options.zero.dtmf"] == (
        "the global 'operator' takes key '0' first"
    )
    assert by_path["steps.m.menu.options.uno.dtmf"] == "key '1' is also option 'one'"
    assert by_path["steps.m.menu.options.twelve.dtmf"] == (
        "'12' can never be keyed: '1' is taken at once"
    )


def test_option_without_route(tmp_path):
    text = """
        name: t
        defaults: {retries: {exhausted: bye}}
        start: m
        steps:
          m:
            menu: {prompt: "Pick.", options: {a: {dtmf: "1", goto: bye}, b: {dtmf: "2"}}}
          bye: {hangup: {}}
        """
    assert findings(tmp_path, text) == [("option-without-route", "steps.m.menu.options.b", 6)]


def test_set_target(tmp_path):
    text = """
        name: t
        start: s
        steps:
          s: {set: {env.MODE: "test"}, next: bye}
          bye: {hangup: {}}
        """
    assert findings(tmp_path, text) == [("set-target", "steps.s.set.env.MODE", 4)]


def test_missing_audio(tmp_path):
    (tmp_path / "audio").mkdir()
    (tmp_path / "audio" / "hello.wav").write_bytes(b"")
    text = """
        name: t
        prompts:
          hello: {audio: hello.wav, text: "Hello."}
          bye: {audio: bye.wav, text: "Goodbye."}
        start: hi
        steps:
          hi: {say: hello, next: bye}
          bye: {say: [bye, {audio: beep.wav}], next: end}
          end: {hangup: {}}
        """
    assert findings(tmp_path, text) == []
    problems = check(tmp_path, text, audio_dir=tmp_path / "audio")
    assert [(p.code, p.path, p.location.line, p.severity) for p in problems] == [
        ("missing-audio", "prompts.bye.audio", 4, "warning"),
        ("missing-audio", "steps.bye.say[1].audio", 8, "error"),
    ]


def test_subflow_without_return_and_subflow_locations(tmp_path):
    write(
        tmp_path,
        """
        name: sub
        start: hi
        steps:
          hi: {say: "Hi {{ slots.account }} {{ vars.nope }}", next: agent}
          agent: {transfer: {to: "sip:desk@pbx"}}
        """,
        "sub.yaml",
    )
    problems = check(
        tmp_path,
        """
        name: main
        start: q
        defaults: {retries: {exhausted: bye}}
        steps:
          q: {ask: {slot: {name: account, type: digits}, prompt: "Account?"}, next: sub}
          sub: {call: sub.yaml, next: bye}
          bye: {hangup: {}}
        """,
    )
    assert [(Path(p.location.file).name, p.code, p.path, p.location.line) for p in problems] == [
        ("flow.yaml", "subflow-without-return", "steps.sub.call", 6),
        ("sub.yaml", "undefined-var", "steps.hi.say", 4),
    ]


def test_a_call_with_nowhere_to_resume_hands_off_to_a_subflow_that_ends_the_call(tmp_path):
    write(
        tmp_path,
        'name: line\nstart: hi\nsteps:\n  hi: {say: "Hi.", next: bye}\n  bye: {hangup: {}}\n',
        "line.yaml",
    )
    write(
        tmp_path,
        'name: back\nstart: hi\nsteps:\n  hi: {say: "Hi.", next: done}\n  done: {return: {}}\n',
        "back.yaml",
    )
    text = """
        name: main
        start: pick
        defaults: {retries: {exhausted: handoff}}
        steps:
          pick:
            menu:
              prompt: "1 or 2 or 3?"
              options:
                a: {dtmf: "1", goto: handoff}
                b: {dtmf: "2", goto: resumes}
                c: {dtmf: "3", goto: returns}
          handoff: {call: line.yaml}
          resumes: {call: line.yaml, next: bye}
          returns: {call: back.yaml}
          bye: {hangup: {}}
        """
    assert findings(tmp_path, text) == [
        ("subflow-without-return", "steps.resumes.call", 13),  # a `next` that never comes
        ("dead-end", "steps.returns", 14),  # the subflow returns to nothing: the engine hangs up
    ]


def test_subflow_shares_slots_and_vars_with_caller(tmp_path):
    write(
        tmp_path,
        """
        name: sub
        start: hi
        steps:
          hi: {say: "Account {{ slots.account }}.", next: note}
          note: {set: {vars.from_sub: "yes"}, next: done}
          done: {return: {}}
        """,
        "sub.yaml",
    )
    text = """
        name: main
        start: q
        defaults: {retries: {exhausted: bye}}
        steps:
          q: {ask: {slot: {name: account, type: digits}, prompt: "Account?"}, next: sub}
          sub: {call: sub.yaml, next: tell}
          tell: {say: "{{ vars.from_sub }}", next: bye}
          bye: {hangup: {}}
        """
    assert findings(tmp_path, text) == []


def _shipped() -> list[Path]:
    """The flows in dialog_flows/ that run on their own: all but the subflows that `return`
    to their caller (billing.yaml), which are linted via their callers. A line that
    language_menu.yaml hands the call to (no `return`) runs on its own too."""
    flows = [
        p
        for p in FLOWS.glob("*.yaml")
        if not p.name.endswith((".test.yaml", ".faq.yaml", ".qa.yaml"))
    ]
    steps = {
        p: (yaml.safe_load(p.read_text(encoding="utf-8")) or {}).get("steps") or {} for p in flows
    }
    called: set[Path] = set()
    for path in flows:
        for step in steps[path].values():
            if isinstance(step, dict) and isinstance(step.get("call"), str):
                called.add((path.parent / step["call"]).resolve())
    returns = {
        p for p in flows if any(isinstance(s, dict) and "return" in s for s in steps[p].values())
    }
    return sorted(p for p in flows if p.resolve() not in called or p not in returns)


def _names_from_tests(flow: Path, key: str) -> set[str] | None:
    """The `env:` or `contact:` names the flow's test files give, or None when none do."""
    names: set[str] | None = None
    for tests in flow.parent.glob("*.test.yaml"):
        data = yaml.safe_load(tests.read_text(encoding="utf-8")) or {}
        if data.get("flow") == flow.name and key in data:
            names = (names or set()) | set(data[key] or {})
    return names


@pytest.mark.parametrize("path", _shipped(), ids=lambda p: p.name)
def test_shipped_flows_have_no_warnings(path):
    audio = AUDIO if AUDIO.is_dir() else None
    env, contact = _names_from_tests(path, "env"), _names_from_tests(path, "contact")
    problems = lint(load_flow(path), audio_dir=audio, env_names=env, contact_fields=contact)
    assert [str(p) for p in problems] == []
