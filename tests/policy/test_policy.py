"""The policy cores with plain data: outbound numbers, transfer targets, redaction; and the
engine taking the `failed` route on a refused target."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from voicebot.dialog import actions as act
from voicebot.dialog import events as ev
from voicebot.dialog.engine import DialogEngine
from voicebot.flow.loader import load_flow
from voicebot.policy.numbers import NumberPolicy, check_allow, check_types
from voicebot.policy.redaction import MASK, Redactor
from voicebot.policy.transfers import TransferPolicy, from_call_data, user_part

NOW = datetime(2026, 11, 24, 15, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("number", "refused"),
    [
        ("+12125551234", None),
        ("+18005551234", None),  # toll-free is not refused by default
        ("+19005551234", "premium-rate"),
        ("+449098790000", "premium-rate"),
        ("+33884012345", "shared-cost"),
        ("+445512345678", "universal access"),
        ("+15002345678", "personal"),
        ("+447640123456", "pager"),
        ("+49177991234567", "voicemail"),
        ("not a number", "not an E.164 number"),
    ],
)
def test_default_number_policy(number: str, refused: str | None) -> None:
    why = NumberPolicy().refusal(number)
    assert (why is None) if refused is None else (why is not None and refused in why), why


def test_allow_by_prefix_or_region_and_validation() -> None:
    policy = NumberPolicy(allow=("+1212", "GB"))
    assert policy.refusal("+12125551234") is None
    assert policy.refusal("+442079460000") is None
    assert "outside outbound.allow" in (policy.refusal("+13125551234") or "")
    assert "premium" in (policy.refusal("+449098790000") or "")  # allowed region, refused type
    assert check_allow([" +44 ", "us"]) == ["+44", "US"]
    with pytest.raises(ValueError, match="neither an E.164 prefix"):
        check_allow(["44"])
    with pytest.raises(ValueError, match="not a number type"):
        check_types(["premium"])


def test_what_counts_as_call_data_and_plain_uris() -> None:
    assert not from_call_data("sip:desk@pbx") and not from_call_data("{{ env.DESK }}")
    for t in ("{{ slots.d }}", "sip:{{ turn.dtmf }}@x", "{{ vars.u }}", "{{ call.caller }}",
              "{{ contact.agent }}", "{{ env[slots.k] }}"):  # fmt: skip
        assert from_call_data(t), t
    assert user_part("sip:2001@pbx.example.com:5060;transport=tcp") == "2001"
    assert user_part("sips:pbx.example.com") == ""
    assert user_part("tel:+1-900-555-1234") == "+19005551234"
    for bad in ("sip:a@b@c", "sip:a b@c", "<sip:a@c>", "sip:a@c\r\nX: y", "sip:a@c?Refer-To=x"):
        assert user_part(bad) is None, bad


def test_transfer_policy() -> None:
    policy = TransferPolicy(("sip:*@pbx.example.com",), frozenset({"sip:desk@other.example"}))
    t = "sip:{{ slots.d }}@pbx.example.com"
    assert policy.refusal(t, "sip:2001@pbx.example.com") is None
    assert policy.refusal("{{ slots.u }}", "sip:desk@other.example") is None  # a literal one
    assert "transfers.allow" in (policy.refusal(t, "sip:2001@evil.example") or "")
    assert "plain SIP URI" in (policy.refusal(t, "sip:x@evil.example;a=@pbx.example.com") or "")
    assert "premium" in (policy.refusal(t, "sip:19005551234@pbx.example.com") or "")
    assert policy.refusal("{{ env.X }}", "sip:anything@anywhere") is None  # the operator's


def test_redaction_of_values_spelled_or_whole() -> None:
    r = Redactor(frozenset({"pin"}))
    slots = {"pin": "4217", "more": True}
    assert r.slots(slots) == {"pin": MASK, "more": True}
    assert r.text("You keyed 4 2 1 7, and 4217.", slots) == f"You keyed {MASK}, and {MASK}."
    assert r.values({"echo": "PIN 4217", "n": 3}, slots) == {"echo": f"PIN {MASK}", "n": 3}
    assert Redactor(frozenset({"d"})).text("1 and 12", {"d": "1"}) == f"{MASK} and 12"
    assert not Redactor() and Redactor().slots(slots) == slots


FLOW = """\
version: 1
name: t
start: dest
steps:
  dest:
    ask:
      slot: {name: dest, type: digits, sensitive: true}
      prompt: "Which number?"
    on: {exhausted: sorry}
    next: go
  go:
    transfer: {to: "sip:{{ slots.dest }}@pbx.example.com"}
    on: {failed: sorry}
  sorry: {say: "Sorry.", next: bye}
  bye: {hangup: {}}
