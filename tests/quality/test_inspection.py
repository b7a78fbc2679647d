"""The quality scorer on call records built here: each kind of rule, findings at their turns."""

from __future__ import annotations

from typing import Any

import pytest

from voicebot.call.records import CallRecord
from voicebot.quality.inspection import BROKEN, NOT_MEASURED, inspect, says
from voicebot.quality.rules import (
    BotSays,
    CallerFrustration,
    CallerTalksOver,
    NobodySays,
    Outcome,
    Rule,
    Rules,
    Silence,
)

DOC_RULES = Rules(
    (
        Rule("disclosure", 20, BotSays(("may be recorded", "可能会被录音"), "first_turn")),
        Rule("no_promises", 30, NobodySays(("guarantee", "保证"))),
        Rule("no_dead_air", 10, Silence(6.0)),
        Rule("calm_end", 20, CallerFrustration(0.5)),
        Rule("resolved", 20, Outcome(("abandoned", "error"))),
    ),
    "test.qa.yaml",
)


def turn(who: str, text: str = "", **extra: Any) -> dict[str, Any]:
    return {"who": who, "text": text, "dtmf": "", "latency_ms": None, **extra}


def record(*turns: dict[str, Any], outcome: str = "completed", **vars: Any) -> CallRecord:
    numbered = [{"seq": i + 1, **t} for i, t in enumerate(turns)]
    return CallRecord(
        "c1", "inbound", "", "", "support_line", "w1", "2026-12-02T08:00:00+00:00", None,
        "2026-12-02T08:01:00+00:00", outcome, "", None, None, [], {}, dict(vars), "", numbered,
    )  # fmt: skip


GOOD = record(
    turn("bot", "Thanks for calling Acme support. This call may be recorded."),
    turn("bot", "For your balance say balance or press 1."),
    turn("caller", "my balance please", barge_in=0, frustration=0.1),
    turn("bot", "Please say or key in your account number.", latency_ms=900.0),
    turn("caller", "one two three four five six seven eight", barge_in=1, frustration=0.2),
    turn("bot", "Ann, your balance is $42.17.", latency_ms=1200.0),
    turn("caller", "no thanks", barge_in=0, frustration=0.1),
    turn("bot", "Thanks for calling. Goodbye.", latency_ms=700.0),
)


def test_a_call_that_keeps_every_rule_scores_100_with_no_findings():
    result = inspect(GOOD, DOC_RULES)
    assert result.score == 100.0
    assert result.findings == ()
    assert result.rules == "test.qa.yaml"


def test_each_broken_rule_is_found_at_its_turn_and_costs_its_weight_once():
    bad = record(
        turn("bot", "Thanks for calling Acme support."),
        turn("caller", "can you guarantee my refund", frustration=0.4),
        turn("bot", "I guarantee it.", latency_ms=7200.0),
        turn("caller", "this is useless", frustration=0.8),
        turn("bot", "Sorry.", latency_ms=9100.0),
        outcome="caller_hangup",
    )
    result = inspect(bad, DOC_RULES)
    found = [(f.rule, f.status, f.turn) for f in result.findings]
    assert found == [
        ("disclosure", BROKEN, 1),
        ("no_promises", BROKEN, 2),
        ("no_promises", BROKEN, 3),
        ("no_dead_air", BROKEN, 3),
        ("no_dead_air", BROKEN, 5),
        ("calm_end", BROKEN, 4),
        ("resolved", BROKEN, 5),
    ]
    assert result.broken == ["disclosure", "no_promises", "no_dead_air", "calm_end", "resolved"]
    assert result.score == 0.0
    details = {f.rule: f.detail for f in result.findings}
    assert details["no_dead_air"] == "9.1 s of silence before this turn (longer than 6 s)"
    assert details["resolved"] == "the call ended caller_hangup (abandoned)"
    assert details["calm_end"] == "caller frustration 0.80 at the end (must be below 0.5)"
    assert "says none of: 'may be recorded', '可能会被录音'" in details["disclosure"]


def test_without_frustration_in_the_record_the_rule_is_not_measured_and_left_out():
    plain = record(
        turn("bot", "This call may be recorded."),
        turn("caller", "balance"),
        turn("bot", "Your balance is $3.", latency_ms=500.0),
        outcome="failed",
    )
    result = inspect(plain, DOC_RULES)
    statuses = {f.rule: f.status for f in result.findings}
    assert statuses == {"calm_end": NOT_MEASURED, "resolved": BROKEN}
    assert result.not_measured == ["calm_end"]
    # measured: 20 + 30 + 10 + 20 (resolved, broken) = 80; kept 60
    assert result.score == 75.0


