"""The dialog engine with plain data: events in, actions out, time as a parameter."""

from __future__ import annotations

import datetime as dt
import logging
import textwrap
from pathlib import Path

import pytest

from voicebot.dialog.actions import (
    CancelTimer,
    HangUp,
    HttpRequest,
    Listen,
    Record,
    Say,
    StartTimer,
    Transfer,
)
from voicebot.dialog.engine import APOLOGY, DialogEngine
from voicebot.dialog.events import (
    AnswerDetected,
    CallStarted,
    Dtmf,
    Hangup,
    HttpResult,
    RecordingDone,
    TimerFired,
    TransferResult,
    Utterance,
)
from voicebot.flow.loader import load_flow

NOW = dt.datetime(2026, 11, 24, 10, 0, tzinfo=dt.UTC)


def make(tmp_path: Path, body: str, **files: str) -> DialogEngine:
    for name, text in files.items():
        (tmp_path / name).write_text(textwrap.dedent(text))
    path = tmp_path / "flow.yaml"
    path.write_text("version: 1\nname: t\n" + textwrap.dedent(body))
    return DialogEngine(load_flow(path), env={"API": "http://api.test"})


def said(actions: list) -> list[str]:
    return [a.text for a in actions if isinstance(a, Say)]


def start(engine: DialogEngine, **kw) -> list:
    return engine.handle(CallStarted("c1", "+1555", "+1666", **kw), NOW)


ASK = """
defaults:
  retries: {no_input: 2, no_match: 2, exhausted: agent}
globals:
  operator: {dtmf: "0", say: [agent, operator], goto: agent}
  repeat: {dtmf: "*", say: [repeat], action: repeat}
  help: {say: [help], action: help}
start: q
steps:
  q:
    ask:
      slot: {name: acct, type: digits, min: 4, max: 4}
      prompt: "Your code?"
      no_match: ["Sorry?", "Key in four digits."]
      no_input: "Still there?"
      confirm: {when: "turn.confidence < 0.6", prompt: "I heard {{ slots.acct | spell }}, right?"}
    help: "Your code is on your card."
    next: done
  agent: {transfer: {to: "sip:agent@x"}, on: {failed: sorry}}
  sorry: {say: "Nobody is free.", next: end}
  done: {say: "Got {{ slots.acct }}.", next: end}
  end: {hangup: {}}
"""


def test_ask_prompts_listens_with_expectation_and_starts_no_input_timer(tmp_path):
    engine = make(tmp_path, ASK)
    actions = start(engine)
    assert said(actions) == ["Your code?"]
    listen = next(a for a in actions if isinstance(a, Listen))
    assert listen.expect.kind == "digits"
    assert (listen.expect.min_digits, listen.expect.max_digits) == (4, 4)
    assert "agent" in listen.expect.global_phrases
    assert listen.timeout == 5.0 and listen.terminator == "#"
    assert StartTimer("no_input", 5.0) in actions


def test_spoken_digits_fill_the_slot_and_route_next(tmp_path):
    engine = make(tmp_path, ASK)
    start(engine)
    actions = engine.handle(Utterance("four two oh seven", 0.95), NOW)
    assert CancelTimer("no_input") in actions
    assert said(actions) == ["Got 4207."]
    assert isinstance(actions[-1], HangUp)
    assert engine.slots == {"acct": "4207"}
    assert engine.ended


def test_keys_complete_at_max_length_without_terminator(tmp_path):
    engine = make(tmp_path, ASK)
    start(engine)
    out = engine.handle(Dtmf("12"), NOW)
    assert StartTimer("interdigit", 3.0, after_playback=False) in out
    out = engine.handle(Dtmf("34"), NOW)
    assert engine.slots["acct"] == "1234" and said(out) == ["Got 1234."]


def test_interdigit_timeout_ends_a_short_key_string_as_no_match(tmp_path):
    engine = make(tmp_path, ASK)
    start(engine)
    engine.handle(Dtmf("12"), NOW)
    out = engine.handle(TimerFired("interdigit"), NOW)
    assert said(out) == ["Sorry?", "Your code?"]
    assert engine.no_match == 1


