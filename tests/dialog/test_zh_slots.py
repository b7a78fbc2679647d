"""Mandarin slot parsers: a table of spoken variants per slot type (English: test_slots)."""

from __future__ import annotations

import datetime
from decimal import Decimal
from typing import Any

import pytest

from voicebot.dialog.zh_slots import parse_slot

TODAY = datetime.date(2026, 11, 24)  # a Tuesday
D = datetime.date


def said(kind: str, text: str, **kw: Any) -> Any:
    slot = parse_slot(kind, text, today=TODAY, **kw)
    return None if slot is None else slot.value


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("是", True),
        ("是的", True),
        ("是啊", True),
        ("对", True),
        ("对的", True),
        ("对对对", True),
        ("好", True),
        ("好的", True),
        ("好啊", True),
        ("好吧", True),
        ("可以", True),
        ("没问题", True),
        ("嗯", True),
        ("嗯嗯", True),
        ("行", True),
        ("没错", True),
        ("确认", True),
        ("嗯，对的。", True),
        ("好的，没问题", True),
        ("是的，谢谢", True),
        ("你好，是的", True),
        ("對的", True),  # Traditional
        ("OK", True),
        ("要", True),
        ("要的", True),
        ("需要", True),
        ("有", True),
        ("有的", True),
        ("没有问题", True),
        ("不", False),
        ("不是", False),
        ("不对", False),
        ("不用", False),
        ("不用了，谢谢", False),
        ("不要", False),
        ("算了", False),
        ("没有", False),
        ("不行", False),
        ("不可以", False),
        ("不需要", False),
        ("嗯，不是", False),
        ("不好意思，不是", False),
        ("不對", False),  # Traditional
        ("no", False),
        ("不知道", None),
        ("不确定", None),
        ("可能吧", None),
        ("是不是", None),
        ("对不对", None),
        ("是的，不对", None),
        ("我想想", None),
        ("今天天气怎么样", None),
        ("你好", None),
        ("这个很重要", None),
        ("我有点忙", None),
        ("要不要", None),
        ("有没有", None),
        ("你们是哪个快递", None),  # a question, not a yes: 是 inside it answers nothing
        ("这是什么电话", None),
        ("是谁打来的", None),
        ("可以吗？", None),
        ("几点送到", None),
        ("对，几点都行", True),  # 几 inside an answer that has said yes
        ("I don't know", None),  # "no" only as a word
        ("book", None),
        ("", None),
    ],
)
def test_yes_no(text: str, expected: bool | None) -> None:
    assert said("yes_no", text) is expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("零一二三四五六七八九", "0123456789"),
        ("〇", "0"),
        ("幺三八零零幺三八零零零", "13800138000"),
        ("一三八零零一三八零零零", "13800138000"),
        ("幺三八 0013 8000", "13800138000"),  # mixed with the recogniser's digits
        ("138 0013 8000", "13800138000"),
        ("１３８００１３８０００", "13800138000"),  # full-width
        ("幺三八，零零幺三，八千", "13800138000"),  # 八千 is 8000
        ("两两三", "223"),
        ("四二〇七", "4207"),
        ("我的号码是幺三八零零幺三八零零零", "13800138000"),
        ("嗯，四二零七", "4207"),
        ("十二", "12"),
        ("我查一下，幺三八零零幺三八零零零", "13800138000"),  # not the 一 of 一下
        ("没有", None),
    ],
)
def test_digits(text: str, expected: str | None) -> None:
    assert said("digits", text) == expected


