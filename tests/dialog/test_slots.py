"""Slot parsers: a table of spoken (and keyed) variants per slot type."""

from __future__ import annotations

import datetime
from decimal import Decimal
from typing import Any

import pytest

from voicebot.dialog.slots import SlotValue, parse_slot

TODAY = datetime.date(2026, 11, 24)  # a Tuesday
D = datetime.date


def said(kind: str, text: str, **kw: Any) -> Any:
    slot = parse_slot(kind, text, today=TODAY, **kw)
    return None if slot is None else slot.value


def keyed(kind: str, dtmf: str, **kw: Any) -> Any:
    slot = parse_slot(kind, dtmf=dtmf, today=TODAY, **kw)
    return None if slot is None else slot.value


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("yes", True),
        ("Yeah.", True),
        ("yep", True),
        ("sure", True),
        ("correct", True),
        ("that's right", True),
        ("right", True),
        ("absolutely", True),
        ("of course", True),
        ("uh huh", True),
        ("Uh-huh.", True),
        ("mm hmm", True),
        ("yes please", True),
        ("yes that's correct", True),
        ("I think so", True),
        ("no", False),
        ("nope", False),
        ("nah", False),
        ("not really", False),
        ("no thanks", False),
        ("No thank you.", False),
        ("that's wrong", False),
        ("negative", False),
        ("absolutely not", False),
        ("that's not right", False),
        ("I don't think so", False),
        ("I'm not sure", None),
        ("no idea", None),
        ("maybe", None),
        ("yes no", None),
        ("no that's right", None),
        ("the weather", None),
        ("", None),
    ],
)
def test_yes_no(text: str, expected: bool | None) -> None:
    assert said("yes_no", text) is expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("four two oh seven", "4207"),
        ("four two o seven", "4207"),
        ("double five", "55"),
        ("triple zero", "000"),
        ("double oh seven", "007"),
        ("zero", "0"),
        ("oh", "0"),
        ("one two three four five six seven eight", "12345678"),
        ("1234 5678", "12345678"),
        ("12,345,678", "12345678"),
        ("twelve thirty four", "1234"),
        ("nineteen eighty four", "1984"),
        ("my account number is 1 2 3 4", "1234"),
        ("um it's four two, oh seven", "4207"),
        ("the weather", None),
        ("", None),
        ("no", None),
    ],
)
def test_digits_from_speech(text: str, expected: str | None) -> None:
    assert said("digits", text) == expected


@pytest.mark.parametrize(
    ("text", "dtmf", "expected"),
    [
        ("one two three four five six seven eight", None, "12345678"),
        ("one two three four five six seven", None, None),  # too short
        ("one two three four five six seven eight nine", None, None),  # too long
        (None, "12345678", "12345678"),
        (None, "12345678#", "12345678"),
        (None, "1234567#", None),
        (None, "123456789", None),
        (None, "1234*678", None),
        (None, "#", None),
    ],
)
def test_digits_length_and_keys(text: str | None, dtmf: str | None, expected: str | None) -> None:
    slot = parse_slot("digits", text, dtmf=dtmf, min_len=8, max_len=8)
    assert (slot.value if slot else None) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("forty two", 42),
        ("one hundred and five", 105),
        ("a hundred", 100),
        ("a thousand and one", 1001),
        ("seven hundred fifty thousand", 750_000),
        ("2,500", 2500),
        ("42", 42),
        ("zero", 0),
        ("one", 1),
        ("three point five", Decimal("3.5")),
        ("two and a half", Decimal("2.5")),
        ("minus five", -5),
        ("it's about 40", 40),
        ("twelve thirty four", None),  # two numbers
        ("first", None),
        ("the weather", None),
        ("", None),
    ],
)
def test_number(text: str, expected: int | Decimal | None) -> None:
    value = said("number", text)
    assert value == expected and type(value) is type(expected)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("fifty dollars", "50.00"),
        ("$50", "50.00"),
        ("fifty dollars and twenty five cents", "50.25"),
        ("two hundred and fifty dollars and ninety nine cents", "250.99"),
        ("a hundred and twenty", "120.00"),
        ("twenty bucks", "20.00"),
        ("12.50", "12.50"),
        ("twelve fifty", "12.50"),
        ("twelve dollars fifty", "12.50"),
        ("fifty cents", "0.50"),
        ("$1,250.75", "1250.75"),
        ("I want to pay 50 dollars please", "50.00"),
        ("the weather", None),
        ("nothing", None),
        ("12.505", None),
        ("3 dollars 4 cents 5", None),
        ("", None),
    ],
)
def test_money(text: str, expected: str | None) -> None:
    assert said("money", text) == (Decimal(expected) if expected else None)


