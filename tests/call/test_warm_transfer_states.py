"""The warm transfer's state machine, with plain data: no SIP, no audio, time as a parameter."""

from __future__ import annotations

import pytest

from voicebot.call import warm_transfer as wt
from voicebot.dialog.actions import Say, Transfer, Warm

WHISPER, HOLD = (Say("A call from 1 2 3."),), (Say("Please hold."),)


def make(accept_key: str | None = None, timeout: float = 30.0) -> wt.WarmTransfer:
    transfer = Transfer("sip:agent@x", {"X-Voicebot-Case": "7"}, Warm(WHISPER, HOLD, timeout))
    return wt.WarmTransfer(transfer, accept_key)


def kinds(actions: list) -> list[str]:
    return [type(a).__name__ for a in actions]


def test_dial_whisper_accept_join():
    t = make()
    assert t.start(10.0) == [wt.Dial("sip:agent@x", {"X-Voicebot-Case": "7"}), wt.PlayCaller(HOLD)]
    assert t.handle(wt.CallerPlayed(), 12.0) == [wt.PlayCaller(HOLD)]  # the hold loops
    assert t.handle(wt.Tick(), 25.0) == []  # still ringing within the timeout
    assert t.handle(wt.AgentMedia(), 26.0) == [wt.PlayAgent(WHISPER)]
    assert t.handle(wt.CallerPlayed(), 27.0) == [wt.PlayCaller(HOLD)]  # hold during whisper
    assert kinds(t.handle(wt.AgentPlayed(), 30.0)) == ["StopAgent", "StopCaller", "Join"]
    assert t.handle(wt.CallerPlayed(), 30.01) == []  # the stopped hold: not played again
    assert t.handle(wt.Joined(), 30.05) == [wt.Done("ok", pytest.approx(0.05))]
    assert t.state is wt.State.JOINED
    assert t.handle(wt.AgentEnded(200), 90.0) == [wt.HangupCaller()]  # the agent hung up


@pytest.mark.parametrize(
    ("code", "outcome"), [(486, "busy"), (600, "busy"), (480, "no_answer"), (404, "failed")]
)
def test_agent_leg_ending_before_answer(code, outcome):
    t = make()
    t.start(0.0)
    out = t.handle(wt.AgentEnded(code), 1.0)
    assert kinds(out) == ["StopCaller", "Done"] and out[-1].outcome == outcome
    assert not t.live and t.handle(wt.CallerPlayed(), 2.0) == []


def test_no_answer_within_the_timeout_cancels_the_agent_leg():
    t = make(timeout=5.0)
    t.start(0.0)
    assert t.handle(wt.Tick(), 4.9) == []
    out = t.handle(wt.Tick(), 5.0)
    assert kinds(out) == ["HangupAgent", "StopCaller", "Done"] and out[-1].outcome == "no_answer"
    assert t.handle(wt.AgentEnded(487), 5.1) == []  # our CANCEL's answer changes nothing


def test_no_free_slot_is_busy_and_other_dial_failures_failed():
    t = make()
    t.start(0.0)
    assert t.handle(wt.DialFailed(True, "all 4 slots"), 0.0)[-1] == wt.Done(
        "busy", None, "all 4 slots"
    )
    t = make()
    t.start(0.0)
    assert t.handle(wt.DialFailed(False), 0.0)[-1].outcome == "failed"


def test_agent_hanging_up_during_the_whisper_fails():
    t = make()
    t.start(0.0)
    t.handle(wt.AgentMedia(), 1.0)
    assert t.handle(wt.AgentEnded(200), 2.0)[-1].outcome == "failed"


def test_accept_key_joins_before_the_whisper_ends():
    t = make(accept_key="1")
    t.start(0.0)
    t.handle(wt.AgentMedia(), 1.0)
    assert t.handle(wt.AgentKey("5"), 1.5) == []  # not the accept key
    assert kinds(t.handle(wt.AgentKey("1"), 2.0)) == ["StopAgent", "StopCaller", "Join"]


def test_caller_hanging_up_ends_the_agent_leg():
    t = make()
    t.start(0.0)
    t.handle(wt.AgentMedia(), 1.0)
    assert t.handle(wt.CallerGone(), 2.0) == [wt.HangupAgent()]
    assert t.handle(wt.CallerGone(), 3.0) == [] and not t.live


def test_join_failure_is_failed_and_the_agent_is_let_go():
    t = make()
    t.start(0.0)
    t.handle(wt.AgentMedia(), 1.0)
    t.handle(wt.AgentPlayed(), 2.0)
    out = t.handle(wt.JoinFailed("no media"), 2.0)
    assert kinds(out) == ["HangupAgent", "StopCaller", "Done"] and out[-1].outcome == "failed"


def test_a_whisper_that_never_ends_gives_up():
    t = make()
    t.start(0.0)
    t.handle(wt.AgentMedia(), 1.0)
    assert t.handle(wt.Tick(), 1.0 + wt.WHISPER_LIMIT)[-1].outcome == "failed"


def test_no_whisper_joins_on_answer():
    t = wt.WarmTransfer(Transfer("sip:a@x", {}, Warm((), HOLD, 30.0)))
    t.start(0.0)
    assert kinds(t.handle(wt.AgentMedia(), 1.0)) == ["StopAgent", "StopCaller", "Join"]
