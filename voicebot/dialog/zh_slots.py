"""Slot values from what a Mandarin caller said (English: `slots`); keys are the same in both.

`parse_slot(kind, text, dtmf=...)` has `slots.parse_slot`'s interface and results; keys go to
it unchanged (1 yes, 2 no, "*" the decimal point, MMDD dates). Speech is normalised first
(`voicebot.lang.zh_normalize`: full-width, Traditional, fillers).

* yes_no -> bool. Every yes phrase (是 是的 对 对的 好 好的 可以 没问题 嗯 行 没错 要 有 ...) and no
  phrase (不 不是 不对 不用 不要 算了 没有 不行 ...) in the utterance is found, longest first
  ("没问题" is not "没"; "不可以" is not "可以"); all must agree. 不知道 / 不确定 / 可能 make
  it no answer, and so does a question back ("是不是", "对不对"). Words that contain answer
  characters (你好, 不好意思, 对不起, 没关系, 重要, 有点: `NEITHER`) don't count; Latin
  answers ("ok", "no") count as whole words only.
* digits -> str: `zh_numerals.digit_string` (幺三八, 两, 〇, Arabic digits mixed in).
* number -> int, or Decimal with a fraction ("三点五", "两个半"); exactly one number.
* money -> Decimal with two places: `zh_numerals.amount` (五十八块三, 五十八元三角, 三毛五).
* date -> datetime.date relative to `today`: `zh_dates.spoken_date` (今天 明天 后天 下周三
  十二月三号 3号).
* choice -> the option whose phrases match (`zh_matching.match_option`).
* text -> the normalised utterance.
"""

from __future__ import annotations

import datetime
import re
from collections.abc import Mapping, Sequence

from voicebot.dialog import slots
from voicebot.dialog.slots import SLOT_KINDS, SlotValue
from voicebot.dialog.zh_matching import match_option
from voicebot.lang.zh_dates import spoken_date
from voicebot.lang.zh_normalize import normalize
from voicebot.lang.zh_numerals import amount, digit_string, numeral_runs, numeral_value, with_halves

YES = (
    "是", "是的", "是啊", "对", "对的", "对啊", "对对", "对对对", "好", "好的", "好啊", "可以",
    "没问题", "没有问题", "嗯", "嗯嗯", "行", "行的", "没错", "正确", "当然", "确认", "同意",
    "要", "要的", "需要", "有", "有的", "ok", "okay", "yes",
)  # fmt: skip
NO = (
    "不", "不是", "不对", "不用", "不用了", "不要", "算了", "没有", "不行", "不可以", "不需要",
    "不好", "别", "错了", "不必", "没", "no",
)  # fmt: skip
UNSURE = (
    "不知道", "不确定", "不清楚", "说不好", "不一定", "不记得", "也许", "可能", "看情况",
    "是不是", "对不对", "好不好", "行不行", "可不可以", "要不要", "有没有",
)  # fmt: skip
# Words that hold an answer's characters but answer nothing: "重要" is not "要".
NEITHER = (
    "你好", "您好", "不好意思", "对不起", "没关系", "没事", "好像", "主要", "重要", "只要",
    "要求", "要是", "还有", "所有", "有点", "有些", "有人", "只有", "是否",
)  # fmt: skip

_POLARITY: dict[str, bool | None] = (
    {p: True for p in YES} | {p: False for p in NO} | {p: None for p in UNSURE}
)


def _alternative(phrase: str) -> str:
    """A phrase for the answers' regex; a Latin one only as a whole word ("no", not "know")."""
    return rf"(?<![a-z]){re.escape(phrase)}(?![a-z])" if phrase.isascii() else re.escape(phrase)


_ANSWERS = re.compile(
    "|".join(map(_alternative, sorted([*_POLARITY, *NEITHER], key=len, reverse=True)))
)
_UNSURE = object()
# A question asks, it does not answer: "你们是哪个快递" holds 是 and is no yes. When the first
# clause asks (a question word, or 吗 / ？ at its end), the text is no answer ("对，几点都行" is).
_QUESTION = re.compile(r"哪|什么|谁|为什么|怎么|多少|几|吗$|[?？]$")


def _asks(text: str) -> bool:
    first = re.split(r"[，,。.！!；;]", text.strip(), maxsplit=1)[0]
    return bool(_QUESTION.search(first))


def parse_yes_no(text: str) -> SlotValue | None:
    if _asks(text):
        return None
    found = {
        _POLARITY.get(m.group(0), _UNSURE)
        for m in _ANSWERS.finditer(normalize(text))
        if m.group(0) not in NEITHER
    }
    if len(found) != 1 or None in found or _UNSURE in found:
        return None
    value = found.pop() is True
    return SlotValue(value, "yes" if value else "no")


def parse_digits(
    text: str, min_len: int | None = None, max_len: int | None = None
) -> SlotValue | None:
    digits = digit_string(normalize(text))
    if not digits or (min_len is not None and len(digits) < min_len):
        return None
    if max_len is not None and len(digits) > max_len:
        return None
    return SlotValue(digits, digits)


def parse_number(text: str) -> SlotValue | None:
    runs = numeral_runs(with_halves(normalize(text)))
    if len(runs) != 1:
        return None
    value = numeral_value(runs[0])
    return None if value is None else SlotValue(value, str(value))


def parse_money(text: str) -> SlotValue | None:
    found = amount(normalize(text))
    return None if found is None else SlotValue(found, str(found))


def parse_date(text: str, today: datetime.date) -> SlotValue | None:
    found = spoken_date(normalize(text), today)
    return SlotValue(found, found.isoformat()) if found else None


def parse_choice(text: str, options: Mapping[str, Sequence[str]]) -> SlotValue | None:
    match = match_option(text, options)
    return SlotValue(match.name, match.name) if match else None


def parse_text(text: str) -> SlotValue | None:
    said = normalize(text)
    return SlotValue(said, said) if said else None


def parse_slot(
    kind: str,
    text: str | None = None,
    *,
    dtmf: str | None = None,
    min_len: int | None = None,
    max_len: int | None = None,
    options: Mapping[str, Sequence[str]] | None = None,
    today: datetime.date | None = None,
) -> SlotValue | None:
    """The value of a `kind` slot in `text` or `dtmf` (keys win), or None if there is none."""
    if kind not in SLOT_KINDS:
        raise ValueError(f"unknown slot type {kind!r}; expected one of {', '.join(SLOT_KINDS)}")
    if dtmf:  # keys mean the same in every language
        return slots.parse_slot(
            kind, dtmf=dtmf, min_len=min_len, max_len=max_len, options=options, today=today
        )
    if not text or not text.strip():
        return None
    today = today or datetime.date.today()
    if kind == "yes_no":
        return parse_yes_no(text)
    if kind == "digits":
        return parse_digits(text, min_len, max_len)
    if kind == "number":
        return parse_number(text)
    if kind == "money":
        return parse_money(text)
    if kind == "date":
        return parse_date(text, today)
    if kind == "choice":
        return parse_choice(text, options or {})
    return parse_text(text)