def test_zero_is_a_digit_not_the_operator_while_collecting_digits(tmp_path):
    engine = make(tmp_path, ASK)
    start(engine)
    engine.handle(Dtmf("0123"), NOW)
    assert engine.slots["acct"] == "0123"


def test_no_match_ladder_tapers_then_exhausts(tmp_path):
    engine = make(tmp_path, ASK)
    start(engine)
    first = engine.handle(Utterance("banana"), NOW)
    assert said(first) == ["Sorry?", "Your code?"]
    second = engine.handle(Utterance("banana"), NOW)
    assert [type(a) for a in second][-1] is Transfer
    assert engine.step_id == "agent"


def test_no_input_escalates_then_exhausts(tmp_path):
    engine = make(tmp_path, ASK)
    start(engine)
    out = engine.handle(TimerFired("no_input"), NOW)
    assert said(out) == ["Still there?", "Your code?"]
    assert StartTimer("no_input", 5.0) in out
    out = engine.handle(TimerFired("no_input"), NOW)
    assert Transfer("sip:agent@x", {}) in out


def test_reprompt_false_plays_only_the_escalation_prompt(tmp_path):
    engine = make(
        tmp_path,
        ASK.replace("    next: done\n  agent", "    reprompt: false\n    next: done\n  agent"),
    )
    start(engine)
    assert said(engine.handle(Utterance("banana"), NOW)) == ["Sorry?"]


def test_low_confidence_asks_for_confirmation_and_no_clears_the_slot(tmp_path):
    engine = make(tmp_path, ASK)
    start(engine)
    out = engine.handle(Utterance("one two three four", 0.4), NOW)
    assert said(out) == ["I heard 1 2 3 4, right?"]
    assert next(a for a in out if isinstance(a, Listen)).expect.kind == "yes_no"
    out = engine.handle(Utterance("no"), NOW)
    assert "acct" not in engine.slots
    assert said(out)[-1] == "Your code?"
    engine.handle(Utterance("five six seven eight", 0.3), NOW)
    out = engine.handle(Utterance("yes that's right"), NOW)
    assert said(out) == ["Got 5678."] and engine.slots["acct"] == "5678"


def test_globals_operator_by_speech_and_key_repeat_and_help(tmp_path):
    engine = make(tmp_path, ASK)
    start(engine)
    out = engine.handle(Utterance("repeat"), NOW)
    assert said(out) == ["Your code?"] and engine.no_match == 0
    out = engine.handle(Utterance("help"), NOW)
    assert said(out) == ["Your code is on your card.", "Your code?"]
    out = engine.handle(Utterance("can I talk to an agent"), NOW)
    assert Transfer("sip:agent@x", {}) in out


def test_star_key_repeats(tmp_path):
    engine = make(tmp_path, ASK)
    start(engine)
    assert said(engine.handle(Dtmf("*"), NOW)) == ["Your code?"]


def test_transfer_outcomes(tmp_path):
    engine = make(tmp_path, ASK)
    start(engine)
    engine.handle(Utterance("operator"), NOW)
    out = engine.handle(TransferResult("busy"), NOW)  # busy falls back to on.failed
    assert said(out) == ["Nobody is free."] and engine.ended
    engine = make(tmp_path, ASK)
    start(engine)
    engine.handle(Utterance("operator"), NOW)
    assert engine.handle(TransferResult("ok"), NOW) == [] and engine.ended


def test_caller_hangup_ends_and_later_events_do_nothing(tmp_path):
    engine = make(tmp_path, ASK)
    start(engine)
    assert engine.handle(Hangup(), NOW) == []
    assert engine.handle(Utterance("1234"), NOW) == []


MENU = """
globals:
  operator: {dtmf: "0", say: [agent], goto: agent}
start: m
steps:
  m:
    menu:
      prompt: "Say sales or support."
      options:
        sales: {dtmf: "1", say: [sales, buy], goto: s}
        support: {dtmf: "2", say: [support, help me], goto: t}
        other: {dtmf: "99", say: [something else], goto: o}
    barge_in: false
  s: {say: "Sales.", next: end}
  t: {say: "Support.", next: end}
  o: {say: "Other.", next: end}
  agent: {transfer: {to: "sip:a@x"}}
  end: {hangup: {}}
"""