@pytest.mark.parametrize(
    ("dtmf", "expected"),
    [("12*50#", "12.50"), ("1250", "1250.00"), ("12*5*0", None), ("*#", None), ("12a", None)],
)
def test_money_keys(dtmf: str, expected: str | None) -> None:
    assert keyed("money", dtmf) == (Decimal(expected) if expected else None)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("december third", D(2026, 12, 3)),
        ("the 3rd of december", D(2026, 12, 3)),
        ("december the third", D(2026, 12, 3)),
        ("dec 3", D(2026, 12, 3)),
        ("the twenty first of december", D(2026, 12, 21)),
        ("tomorrow", D(2026, 11, 25)),
        ("the day after tomorrow", D(2026, 11, 26)),
        ("today", D(2026, 11, 24)),
        ("friday", D(2026, 11, 27)),
        ("on friday", D(2026, 11, 27)),
        ("next friday", D(2026, 11, 27)),  # dateparser: the coming Friday
        ("tuesday", D(2026, 12, 1)),  # said on a Tuesday: next week's
        ("in two weeks", D(2026, 12, 8)),
        ("12/03", D(2026, 12, 3)),
        ("2026-12-03", D(2026, 12, 3)),
        ("march 3", D(2027, 3, 3)),  # past this year: rolls to next year
        ("november 20", D(2027, 11, 20)),
        ("may first", D(2027, 5, 1)),
        ("the 3rd", D(2026, 12, 3)),  # next 3rd of a month
        ("on the 30th", D(2026, 11, 30)),
        ("monday the 7th", D(2026, 12, 7)),
        ("december 3rd twenty twenty seven", D(2027, 12, 3)),
        ("june fifth nineteen ninety", D(1990, 6, 5)),
        ("the weather today", None),
        ("december", None),  # a month, not a day
        ("next week", None),
        ("5 pm", None),
        ("5", None),
        ("1234", None),
        ("february 30", None),
        ("a", None),
        ("", None),
    ],
)
def test_date(text: str, expected: datetime.date | None) -> None:
    assert said("date", text) == expected


@pytest.mark.parametrize(
    ("dtmf", "expected"),
    [
        ("1203", D(2026, 12, 3)),
        ("1120#", D(2027, 11, 20)),
        ("11202026", D(2026, 11, 20)),
        ("0230", None),
        ("123", None),
        ("1*03", None),
    ],
)
def test_date_keys(dtmf: str, expected: datetime.date | None) -> None:
    assert keyed("date", dtmf) == expected


COLOURS = {"red": ["red", "crimson"], "blue": ["blue", "navy", "2"], "green": ["green"]}


@pytest.mark.parametrize(
    ("text", "dtmf", "expected"),
    [
        ("red", None, "red"),
        ("I'd like the crimson one please", None, "red"),
        ("navy", None, "blue"),
        ("greeen", None, "green"),
        ("red or blue", None, None),
        ("purple", None, None),
        (None, "2", "blue"),
        (None, "2#", "blue"),
        (None, "7", None),
    ],
)
def test_choice(text: str | None, dtmf: str | None, expected: str | None) -> None:
    slot = parse_slot("choice", text, dtmf=dtmf, options=COLOURS)
    assert (slot.value if slot else None) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Um, my router keeps dropping!", "my router keeps dropping"),
        ("Hello?", "hello"),
        ("uh", None),
        ("   ", None),
        ("", None),
    ],
)
def test_text(text: str, expected: str | None) -> None:
    assert said("text", text) == expected


@pytest.mark.parametrize(
    ("dtmf", "expected"),
    [("1", True), ("2", False), ("2#", False), ("3", None), ("12", None), ("*", None)],
)
def test_yes_no_keys(dtmf: str, expected: bool | None) -> None:
    assert keyed("yes_no", dtmf) is expected


def test_keys_win_over_speech() -> None:
    assert parse_slot("yes_no", "yes", dtmf="2") == SlotValue(False, "no")


def test_number_keys() -> None:
    assert keyed("number", "42#") == 42


def test_text_cannot_be_keyed() -> None:
    assert keyed("text", "123") is None


def test_canonical_text() -> None:
    assert parse_slot("money", "twenty bucks") == SlotValue(Decimal("20.00"), "20.00")
    assert parse_slot("date", "december third", today=TODAY) == SlotValue(
        D(2026, 12, 3), "2026-12-03"
    )
    assert parse_slot("yes_no", "yep") == SlotValue(True, "yes")


def test_unknown_kind_is_an_error() -> None:
    with pytest.raises(ValueError, match="unknown slot type 'colour'"):
        parse_slot("colour", "red")
