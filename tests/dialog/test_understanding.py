"""understand() and satisfies(): dispatch on the expectation, and early completion."""

from __future__ import annotations

import datetime
import time
from decimal import Decimal
from typing import Any

import pytest

from voicebot.dialog.expectation import Expectation
from voicebot.dialog.understanding import NOTHING, Understanding, satisfies, understand

GLOBALS = ("agent", "operator", "representative", "a human", "repeat", "say that again")
MENU = Expectation(
    "menu",
    options=(
        ("balance", ("balance", "account balance", "how much do I owe", "1")),
        ("billing", ("billing", "bill", "invoice", "payment", "2")),
    ),
    global_phrases=GLOBALS,
)
YES_NO = Expectation("yes_no", global_phrases=GLOBALS)
ACCOUNT = Expectation("digits", min_digits=8, max_digits=8, global_phrases=GLOBALS)
PIN = Expectation("digits", min_digits=4, global_phrases=GLOBALS)
NUMBER = Expectation("number")
MONEY = Expectation("money")
DATE = Expectation("date")
TEXT = Expectation("text", global_phrases=GLOBALS)
COLOUR = Expectation("choice", options=(("red", ("red", "crimson")), ("blue", ("blue", "3"))))
TODAY = datetime.date(2026, 11, 24)


def meaning(u: Understanding) -> tuple[str, str | None, Any]:
    return (u.kind, u.name, u.value)


@pytest.mark.parametrize(
    ("expect", "text", "expected"),
    [
        (MENU, "my balance please", ("option", "balance", "balance")),
        (MENU, "i have a question about my bill", ("option", "billing", "billing")),
        (MENU, "ballance", ("option", "balance", "balance")),
        (MENU, "the weather today", ("none", None, None)),
        (MENU, "let me talk to an agent", ("none", None, None)),  # globals: the engine's
        (YES_NO, "yeah", ("slot", None, True)),
        (YES_NO, "no thanks", ("slot", None, False)),
        (YES_NO, "the weather", ("none", None, None)),
        (ACCOUNT, "one two three four five six seven eight", ("slot", None, "12345678")),
        (ACCOUNT, "one two three", ("none", None, None)),
        (ACCOUNT, "operator", ("none", None, None)),
        (PIN, "four two oh seven", ("slot", None, "4207")),
        (NUMBER, "forty two", ("slot", None, 42)),
        (MONEY, "twenty bucks", ("slot", None, Decimal("20.00"))),
        (DATE, "december third", ("slot", None, datetime.date(2026, 12, 3))),
        (COLOUR, "crimson", ("slot", None, "red")),
        (COLOUR, "purple", ("none", None, None)),
        (TEXT, "my router keeps dropping", ("slot", None, "my router keeps dropping")),
        (TEXT, "um", ("none", None, None)),
        (MENU, "", ("none", None, None)),
        (MENU, None, ("none", None, None)),
    ],
)
def test_understand_speech(expect: Expectation, text: str | None, expected: tuple) -> None:
    assert meaning(understand(expect, text, today=TODAY)) == expected


@pytest.mark.parametrize(
    ("expect", "dtmf", "expected"),
    [
        (MENU, "1", ("option", "balance", "balance")),
        (MENU, "2#", ("option", "billing", "billing")),
        (MENU, "9", ("none", None, None)),
        (YES_NO, "1", ("slot", None, True)),
        (YES_NO, "2", ("slot", None, False)),
        (ACCOUNT, "12345678#", ("slot", None, "12345678")),
        (ACCOUNT, "1234#", ("none", None, None)),
        (COLOUR, "3", ("slot", None, "blue")),
        (DATE, "1203", ("slot", None, datetime.date(2026, 12, 3))),
        (MONEY, "12*50#", ("slot", None, Decimal("12.50"))),
    ],
)
def test_understand_keys(expect: Expectation, dtmf: str, expected: tuple) -> None:
    assert meaning(understand(expect, dtmf=dtmf, today=TODAY)) == expected


def test_keys_win_over_speech() -> None:
    assert understand(YES_NO, "yes", dtmf="2").value is False


def test_scores_and_canonical_text() -> None:
    exact = understand(MENU, "balance")
    assert exact == Understanding("option", "balance", "balance", 1.0)
    assert 0.6 < understand(MENU, "ballance").score < 0.85
    assert understand(MONEY, "twelve fifty") == Understanding(
        "slot", None, Decimal("12.50"), 1.0, "12.50"
    )
    assert understand(COLOUR, "crimson").text == "red"
    assert understand(MENU, "the weather") is NOTHING


@pytest.mark.parametrize(
    ("expect", "text", "expected"),
    [
        (MENU, "my balance", True),
        (MENU, "i have a question about my bill", True),
        (MENU, "i have a question about my", False),
        (MENU, "ballance", False),  # fuzzy only: wait for more
        (MENU, "agent", True),
        (YES_NO, "yes", True),
        (YES_NO, "no thanks", True),
        (YES_NO, "i'm not", False),
        (YES_NO, "repeat", True),
        (ACCOUNT, "one two three four five six seven", False),
        (ACCOUNT, "one two three four five six seven eight", True),
        (ACCOUNT, "1234 5678", True),
        (ACCOUNT, "one two three four five six seven eight nine", False),
        (PIN, "one two three four five", False),  # no maximum: more could follow
        (NUMBER, "forty two", False),
        (MONEY, "twenty bucks", False),
        (DATE, "december third", False),
        (TEXT, "my router keeps dropping", False),
        (COLOUR, "crimson", True),
        (COLOUR, "cri", False),
        (YES_NO, "", False),
    ],
)
def test_satisfies(expect: Expectation, text: str, expected: bool) -> None:
    assert satisfies(expect, text) is expected


@pytest.mark.parametrize(
    ("expect", "text"),
    [
        (MENU, "um i would like to hear about the account that i have and how much"),
        (MENU, "my balance please"),
        (YES_NO, "well i am not really"),
        (ACCOUNT, "one two three four five six seven eight"),
        (NUMBER, "forty two"),
    ],
)
def test_satisfies_is_cheap(expect: Expectation, text: str) -> None:
    satisfies(expect, text)  # warm the phrase cache, as on the previous partial
    runs = 200
    start = time.perf_counter()
    for _ in range(runs):
        satisfies(expect, text)
    assert (time.perf_counter() - start) / runs < 0.001
