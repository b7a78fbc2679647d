"""Menu option matching: normalisation, phrase scoring and ambiguity."""

from __future__ import annotations

import pytest

from voicebot.dialog.matching import (
    OptionMatch,
    match_option,
    normalize,
    option_for_keys,
    score_phrase,
)

MAIN_MENU = {
    "balance": ["balance", "account balance", "how much do I owe"],
    "billing": ["billing", "bill", "invoice", "payment"],
}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Um, I'd like my balance, please!", "my balance"),
        ("  Balance  ", "balance"),
        ("No.", "no"),
        ("Yes!", "yes"),
        ("yeah so no", "no"),
        ("uh huh", "uh huh"),
        ("Uh-huh.", "uh huh"),
        ("mm hmm", "mm hmm"),
        ("well I want to pay", "pay"),
        ("can I talk to an agent", "talk to an agent"),
        ("I don't know", "i don't know"),
        ("it\u2019s fine", "it's fine"),
        ("12,345,678", "12345678"),
        ("1234, 5678", "1234 5678"),
        ("it's $12.50", "it's 12.50"),
        ("on 12/03 or 2026-12-03", "on 12/03 or 2026-12-03"),
        ("rock-and-roll", "rock and roll"),
        ("'quoted' word", "quoted word"),
        ("erm, uh, please", ""),
        ("", ""),
    ],
)
def test_normalize(text: str, expected: str) -> None:
    assert normalize(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("my balance please", "balance"),
        ("i have a question about my bill", "billing"),
        ("how much do i owe you", "balance"),
        ("how much will i owe", "balance"),
        ("ballance", "balance"),  # ASR slip
        ("balance", "balance"),
        ("Billing.", "billing"),
        ("my account balance", "balance"),
        ("invoices", "billing"),
        ("pay my bills", "billing"),
        ("i want to make a payment", "billing"),
        ("um I'd like to hear my balance please", "balance"),
        ("the weather today", None),
        ("what do i owe", None),  # one content word of three is not enough
        ("will", None),  # 75 close to "bill": too far for a short word
        ("bill or balance", None),  # ambiguous: ask again
        ("", None),
        ("um", None),
    ],
)
def test_match_option(text: str, expected: str | None) -> None:
    match = match_option(text, MAIN_MENU)
    assert (match.name if match else None) == expected


def test_match_reports_phrase_and_score() -> None:
    assert match_option("balance", MAIN_MENU) == OptionMatch("balance", "balance", 1.0)
    match = match_option("my account balance", MAIN_MENU)
    assert match is not None and match.phrase == "account balance"
    assert 0.85 < match.score < 1.0


def test_whole_word_boundaries() -> None:
    assert match_option("a billion questions", {"pay": ["bill"]}) is None
    assert match_option("my bill", {"pay": ["bill"]}) is not None


def test_longer_phrase_outranks_contained_shorter_one() -> None:
    said = normalize("my account balance")
    assert score_phrase(said, "account balance") > score_phrase(said, "balance")


def test_scores_rank_exact_then_contained_then_fuzzy() -> None:
    exact = score_phrase("balance", "balance")
    contained = score_phrase("my balance today", "balance")
    fuzzy = score_phrase("ballance", "balance")
    assert exact == 1.0 > contained > 0.85 > 0.8 > fuzzy > 0.6


def test_option_name_is_an_implicit_phrase() -> None:
    match = match_option("talk to agent", {"talk_to_agent": ["representative"], "other": ["x"]})
    assert match is not None and match.name == "talk_to_agent"


def test_threshold_is_honoured() -> None:
    assert match_option("ballance", MAIN_MENU, threshold=0.9) is None
    assert match_option("ballance", MAIN_MENU, threshold=0.5) is not None


def test_clear_winner_beats_weak_runner_up() -> None:
    options = {"balance": ["account balance"], "account": ["account"]}
    match = match_option("account balance", options)
    assert match is not None and match.name == "balance"


def test_phrases_with_fillers_compare_like_speech() -> None:
    match = match_option("um i want to pay please", {"pay": ["I want to pay"], "other": ["x"]})
    assert match is not None and match.name == "pay" and match.score == 1.0


@pytest.mark.parametrize(
    ("dtmf", "expected"),
    [("1", "balance"), ("2#", "billing"), ("3", None), ("", None), ("12", None)],
)
def test_option_for_keys(dtmf: str, expected: str | None) -> None:
    options = {"balance": ["balance", "1"], "billing": ["bill", "2"], "other": ["x"]}
    assert option_for_keys(dtmf, options) == expected


def test_keys_listed_by_two_options_select_neither() -> None:
    assert option_for_keys("1", {"a": ["1"], "b": ["1"]}) is None
