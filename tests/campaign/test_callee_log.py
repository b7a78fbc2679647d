"""The campaign checker (`voicebot.testing.callee_log.check`) on a ledger and a callees' log
written by hand: the do-not-call rule tells an opt-out the bot heard from one said into a call
a crash had already killed."""

from __future__ import annotations

from datetime import timedelta

from tests.campaign.test_leases import NOW, started
from voicebot.campaign.ledger import Ledger
from voicebot.campaign.loop import CampaignLoop
from voicebot.testing.callee_log import check
from voicebot.testing.trunk import most_up

NUMBER = "+12125550709"  # ..7xx: says "stop calling me"


def invite(t: float, call_id: str) -> dict:
    return {"t": t, "event": "invite", "number": NUMBER, "call_id": call_id, "up": 1}


def hangup(t: float, call_id: str, by: str, *did: str) -> dict:
    return {"t": t, "event": "hangup", "number": NUMBER, "call_id": call_id, "status": 200,
            "by": by, "answered": True, "did": ["answer", "hello", *did]}  # fmt: skip


def retried(tmp_path, number: str, first_outcome: str, **second) -> tuple[Ledger, str | None]:
    """A ledger where `number` was dialed twice: the first attempt closed `first_outcome`
    (`unknown`: its dialer died and it was reconciled), the second finished with `second`;
    with the contact's disposition."""
    ledger = Ledger(f"sqlite:///{tmp_path / f'{first_outcome}.db'}")
    started(ledger, "c", number, max_concurrent=1)
    (first,) = CampaignLoop(ledger, "c", now=NOW).step(NOW)
    later = NOW + timedelta(minutes=30)
    if first_outcome == "unknown":
        assert ledger.reconcile(later, "c") == [first.attempt.id]
    else:
        ledger.finish_attempt(first.attempt.id, first_outcome, later)
    (again,) = CampaignLoop(ledger, "c", now=later).step(later + timedelta(hours=3))
    return ledger, ledger.finish_attempt(again.attempt.id, now=later + timedelta(hours=3),
                                         **second)  # fmt: skip


def two_calls(tmp_path, first_outcome: str) -> tuple[Ledger, list[dict]]:
    """Two calls of the opt-out number: the first closed `first_outcome`, its callee saying
    stop and hanging up on the silence; the second heard, the number listed."""
    ledger, disposition = retried(tmp_path, NUMBER, first_outcome, outcome="answered",
                                  vars={"do_not_call": True})  # fmt: skip
    assert disposition == "opt_out"
    t0 = NOW.timestamp()
    lines = [
        invite(t0, "a"), hangup(t0 + 28, "a", "callee", "said: stop calling me", "quiet"),
        invite(t0 + 3 * 3600 + 1800, "b"),
        hangup(t0 + 3 * 3600 + 1826, "b", "caller", "said: stop calling me"),
    ]  # fmt: skip
    return ledger, lines


def test_a_stop_said_into_a_call_a_crash_had_killed_is_not_a_redial_after_opt_out(tmp_path):
    ledger, lines = two_calls(tmp_path, "unknown")
    ev = check(lines, ledger, "c")
    assert ev.unheard_opt_outs == 1
    assert not [p for p in ev.problems if "called again" in p], ev.problems


def test_a_stop_the_bot_heard_and_then_a_call_again_is_a_problem(tmp_path):
    ledger, lines = two_calls(tmp_path, "no_answer")
    ev = check(lines, ledger, "c")
    assert ev.unheard_opt_outs == 0
    assert [p for p in ev.problems if "called again after saying 'stop calling me'" in p]


def test_an_invalid_number_whose_first_call_a_crash_lost_may_get_a_second_invite(tmp_path):
    """Its 404 died with the dialer, so the attempt is `unknown` and retried once: two INVITEs
    are within policy then (one as well: the attempt may have died before its INVITE left);
    two without a lost attempt are not."""
    number = "+12125551621"  # ..6xx: not assigned, 404
    for first in ("unknown", "no_answer"):
        ledger, _ = retried(tmp_path, number, first, outcome="invalid")
        lost = first == "unknown"
        t0 = NOW.timestamp()
        lines = [
            {"t": t0, "event": "invite", "number": number, "call_id": "a", "up": 1},
            {"t": t0 + 5 * 3600, "event": "invite", "number": number, "call_id": "b", "up": 1},
            {"t": t0 + 5 * 3600, "event": "hangup", "number": number, "call_id": "b",
             "status": 404, "by": "callee", "answered": False},
        ]  # fmt: skip
        problems = [p for p in check(lines, ledger, "c").problems if "invalid number" in p]
        assert (problems == []) is lost, problems
        if lost:  # or the crash came before the first INVITE left: one INVITE is right too
            assert [p for p in check(lines[1:], ledger, "c").problems if "invalid" in p] == []


def test_calls_up_across_callees_can_ask_for_a_level_that_lasted() -> None:
    """Two callee processes: 3 up for 0.1 s only (one stamped its end late), 2 for 1 s."""
    logs = [
        [{"t": 0.0, "up": 1}, {"t": 1.0, "up": 2}, {"t": 2.0, "up": 1}],
        [{"t": 1.9, "up": 1}, {"t": 3.0, "up": 0}],
    ]
    assert most_up(logs) == 3
    assert most_up(logs, lasting=0.2) == 2
    assert most_up(logs, lasting=2.5) == 1
    assert most_up([[], []], lasting=0.2) == most_up([]) == 0
