"""Slot values from what the caller said or keyed, one parser per slot type.

`parse_slot(kind, text, dtmf=...)` picks the parser; keys win over speech when both are given.
Every parser returns a `SlotValue` (the value, and its canonical text for display and logs) or
None when the input is not an answer of that type. Speech is normalised first (see
`matching.normalize`), then number words become digits with text2num's `alpha2digit`, which
also gives ordinals ("third" -> "3rd").

* yes_no -> bool. Every yes phrase ("yes", "yeah", "sure", "that's right", "uh huh", ...) and
  no phrase ("no", "nope", "not really", "that's wrong", ...) in the utterance is found, longest
  first; all must agree, and "not sure" / "don't know" make it no answer. Keys: 1 yes, 2 no.
* digits -> str. Every digit spoken or recognised is kept in order: "oh"/"o" are 0,
  "double five" is 55, "triple zero" 000, "twelve thirty four" 1234 (pairs), "1234 5678" and
  "12,345,678" 12345678. Keys: 0-9 with one trailing "#" terminator. None outside min/max length.
* number -> int, or Decimal with a fraction ("three point five", "two and a half"). Exactly one
  number must be said ("twelve thirty four" is two: no answer); "minus"/"negative" negate.
* money -> Decimal with two places: "$50", "fifty dollars and twenty five cents", "twenty
  bucks", "12.50", "fifty cents", and "twelve fifty" (a two-digit second number is cents).
  Keys: "*" is the decimal point ("12*50" = 12.50). The currency is the flow's, not parsed.
* date -> datetime.date, relative to `today`: "tomorrow", "friday" (the next one; a Friday
  said on a Friday is next week's), "december third", "the 3rd of december", "12/03" (month
  first), "2026-12-03"; a month and day without a year that has passed this year is next year's.
  "the 3rd" alone is the next 3rd of a month. Parsed by dateparser with a fixed RELATIVE_BASE
  (offline; ~40-130 ms to import, the first call ~70-100 ms to load its English data, then
  ~0.5 ms a call). A bare number ("5", "1234") is not a date. Keys: MMDD or MMDDYYYY.
* choice -> the name of the option whose phrases match (`matching.match_option`); keys select
  the option that lists the keys among its phrases.
* text -> the normalised utterance; None only when nothing is left.
"""

from __future__ import annotations

import datetime
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from dateparser.date import DateDataParser
from text_to_num import alpha2digit

from voicebot.dialog.matching import match_option, normalize, option_for_keys
from voicebot.lang.days import next_day_of_month

SLOT_KINDS = ("yes_no", "digits", "number", "money", "date", "choice", "text")


@dataclass(frozen=True)
class SlotValue:
    value: Any  # bool, str, int, Decimal, datetime.date, or the chosen option's name
    text: str  # canonical form for display: "yes", "4207", "42", "12.50", "2026-12-03"


# --- yes / no ------------------------------------------------------------------------------

YES = (
    "yes", "yeah", "yep", "yup", "ya", "sure", "correct", "that's correct", "that is correct",
    "right", "that's right", "that is right", "absolutely", "of course", "uh huh", "mm hmm",
    "affirmative", "definitely", "mhm", "ok", "okay", "alright", "it is", "i do", "i did",
    "i think so",
)  # fmt: skip
NO = (
    "no", "nope", "nah", "not really", "no thanks", "no thank you", "that's wrong",
    "that is wrong", "wrong", "incorrect", "that's not right", "not right", "negative",
    "absolutely not", "of course not", "definitely not", "uh uh", "it's not", "it is not",
    "i don't", "i do not", "i didn't", "i don't think so", "not at all", "never",
)  # fmt: skip
UNSURE = ("not sure", "i'm not sure", "don't know", "no idea", "maybe", "i guess")


def _phrase_regex(phrases: Sequence[str]) -> re.Pattern[str]:
    alternatives = sorted(phrases, key=len, reverse=True)
    return re.compile(r"(?<!\S)(?:" + "|".join(map(re.escape, alternatives)) + r")(?!\S)")


_POLARITY = {p: True for p in YES} | {p: False for p in NO} | {p: None for p in UNSURE}
_YES_NO = _phrase_regex(list(_POLARITY))


def parse_yes_no(text: str) -> SlotValue | None:
    found = {_POLARITY[m.group(0)] for m in _YES_NO.finditer(normalize(text))}
    if len(found) != 1 or None in found:
        return None
    value = found.pop()
    return SlotValue(value, "yes" if value else "no")


# --- numbers in speech --------------------------------------------------------------------

