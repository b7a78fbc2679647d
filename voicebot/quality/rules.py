"""Quality rules: what each kind checks in a call record (docs/flow-format.md, "Quality rules").

One rule has an id, a weight and one check:

    BotSays(phrases, where)   the service side (the bot; the agent of an imported recording)
                              says one of the phrases in its opening (`first_turn`: its turns
                              before the caller first speaks), in its closing (`last_turn`:
                              its turns after the caller last speaks) or anywhere (`any_turn`)
    NobodySays(phrases)       no turn, caller's or service's, says any of them
    Silence(longer_than)      no turn waited longer than this (seconds) after the one before:
                              dead air, from the turns' recorded latencies
    CallerTalksOver(more_than)  the caller barged in on the bot at most this many times
    CallerFrustration(at_end_below)  the caller's last measured frustration (0..1) is below it;
                              a record without any is "not measured", never a pass
    Outcome(refused)          the call did not end in one of these outcomes

Outcomes are the call record's (`completed`, `caller_hangup`, `transferred`, `failed`, ...),
the flow's `vars.disposition`, or the designers' words `OUTCOME_WORDS`: `abandoned` (the caller
hung up before the flow ended the call) and `error` (the call failed).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Where = Literal["first_turn", "any_turn", "last_turn"]

OUTCOME_WORDS: dict[str, frozenset[str]] = {
    "abandoned": frozenset({"caller_hangup"}),
    "error": frozenset({"failed"}),
}


@dataclass(frozen=True)
class BotSays:
    phrases: tuple[str, ...]
    where: Where = "any_turn"


@dataclass(frozen=True)
class NobodySays:
    phrases: tuple[str, ...]


@dataclass(frozen=True)
class Silence:
    longer_than: float  # seconds


@dataclass(frozen=True)
class CallerTalksOver:
    more_than: int = 0


@dataclass(frozen=True)
class CallerFrustration:
    at_end_below: float


@dataclass(frozen=True)
class Outcome:
    refused: tuple[str, ...]


Check = BotSays | NobodySays | Silence | CallerTalksOver | CallerFrustration | Outcome

KINDS = (
    "bot_says",
    "nobody_says",
    "silence",
    "caller_talks_over",
    "caller_frustration",
    "outcome",
)


@dataclass(frozen=True)
class Rule:
    id: str
    weight: float
    check: Check


@dataclass(frozen=True)
class Rules:
    rules: tuple[Rule, ...]
    source: str = ""  # the file they came from, kept with every score
