"""Mandarin normalisation: width, script, punctuation, spaces and fillers."""

from __future__ import annotations

import pytest

from voicebot.lang import is_mandarin
from voicebot.lang.zh_normalize import normalize, simplified


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # full-width digits, letters and punctuation
        ("１３８ ００１３ ８０００", "138 0013 8000"),
        ("ＯＫ！", "ok"),
        ("话费，余额。", "话费余额"),
        ("“套餐”？", "套餐"),
        # numbers keep . : / - between digits
        ("58.3元", "58.3元"),
        ("下午3:30", "下午3:30"),
        ("12/3号", "12/3号"),
        ("2026-12-03", "2026-12-03"),
        ("号码是-138", "号码是138"),
        # Traditional -> Simplified
        ("話費查詢", "话费查询"),
        ("轉人工", "转人工"),
        ("餘額", "余额"),
        # spaces between characters
        ("话 费 查 询", "话费查询"),
        ("  套餐  ", "套餐"),
        ("English  please", "english please"),
        # hesitations anywhere, 那个 / 就是
        ("嗯，我想查一下话费。", "查一下话费"),
        ("呃，那个，套餐", "套餐"),
        ("就是，是的", "是的"),
        ("啊，对", "对"),
        ("额，余额", "余额"),
        ("查询余额额度", "查询余额额度"),
        # intentions and politeness at a clause's start, particles at its end
        ("我想要换套餐", "换套餐"),
        ("我要查话费", "查话费"),
        ("请问，营业时间", "营业时间"),
        ("请转人工", "转人工"),
        ("麻烦您帮我转人工，谢谢！", "转人工谢谢"),
        ("麻烦查一下", "查一下"),
        ("好的吧", "好的"),
        ("是的呀", "是的"),
        # 请 inside a word stays
        ("我要申请宽带", "申请宽带"),
        ("邀请码", "邀请码"),
        # 嗯 alone is an answer
        ("嗯", "嗯"),
        ("嗯嗯。", "嗯"),
        ("嗯，不是", "不是"),
        ("", ""),
        ("，。！", ""),
    ],
)
def test_normalize(text: str, expected: str) -> None:
    assert normalize(text) == expected


def test_simplified_keeps_simplified_text() -> None:
    assert simplified("话费查询 頭髮 臺灣") == "话费查询 头发 台湾"


@pytest.mark.parametrize(
    ("tag", "expected"),
    [("zh-CN", True), ("zh", True), ("zh_Hans_CN", True), ("cmn", True), ("ZH-cn", True),
     ("en", False), ("en-US", False), ("", False), (None, False)],
)  # fmt: skip
def test_is_mandarin(tag: str | None, expected: bool) -> None:
    assert is_mandarin(tag) is expected
