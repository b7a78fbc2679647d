"""Numbers in Mandarin speech, as the recogniser writes them: characters, Arabic digits, or both.

Text is expected normalised (`zh_normalize.normalize`).

* `digit_string(text)` keeps every digit in order, digit by digit: 零 〇 ○ 0 are 0, 一 幺 1
  are 1, 二 两 2 are 2, ... ("幺三八 0013 八千" -> "1380013" + "8000"). A numeral with units
  (十 百 千 万) is read as its value first: "十二" -> "12", "八千" -> "8000", also after
  digits said one by one ("幺三八八千" -> "1388000").
* `numeral_runs(text)` finds every run of numeral characters and digits ("五十八", "3.5",
  "两百零五"; not the 一 of words such as 一下 一起 一共: `NOT_NUMBERS`), and
  `numeral_value(run)` is its value (cn2an, normal mode: 两百 200, 三百五
  350, 一万二 12000, 一〇五 105, 三点五 3.5, 负五 -5; 两个半 2.5).
* `amount(text)` reads money: "五十八块三" and "五十八元三角" 58.30, "三毛五" 0.35, "五十八块
  零五分" 58.05, "两块五毛钱" 2.50, "58.3元" / "¥58.3" 58.30, or a bare number. Exactly one
  amount must be said.
"""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation

import cn2an

DIGIT_OF = {
    "零": "0", "〇": "0", "○": "0", "洞": "0",
    "一": "1", "幺": "1", "二": "2", "两": "2", "三": "3", "四": "4",
    "五": "5", "六": "6", "七": "7", "八": "8", "九": "9",
}  # fmt: skip
_DIGIT_CHARS = "".join(DIGIT_OF)
_UNIT_CHARS = "十百千万亿"
_NUMERAL = rf"[{_DIGIT_CHARS}{_UNIT_CHARS}\d]"
_RUN = rf"负?{_NUMERAL}(?:{_NUMERAL}|[点.](?=[{_DIGIT_CHARS}\d]))*"
NUMERAL_RUN = re.compile(_RUN)
_HALF = re.compile(rf"({_RUN})个半|(?<![{_DIGIT_CHARS}\d])半(?![{_DIGIT_CHARS}\d])")


_ARABIC = re.compile(r"-?\d+(?:\.\d+)?")
_AS_CHARACTERS = str.maketrans("0123456789-", "零一二三四五六七八九负")


def numeral_value(run: str) -> int | Decimal | None:
    """The value of one numeral run ("两百零五" -> 205, "3.5" -> Decimal("3.5")), or None."""
    if _ARABIC.fullmatch(run):
        return Decimal(run) if "." in run else int(run)
    text = (
        run.translate(_AS_CHARACTERS)
        .replace("幺", "一")
        .replace("洞", "零")
        .replace("○", "〇")
        .replace(".", "点")
    )
    try:
        value = cn2an.cn2an(text, "normal")
    except (ValueError, KeyError, IndexError):
        return None
    if isinstance(value, float) or "点" in text:
        try:
            return Decimal(str(value))
        except InvalidOperation:
            return None
    return int(value)


# Words written with a numeral that say no number: "查一下" (have a look), "一起" (together).
NOT_NUMBERS = (
    "一下", "一些", "一起", "一样", "一直", "一定", "一般", "一会", "一切", "一共", "一旦",
    "一边", "一致", "统一", "唯一", "一向", "一律",
)  # fmt: skip
_NOT_NUMBERS = re.compile("|".join(NOT_NUMBERS))


def without_number_words(text: str) -> str:
    """`text` with the words of `NOT_NUMBERS` blanked out ("查一下三个" -> "查 三个")."""
    return _NOT_NUMBERS.sub(" ", text)


def numeral_runs(text: str) -> list[str]:
    """Every run of numeral characters and digits in `text`, in order (not 一下, 一起, ...)."""
    return NUMERAL_RUN.findall(without_number_words(text))