@pytest.mark.parametrize(
    ("text", "low", "high", "expected"),
    [
        ("幺三八零零幺三八零零零", 11, 11, "13800138000"),
        ("幺三八零零幺三八零零", 11, 11, None),
        ("幺三八零零幺三八零零零零", 11, 11, None),
        ("四二零七", 4, 6, "4207"),
    ],
)
def test_digits_length(text: str, low: int, high: int, expected: str | None) -> None:
    assert said("digits", text, min_len=low, max_len=high) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("五", 5),
        ("十", 10),
        ("十五", 15),
        ("四十二", 42),
        ("一百零五", 105),
        ("两百", 200),
        ("三百五", 350),
        ("一千零五十", 1050),
        ("一万二", 12000),
        ("一〇五", 105),
        ("105", 105),
        ("三点五", Decimal("3.5")),
        ("3.5", Decimal("3.5")),
        ("两个半", Decimal("2.5")),
        ("负五", -5),
        ("我要三个", 3),
        ("第三个", 3),
        ("三个和五个", None),
        ("我看一下，三个", 3),
        ("一共五个", 5),
        ("没有", None),
    ],
)
def test_number(text: str, expected: int | Decimal | None) -> None:
    assert said("number", text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("五十八块三", "58.30"),
        ("五十八元三角", "58.30"),
        ("五十八块三毛", "58.30"),
        ("五十八块三毛五", "58.35"),
        ("五十八元三角五分", "58.35"),
        ("五十八块零五分", "58.05"),
        ("两块五", "2.50"),
        ("两块五毛钱", "2.50"),
        ("一百块钱", "100.00"),
        ("一百零五元", "105.00"),
        ("一百零五", "105.00"),
        ("三毛五", "0.35"),
        ("五角", "0.50"),
        ("五分钱", "0.05"),
        ("58.3元", "58.30"),
        ("58块3", "58.30"),
        ("¥58.3", "58.30"),
        ("￥100", "100.00"),
        ("我要交五十八块三", "58.30"),
        ("一共五十八块三", "58.30"),
        ("三万一", "31000.00"),
        ("五十八块和三十块", None),
        ("58.3元3角", None),
        ("不知道", None),
    ],
)
def test_money(text: str, expected: str | None) -> None:
    value = said("money", text)
    assert (None if value is None else str(value)) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("今天", D(2026, 11, 24)),
        ("明天", D(2026, 11, 25)),
        ("后天", D(2026, 11, 26)),
        ("大后天", D(2026, 11, 27)),
        ("周三", D(2026, 11, 25)),
        ("星期三", D(2026, 11, 25)),
        ("礼拜三", D(2026, 11, 25)),
        ("周二", D(2026, 12, 1)),  # said on a Tuesday: next week's
        ("这周一", D(2026, 11, 23)),
        ("本周五", D(2026, 11, 27)),
        ("下周三", D(2026, 12, 2)),
        ("下星期一", D(2026, 11, 30)),
        ("下个礼拜天", D(2026, 12, 6)),
        ("星期天", D(2026, 11, 29)),
        ("周日", D(2026, 11, 29)),
        ("十二月三号", D(2026, 12, 3)),
        ("十二月三日", D(2026, 12, 3)),
        ("12月3号", D(2026, 12, 3)),
        ("十一月一号", D(2027, 11, 1)),  # passed this year: next year's
        ("2026年12月3日", D(2026, 12, 3)),
        ("二零二七年一月五号", D(2027, 1, 5)),
        ("明年一月五号", D(2027, 1, 5)),
        ("3号", D(2026, 12, 3)),
        ("三号", D(2026, 12, 3)),
        ("二十号", D(2026, 12, 20)),
        ("二十四号", D(2026, 11, 24)),
        ("下个月五号", D(2026, 12, 5)),
        ("明天下午三点", D(2026, 11, 25)),
        ("嗯，那个，后天吧", D(2026, 11, 26)),
        ("2026-12-03", D(2026, 12, 3)),
        ("二月三十号", None),
        ("五", None),
        ("1234", None),
        ("不知道", None),
    ],
)
def test_date(text: str, expected: datetime.date | None) -> None:
    assert said("date", text) == expected


def test_choice_and_text() -> None:
    options = {"beijing": ["北京"], "shanghai": ["上海"]}
    assert said("choice", "我在上海", options=options) == "shanghai"
    assert said("choice", "广州", options=options) is None
    assert said("text", "嗯，我想查一下話費。") == "查一下话费"
    assert said("text", "嗯，") == "嗯"
    assert said("text", "，。") is None


@pytest.mark.parametrize(
    ("kind", "dtmf", "expected"),
    [
        ("yes_no", "1", True),
        ("yes_no", "2", False),
        ("digits", "4207#", "4207"),
        ("money", "58*3", Decimal("58.30")),
        ("date", "1203", D(2026, 12, 3)),
    ],
)
def test_keys_mean_what_they_mean_in_english(kind: str, dtmf: str, expected: Any) -> None:
    slot = parse_slot(kind, "不是", dtmf=dtmf, today=TODAY)
    assert slot is not None and slot.value == expected


def test_unknown_kind_is_an_error() -> None:
    with pytest.raises(ValueError, match="unknown slot type"):
        parse_slot("colour", "红色")
