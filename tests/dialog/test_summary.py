"""call.summary: who, what was asked, slots, what failed, mood; in the call's language."""

from __future__ import annotations

from voicebot.dialog.summary import CallFacts, caller_number, facts_from, summarize
from voicebot.policy.redaction import MASK


def test_english_summary_says_who_what_slots_failures():
    facts = CallFacts(
        caller='"Ann" <sip:+15550100@10.0.0.2>',
        asked=("check_bill", "agent", "check_bill"),
        slots={"account": "12345678", "pin": MASK, "plan": "gold"},
        misses=2,
    )
    text = summarize(facts, "en-US")
    assert text.startswith("A call from + 1 5 5 5 0 1 0 0.")
    assert "They asked about: check bill, agent." in text  # each once, in order
    assert "Account: 1 2 3 4 5 6 7 8." in text and "Plan: gold." in text
    assert MASK not in text and "pin" not in text.lower()  # a masked slot is left out
    assert "Two answers not understood." in text
    assert "calm" not in text and "upset" not in text  # no frustration known: no mood


def test_mood_from_call_frustration_when_present():
    def mood(value: object) -> str:
        return summarize(facts_from({"caller": "sip:7@x", "frustration": value}, {}), "en")

    assert mood(0.85).endswith("The caller seems upset.")
    assert mood(0.5).endswith("The caller is a little impatient.")
    assert mood(0.1).endswith("The caller is calm.")
    assert mood({"score": 0.9, "reasons": ["profanity"]}).endswith("seems upset.")
    assert mood("not a number") == mood(None) == "A call from 7."


def test_mandarin_summary():
    facts = CallFacts(caller="sip:13800138000@pbx", asked=("billing",), slots={"number": "138"},
                      misses=1, frustration=0.8)  # fmt: skip
    text = summarize(facts, "zh-CN")
    assert text.startswith("来电号码一三八零零一三八零零零。")
    assert "客户咨询：billing。" in text and "number：一三八。" in text
    assert "有一次没有听清或听懂。" in text and text.endswith("客户情绪不满。")


def test_nothing_known_still_says_something():
    assert summarize(CallFacts(), "en") == "A new call; nothing more is known yet."
    assert summarize(CallFacts(), "zh") == "一通新来电，暂无更多信息。"
    assert caller_number("sip:alice@host") == "alice" and caller_number("+1555") == "+1555"