@pytest.mark.parametrize(
    ("event", "reply"),
    [
        (Utterance("I want to buy something"), "Sales."),
        (Utterance("support please"), "Support."),
        (Dtmf("1"), "Sales."),
        (Dtmf("2"), "Support."),
        (Dtmf("99"), "Other."),
    ],
)
def test_menu_by_speech_and_keys(tmp_path, event, reply):
    engine = make(tmp_path, MENU)
    start(engine)
    assert said(engine.handle(event, NOW)) == [reply]
    assert engine.vars["last_choice"] in ("sales", "support", "other")


def test_menu_prompts_carry_the_barge_in_flag_and_option_phrases(tmp_path):
    engine = make(tmp_path, MENU)
    actions = start(engine)
    say = next(a for a in actions if isinstance(a, Say))
    listen = next(a for a in actions if isinstance(a, Listen))
    assert say.barge_in is False and listen.barge_in is False
    assert dict(listen.expect.options)["sales"] == ("sales", "buy")


def test_menu_multi_key_option_waits_for_the_second_key(tmp_path):
    engine = make(tmp_path, MENU)
    start(engine)
    out = engine.handle(Dtmf("9"), NOW)
    assert said(out) == [] and engine.step_id == "m"
    assert said(engine.handle(Dtmf("9"), NOW)) == ["Other."]


def test_menu_unknown_key_is_a_no_match(tmp_path):
    engine = make(tmp_path, MENU)
    start(engine)
    out = engine.handle(Dtmf("5"), NOW)
    assert said(out)[0] == "Sorry, I didn't understand." and engine.no_match == 1


HTTP = """
start: h
steps:
  h:
    http: {url: "{{ env.API }}/x/{{ vars.id }}", method: POST, json: {id: "{{ vars.id }}"},
           headers: {X-Key: k}, save: {name: "owner.name"}, timeout: 2s}
    on: {ok: ok, "404": nf, 5xx: down, timeout: slow}
  ok: {say: "Hi {{ vars.name }}.", next: end}
  nf: {say: "Not found.", next: end}
  down: {say: "Down.", next: end}
  slow: {say: "Slow.", next: end}
  end: {hangup: {}}
"""


def _http_engine(tmp_path):
    engine = make(
        tmp_path,
        HTTP.replace("start: h", "start: s0\n").replace(
            "steps:\n", "steps:\n  s0: {set: {vars.id: 7}, next: h}\n"
        ),
    )
    out = start(engine)
    request = next(a for a in out if isinstance(a, HttpRequest))
    return engine, request


def test_http_request_is_rendered(tmp_path):
    _, request = _http_engine(tmp_path)
    assert request == HttpRequest("POST", "http://api.test/x/7", 2.0, {"X-Key": "k"}, '{"id": "7"}')


@pytest.mark.parametrize(
    ("result", "reply"),
    [
        (HttpResult(200, {"owner": {"name": "Ann"}}), "Hi Ann."),
        (HttpResult(404), "Not found."),
        (HttpResult(503), "Down."),
        (HttpResult(error="timeout"), "Slow."),
    ],
)
def test_http_outcomes(tmp_path, result, reply):
    engine, _ = _http_engine(tmp_path)
    assert said(engine.handle(result, NOW)) == [reply]


def test_http_missing_save_path_is_an_error_with_an_apology(tmp_path, caplog):
    engine, _ = _http_engine(tmp_path)
    with caplog.at_level(logging.WARNING):
        out = engine.handle(HttpResult(200, {"owner": {}}), NOW)
    assert said(out) == [APOLOGY] and isinstance(out[-1], HangUp)
    assert "owner.name" in caplog.text


def test_template_error_goes_to_on_error_with_a_logged_reason(tmp_path, caplog):
    engine = make(
        tmp_path,
        """
        defaults: {on_error: oops}
        start: a
        steps:
          a: {say: "Hello {{ vars.nobody }}", next: end}
          oops: {say: "Let me get someone.", next: end}
          end: {hangup: {}}
    """,
    )
    with caplog.at_level(logging.WARNING):
        out = start(engine)
    assert said(out) == ["Let me get someone."]
    assert "nobody" in caplog.text and "template" in caplog.text
    assert engine.trace.errors


