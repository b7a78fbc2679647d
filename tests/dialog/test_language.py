"""Understanding per language: English by default, Mandarin for a Chinese tag."""

from __future__ import annotations

import datetime
import subprocess
import sys
import time
from decimal import Decimal

import pytest

from voicebot.dialog import matching, slots, zh_matching, zh_slots
from voicebot.dialog.expectation import Expectation
from voicebot.dialog.language import ENGLISH, parse_slot, understanding_for
from voicebot.dialog.understanding import NOTHING, satisfies, understand

TODAY = datetime.date(2026, 11, 24)
MENU = (("bill", ("话费", "账单")), ("agent", ("人工", "转人工")))


@pytest.mark.parametrize("tag", ["en", "en-US", "fr", "", None])
def test_english_unless_chinese(tag: str | None) -> None:
    chosen = understanding_for(tag)
    assert chosen is ENGLISH
    assert chosen.match_option is matching.match_option
    assert chosen.parse_slot is slots.parse_slot


@pytest.mark.parametrize("tag", ["zh-CN", "zh", "cmn"])
def test_mandarin_for_chinese_tags(tag: str) -> None:
    chosen = understanding_for(tag)
    assert chosen.language == "zh"
    assert chosen.match_option is zh_matching.match_option
    assert chosen.parse_slot is zh_slots.parse_slot


def test_expectations_are_english_by_default() -> None:
    assert Expectation("yes_no").language == "en"
    assert understand(Expectation("yes_no"), "yeah").value is True
    assert understand(Expectation("yes_no"), "是的") == NOTHING


@pytest.mark.parametrize(
    ("kind", "text", "expected"),
    [
        ("yes_no", "嗯，对的", True),
        ("yes_no", "不用了", False),
        ("digits", "幺三八零零幺三八零零零", "13800138000"),
        ("number", "一百零五", 105),
        ("money", "五十八块三", Decimal("58.30")),
        ("date", "下周三", datetime.date(2026, 12, 2)),
        ("text", "嗯，我想查一下話費", "查一下话费"),
    ],
)
def test_understand_mandarin_slots(kind: str, text: str, expected: object) -> None:
    result = understand(Expectation(kind, language="zh-CN"), text, today=TODAY)
    assert (result.kind, result.value) == ("slot", expected)


def test_understand_mandarin_menu_and_choice() -> None:
    menu = understand(Expectation("menu", MENU, language="zh-CN"), "我想查一下花费")
    assert (menu.kind, menu.name) == ("option", "bill")
    assert 0.75 <= menu.score < matching.CONTAINED  # a homophone
    choice = understand(Expectation("choice", MENU, language="zh-CN"), "转人工")
    assert (choice.kind, choice.value, choice.score) == ("slot", "agent", 1.0)
    assert understand(Expectation("menu", MENU, language="zh-CN"), "嗯，那个") == NOTHING


def test_keys_are_the_same_in_mandarin() -> None:
    expect = Expectation("digits", language="zh-CN", max_digits=4)
    assert understand(expect, "一二", dtmf="4207#").value == "4207"
    menu = Expectation("menu", (("bill", ("话费", "1")),), language="zh-CN")
    assert understand(menu, dtmf="1").name == "bill"


@pytest.mark.parametrize(
    ("expect", "text", "expected"),
    [
        (Expectation("menu", MENU, language="zh-CN"), "转人工", True),
        (Expectation("menu", MENU, language="zh-CN"), "花费", False),  # homophones wait
        (Expectation("yes_no", language="zh-CN"), "是的", True),
        (Expectation("yes_no", language="zh-CN"), "我想", False),
        (Expectation("digits", max_digits=4, language="zh-CN"), "四二零七", True),
        (Expectation("digits", max_digits=4, language="zh-CN"), "四二零", False),
        (Expectation("money", language="zh-CN"), "五十八块", False),
        (Expectation("text", global_phrases=("人工",), language="zh-CN"), "转人工", True),
    ],
)
def test_satisfies_in_mandarin(expect: Expectation, text: str, expected: bool) -> None:
    assert satisfies(expect, text) is expected


def test_parse_slot_in_a_language() -> None:
    assert parse_slot("yes_no", "是的", language="zh-CN") == slots.SlotValue(True, "yes")
    assert parse_slot("yes_no", "yes") == slots.SlotValue(True, "yes")


def test_english_paths_do_not_load_the_mandarin_libraries() -> None:
    code = (
        "import sys; from voicebot.dialog.understanding import understand; "
        "from voicebot.dialog.expectation import Expectation; "
        "understand(Expectation('menu', (('bill', ('bill',)),)), 'my bill'); "
        "print(sorted(m for m in ('jieba', 'pypinyin', 'cn2an', 'opencc') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


@pytest.mark.parametrize(
    "text", ["我想查一下花费余额", "嗯那个我想问一下营业时间是几点到几点", "转人工"]
)
def test_satisfies_in_mandarin_is_cheap(text: str) -> None:
    expect = Expectation("menu", MENU, global_phrases=("重听", "返回"), language="zh-CN")
    satisfies(expect, "话费")  # warm the phrase cache and jieba, as on earlier partials
    runs = 50
    start = time.perf_counter()
    for i in range(runs):
        satisfies(expect, text + str(i))  # a new partial each time: nothing cached for it
    assert (time.perf_counter() - start) / runs < 0.002