def with_halves(text: str) -> str:
    """ "两个半" -> "2.5", "半" alone -> "0.5" (before runs are read)."""

    def half(m: re.Match[str]) -> str:
        if m.group(1) is None:
            return "0.5"
        whole = numeral_value(m.group(1))
        return f"{whole}.5" if isinstance(whole, int) else m.group(0)

    return _HALF.sub(half, text)


def _one_by_one(run: str) -> str:
    return "".join(DIGIT_OF.get(ch, ch) for ch in run if ch.isdigit() or ch in DIGIT_OF)


def _run_digits(run: str) -> str:
    first_unit = next((i for i, ch in enumerate(run) if ch in _UNIT_CHARS), None)
    if first_unit is None:
        return _one_by_one(run)
    value = numeral_value(run)
    if value is None:  # digits one by one, then a number with units: "幺三八" + "八千"
        start = max(first_unit - 1, 0)
        value = numeral_value(run[start:])
        if value is None:
            return ""
        return _one_by_one(run[:start]) + str(value).replace(".", "").lstrip("-")
    return str(value).replace(".", "").lstrip("-")


def digit_string(text: str) -> str:
    """Every digit said, in order ("幺三八 零零幺三" -> "13800013")."""
    return "".join(_run_digits(run) for run in numeral_runs(text))


# --- money --------------------------------------------------------------------------------

_NUM = rf"[{_DIGIT_CHARS}{_UNIT_CHARS}\d.点]+"
_D = rf"[{_DIGIT_CHARS}\d]"
_YUAN = "(?:块|元|圆|人民币)"
_MONEY = re.compile(
    rf"[¥￥]?(?P<yuan>{_NUM}){_YUAN}(?:钱)?"
    rf"(?:(?P<jiao>{_D})(?:毛|角)(?:零?(?P<fen>{_D})分?)?|零(?P<fen_only>{_D})分|(?P<jiao_bare>{_D}))?"
    rf"(?:钱)?"
    rf"|(?P<only_jiao>{_D})(?:毛|角)(?:零?(?P<jiao_fen>{_D})分?)?(?:钱)?"
    rf"|(?P<only_fen>{_D}{{1,2}}|[{_DIGIT_CHARS}十]+)分钱"
    rf"|[¥￥](?P<sign>{_NUM})"
)
_CENTS = Decimal("0.01")


def _single_digit(ch: str | None) -> int:
    return int(DIGIT_OF.get(ch, ch)) if ch else 0


def amount(text: str) -> Decimal | None:
    """The one amount of money said in `text`, to the fen (see module doc), or None."""
    text = without_number_words(text)
    found = list(_MONEY.finditer(text))
    if not found:
        runs = numeral_runs(text)
        if len(runs) != 1:
            return None
        value = numeral_value(runs[0])
        return None if value is None else Decimal(value).quantize(_CENTS)
    if len(found) != 1 or len(numeral_runs(_MONEY.sub(" ", text))) > 0:
        return None  # two amounts, or a stray number beside one
    m = found[0]
    if m["only_jiao"]:
        jiao, fen = _single_digit(m["only_jiao"]), _single_digit(m["jiao_fen"])
        return (Decimal(jiao) / 10 + Decimal(fen) / 100).quantize(_CENTS)
    if m["only_fen"]:
        fens = numeral_value(m["only_fen"])
        return None if fens is None else (Decimal(fens) / 100).quantize(_CENTS)
    yuan = numeral_value(m["yuan"] or m["sign"])
    if yuan is None:
        return None
    if (
        (m["jiao"] or m["jiao_bare"] or m["fen_only"])
        and isinstance(yuan, Decimal)
        and yuan != yuan.to_integral()
    ):
        return None  # "58.3元3角" is not an amount
    total = Decimal(yuan) + Decimal(_single_digit(m["jiao"] or m["jiao_bare"])) / 10
    total += Decimal(_single_digit(m["fen"] or m["fen_only"])) / 100
    return total.quantize(_CENTS)