_A_MAGNITUDE = re.compile(r"(?<!\S)an? (hundred|thousand|million)\b")
_HALF = re.compile(r"(?<!\S)(\d+) and a half(?!\S)|(?<!\S)a half(?!\S)")
_NEGATIVE = re.compile(r"(?<!\S)(?:minus|negative) (?=\d)")


def numerals(text: str) -> str:
    """`text` normalised, with number words as digits ("a hundred and five" -> "105")."""
    said = _A_MAGNITUDE.sub(r"one \1", normalize(text))
    said = alpha2digit(said, "en", threshold=0) if said else said
    said = _HALF.sub(lambda m: f"{m.group(1) or 0}.5", said)
    return _NEGATIVE.sub("-", said)


_ZERO_WORDS = re.compile(r"(?<!\S)(?:oh|o)(?!\S)")
_REPEATED = re.compile(r"(?<!\S)(double|triple) (\d)(?!\S)")


def parse_digits(
    text: str, min_len: int | None = None, max_len: int | None = None
) -> SlotValue | None:
    said = _ZERO_WORDS.sub("0", numerals(text))
    said = _REPEATED.sub(lambda m: m.group(2) * (2 if m.group(1) == "double" else 3), said)
    return _digits_value("".join(re.findall(r"\d", said)), min_len, max_len)


def _digits_value(digits: str, min_len: int | None, max_len: int | None) -> SlotValue | None:
    if not digits or (min_len is not None and len(digits) < min_len):
        return None
    if max_len is not None and len(digits) > max_len:
        return None
    return SlotValue(digits, digits)


_NUMBER_TOKEN = re.compile(r"-?\d+(?:\.\d+)?")


def _to_number(token: str) -> int | Decimal:
    return Decimal(token) if "." in token else int(token)


def parse_number(text: str) -> SlotValue | None:
    tokens = [t for t in numerals(text).split() if _NUMBER_TOKEN.fullmatch(t)]
    if len(tokens) != 1:
        return None
    value = _to_number(tokens[0])
    return SlotValue(value, str(value))


# --- money --------------------------------------------------------------------------------

_DOLLAR = r"(?:dollars?|bucks?|euros?|pounds?|usd|eur|gbp)"
_CENT = r"(?:cents?|pence|p)"
_CURRENCY_SIGN = re.compile(r"[$€£]\s*(\d[\d,]*(?:\.\d+)?)")
_AMOUNT = re.compile(
    rf"(?P<units>\d+(?:\.\d{{1,2}})?)(?: {_DOLLAR})?(?: (?P<cents>\d{{1,2}})(?: {_CENT})?)?"
    rf"|(?P<only_cents>\d{{1,2}}) {_CENT}"
)
_MONEY_WORDS = re.compile(rf"\d+(?:\.\d+)?|{_DOLLAR}|{_CENT}")
_CENTS = Decimal("0.01")


def parse_money(text: str) -> SlotValue | None:
    said = numerals(_CURRENCY_SIGN.sub(r"\1 dollars ", text))
    kept = " ".join(t for t in said.split() if _MONEY_WORDS.fullmatch(t))
    m = _AMOUNT.fullmatch(kept)
    if m is None:
        return None
    if m["only_cents"]:
        amount = Decimal(m["only_cents"]) / 100
    else:
        if m["cents"] and "." in m["units"]:
            return None  # "12.50 30" is not an amount
        amount = Decimal(m["units"]) + Decimal(m["cents"] or 0) / 100
    amount = amount.quantize(_CENTS)
    return SlotValue(amount, str(amount))


# --- dates --------------------------------------------------------------------------------

_LEADING = re.compile(r"^(?:(?:on|for|by|it's|its|it is|how about|what about|maybe|say)\s)+")
_SPOKEN_YEAR = re.compile(r"(?<=\d(?:st|nd|rd|th) )(19|20) (\d\d)$|(?<=[a-z] )(19|20) (\d\d)$")
_WEEKDAY = r"(?:monday|tuesday|wednesday|thursday|friday|saturday|sunday) "
_DAY_OF_MONTH = re.compile(rf"(?:{_WEEKDAY})?(?:the )?(\d{{1,2}})(?:st|nd|rd|th)")
_DATE_SHAPE = re.compile(r"[a-z]{2}|\d[/.-]\d")
_VAGUE_WEEK = re.compile(r"\b(?:next|this|last) week\b")
_DATE_SETTINGS = {
    "PREFER_DATES_FROM": "future",  # a month-day already past this year is next year's
    "DATE_ORDER": "MDY",
    "RETURN_TIME_AS_PERIOD": True,  # so "5 pm" and "now" can be told apart from dates
}


