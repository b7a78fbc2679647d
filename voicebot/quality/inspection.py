"""Scoring one call against quality rules: a record in, a score and findings out, no I/O.

    inspection = inspect(record, rules)
    inspection.score        # 0..100, None when no rule could be measured
    inspection.findings     # Finding(rule, status, detail, turn, weight), turn = the record's
                            # turn number (`seq`, from 1), None for the call as a whole
    inspection.broken       # the ids of the rules the call broke

The score is the share of the measured rules' weight the call kept: 100 * (measured weight -
broken weight) / measured weight. A rule that broke loses its weight once, however many
findings it has (three long silences cost `no_dead_air` once). A rule the record cannot answer
(no frustration measured, turns without barge-in marks) gives a `not_measured` finding and is
left out of the score: it never passes silently.

Phrases are matched the way menus are (voicebot/dialog/matching.py, zh_matching.py), so the
recogniser's spelling of an agent's words still counts: the text is normalised (case,
punctuation, fillers; full-width, Traditional characters), a phrase counts when it scores at
least `SAYS_THRESHOLD` (said whole: at least 0.85; in English every content word within
rapidfuzz ratio ~94 of one said; in Chinese the characters, or their toneless pinyin for the
homophones the recogniser writes). English phrases of several words also count when said
with the spaces elsewhere ("this call maybe recorded" says "may be recorded"). A phrase with
a Chinese character is matched as Chinese, any other as English.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from voicebot.dialog import matching
from voicebot.lang import has_han
from voicebot.quality.rules import (
    OUTCOME_WORDS,
    BotSays,
    CallerFrustration,
    CallerTalksOver,
    NobodySays,
    Outcome,
    Rule,
    Rules,
    Silence,
)

SAYS_THRESHOLD = 0.75
SERVICE_SIDE = frozenset({"bot", "agent"})  # who speaks for the service in a record
BROKEN = "broken"
NOT_MEASURED = "not_measured"
_NON_WORD = re.compile(r"[\W_]+")

Found = Iterator[tuple[str, str, int | None]]  # (status, detail, turn) of a check


class Inspected(Protocol):
    """What inspection reads of a call record (voicebot/call/records.py `CallRecord`)."""

    @property
    def outcome(self) -> str: ...
    @property
    def vars(self) -> dict[str, Any]: ...
    @property
    def turns(self) -> list[dict[str, Any]]: ...


@dataclass(frozen=True)
class Finding:
    rule: str
    status: str  # BROKEN | NOT_MEASURED
    detail: str
    turn: int | None = None  # the record's turn number (seq); None: the whole call
    weight: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        return {
            "rule": self.rule,
            "status": self.status,
            "turn": self.turn,
            "detail": self.detail,
            "weight": self.weight,
        }


@dataclass(frozen=True)
class Inspection:
    score: float | None
    findings: tuple[Finding, ...]
    rules: str = ""  # the rules file

    @property
    def broken(self) -> list[str]:
        return list(dict.fromkeys(f.rule for f in self.findings if f.status == BROKEN))

    @property
    def not_measured(self) -> list[str]:
        return list(dict.fromkeys(f.rule for f in self.findings if f.status == NOT_MEASURED))


# -- phrases -------------------------------------------------------------------------------------
def says(text: str, phrase: str) -> bool:
    """`text` (a turn, as recognised or as the bot said it) says `phrase` (module doc)."""
    if not text.strip() or not phrase.strip():
        return False
    if has_han(phrase):
        from voicebot.dialog import zh_matching  # jieba: loaded only for Chinese phrases
        from voicebot.lang.zh_normalize import normalize as zh_normalize

        return zh_matching.score_phrase(zh_normalize(text), phrase) >= SAYS_THRESHOLD
    said = matching.normalize(text)
    if matching.score_phrase(said, phrase) >= SAYS_THRESHOLD:
        return True
    wanted = matching.normalize(phrase)
    joined = _NON_WORD.sub("", wanted)
    return " " in wanted and len(joined) >= 6 and joined in _NON_WORD.sub("", said)


def _first_said(text: str, phrases: Sequence[str]) -> str | None:
    return next((p for p in phrases if says(text, p)), None)


# -- turns ---------------------------------------------------------------------------------------
@dataclass(frozen=True)
class _Turn:
    seq: int
    who: str
    text: str
    spoke: bool  # words or keys (a turn of noise is no answer)
    raw: dict[str, Any]

    @property
    def service(self) -> bool:
        return self.who in SERVICE_SIDE


def _turns(record: Inspected) -> list[_Turn]:
    out = []
    for i, t in enumerate(record.turns):
        text = str(t.get("text") or "")
        seq = int(t.get("seq") or i + 1)
        spoke = bool(text.strip() or t.get("dtmf"))
        out.append(_Turn(seq, str(t.get("who", "")), text, spoke, t))
    return out


def _opening(turns: list[_Turn]) -> list[_Turn]:
    """The service side's turns before the caller first speaks."""
    out = []
    for t in turns:
        if t.service:
            out.append(t)
        elif t.spoke:
            break
    return out


