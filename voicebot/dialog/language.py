"""Which matcher and slot parsers understand a call's language: English, or Mandarin.

`understanding_for(tag)` takes a BCP 47 tag ("en", "en-US", "zh-CN") and returns the
functions `understanding` calls. English is the default for any tag that is not Chinese, so
every English path is the one it always was; the Mandarin modules (and jieba, pypinyin,
cn2an, OpenCC) are imported only when a Mandarin call first needs them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from voicebot.dialog import matching, slots
from voicebot.dialog.matching import OptionMatch
from voicebot.dialog.slots import SlotValue
from voicebot.lang import is_mandarin


@dataclass(frozen=True)
class LanguageUnderstanding:
    language: str  # "en" or "zh"
    normalize: Callable[[str], str]
    match_option: Callable[..., OptionMatch | None]
    parse_slot: Callable[..., SlotValue | None]
    parse_yes_no: Callable[[str], SlotValue | None]
    parse_digits: Callable[..., SlotValue | None]


ENGLISH = LanguageUnderstanding(
    "en",
    matching.normalize,
    matching.match_option,
    slots.parse_slot,
    slots.parse_yes_no,
    slots.parse_digits,
)


@lru_cache(maxsize=1)
def _mandarin() -> LanguageUnderstanding:
    from voicebot.dialog import zh_matching, zh_slots
    from voicebot.lang import zh_normalize

    return LanguageUnderstanding(
        "zh",
        zh_normalize.normalize,
        zh_matching.match_option,
        zh_slots.parse_slot,
        zh_slots.parse_yes_no,
        zh_slots.parse_digits,
    )


def understanding_for(tag: str | None) -> LanguageUnderstanding:
    """The understanding of language `tag`; English unless the tag is Chinese."""
    return _mandarin() if is_mandarin(tag) else ENGLISH


def parse_slot(
    kind: str, text: str | None = None, *, language: str | None = None, **kw: Any
) -> SlotValue | None:
    """`slots.parse_slot` in `language` (English by default)."""
    return understanding_for(language).parse_slot(kind, text, **kw)