def test_template_error_without_error_route_apologises_and_hangs_up(tmp_path):
    engine = make(
        tmp_path,
        """
        start: a
        steps:
          a: {say: "{{ call.nothing.deeper }}", next: end}
          end: {hangup: {}}
    """,
    )
    out = start(engine)
    assert said(out) == [APOLOGY] and isinstance(out[-1], HangUp)


def test_bad_filter_input_in_a_condition_is_handled(tmp_path):
    engine = make(
        tmp_path,
        """
        defaults: {on_error: b}
        start: a
        steps:
          a: {set: {vars.x: "{{ 'abc' | money }}"}, next: end}
          b: {say: "Fallback.", next: end}
          end: {hangup: {}}
    """,
    )
    assert said(start(engine)) == ["Fallback."]


def test_set_keeps_types_and_next_branches_evaluate_conditions(tmp_path):
    engine = make(
        tmp_path,
        """
        start: a
        steps:
          a: {set: {vars.n: "{{ 2 + 3 }}", slots.s: "x{{ 1 }}", plain: 4}, next: b}
          b:
            say: "n is {{ vars.n }}"
            next:
              - {when: "vars.n > 4 and slots.s == 'x1'", goto: big}
              - {goto: small}
          big: {say: "Big.", next: end}
          small: {say: "Small.", next: end}
          end: {hangup: {}}
    """,
    )
    out = start(engine)
    assert said(out) == ["n is 5", "Big."]
    assert engine.vars == {"n": 5, "plain": 4} and engine.slots == {"s": "x1"}


def test_hours_open_closed_and_holiday(tmp_path):
    body = """
        start: h
        steps:
          h:
            hours: {timezone: America/New_York, open: {mon-fri: "08:00-20:00"}, holidays: ["2026-12-25"]}
            on: {open: o, closed: c}
          o: {say: "Open.", next: end}
          c: {say: "Closed.", next: end}
          end: {hangup: {}}
    """

    def at(when):
        engine = make(tmp_path, body)
        return said(engine.handle(CallStarted("c"), when))

    ny = dt.timezone(dt.timedelta(hours=-5))
    assert at(dt.datetime(2026, 11, 24, 10, 0, tzinfo=ny)) == ["Open."]
    assert at(dt.datetime(2026, 11, 24, 21, 0, tzinfo=ny)) == ["Closed."]
    assert at(dt.datetime(2026, 11, 28, 10, 0, tzinfo=ny)) == ["Closed."]  # Saturday
    assert at(dt.datetime(2026, 12, 25, 10, 0, tzinfo=ny)) == ["Closed."]  # holiday -> closed


def test_record_done_saves_the_path_and_no_audio_routes(tmp_path):
    body = """
        start: r
        steps:
          r: {record: {max: 60s, silence: 3s, beep: false, save: msg}, on: {done: ok, no_audio: none}}
          ok: {say: "Saved.", next: end}
          none: {say: "Nothing.", next: end}
          end: {hangup: {}}
    """
    engine = make(tmp_path, body)
    assert start(engine)[0] == Record(60.0, 3.0, False)
    assert said(engine.handle(RecordingDone("/r/1.wav", 4.2), NOW)) == ["Saved."]
    assert engine.vars["msg"] == "/r/1.wav"
    engine = make(tmp_path, body)
    start(engine)
    assert said(engine.handle(RecordingDone("", 0.0), NOW)) == ["Nothing."]


def test_subflow_shares_slots_and_returns_to_next(tmp_path):
    engine = make(
        tmp_path,
        """
        start: a
        steps:
          a: {call: sub.yaml, next: b}
          b: {say: "Back with {{ vars.from_sub }}.", next: end}
          end: {hangup: {}}
    """,
        **{
            "sub.yaml": """
        version: 1
        name: sub
        start: s
        steps:
          s: {set: {vars.from_sub: yes}, next: r}
          r: {return: {}}
    """
        },
    )
    assert said(start(engine)) == ["Back with yes."]
    assert ("sub", "s") in engine.trace.steps


