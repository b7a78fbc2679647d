"""`call.summary`: what an agent hears before a warm transfer joins the caller, sans-IO.

    facts = CallFacts(caller="sip:+15550100@pbx", asked=("check_bill",), slots={...}, misses=2)
    summarize(facts, "en")   # "A call from 5 5 5 0 1 0 0. They asked about: check bill. ..."

A few short sentences in the call's language (English, or Mandarin for a zh tag):

    who      the caller's number (the user part of the From URI, spelled digit by digit)
    asked    the intents, menu options and knowledge answers of the call, in order, once each
             (the engine gives a Mandarin call's in the flow's Chinese words: 话费)
    slots    what the caller gave (sensitive slots arrive masked: "[masked]" is left out)
    failed   how many answers the bot did not hear or understand, and errors on the way
    mood     `call.frustration` (0..1) when something put it in the call: the caller seems
             upset (>= 0.7), a little impatient (>= 0.4), calm; nothing is said without it

Words in names (`check_bill`, `billing-queue`) are read with spaces. The engine builds the
facts (DialogEngine.summary_facts); nothing here reads a clock or the network.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from voicebot.lang import is_mandarin
from voicebot.policy.redaction import MASK

UPSET, IMPATIENT = 0.7, 0.4  # call.frustration at or above: said as a mood
_ZH_DIGITS = "零一二三四五六七八九"
_ZH_COUNTS = "零一两三四五六七八九十"


@dataclass(frozen=True)
class CallFacts:
    caller: str = ""  # the From URI or number
    asked: tuple[str, ...] = ()  # intents / options / answers, in order
    slots: Mapping[str, Any] = field(default_factory=dict)  # sensitive ones masked
    misses: int = 0  # no-inputs and no-matches over the whole call
    errors: int = 0  # run-time failures (a backend down, a refused transfer)
    frustration: float | None = None  # call.frustration, when something estimates it


def caller_number(uri: str) -> str:
    """'"Alice" <sip:+15550100@10.0.0.2>' -> '+15550100'; '' when there is no user part."""
    match = re.search(r"(?:sips?|tel):([^@;>]+)", uri)
    return match.group(1) if match else uri.strip()


def _words(name: str) -> str:
    return re.sub(r"[_\-.]+", " ", name).strip()


def _spelled(value: str, mandarin: bool) -> str:
    if mandarin:
        return "".join(_ZH_DIGITS[int(c)] if c.isdigit() else c for c in value if c != " ")
    return " ".join(c for c in value if not c.isspace())


def _value(value: Any, mandarin: bool) -> str:
    text = str(value)
    return _spelled(text, mandarin) if re.fullmatch(r"[+\d ]{3,}", text) else text


def _count(n: int, mandarin: bool) -> str:
    if mandarin:
        return _ZH_COUNTS[n] if n <= 10 else str(n)
    return ("no", "one", "two", "three", "four", "five", "six")[n] if n <= 6 else str(n)


def _mood(frustration: float | None, mandarin: bool) -> str:
    if frustration is None:
        return ""
    if frustration >= UPSET:
        return "客户情绪不满。" if mandarin else "The caller seems upset."
    if frustration >= IMPATIENT:
        return "客户有些着急。" if mandarin else "The caller is a little impatient."
    return "客户情绪平稳。" if mandarin else "The caller is calm."


def _frustration(value: Any) -> float | None:
    """`call.frustration` as a number: itself, or a mapping's `score`/`value`."""
    if isinstance(value, Mapping):
        value = value.get("score", value.get("value"))
    try:
        return None if value is None or isinstance(value, bool) else float(value)
    except (TypeError, ValueError):
        return None


def summarize(facts: CallFacts, language: str | None = None) -> str:
    """The spoken summary of `facts` in `language` (see the module docstring)."""
    zh = is_mandarin(language)
    parts: list[str] = []
    number = caller_number(facts.caller)
    if number:
        who = _value(number, zh)
        parts.append(f"来电号码{who}。" if zh else f"A call from {who}.")
    asked = list(dict.fromkeys(_words(a) for a in facts.asked if a))
    if asked:
        listed = "，".join(asked) if zh else ", ".join(asked)
        parts.append(f"客户咨询：{listed}。" if zh else f"They asked about: {listed}.")
    given = [
        (_words(k), _value(v, zh))
        for k, v in facts.slots.items()
        if v is not None and str(v) != "" and v != MASK
    ]
    if given:
        if zh:
            parts.append("".join(f"{k}：{v}。" for k, v in given))
        else:
            parts.append(" ".join(f"{k.capitalize()}: {v}." for k, v in given))
    if facts.misses:
        n = _count(facts.misses, zh)
        if zh:
            parts.append(f"有{n}次没有听清或听懂。")
        else:
            plural = "s" if facts.misses != 1 else ""
            parts.append(f"{n.capitalize()} answer{plural} not understood.")
    if facts.errors:
        parts.append("期间系统出现过错误。" if zh else "Something failed on the way.")
    parts.append(_mood(facts.frustration, zh))
    text = ("" if zh else " ").join(p for p in parts if p)
    if not text:
        return "一通新来电，暂无更多信息。" if zh else "A new call; nothing more is known yet."
    return text


def facts_from(
    call: Mapping[str, Any],
    slots: Mapping[str, Any],
    asked: tuple[str, ...] = (),
    misses: int = 0,
    errors: int = 0,
) -> CallFacts:
    """The facts as the engine holds them: `call` is the template's `call` (caller, and
    frustration when an estimator put it there), `slots` already masked."""
    return CallFacts(
        caller=str(call.get("caller") or ""),
        asked=asked,
        slots=dict(slots),
        misses=misses,
        errors=errors,
        frustration=_frustration(call.get("frustration")),
    )
