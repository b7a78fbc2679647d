"""Card-like numbers redacted from what is written down; phone numbers and amounts kept."""

from __future__ import annotations

import string

from hypothesis import given
from hypothesis import strategies as st

from voicebot.policy.card_numbers import card_like, luhn_valid, redact_cards, redact_value

WORDS = "zero one two three four five six seven eight nine".split()
HAN = ["零〇", "一幺", "二两", "三", "四", "五", "六", "七", "八", "九"]
AROUND = ["my card is", "the number", "please", "thanks", "卡号是", "好的", "ok"]


def check_digit(body: str) -> str:
    for d in string.digits:
        if luhn_valid(body + d):
            return d
    raise AssertionError(body)


@st.composite
def card_numbers(draw: st.DrawFn, lengths: tuple[int, ...] = tuple(range(13, 20))) -> str:
    length = draw(st.sampled_from(lengths))
    body = draw(st.sampled_from("23456")) + draw(
        st.text(string.digits, min_size=length - 2, max_size=length - 2)
    )
    return body + check_digit(body)


@st.composite
def written(draw: st.DrawFn, digits: str) -> str:
    """`digits` the way a recogniser or a keypad may write them."""
    how = draw(st.sampled_from(["plain", "fours", "dashes", "words", "han", "fullwidth", "mixed"]))
    if how == "plain":
        return digits
    if how in ("fours", "dashes"):
        groups = [digits[i : i + 4] for i in range(0, len(digits), 4)]
        return (" " if how == "fours" else "-").join(groups)
    if how == "words":
        sep = draw(st.sampled_from([" ", ", ", " - "]))
        return sep.join(WORDS[int(d)] for d in digits)
    if how == "han":
        return "".join(draw(st.sampled_from(HAN[int(d)])) for d in digits)
    if how == "fullwidth":
        return "".join(chr(0xFF10 + int(d)) for d in digits)
    half = len(digits) // 2  # "4532 0151 one two eight three ..."
    return digits[:half] + " " + " ".join(WORDS[int(d)] for d in digits[half:])


@given(st.data(), card_numbers(), st.sampled_from(AROUND), st.sampled_from(AROUND))
def test_a_card_number_is_redacted_to_its_last_four_digits_however_written(
    data: st.DataObject, digits: str, before: str, after: str
):
    shown = data.draw(written(digits))
    text = f"{before} {shown} {after}"
    assert redact_cards(text) == f"{before} •••• {digits[-4:]} {after}"


@given(card_numbers(lengths=(15, 16)))
def test_a_card_said_with_its_expiry_and_security_code_loses_the_card(digits: str):
    spaced = " ".join(digits[i : i + 4] for i in range(0, len(digits), 4))
    assert redact_cards(f"{spaced} 12 28 123") == f"•••• {digits[-4:]} 12 28 123"


@given(card_numbers())
def test_a_number_failing_the_luhn_check_is_kept(digits: str):
    wrong = digits[:-1] + str((int(digits[-1]) + 1) % 10)
    assert not luhn_valid(wrong)
    assert redact_cards(f"card {wrong}") == f"card {wrong}"


@st.composite
def chinese_mobiles(draw: st.DrawFn) -> str:
    return (
        "1"
        + draw(st.sampled_from("3456789"))
        + draw(st.text(string.digits, min_size=9, max_size=9))
    )


@st.composite
def us_numbers(draw: st.DrawFn) -> str:
    area = draw(st.sampled_from("23456789")) + draw(st.text(string.digits, min_size=2, max_size=2))
    line = draw(st.sampled_from("23456789")) + draw(st.text(string.digits, min_size=6, max_size=6))
    return area + line


@given(st.data(), chinese_mobiles())
def test_chinese_mobile_numbers_are_kept(data: st.DataObject, mobile: str):
    shown = data.draw(st.sampled_from([mobile, f"{mobile[:3]} {mobile[3:7]} {mobile[7:]}"]))
    shown = data.draw(st.sampled_from([shown, f"+86 {shown}", f"+86-{shown}", f"0086 {shown}"]))
    for text in (f"我的手机是{shown}", data.draw(written(mobile)), f"call {shown} please"):
        assert redact_cards(text) == text


@given(st.data(), us_numbers())
def test_us_phone_numbers_are_kept(data: st.DataObject, n: str):
    forms = [
        n,
        f"({n[:3]}) {n[3:6]}-{n[6:]}",
        f"{n[:3]}-{n[3:6]}-{n[6:]}",
        f"+1 {n[:3]} {n[3:6]} {n[6:]}",
    ]
    shown = data.draw(st.sampled_from([*forms, f"1-{forms[2]}", data.draw(written(n))]))
    text = f"reach me at {shown} tomorrow"
    assert redact_cards(text) == text


@given(st.integers(0, 10**15), st.integers(0, 99))
def test_amounts_are_kept(units: int, cents: int):
    for text in (
        f"you owe ${units:,}.{cents:02d}",
        f"¥{units % 10**9}.{cents:02d}",
        f"{units:,} 元",
    ):
        assert redact_cards(text) == text


def test_two_phone_numbers_in_a_row_are_two_numbers_not_a_card():
    assert redact_cards("13800138000 13912345678") == "13800138000 13912345678"


@given(
    st.text(
        alphabet=string.digits + " -,.abc一二三四五六七八九零" + "".join(WORDS[:3]), max_size=80
    )
)
def test_redacting_twice_is_redacting_once_and_keeps_text_without_cards(text: str):
    once = redact_cards(text)
    assert redact_cards(once) == once
    digits_in = sum(ch.isdigit() for ch in text)
    if digits_in < 13:
        assert once == text


def test_redact_value_reaches_into_slots_vars_and_integers():
    value = {"card": 4532015112830366, "said": ["pay with 4532-0151-1283-0366"], "n": 7, "ok": True}
    assert redact_value(value) == {
        "card": "•••• 0366",
        "said": ["pay with •••• 0366"],
        "n": 7,
        "ok": True,
    }
    assert card_like("4532015112830366") and not card_like("1532015112830366")