def parse_date(text: str, today: datetime.date) -> SlotValue | None:
    found = _spoken_date(text, today)
    return SlotValue(found, found.isoformat()) if found else None


def _spoken_date(text: str, today: datetime.date) -> datetime.date | None:
    said = _LEADING.sub("", numerals(text))
    said = _SPOKEN_YEAR.sub(lambda m: (m[1] or m[3]) + (m[2] or m[4]), said)
    if not _DATE_SHAPE.search(said) or _VAGUE_WEEK.search(said):
        return None  # a bare number, or a week rather than a day
    if m := _DAY_OF_MONTH.fullmatch(said):
        return next_day_of_month(int(m[1]), today)
    base = datetime.datetime.combine(today, datetime.time())
    parser = DateDataParser(languages=["en"], settings=_DATE_SETTINGS | {"RELATIVE_BASE": base})
    found = parser.get_date_data(said)
    if found.date_obj is None or found.period not in ("day", "week"):
        return None  # a month ("december"), a year, or a time of day ("5 pm")
    return found.date_obj.date()


def _date_from_keys(keys: str, today: datetime.date) -> datetime.date | None:
    if len(keys) not in (4, 8):
        return None
    try:
        year = int(keys[4:]) if len(keys) == 8 else today.year
        found = datetime.date(year, int(keys[:2]), int(keys[2:4]))
        if len(keys) == 4 and found < today:
            found = found.replace(year=year + 1)
    except ValueError:
        return None  # no such day, or 29 February in a year without one
    return found


# --- keys ---------------------------------------------------------------------------------


def _keys(dtmf: str) -> str | None:
    """The digits keyed, without the "#" terminator; None if anything else was pressed."""
    keys = dtmf[:-1] if dtmf.endswith("#") else dtmf
    return keys if keys.isdigit() and keys.isascii() else None


def _from_keys(
    kind: str,
    dtmf: str,
    min_len: int | None,
    max_len: int | None,
    options: Mapping[str, Sequence[str]],
    today: datetime.date,
) -> SlotValue | None:
    if kind == "money" and dtmf.count("*") == 1:
        units, _, cents = dtmf.removesuffix("#").partition("*")
        return parse_money(f"{units}.{cents}") if units.isdigit() and cents.isdigit() else None
    if kind == "choice":
        chosen = option_for_keys(dtmf, options)
        return SlotValue(chosen, chosen) if chosen else None
    keys = _keys(dtmf)
    if keys is None:
        return None
    if kind == "yes_no":
        return {"1": SlotValue(True, "yes"), "2": SlotValue(False, "no")}.get(keys)
    if kind == "digits":
        return _digits_value(keys, min_len, max_len)
    if kind == "number":
        return parse_number(keys)
    if kind == "money":
        return parse_money(keys)
    if kind == "date":
        found = _date_from_keys(keys, today)
        return SlotValue(found, found.isoformat()) if found else None
    return None  # free text can't be keyed


# --- choice, text and the dispatcher ------------------------------------------------------


def parse_choice(text: str, options: Mapping[str, Sequence[str]]) -> SlotValue | None:
    match = match_option(text, options)
    return SlotValue(match.name, match.name) if match else None


def parse_text(text: str) -> SlotValue | None:
    said = normalize(text)
    return SlotValue(said, said) if said else None


def parse_slot(
    kind: str,
    text: str | None = None,
    *,
    dtmf: str | None = None,
    min_len: int | None = None,
    max_len: int | None = None,
    options: Mapping[str, Sequence[str]] | None = None,
    today: datetime.date | None = None,
) -> SlotValue | None:
    """The value of a `kind` slot in `text` or `dtmf` (keys win), or None if there is none."""
    if kind not in SLOT_KINDS:
        raise ValueError(f"unknown slot type {kind!r}; expected one of {', '.join(SLOT_KINDS)}")
    today = today or datetime.date.today()
    if dtmf:
        return _from_keys(kind, dtmf, min_len, max_len, options or {}, today)
    if not text or not text.strip():
        return None
    if kind == "yes_no":
        return parse_yes_no(text)
    if kind == "digits":
        return parse_digits(text, min_len, max_len)
    if kind == "number":
        return parse_number(text)
    if kind == "money":
        return parse_money(text)
    if kind == "date":
        return parse_date(text, today)
    if kind == "choice":
        return parse_choice(text, options or {})
    return parse_text(text)
