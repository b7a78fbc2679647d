"""The text simulator: whatever the flow or its backend does, the call goes on (no exception)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from voicebot.dialog import engine as eng
from voicebot.flow.loader import load_flow
from voicebot.flow.simulator import TextCall

CLOCK = dt.datetime(2026, 11, 24, 10, 0, tzinfo=dt.UTC)

FLOW = """
version: 1
name: lookup
start: lookup
steps:
  lookup:
    http: {url: "{{ env.API }}", timeout: 1s}
    on: {ok: found, error: sorry, timeout: sorry}
  found: {say: "Found it.", next: bye}
  sorry: {say: "Our system is down, sorry.", next: bye}
  bye: {hangup: {}}
"""


def flow(tmp_path: Path, text: str = FLOW):
    path = tmp_path / "flow.yaml"
    path.write_text(text)
    return load_flow(path)


def bot(call: TextCall) -> list[str]:
    return [line.text for line in call.lines if line.who == "bot"]


def test_a_url_that_renders_empty_takes_the_error_route(tmp_path: Path):
    # Found: urllib raised ValueError("unknown url type") out of TextCall; on a live call the
    # I/O pool only logged it and the caller heard silence until max_call_seconds
    call = TextCall(flow(tmp_path), clock=CLOCK, env={"API": ""})
    call.start()
    assert bot(call) == ["Our system is down, sorry."]
    assert call.hung_up


def test_any_exception_inside_the_engine_takes_the_error_route(tmp_path, monkeypatch):
    # Found: only TemplateError was caught; anything else left `handle` and killed the call
    text = """
version: 1
name: menu
defaults: {on_error: oops}
start: main
steps:
  main:
    menu:
      prompt: "Say balance."
      options: {balance: {say: balance, goto: bye}}
  oops: {say: "Something went wrong on our side.", next: bye}
  bye: {say: "Goodbye.", next: end}
  end: {hangup: {}}
"""

    def broken(*args: object, **kwargs: object) -> object:
        raise RuntimeError("a bug")

    monkeypatch.setattr(eng, "understand", broken)
    call = TextCall(flow(tmp_path, text), clock=CLOCK)
    call.start()
    call.say("balance")
    assert bot(call)[-2:] == ["Something went wrong on our side.", "Goodbye."]
    assert call.hung_up
    assert any(e.startswith("internal: main: RuntimeError") for e in call.engine.trace.errors)


def test_an_exception_on_the_error_route_too_ends_with_the_apology(tmp_path, monkeypatch):
    monkeypatch.setattr(eng.DialogEngine, "_dispatch", lambda *a: 1 / 0)
    call = TextCall(flow(tmp_path), clock=CLOCK, env={"API": "http://api.test"})
    call.start()
    assert bot(call) == [eng.APOLOGY] and call.hung_up


@pytest.mark.parametrize("hours", ["00:00-24:00", "08:00-24:00"])
def test_open_until_24_00_is_open_until_the_end_of_the_day(tmp_path: Path, hours: str):
    # Found: hours.py raised ValueError on "24:00", which flow check accepts
    text = f"""
version: 1
name: hours
start: hours
steps:
  hours:
    hours: {{timezone: UTC, open: {{mon-sun: "{hours}"}}}}
    on: {{open: open, closed: closed}}
  open: {{say: "We are open.", next: end}}
  closed: {{say: "We are closed.", next: end}}
  end: {{hangup: {{}}}}
"""
    late = CLOCK.replace(hour=23, minute=59, second=59)
    for when, said in ((late, "We are open."), (CLOCK.replace(hour=9), "We are open.")):
        call = TextCall(flow(tmp_path, text), clock=when)
        call.start()
        assert bot(call) == [said]


def test_a_condition_on_a_slot_not_yet_filled_takes_the_error_route(tmp_path: Path):
    # found by test_generated_flows: `when: slots.a` with no slot `a` raised jinja2's
    # UndefinedError from `if` (after `evaluate` had returned), past the engine's TemplateError
    text = """
version: 1
name: branch
defaults: {on_error: oops}
start: hello
steps:
  hello:
    say: "Hello."
    next: [{when: "slots.a", goto: end}, {goto: end}]
  oops: {say: "Something went wrong.", next: end}
  end: {hangup: {}}
"""
    call = TextCall(flow(tmp_path, text), clock=CLOCK)
    call.start()
    assert bot(call) == ["Hello.", "Something went wrong."]
    assert not any(e.startswith("internal:") for e in call.engine.trace.errors)


def test_a_request_that_fails_into_itself_ends_as_a_loop(tmp_path: Path):
    # found by test_generated_flows: http -> error -> the same http step looped forever (one
    # request per result, none counted as steps without input)
    text = FLOW.replace("error: sorry, timeout: sorry", "error: lookup, timeout: lookup")
    call = TextCall(flow(tmp_path, text), clock=CLOCK, env={"API": ""})
    call.start()
    assert call.hung_up and bot(call) == [eng.APOLOGY]
    assert any("the flow loops" in e for e in call.engine.trace.errors)