def test_the_opening_is_what_the_bot_says_before_the_caller_first_speaks():
    rules = Rules((Rule("disclosure", 1, BotSays(("may be recorded",), "first_turn")),))
    late = record(
        turn("bot", "Hello."),
        turn("caller", ""),  # noise: no answer, the opening goes on
        turn("bot", "This call may be recorded."),
        turn("caller", "hi"),
        turn("bot", "This call may be recorded."),
    )
    assert inspect(late, rules).score == 100.0
    later = record(turn("bot", "Hello."), turn("caller", "hi"), turn("bot", "It may be recorded."))
    result = inspect(later, rules)
    assert [(f.rule, f.turn) for f in result.findings] == [("disclosure", 1)]
    silent = inspect(record(turn("caller", "hello?")), rules)
    assert silent.findings[0].turn is None and "said nothing" in silent.findings[0].detail


def test_last_turn_and_any_turn():
    goodbye = Rules((Rule("goodbye", 1, BotSays(("goodbye",), "last_turn")),))
    assert inspect(GOOD, goodbye).score == 100.0
    cut = record(turn("bot", "Goodbye is not last."), turn("caller", "wait"))
    result = inspect(cut, goodbye)
    assert result.findings[0].turn == 2 and "after the caller spoke" in result.findings[0].detail
    anywhere = Rules((Rule("balance", 1, BotSays(("your balance is",), "any_turn")),))
    assert inspect(GOOD, anywhere).score == 100.0


def test_talking_over_counts_barge_ins_and_points_at_those_over_the_limit():
    rules = Rules((Rule("no_talking_over", 10, CallerTalksOver(1)),))
    assert inspect(GOOD, rules).score == 100.0  # one barge-in: allowed
    over = record(
        turn("bot", "a"),
        turn("caller", "x", barge_in=1),
        turn("bot", "b"),
        turn("caller", "y", barge_in=1),
        turn("bot", "c"),
        turn("caller", "z", barge_in=1),
    )
    result = inspect(over, rules)
    assert [f.turn for f in result.findings] == [4, 6]
    assert "3 times (more than 1): turns 2, 4, 6" in result.findings[0].detail
    unmarked = inspect(record(turn("bot", "a"), turn("caller", "x")), rules)
    assert unmarked.findings[0].status == NOT_MEASURED and unmarked.score is None


def test_outcome_takes_record_outcomes_words_and_the_flows_disposition():
    rules = Rules((Rule("resolved", 1, Outcome(("error", "transferred", "no_answer_given"))),))
    assert inspect(record(turn("bot", "x"), outcome="failed"), rules).broken == ["resolved"]
    assert inspect(record(turn("bot", "x"), outcome="transferred"), rules).broken == ["resolved"]
    gave_up = record(turn("bot", "x"), disposition="no_answer_given")
    assert inspect(gave_up, rules).findings[0].detail == "the call's disposition is no_answer_given"
    assert inspect(record(turn("bot", "x"), disposition="confirmed"), rules).score == 100.0


@pytest.mark.parametrize(
    ("text", "phrase"),
    [
        ("This call may be recorded.", "may be recorded"),
        ("this call maybe recorded", "may be recorded"),  # the recogniser's spacing
        ("This call may be recordid for quality.", "may be recorded"),  # a spelling slip
        ("We GUARANTEE it!", "guarantee"),
        ("您好，本次通话可能会被录音。", "可能会被录音"),
        ("本次通话可能会被路音", "可能会被录音"),  # a homophone the recogniser wrote
        ("我們保證", "保证"),  # Traditional characters
    ],
)
def test_phrases_are_found_despite_asr_spelling(text, phrase):
    assert says(text, phrase)


@pytest.mark.parametrize(
    ("text", "phrase"),
    [
        ("we recorded your answer", "may be recorded"),
        ("my bill", "billion"),
        ("你好", "可能会被录音"),
        ("", "guarantee"),
    ],
)
def test_other_words_are_not_the_phrase(text, phrase):
    assert not says(text, phrase)


def test_imported_calls_are_inspected_on_the_agents_turns():
    agent = record(
        turn("agent", "Thank you for calling, this call may be recorded."),
        turn("caller", "hi, my internet is down", latency_ms=800.0, barge_in=0),
        turn("agent", "I guarantee it will be fixed today.", latency_ms=6500.0),
    )
    result = inspect(agent, DOC_RULES)
    assert [(f.rule, f.turn) for f in result.findings] == [
        ("no_promises", 3),
        ("no_dead_air", 3),
        ("calm_end", None),
    ]
