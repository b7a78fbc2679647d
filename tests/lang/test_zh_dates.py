"""Mandarin times of day and moments, relative to a given `now` (dates: test_zh_slots)."""

from __future__ import annotations

import datetime

import pytest

from voicebot.lang.zh_dates import spoken_moment, spoken_time
from voicebot.lang.zh_normalize import normalize

T = datetime.time
NOW = datetime.datetime(2026, 11, 24, 16, 0, tzinfo=datetime.timezone(datetime.timedelta(hours=8)))


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("三点", T(3, 0)),
        ("下午三点", T(15, 0)),
        ("下午3点", T(15, 0)),
        ("三点半", T(3, 30)),
        ("下午三点半", T(15, 30)),
        ("三点一刻", T(3, 15)),
        ("三点三刻", T(3, 45)),
        ("上午十点十五分", T(10, 15)),
        ("十点零五分", T(10, 5)),
        ("十点钟", T(10, 0)),
        ("下午3:30", T(15, 30)),
        ("15:30", T(15, 30)),
        ("晚上八点", T(20, 0)),
        ("早上八点", T(8, 0)),
        ("中午十二点", T(12, 0)),
        ("中午一点", T(13, 0)),
        ("凌晨两点", T(2, 0)),
        ("十五点", T(15, 0)),
        ("下午十五点", T(15, 0)),
        ("二十五点", None),
        ("明天", None),
        ("三号", None),
    ],
)
def test_spoken_time(text: str, expected: datetime.time | None) -> None:
    assert spoken_time(normalize(text)) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("晚上八点", datetime.datetime(2026, 11, 24, 20, 0)),  # later today
        ("下午三点", datetime.datetime(2026, 11, 25, 15, 0)),  # passed today: tomorrow
        ("明天上午十点", datetime.datetime(2026, 11, 25, 10, 0)),
        ("今天下午三点", datetime.datetime(2026, 11, 24, 15, 0)),  # said with a day: that day
        ("下周三下午两点半", datetime.datetime(2026, 12, 2, 14, 30)),
        ("十二月三号晚上七点", datetime.datetime(2026, 12, 3, 19, 0)),
        ("明天", None),
    ],
)
def test_spoken_moment(text: str, expected: datetime.datetime | None) -> None:
    found = spoken_moment(normalize(text), NOW)
    assert found == (None if expected is None else expected.replace(tzinfo=NOW.tzinfo))
