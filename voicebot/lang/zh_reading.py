"""Values read aloud the Chinese way, as Chinese characters (the synthesiser then wants pinyin).

* `read_digits("13800138000")` -> "幺三八零零幺三八零零零": digit by digit, 1 as 幺 (as phone
  and account numbers are read); letters are kept, separators (space - . /) dropped.
* `read_number(105)` -> "一百零五", `read_number("58.3")` -> "五十八点三", -5 -> "负五";
  2 before 百 千 万 亿 is 两 (2026 "两千零二十六", 12000 "一万两千"; 十二万 stays).
* `read_money("58.3")` -> "五十八元三角"; 58.35 "五十八元三角五分", 58.05 "五十八元零五分",
  100 "一百元", 0.5 "五角", 2 "两元", 2.2 "两元两角".
* `read_date(date)` -> "十二月三日星期四" (`year=True`: "二零二六年十二月三日星期四").
* `read_time(time)` -> "下午三点", "上午十点十五分", "下午三点半", "中午十二点", "凌晨零点".
* `read_numbers_in(text)` reads the Arabic numbers inside Chinese text: amounts before 元/块
  ("58.3元" -> "五十八元三角"), runs of 7 or more digits digit by digit (phone numbers),
  a four-digit number before 年 digit by digit ("2026年" -> "二零二六年"), "15:30" as a time
  ("十五点三十分"), 2 before a measure word as 两 ("2个" -> "两个"), and any other number by
  value ("3号" -> "三号").
"""

from __future__ import annotations

import datetime
import re
from decimal import Decimal, InvalidOperation
from typing import Any

import cn2an

DIGIT_READING = dict(zip("0123456789", "零幺二三四五六七八九", strict=True))
PLAIN_DIGIT = dict(zip("0123456789", "零一二三四五六七八九", strict=True))
WEEKDAY_NAMES = ("星期一", "星期二", "星期三", "星期四", "星期五", "星期六", "星期日")


def read_digits(value: Any) -> str:
    """Digit by digit, 1 as 幺 ("13800138000" -> "幺三八零零幺三八零零零")."""
    return "".join(DIGIT_READING.get(ch, ch) for ch in str(value) if ch not in " -./\t")


def _decimal(value: Any, what: str) -> Decimal:
    try:
        number = Decimal(str(value))
    except (InvalidOperation, ValueError):
        raise ValueError(f"{what}: {value!r} is not a number") from None
    if not number.is_finite():
        raise ValueError(f"{what}: {value!r} is not a number")
    return number


_TWO_BEFORE_MAGNITUDE = re.compile(r"(?<![十点])二(?=[百千万亿])")


def _numerals(text: str) -> str:
    """cn2an's reading, with 2 before a magnitude as 两 ("两千零二十六", "一万两千")."""
    return _TWO_BEFORE_MAGNITUDE.sub("两", str(cn2an.an2cn(text, "low")))


def read_number(value: Any) -> str:
    """A number by value ("105" -> "一百零五", "58.3" -> "五十八点三", 2026 -> "两千零二十六")."""
    number = _decimal(value, "number")
    text = format(number.normalize(), "f") if number != number.to_integral() else str(int(number))
    return _numerals(text)


def _measure(count: int, unit: str) -> str:
    """A count before a measure word: 2 reads 两 ("两元"), other numbers as usual."""
    return ("两" if count == 2 else _numerals(str(count))) + unit


def read_money(value: Any) -> str:
    """An amount in yuan, jiao and fen ("58.3" -> "五十八元三角", "58.05" -> "五十八元零五分")."""
    amount = _decimal(value, "money").quantize(Decimal("0.01"))
    sign = "负" if amount < 0 else ""
    fen_total = abs(int(amount * 100))
    yuan, jiao, fen = fen_total // 100, fen_total // 10 % 10, fen_total % 10
    parts = [_measure(yuan, "元")] if yuan or not (jiao or fen) else []
    if jiao:
        parts.append(_measure(jiao, "角"))
    if fen:
        parts.append(("零" if yuan and not jiao else "") + _measure(fen, "分"))
    return sign + "".join(parts)


def read_date(value: datetime.date, *, year: bool = False, weekday: bool = True) -> str:
    """ "十二月三日星期四"; `year` adds the year digit by digit ("二零二六年")."""
    said = "".join(PLAIN_DIGIT[d] for d in f"{value.year:04d}") + "年" if year else ""
    said += read_number(value.month) + "月" + read_number(value.day) + "日"
    return said + (WEEKDAY_NAMES[value.weekday()] if weekday else "")


def _period(hour: int) -> tuple[str, int]:
    if hour < 5:
        return "凌晨", hour
    if hour < 12:
        return "上午", hour
    if hour < 13:
        return "中午", hour
    if hour < 18:
        return "下午", hour - 12
    return "晚上", hour - 12


def read_time(value: datetime.time) -> str:
    """ "下午三点", "上午十点十五分", "下午三点半" (12-hour clock with its period of the day)."""
    period, hour = _period(value.hour)
    said = period + _measure(hour, "点")
    if value.minute == 30:
        return said + "半"
    if value.minute:
        said += ("零" if value.minute < 10 else "") + read_number(value.minute) + "分"
    return said


# --- numbers inside text -------------------------------------------------------------------

_IN_TEXT = re.compile(
    r"(?P<money>\d+(?:\.\d{1,2})?)\s*(?=元|块)(?:元|块钱|块)"
    r"|[¥￥]\s*(?P<sign>\d+(?:\.\d{1,2})?)"
    r"|(?P<year>\d{4})(?=年)"
    r"|(?P<clock>\d{1,2}):(?P<minute>\d\d)"
    r"|(?P<long>\d{7,})"
    r"|(?<![\d.])(?P<two>2)(?=[个位张台条次件份种项])"
    r"|(?P<number>\d+(?:\.\d+)?)"
)


def _read_match(m: re.Match[str]) -> str:
    if m["money"] or m["sign"]:
        return read_money(m["money"] or m["sign"])
    if m["year"]:
        return "".join(PLAIN_DIGIT[d] for d in m["year"])
    if m["clock"]:
        minute = int(m["minute"])
        said = read_number(m["clock"]) + "点"
        return said + (("零" if minute < 10 else "") + read_number(minute) + "分" if minute else "")
    if m["two"]:
        return "两"
    if m["long"]:
        return read_digits(m["long"])
    return read_number(m["number"])


def read_numbers_in(text: str) -> str:
    """`text` with its Arabic numbers read the Chinese way (see module doc)."""
    return _IN_TEXT.sub(_read_match, text)
