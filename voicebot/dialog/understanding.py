"""What an utterance or a key sequence means for the step that is listening.

`understand(expect, text, dtmf=...)` is the one call the dialog engine makes per input. It
understands `expect.language` (`language.understanding_for`: English, or Mandarin for a
Chinese tag; the English and Mandarin matchers and parsers share interfaces) and dispatches
on `expect.kind`:

* "menu": the option whose phrases the caller said (`matching.match_option`), or whose phrase
  list holds the keys pressed (the engine may list an option's DTMF key among its phrases);
* a slot kind: `slots.parse_slot` with the expectation's length range and options.

Global commands ("agent", "repeat", ...) are not resolved here: the engine knows their names,
keys and actions, and matches them (with `match_option`) before and after calling this.

`satisfies(expect, text)` tells the speech listener, on every partial transcript, whether the
caller has already given a whole answer, so it can end the utterance sooner. It errs on the
side of waiting: a menu option or a global phrase must be said whole (not just fuzzily),
digits must have reached `max_digits` (without a maximum, more could always follow), and
numbers, money, dates and free text are never complete early, as a pause inside "forty...
two" or "December third... twenty twenty seven" would change the answer. It costs ~10-60 µs a
call on typical partials (measured on a 2-core development machine; a test holds it under
1 ms).
"""

from __future__ import annotations

import datetime
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from voicebot.dialog.expectation import Expectation
from voicebot.dialog.language import understanding_for
from voicebot.dialog.matching import CONTAINED, option_for_keys


@dataclass(frozen=True)
class Understanding:
    kind: str  # "option" | "slot" | "none"
    name: str | None  # the option's name; None for slots and "none"
    value: Any  # the option's name, the slot value (bool, str, int, Decimal, date); None
    score: float  # 0..1: the option/global match score; 1.0 for parsed slots
    text: str | None = None  # slot value in canonical form ("4207", "12.50", "2026-12-03")


NOTHING = Understanding("none", None, None, 0.0)


def understand(
    expect: Expectation,
    text: str | None = None,
    *,
    dtmf: str | None = None,
    today: datetime.date | None = None,
) -> Understanding:
    """The meaning of `text` (speech) or `dtmf` (keys, which win) at a step expecting `expect`."""
    options = dict(expect.options)
    lang = understanding_for(expect.language)
    if dtmf:
        if expect.kind == "menu":
            chosen = option_for_keys(dtmf, options)
            return Understanding("option", chosen, chosen, 1.0) if chosen else NOTHING
        return _slot(expect, None, dtmf, options, today)
    if not text or not lang.normalize(text):
        return NOTHING
    if expect.kind == "menu":
        match = lang.match_option(text, options)
        return Understanding("option", match.name, match.name, match.score) if match else NOTHING
    return _slot(expect, text, None, options, today)


def _says_global(phrases: Sequence[str], text: str, language: str) -> bool:
    """True when `text` says one of the global phrases whole."""
    if not phrases:
        return False
    match = understanding_for(language).match_option(text, {phrase: () for phrase in phrases})
    return match is not None and match.score >= CONTAINED


def _slot(
    expect: Expectation,
    text: str | None,
    dtmf: str | None,
    options: Mapping[str, Sequence[str]],
    today: datetime.date | None,
) -> Understanding:
    lang = understanding_for(expect.language)
    if expect.kind == "choice" and text is not None:
        match = lang.match_option(text, options)  # for its score
        return (
            Understanding("slot", None, match.name, match.score, match.name) if match else NOTHING
        )
    slot = lang.parse_slot(
        expect.kind,
        text,
        dtmf=dtmf,
        min_len=expect.min_digits,
        max_len=expect.max_digits,
        options=options,
        today=today,
    )
    return Understanding("slot", None, slot.value, 1.0, slot.text) if slot else NOTHING


def satisfies(expect: Expectation, text: str) -> bool:
    """True when the (partial) transcript `text` is already a whole answer (see module doc)."""
    if not text:
        return False
    if _says_global(expect.global_phrases, text, expect.language):
        return True
    lang = understanding_for(expect.language)
    if expect.kind in ("menu", "choice"):
        match = lang.match_option(text, dict(expect.options))
        return match is not None and match.score >= CONTAINED
    if expect.kind == "yes_no":
        return lang.parse_yes_no(text) is not None
    if expect.kind == "digits" and expect.max_digits is not None:
        return lang.parse_digits(text, expect.max_digits, expect.max_digits) is not None
    return False
