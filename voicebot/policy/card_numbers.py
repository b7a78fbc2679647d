"""Card-like numbers taken out of what is written down about a call, the last four digits kept.

    redact_cards("my card is 4532 0151 1283 0366 thanks")  # -> "my card is •••• 0366 thanks"
    redact_cards("four five three two zero one five one one two eight three zero three six six")
    # -> "•••• 0366"
    redact_cards("卡号四五三二零一五一一二八三零三六六")  # -> "卡号•••• 0366"
    redact_value({"card": 4532015112830366, "n": [1]})  # -> {"card": "•••• 0366", "n": [1]}

A card-like number is 13 to 19 digits that pass the Luhn check and start as payment cards do
(2-6: Mastercard 2 and 5, Amex/JCB/Diners 3, Visa 4, Discover/UnionPay 6), written the ways a
recogniser or a keypad writes them: Arabic digits (ASCII or full-width) in groups separated by
spaces or a dash ("4532-0151-1283-0366"; a comma or full stop only when a space follows it, so
"1,234,567" stays an amount), English digit words ("four five three two", "oh" for zero,
"double five"), and Mandarin digit characters (零〇一幺二两三…九, said one by one). One run
mixes them freely.

A run longer than 19 digits (a card number said with its expiry or security code) is redacted
where a group of it, or its first or last groups, make a card-like number (the first groups
before the last, 16 and 15 digits before other lengths): groups are Arabic
digits written together, so two phone numbers in a row ("13800138000 13800138000") are two
groups of 11 and are kept; after a "+" the first group is a country code ("+86 138 0013 8000":
13 digits, kept). Numbers of 12 digits or fewer (11-digit Chinese mobiles, 10-digit US numbers,
amounts, dates, PINs) are never touched: a PIN is a `sensitive` slot
(voicebot/policy/redaction.py). Digit words are groups of one digit each, so a run of more
than 19 spoken digits may lose a Luhn-valid stretch at its start or end that was not a card
(erring on the caller's side). Pure functions, no I/O.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

MIN_DIGITS, MAX_DIGITS = 13, 19
MASK = "••••"

_WORDS = {
    "zero": "0", "oh": "0", "one": "1", "two": "2", "three": "3", "four": "4",
    "five": "5", "six": "6", "seven": "7", "eight": "8", "nine": "9",
}  # fmt: skip
_HAN_DIGITS = ("零〇○洞", "一幺", "二两", *"三四五六七八九")  # 0, 1, 2, ...
_HAN = {ch: str(i) for i, chars in enumerate(_HAN_DIGITS) for ch in chars}
_CARD_FIRST = "23456"  # payment cards' major industry identifiers: 2/5 Mastercard, 3 Amex, ...

_WORD = "|".join(_WORDS)
# one group: Arabic digits together, a Mandarin digit (or several together), or a digit word
_GROUP = rf"\d+|[{''.join(_HAN)}]+|(?<![^\W\d_])(?:(?:double|triple)[\s-]+)?(?:{_WORD})(?![^\W\d_])"
# between groups: spaces, a dash, a comma or full stop followed by a space, 、，between characters
_GAP = r"(?:\s*[-‐–—]\s*|[,.]?\s+|\s*[，、]\s*)"
_RUN = re.compile(rf"(?:{_GROUP})(?:{_GAP}(?:{_GROUP}))*", re.IGNORECASE)
_ONE_GROUP = re.compile(_GROUP, re.IGNORECASE)


@dataclass(frozen=True)
class _Group:
    start: int
    end: int
    digits: str


def luhn_valid(digits: str) -> bool:
    """The Luhn check (ISO/IEC 7812) of a string of ASCII digits."""
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch)
        if i % 2 == 1:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return bool(digits) and total % 10 == 0


def _digits(group: str) -> str:
    low = group.lower()
    if low[0].isdigit():
        return "".join(str(int(ch)) for ch in low)  # full-width digits as ASCII
    if low[0] in _HAN:
        return "".join(_HAN[ch] for ch in low)
    times = 2 if low.startswith("double") else 3 if low.startswith("triple") else 1
    return _WORDS[low.split()[-1].split("-")[-1]] * times


def _groups(run: re.Match[str]) -> list[_Group]:
    base = run.start()
    return [
        _Group(base + m.start(), base + m.end(), _digits(m.group()))
        for m in _ONE_GROUP.finditer(run.group())
    ]


def card_like(digits: str) -> bool:
    """13-19 ASCII digits, a payment card's first digit (2-6), Luhn-valid."""
    return (
        MIN_DIGITS <= len(digits) <= MAX_DIGITS and digits[0] in _CARD_FIRST and luhn_valid(digits)
    )


_LENGTHS = (16, 15, 19, 13, 14, 17, 18)  # the commonest card lengths first


def _likeliest(window: tuple[int, int, str], n: int) -> tuple[int, int, int]:
    """The whole run or one group written whole first, then the run's first groups (the card
    said before its expiry), then its last; within each, the commonest card lengths first."""
    i, j, digits = window
    kind = 0 if i == j or (i == 0 and j == n - 1) else 1 if i == 0 else 2
    return (kind, _LENGTHS.index(len(digits)), i)


def _card_spans(groups: list[_Group], plus: bool) -> list[tuple[int, int, str]]:
    """(start, end, last four) of the card numbers in one run of groups (module docstring);
    `plus`: the run follows a "+", its first group is a country code."""
    n = len(groups)
    windows = []
    for i in range(1 if plus else 0, n):
        for j in range(i, n):
            if i == 0 or j == n - 1 or i == j:
                digits = "".join(g.digits for g in groups[i : j + 1])
                if card_like(digits):
                    windows.append((i, j, digits))
    windows.sort(key=lambda w: _likeliest(w, n))
    taken: set[int] = set()
    spans = []
    for i, j, digits in windows:
        if taken.isdisjoint(range(i, j + 1)):
            taken.update(range(i, j + 1))
            spans.append((groups[i].start, groups[j].end, digits[-4:]))
    return sorted(spans)


def redact_cards(text: str) -> str:
    """`text` with every card-like number replaced by "•••• " and its last four digits."""
    if not text:
        return text
    out, at = [], 0
    for run in _RUN.finditer(text):
        plus = text[: run.start()].rstrip().endswith("+")
        for start, end, last4 in _card_spans(_groups(run), plus):
            out.append(text[at:start])
            out.append(f"{MASK} {last4}")
            at = end
    out.append(text[at:])
    return "".join(out)


def redact_value(value: Any) -> Any:
    """A JSON-like value (slots, vars, findings) with card-like numbers redacted in its text
    and in its integers; other values as they are."""
    if isinstance(value, str):
        return redact_cards(value)
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, int):
        shown = redact_cards(str(value))
        return value if shown == str(value) else shown
    if isinstance(value, Mapping):
        return {k: redact_value(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [redact_value(v) for v in value]
    return value
