"""Values read aloud the Chinese way (characters for the synthesiser)."""

from __future__ import annotations

import datetime
from decimal import Decimal
from typing import Any

import pytest

from voicebot.lang.zh_reading import (
    read_date,
    read_digits,
    read_money,
    read_number,
    read_numbers_in,
    read_time,
)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("13800138000", "幺三八零零幺三八零零零"),
        (13800138000, "幺三八零零幺三八零零零"),
        ("138-0013 8000", "幺三八零零幺三八零零零"),
        ("4207", "四二零七"),
        ("A12", "A幺二"),
    ],
)
def test_read_digits(value: Any, expected: str) -> None:
    assert read_digits(value) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (0, "零"),
        (5, "五"),
        (10, "十"),
        (12, "十二"),
        (105, "一百零五"),
        (1050, "一千零五十"),
        (20000, "两万"),
        (2026, "两千零二十六"),
        (200, "两百"),
        (12000, "一万两千"),
        (120000, "十二万"),
        (22, "二十二"),
        (2, "二"),
        ("58.3", "五十八点三"),
        (Decimal("0.5"), "零点五"),
        (-5, "负五"),
    ],
)
def test_read_number(value: Any, expected: str) -> None:
    assert read_number(value) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("58.3", "五十八元三角"),
        (58.3, "五十八元三角"),
        (Decimal("58.35"), "五十八元三角五分"),
        ("58.05", "五十八元零五分"),
        ("100", "一百元"),
        ("105.00", "一百零五元"),
        ("0.5", "五角"),
        ("0.05", "五分"),
        ("0.35", "三角五分"),
        ("2", "两元"),
        ("2.2", "两元两角"),
        ("10.10", "十元一角"),
        ("200", "两百元"),
        ("0", "零元"),
        ("-3", "负三元"),
    ],
)
def test_read_money(value: Any, expected: str) -> None:
    assert read_money(value) == expected


@pytest.mark.parametrize("value", ["abc", "nan", None])
def test_read_money_rejects_what_is_not_an_amount(value: Any) -> None:
    with pytest.raises(ValueError, match="money"):
        read_money(value)


def test_read_date() -> None:
    day = datetime.date(2026, 12, 3)
    assert read_date(day) == "十二月三日星期四"
    assert read_date(day, year=True) == "二零二六年十二月三日星期四"
    assert read_date(day, weekday=False) == "十二月三日"
    assert read_date(datetime.date(2026, 11, 29)) == "十一月二十九日星期日"


@pytest.mark.parametrize(
    ("hour", "minute", "expected"),
    [
        (15, 0, "下午三点"),
        (15, 30, "下午三点半"),
        (10, 15, "上午十点十五分"),
        (9, 5, "上午九点零五分"),
        (12, 0, "中午十二点"),
        (14, 0, "下午两点"),
        (20, 0, "晚上八点"),
        (0, 0, "凌晨零点"),
    ],
)
def test_read_time(hour: int, minute: int, expected: str) -> None:
    assert read_time(datetime.time(hour, minute)) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("您的话费余额是58.3元。", "您的话费余额是五十八元三角。"),
        ("共100块", "共一百元"),
        ("¥12.5", "十二元五角"),
        ("号码13800138000", "号码幺三八零零幺三八零零零"),
        ("2026年12月3号", "二零二六年十二月三号"),
        ("15:30到达", "十五点三十分到达"),
        ("9:05", "九点零五分"),
        ("2个套餐", "两个套餐"),
        ("第2", "第二"),
        ("按1", "按一"),
        ("没有数字", "没有数字"),
    ],
)
def test_read_numbers_in(text: str, expected: str) -> None:
    assert read_numbers_in(text) == expected
