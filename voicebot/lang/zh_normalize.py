"""Mandarin utterances into the one form every Mandarin matcher and parser compares.

`normalize(text)`:

* full-width letters, digits and punctuation become half-width (NFKC: "１３８" -> "138");
* Traditional characters become Simplified (OpenCC's `t2s`: "話費" -> "话费"), since the
  recogniser writes either;
* Latin letters are lower-cased;
* punctuation is dropped, except ". : / -" between digits ("58.3", "15:30", "12/3");
* spaces between Chinese characters are dropped ("话 费" -> "话费"); other runs of
  whitespace become one space ("138 0013" keeps its space; digit parsers skip it);
* fillers are dropped: hesitations anywhere (嗯 啊 呃 唉), or as a clause of their own (额,
  which is also the 额 of 余额), "那个" and "就是" anywhere,
  intentions and politeness at the start of a clause (我想 我想要 我要 我需要 请 请问 麻烦
  麻烦你/您 帮我 能不能 可以帮我), and particles at the end of one (吧 呢 呀 啦 哦 嘛).
  "请" only goes at a clause's start, so "申请" keeps it.
* "嗯" alone (or "嗯嗯") is an answer (yes), like English "uh huh": it is kept when nothing
  else was said.
"""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

import opencc

# Longest first within each group: "麻烦您帮我" before "麻烦".
HESITATIONS = ("嗯", "啊", "呃", "唉", "哎")
# hesitations only when they are a clause on their own: "额" is also the 额 of 余额 (balance)
ALONE = ("额",)
ANYWHERE = ("那个", "就是")
LEADING = (
    "麻烦你帮我", "麻烦您帮我", "可以帮我", "能不能帮我", "能不能", "请你帮我", "请帮我", "我想要",
    "麻烦你", "麻烦您", "请问", "我想", "我要", "我需要", "麻烦", "帮我", "请",
)  # fmt: skip
TRAILING = ("吧", "呢", "呀", "啦", "哦", "嘛", "哈")
AFFIRMATION = "嗯"

_CJK = r"\u3400-\u9fff\uf900-\ufaff"
# Anything but letters, digits, spaces, and . : / - between digits.
_PUNCTUATION = re.compile(r"(?<!\d)[./:-]|[./:-](?!\d)|[^\w\s./:-]|_")
_SPACE_NEAR_CJK = re.compile(rf"(?<=[{_CJK}])\s+|\s+(?=[{_CJK}])")
_SPACES = re.compile(r"\s+")
_HESITATION = re.compile("(?:" + "|".join(HESITATIONS + ANYWHERE) + ")")
_LEADING = re.compile("^(?:" + "|".join(LEADING) + ")+")
_TRAILING = re.compile("(?:" + "|".join(TRAILING) + ")+$")
_CLAUSE_BREAK = "\x00"


@lru_cache(maxsize=1)
def _t2s() -> opencc.OpenCC:
    return opencc.OpenCC("t2s")


def simplified(text: str) -> str:
    """Traditional characters as Simplified ("話費查詢" -> "话费查询")."""
    return str(_t2s().convert(text))


def _clause(text: str) -> str:
    text = _SPACE_NEAR_CJK.sub("", _SPACES.sub(" ", text)).strip()
    if text in ALONE:
        return ""
    text = _HESITATION.sub("", text)
    text = _LEADING.sub("", text)
    return _TRAILING.sub("", text).strip()


def normalize(text: str) -> str:
    """`text` half-width, Simplified, lower-case, without punctuation or fillers (module doc)."""
    out = simplified(unicodedata.normalize("NFKC", text)).lower()
    clauses = [_clause(c) for c in _PUNCTUATION.sub(_CLAUSE_BREAK, out).split(_CLAUSE_BREAK)]
    joined = _SPACE_NEAR_CJK.sub("", " ".join(c for c in clauses if c))
    said = _SPACES.sub(" ", joined).strip()
    if not said and AFFIRMATION in out:
        return AFFIRMATION
    return said