"""


def test_the_engine_takes_the_failed_route_on_a_refused_target(tmp_path: Path, caplog) -> None:
    path = tmp_path / "t.yaml"
    path.write_text(FLOW)
    engine = DialogEngine(load_flow(path), call_id="c1")
    out = engine.handle(ev.CallStarted("c1"), NOW)
    listen = next(a for a in out if isinstance(a, act.Listen))
    assert listen.expect.sensitive
    out = engine.handle(ev.Dtmf("19005551234#"), NOW)
    assert not any(isinstance(a, act.Transfer) for a in out)
    assert [a.text for a in out if isinstance(a, act.Say)] == ["Sorry."]
    assert any(isinstance(a, act.HangUp) for a in out)
    assert engine.trace.steps[-3:] == [("t", "go"), ("t", "sorry"), ("t", "bye")]
    assert "19005551234" not in caplog.text and "sip:[masked]@pbx.example.com" in caplog.text

    allowed = TransferPolicy(("sip:*@pbx.example.com",))
    engine = DialogEngine(load_flow(path), call_id="c2", transfers=allowed)
    engine.handle(ev.CallStarted("c2"), NOW)
    out = engine.handle(ev.Dtmf("2001#"), NOW)
    assert [a.to for a in out if isinstance(a, act.Transfer)] == ["sip:2001@pbx.example.com"]


ECHO = """\
version: 1
name: t
start: pin
defaults: {on_error: sorry}
steps:
  pin:
    ask:
      slot: {name: pin, type: digits, sensitive: true}
      prompt: "Your PIN?"
    on: {exhausted: sorry}
    next: echo
  echo: {say: "{{ slots.pin | date }}", next: bye}
  sorry: {say: "Sorry.", next: bye}
  bye: {hangup: {}}
"""


def test_a_template_error_about_a_sensitive_value_is_logged_masked(tmp_path: Path, caplog):
    path = tmp_path / "t.yaml"
    path.write_text(ECHO)
    engine = DialogEngine(load_flow(path), call_id="c1")
    engine.handle(ev.CallStarted("c1"), NOW)
    out = engine.handle(ev.Dtmf("4217#"), NOW)
    assert [a.text for a in out if isinstance(a, act.Say)] == ["Sorry."]
    assert "date: '[masked]' is not a date" in caplog.text
    assert "4217" not in caplog.text and "4217" not in " ".join(engine.trace.errors)


def test_transfer_context_cannot_forge_a_header(tmp_path: Path) -> None:
    path = tmp_path / "t.yaml"
    path.write_text(
        "version: 1\nname: t\nstart: go\nsteps:\n"
        '  go: {transfer: {to: "sip:desk@pbx", context: {note: "{{ vars.note }}"}}}\n'
    )
    engine = DialogEngine(load_flow(path), call_id="c1")
    engine.vars["note"] = "late\r\nRefer-To: sip:+19005551234@evil.example"  # an HTTP reply
    (transfer,) = [
        a for a in engine.handle(ev.CallStarted("c1"), NOW) if isinstance(a, act.Transfer)
    ]
    assert transfer.headers == {"X-Voicebot-Note": "late  Refer-To: sip:+19005551234@evil.example"}