def test_transfer_context_becomes_headers_and_unset_values_are_left_out(tmp_path):
    engine = make(
        tmp_path,
        """
        start: t
        steps:
          t: {transfer: {to: "sip:q@x", context: {account_id: "{{ slots.acct }}", lang: en}}}
    """,
    )
    out = start(engine)
    assert out == [Transfer("sip:q@x", {"X-Voicebot-Lang": "en"})]


def test_outbound_waits_for_answer_detection(tmp_path):
    body = """
        on_answer: {machine: vm}
        start: hi
        steps:
          hi: {say: "Hello {{ contact.name }}.", next: end}
          vm: {say: "Message for {{ contact.name }}.", next: end}
          end: {hangup: {}}
    """
    engine = make(tmp_path, body)
    assert start(engine, direction="outbound", contact={"name": "Bo"}) == []
    assert said(engine.handle(AnswerDetected("machine"), NOW)) == ["Message for Bo."]
    engine = make(tmp_path, body)
    start(engine, direction="outbound", contact={"name": "Bo"})
    assert said(engine.handle(AnswerDetected("human"), NOW)) == ["Hello Bo."]


def test_a_loop_without_input_is_stopped(tmp_path):
    engine = make(
        tmp_path,
        """
        start: a
        steps:
          a: {set: {vars.x: 1}, next: b}
          b: {set: {vars.y: 1}, next: a}
    """,
    )
    out = start(engine)
    assert said(out) == [APOLOGY] and engine.ended


def test_say_without_next_hangs_up(tmp_path):
    engine = make(tmp_path, "start: a\nsteps:\n  a: {say: Bye}\n")
    out = start(engine)
    assert said(out) == ["Bye"] and out[-1] == HangUp("dead end")


def test_locale_map_and_audio_prompt_fallback(tmp_path):
    (tmp_path / "audio").mkdir()
    (tmp_path / "audio" / "hello.wav").write_bytes(b"RIFF")
    path = tmp_path / "flow.yaml"
    path.write_text(
        textwrap.dedent("""
        version: 1
        name: t
        language: fr
        languages: [en, fr]
        prompts:
          hi: {en: "Hello", fr: "Bonjour"}
        start: a
        steps:
          a: {say: [hi], next: b}
          b: {say: {audio: hello.wav, text: "Hello (recorded)"}, next: c}
          c: {say: {audio: missing.wav, text: "Spoken instead"}, next: end}
          end: {hangup: {}}
    """)
    )
    engine = DialogEngine(load_flow(path), audio_dir=tmp_path / "audio")
    out = [a for a in start(engine) if isinstance(a, Say)]
    assert [s.text for s in out] == ["Bonjour", "Hello (recorded)", "Spoken instead"]
    assert out[0].prompt_id == "hi"
    assert out[1].audio == str(tmp_path / "audio" / "hello.wav") and out[2].audio is None


def test_menu_option_without_any_route_hangs_up_instead_of_leaving_silence(tmp_path):
    engine = make(
        tmp_path,
        """
        start: m
        steps:
          m: {menu: {prompt: "Pick.", options: {a: {dtmf: "1"}}}}
    """,
    )
    start(engine)
    out = engine.handle(Dtmf("1"), NOW)
    assert out[-1] == HangUp("dead end") and engine.ended


def test_money_and_date_follow_the_service_currency_and_locale(tmp_path):
    path = tmp_path / "flow.yaml"
    path.write_text(
        "version: 1\nname: t\nstart: a\nsteps:\n"
        "  a: {say: \"{{ 1234.5 | money }} / {{ 3 | money('USD') }} / "
        "{{ '2026-12-03' | date }}\", next: end}\n  end: {hangup: {}}\n"
    )
    engine = DialogEngine(load_flow(path), currency="EUR", locale="fr_FR")
    text = said(start(engine))[0]
    assert text.replace("\u202f", " ").replace("\xa0", " ") == (
        "1 234,50 € / 3,00 $US / jeudi, décembre 3"
    )


def test_log_lines_of_a_call_carry_its_id(tmp_path, caplog):
    engine = make(
        tmp_path, 'start: a\nsteps:\n  a: {say: "{{ vars.x }}", next: end}\n  end: {hangup: {}}\n'
    )
    with caplog.at_level(logging.WARNING):
        engine.handle(CallStarted("call-42"), NOW)
    assert "[call-42] template error in step a" in caplog.text
