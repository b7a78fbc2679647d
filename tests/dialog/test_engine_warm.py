"""A warm transfer step: the engine's Transfer carries whisper, hold and timeout; routes."""

from __future__ import annotations

import pytest
from test_engine import NOW, make, said, start

from voicebot.dialog.actions import Transfer
from voicebot.dialog.events import Dtmf, TransferResult, Utterance
from voicebot.errors import FlowValidationError

WARM = """
start: menu
steps:
  menu:
    menu:
      prompt: "Say billing."
      options:
        check_bill: {dtmf: "1", say: [billing], goto: account}
  account:
    ask:
      slot: {name: account, type: digits, min: 4, max: 4}
      prompt: "Your account?"
    next: agent
  agent:
    transfer:
      to: "sip:queue@pbx.example.com"
      mode: warm
      hold: {text: "Please hold, {{ slots.account | spell }}."}
      timeout: 20s
      context: {account: "{{ slots.account }}"}
    on: {busy: callback, no_answer: later, failed: sorry}
  callback: {say: "Everyone is busy.", next: end}
  later: {say: "Nobody answered.", next: end}
  sorry: {say: "Sorry.", next: end}
  end: {hangup: {}}
"""


def _to_agent(tmp_path):
    engine = make(tmp_path, WARM)
    start(engine)
    engine.handle(Utterance("mumble"), NOW)  # a no-match: in the summary
    engine.handle(Dtmf("1"), NOW)
    out = engine.handle(Dtmf("1234"), NOW)
    [transfer] = [a for a in out if isinstance(a, Transfer)]
    return engine, transfer


def test_warm_transfer_action_whispers_the_summary_and_holds_the_caller(tmp_path):
    engine, transfer = _to_agent(tmp_path)
    assert transfer.to == "sip:queue@pbx.example.com"
    assert transfer.headers == {"X-Voicebot-Account": "1234"}
    assert transfer.warm is not None and transfer.warm.timeout == 20.0
    [whisper] = transfer.warm.whisper  # default: {{ call.summary }}
    assert whisper.text == engine.summary()
    assert "A call from + 1 5 5 5." in whisper.text and "check bill" in whisper.text
    assert "Account: 1 2 3 4." in whisper.text and "One answer not understood." in whisper.text
    assert [s.text for s in transfer.warm.hold] == ["Please hold, 1 2 3 4."]
    assert not any(s.barge_in for s in (*transfer.warm.whisper, *transfer.warm.hold))
    assert engine.waiting == "transfer"


@pytest.mark.parametrize(
    ("outcome", "reply"),
    [("busy", "Everyone is busy."), ("no_answer", "Nobody answered."), ("failed", "Sorry.")],
)
def test_warm_transfer_routes(tmp_path, outcome, reply):
    engine, _ = _to_agent(tmp_path)
    assert said(engine.handle(TransferResult(outcome), NOW)) == [reply]


def test_warm_transfer_ok_ends_the_bots_part(tmp_path):
    engine, _ = _to_agent(tmp_path)
    assert engine.handle(TransferResult("ok"), NOW) == [] and engine.ended


def test_default_hold_is_in_the_calls_language_and_blind_stays_default(tmp_path):
    body = WARM.replace('      hold: {text: "Please hold, {{ slots.account | spell }}."}\n', "")
    engine = make(tmp_path, body.replace("mode: warm", "mode: warm\n      whisper: Hi agent."))
    start(engine)
    engine.handle(Dtmf("1"), NOW)
    [transfer] = [a for a in engine.handle(Dtmf("1234"), NOW) if isinstance(a, Transfer)]
    assert transfer.warm is not None
    assert [s.text for s in transfer.warm.whisper] == ["Hi agent."]
    assert [s.text for s in transfer.warm.hold] == ["Please hold while I connect you."]
    blind = make(tmp_path, 'start: a\nsteps:\n  a: {transfer: {to: "sip:x@y"}}\n')
    [transfer] = [a for a in start(blind) if isinstance(a, Transfer)]
    assert transfer.warm is None


def test_warm_keys_on_a_blind_transfer_are_an_error(tmp_path):
    with pytest.raises(FlowValidationError, match="only for a warm transfer"):
        make(tmp_path, 'start: a\nsteps:\n  a: {transfer: {to: "sip:x@y", whisper: hi}}\n')


def test_call_summary_is_readable_in_any_template(tmp_path):
    engine = make(tmp_path, 'start: a\nsteps:\n  a: {say: "{{ call.summary }}", next: b}\n'
                  "  b: {hangup: {}}\n")  # fmt: skip
    assert said(start(engine)) == ["A call from + 1 5 5 5. The caller is calm."]  # frustration 0
