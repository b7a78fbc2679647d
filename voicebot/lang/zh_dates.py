"""Dates and times in Mandarin speech, relative to a given day or moment (no clock is read).

Text is expected normalised (`zh_normalize.normalize`); numerals may be characters or digits.

* `spoken_date(text, today)`: 今天 明天 后天 大后天 昨天 前天; 周三 / 星期三 / 礼拜三 (the next
  one; said on a Wednesday it is next week's), 这周三 / 本周三 (this week's, Monday first),
  下周三 / 下星期三 (next week's), 下下周三; 十二月三号 / 12月3日 (a month and day already
  past this year is next year's), 2026年12月3日, 明年一月五号; 3号 / 三号 alone (the next 3rd
  of a month), 下个月五号, 这个月十号. A time beside the date ("明天下午三点") is ignored here.
* `spoken_time(text)`: 三点 下午三点 三点半 三点一刻 三点三刻 十点十五分 下午3:30 晚上八点
  中午十二点 凌晨两点 十五点 -> datetime.time; 下午/晚上 add twelve hours to 1..11 o'clock.
* `spoken_moment(text, now)`: both; without a date the time is today's, or tomorrow's when it
  has passed; without a time there is no moment.
"""

from __future__ import annotations

import datetime
import re

from voicebot.lang.days import next_day_of_month
from voicebot.lang.zh_numerals import DIGIT_OF, numeral_value

_N = rf"(?:\d+|[{''.join(DIGIT_OF)}十]+)"
WEEKDAYS = {"一": 0, "二": 1, "三": 2, "四": 3, "五": 4, "六": 5, "日": 6, "天": 6, "七": 6}
_WEEK = r"(?:周|星期|礼拜)"
RELATIVE_DAYS = {"大后天": 3, "后天": 2, "明天": 1, "明日": 1, "今天": 0, "今日": 0,
                 "昨天": -1, "前天": -2}  # fmt: skip

_RELATIVE = re.compile("|".join(RELATIVE_DAYS))
_WEEKDAY = re.compile(rf"(?P<which>下下|下个?|这个?|本|上个?)?{_WEEK}(?P<day>[一二三四五六日天七])")
_FULL = re.compile(
    rf"(?:(?P<year>\d{{4}}|[{''.join(DIGIT_OF)}]{{4}})年|(?P<rel_year>明年|今年))?"
    rf"(?P<month>{_N})月(?P<day>{_N})(?:号|日)?"
)
_MONTH_DAY = re.compile(rf"(?P<rel>下个?月|这个?月|本月)?(?P<day>{_N})(?:号|日)")
_ISO = re.compile(r"(\d{4})-(\d{1,2})-(\d{1,2})")


def _int(run: str | None) -> int | None:
    if run is None:
        return None
    if len(run) == 4 and not run.isdigit():  # a year said digit by digit: 二零二六
        digits = "".join(DIGIT_OF.get(ch, "") for ch in run)
        return int(digits) if len(digits) == 4 else None
    value = numeral_value(run)
    return value if isinstance(value, int) else None


def _date(year: int, month: int, day: int) -> datetime.date | None:
    try:
        return datetime.date(year, month, day)
    except ValueError:
        return None


def _weekday(m: re.Match[str], today: datetime.date) -> datetime.date:
    target = WEEKDAYS[m["day"]]
    monday = today - datetime.timedelta(days=today.weekday())
    which = (m["which"] or "").rstrip("个")
    if which in ("这", "本"):
        return monday + datetime.timedelta(days=target)
    if which in ("下", "下下", "上"):
        weeks = {"下": 1, "下下": 2, "上": -1}[which]
        return monday + datetime.timedelta(weeks=weeks, days=target)
    ahead = (target - today.weekday()) % 7 or 7
    return today + datetime.timedelta(days=ahead)


def spoken_date(text: str, today: datetime.date) -> datetime.date | None:
    """The one day `text` names, relative to `today` (see module doc), or None."""
    if m := _ISO.search(text):
        return _date(int(m[1]), int(m[2]), int(m[3]))
    if m := _FULL.search(text):
        month, day = _int(m["month"]), _int(m["day"])
        if month is None or day is None:
            return None
        if m["year"] or m["rel_year"]:
            year = _int(m["year"]) if m["year"] else today.year + (m["rel_year"] == "明年")
            return _date(year, month, day) if year else None
        found = _date(today.year, month, day)
        if found is not None and found < today:
            found = _date(today.year + 1, month, day)
        return found
    if m := _WEEKDAY.search(text):
        return _weekday(m, today)
    if m := _RELATIVE.search(text):
        return today + datetime.timedelta(days=RELATIVE_DAYS[m.group(0)])
    if m := _MONTH_DAY.search(text):
        day = _int(m["day"])
        if day is None:
            return None
        rel = (m["rel"] or "").replace("个", "")
        if rel in ("这月", "本月"):
            return _date(today.year, today.month, day)
        if rel == "下月":
            year, month = divmod(today.year * 12 + today.month, 12)
            return _date(year, month + 1, day)
        return next_day_of_month(day, today)
    return None


# --- times --------------------------------------------------------------------------------

_PERIOD = r"(?P<period>早上|早晨|上午|中午|下午|傍晚|晚上|夜里|凌晨)?"
_CLOCK = re.compile(rf"{_PERIOD}(?P<hour>\d{{1,2}}):(?P<minute>\d\d)")
_SPOKEN_TIME = re.compile(
    rf"{_PERIOD}(?P<hour>{_N})(?:点钟?|时)"
    rf"(?:(?P<half>半)|(?P<quarters>一刻|三刻)|(?:零?(?P<minute>{_N})分?))?"
)
_AFTERNOON = ("下午", "傍晚", "晚上", "夜里")


def _time(period: str | None, hour: int, minute: int) -> datetime.time | None:
    if period in _AFTERNOON and 1 <= hour <= 11:
        hour += 12
    elif period == "中午" and hour in (1, 2):
        hour += 12
    elif period == "凌晨" and hour == 12:
        hour = 0
    if not (0 <= hour <= 23 and 0 <= minute <= 59):
        return None
    return datetime.time(hour, minute)


def spoken_time(text: str) -> datetime.time | None:
    """The time of day `text` names (see module doc), or None."""
    if m := _CLOCK.search(text):
        return _time(m["period"], int(m["hour"]), int(m["minute"]))
    if m := _SPOKEN_TIME.search(text):
        hour = _int(m["hour"])
        if hour is None:
            return None
        if m["half"]:
            minute: int | None = 30
        elif m["quarters"]:
            minute = 15 if m["quarters"] == "一刻" else 45
        else:
            minute = _int(m["minute"]) if m["minute"] else 0
        return None if minute is None else _time(m["period"], hour, minute)
    return None


def spoken_moment(text: str, now: datetime.datetime) -> datetime.datetime | None:
    """A date and time said together (see module doc), in `now`'s time zone, or None."""
    at = spoken_time(text)
    if at is None:
        return None
    day = spoken_date(text, now.date())
    moment = datetime.datetime.combine(day or now.date(), at, tzinfo=now.tzinfo)
    if day is None and moment < now:
        moment += datetime.timedelta(days=1)
    return moment