def _closing(turns: list[_Turn]) -> list[_Turn]:
    """The service side's turns after the caller last speaks."""
    return list(reversed(_opening(list(reversed(turns)))))


def _quote(text: str, limit: int = 60) -> str:
    return repr(text if len(text) <= limit else text[: limit - 1] + "…")


def _span(turns: list[_Turn]) -> str:
    first, last = turns[0].seq, turns[-1].seq
    return f"turn {first}" if first == last else f"turns {first}-{last}"


# -- the checks ----------------------------------------------------------------------------------
def _bot_says(check: BotSays, turns: list[_Turn]) -> Found:
    if check.where == "first_turn":
        scope, name = _opening(turns), "the opening"
    elif check.where == "last_turn":
        scope, name = _closing(turns), "the closing"
    else:
        scope, name = [t for t in turns if t.service], "the call"
    wanted = ", ".join(repr(p) for p in check.phrases)
    if not scope:
        where = turns[-1].seq if turns and check.where == "last_turn" else None
        what = {"first_turn": "before", "last_turn": "after"}.get(check.where, "")
        said = f"nothing {what} the caller spoke" if what else "nothing"
        yield BROKEN, f"the bot said {said}; it must say one of: {wanted}", where
        return
    if any(_first_said(t.text, check.phrases) for t in scope):
        return
    yield BROKEN, f"{name} ({_span(scope)}) says none of: {wanted}", scope[0].seq


def _nobody_says(check: NobodySays, turns: list[_Turn]) -> Found:
    for t in turns:
        phrase = _first_said(t.text, check.phrases)
        if phrase is not None:
            yield BROKEN, f"{t.who} said {phrase!r}: {_quote(t.text)}", t.seq


def _silence(check: Silence, turns: list[_Turn]) -> Found:
    for t in turns:
        latency = t.raw.get("latency_ms")
        if latency is not None and latency / 1000.0 > check.longer_than:
            yield (
                BROKEN,
                f"{latency / 1000.0:.1f} s of silence before this turn "
                f"(longer than {check.longer_than:g} s)",
                t.seq,
            )


def _talks_over(check: CallerTalksOver, turns: list[_Turn]) -> Found:
    caller = [t for t in turns if not t.service]
    if not any("barge_in" in t.raw for t in turns):
        yield NOT_MEASURED, "the record does not say which turns barged in", None
        return
    over = [t for t in caller if t.raw.get("barge_in")]
    if len(over) <= check.more_than:
        return
    listed = ", ".join(str(t.seq) for t in over)
    for t in over[check.more_than :]:
        yield (
            BROKEN,
            f"the caller talked over the bot {len(over)} times (more than {check.more_than}): "
            f"turns {listed}",
            t.seq,
        )


def _frustration(check: CallerFrustration, turns: list[_Turn]) -> Found:
    measured = [t for t in turns if not t.service and t.raw.get("frustration") is not None]
    if not measured:
        yield NOT_MEASURED, "no frustration measured on any caller turn of this call", None
        return
    last = measured[-1]
    value = float(last.raw["frustration"])
    if value >= check.at_end_below:
        yield (
            BROKEN,
            f"caller frustration {value:.2f} at the end (must be below {check.at_end_below:g})",
            last.seq,
        )


def _outcome(check: Outcome, record: Inspected, turns: list[_Turn]) -> Found:
    disposition = (record.vars or {}).get("disposition")
    last = turns[-1].seq if turns else None  # where the call ended
    for word in check.refused:
        if word == record.outcome or record.outcome in OUTCOME_WORDS.get(word, ()):
            named = "" if word == record.outcome else f" ({word})"
            yield BROKEN, f"the call ended {record.outcome}{named}", last
            return
        if disposition is not None and word == str(disposition):
            yield BROKEN, f"the call's disposition is {word}", last
            return


def _check(rule: Rule, record: Inspected, turns: list[_Turn]) -> list[Finding]:
    c = rule.check
    found: Found
    if isinstance(c, BotSays):
        found = _bot_says(c, turns)
    elif isinstance(c, NobodySays):
        found = _nobody_says(c, turns)
    elif isinstance(c, Silence):
        found = _silence(c, turns)
    elif isinstance(c, CallerTalksOver):
        found = _talks_over(c, turns)
    elif isinstance(c, CallerFrustration):
        found = _frustration(c, turns)
    else:
        found = _outcome(c, record, turns)
    return [Finding(rule.id, status, detail, turn, rule.weight) for status, detail, turn in found]


def inspect(record: Inspected, rules: Rules) -> Inspection:
    """Score `record` against `rules` (module doc)."""
    turns = _turns(record)
    findings: list[Finding] = []
    measured = lost = 0.0
    for rule in rules.rules:
        found = _check(rule, record, turns)
        findings += found
        if any(f.status == NOT_MEASURED for f in found):
            continue
        measured += rule.weight
        if found:
            lost += rule.weight
    score = round(100.0 * (measured - lost) / measured, 1) if measured else None
    return Inspection(score, tuple(findings), rules.source)
