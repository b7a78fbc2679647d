"""Mandarin menu matching: characters, words (jieba) and pinyin homophones (English: test_matching)."""

from __future__ import annotations

import pytest

from voicebot.dialog.matching import CONTAINED
from voicebot.dialog.zh_matching import match_option, score_phrase, words

MENU = {
    "bill": ["话费查询", "查话费", "话费"],
    "plan": ["套餐", "换套餐", "套餐变更"],
    "agent": ["人工", "人工服务", "转人工"],
    "hours": ["营业时间"],
    "english": ["English", "9"],
}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("话费", "bill"),
        ("查话费", "bill"),
        ("我想查一下话费", "bill"),
        ("我想查一下話費。", "bill"),  # Traditional, as the recogniser may write
        ("嗯，那个，话费查询", "bill"),
        ("花费", "bill"),  # homophone: hua fei
        ("查一下花费", "bill"),
        ("余额话费", "bill"),
        ("换套餐", "plan"),
        ("嗯，换个套餐", "plan"),
        ("我要变更套餐", "plan"),
        ("套餐變更", "plan"),
        ("转人工", "agent"),
        ("麻烦您帮我转人工，谢谢", "agent"),
        ("人公服务", "agent"),  # homophone: ren gong
        ("人工客服", "agent"),
        ("营业时间", "hours"),
        ("你们几点营业时间", "hours"),
        ("赢业时间", "hours"),  # ying/yin folded
        ("English", "english"),
        ("english please", "english"),
        ("9", "english"),
        ("按9", "english"),
        ("19", None),  # "9" is found at digit edges only
        ("今天天气怎么样", None),
        ("话费和套餐", None),  # two options: ambiguous
        ("嗯", None),
        ("", None),
    ],
)
def test_match_option(text: str, expected: str | None) -> None:
    match = match_option(text, MENU)
    assert (match.name if match else None) == expected


def test_homophones_score_below_characters_said_whole() -> None:
    said_whole = score_phrase("话费", "话费")
    contained = score_phrase("查话费", "话费")
    homophone = score_phrase("花费", "话费")
    assert said_whole == 1.0
    assert CONTAINED <= contained < said_whole
    assert 0.75 <= homophone < CONTAINED


def test_one_syllable_homophones_do_not_match() -> None:
    assert score_phrase("四", "是") == 0.0
    assert score_phrase("是", "是") == 1.0


def test_latin_and_digit_phrases_match_at_word_edges() -> None:
    assert score_phrase("13", "1") == 0.0
    assert score_phrase("1", "1") == 1.0
    assert score_phrase("按1", "1") >= CONTAINED


def test_words_out_of_order_score_below_a_phrase_said_whole() -> None:
    score = score_phrase("变更一下我的套餐", "套餐变更")
    assert 0.6 <= score <= 0.7


def test_words() -> None:
    assert words("查询话费余额") == ("查询", "话费", "余额")
    assert words("换 套餐") == ("换", "套餐")


def test_option_names_are_phrases_too() -> None:
    assert match_option("人工", {"人工": [], "话费": []}) is not None
