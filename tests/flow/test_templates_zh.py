"""The speech filters `spell`, `money` and `date` per locale: English as before, Mandarin read out."""

from __future__ import annotations

import datetime

import pytest

from voicebot.flow.templates import CURRENCY, LOCALE, render

SLOTS = {"phone": "13800138000", "amount": "58.3", "day": datetime.date(2026, 12, 3)}


def speak(source: str, locale: str, currency: str = "USD") -> str:
    return render(source, {"slots": SLOTS, LOCALE: locale, CURRENCY: currency})


@pytest.mark.parametrize(
    ("source", "locale", "currency", "expected"),
    [
        ("{{ slots.phone | spell }}", "en_US", "USD", "1 3 8 0 0 1 3 8 0 0 0"),
        ("{{ slots.phone | spell }}", "zh_CN", "CNY", "幺三八零零幺三八零零零"),
        ("{{ slots.phone | spell }}", "zh-CN", "USD", "幺三八零零幺三八零零零"),
        ("{{ slots.phone | spell('zh-CN') }}", "en_US", "USD", "幺三八零零幺三八零零零"),
        ("{{ slots.amount | money }}", "en_US", "USD", "$58.30"),
        ("{{ slots.amount | money }}", "zh_CN", "CNY", "五十八元三角"),
        ("{{ slots.amount | money }}", "zh_CN", "USD", "五十八元三角"),
        ("{{ slots.amount | money('CNY') }}", "zh-CN", "USD", "五十八元三角"),
        ("{{ slots.amount | money('USD') }}", "zh_CN", "CNY", "US$58.30"),
        ("{{ slots.amount | money(locale='zh-CN') }}", "en_US", "USD", "五十八元三角"),
        ("{{ slots.day | date }}", "en_US", "USD", "Thursday, December 3"),
        ("{{ slots.day | date }}", "zh_CN", "CNY", "十二月三日星期四"),
        ("{{ slots.day | date('M月d日') }}", "zh_CN", "CNY", "12月3日"),
        ("{{ '2026-12-03' | date(locale='zh-CN') }}", "en_US", "USD", "十二月三日星期四"),
        (
            "您的号码是{{ slots.phone | spell }}。",
            "zh_CN",
            "CNY",
            "您的号码是幺三八零零幺三八零零零。",
        ),
    ],
)
def test_filters_per_locale(source: str, locale: str, currency: str, expected: str) -> None:
    assert speak(source, locale, currency) == expected
