"""Turning a Mandarin caller's words into one of a menu's options (English: `matching`).

Same interface and result as `matching.match_option`; utterance and phrases are normalised
by `voicebot.lang.zh_normalize.normalize` (full-width, Traditional, fillers). A phrase scores:

* 1.0 when it is the whole utterance;
* 0.85 + 0.15 * coverage when its characters occur in the utterance (a Latin word or a
  number only at word edges: "1" is not found in "13"), coverage being its share of the
  utterance's characters;
* 0.75 + 0.09 * coverage when its toneless pinyin occurs there (`zh_pinyin.syllables`, with
  zh/z, ch/c, sh/s, n/l and -ng/-n folded): the homophones the recogniser writes, "花费" for
  "话费", "人公" for "人工". Only for phrases of two syllables or more: one syllable has too
  many homophones ("是" / "四" / "事");
* otherwise 0.7 * the share of its content words (jieba's segmentation, less stop words such
  as 的 我 一下) found in the utterance, by characters (1) or by pinyin (0.9, two syllables or
  more): "余额话费" says "话费余额" in another order. At most 0.7, below any phrase said whole.

Each option's name is an implicit phrase too; the best option wins if it reaches the threshold
and leads the runner-up by more than `matching.AMBIGUITY_MARGIN`.

jieba loads its dictionary on first use (1.5-3 s on the shared 2-core development machine,
more the first time on a machine, when it writes its cache file to the temporary directory;
~80 MB, and ~135 MB with pypinyin, OpenCC and cn2an); `warm_up()` does it at worker start.
Only jieba segments phrases; an utterance is compared by characters and by its pinyin, which
is cached per text, so `satisfies` on a Mandarin partial costs ~0.1-0.4 ms (a test holds it
under 2 ms).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache

import jieba

from voicebot.dialog.matching import CONTAINED, DEFAULT_THRESHOLD, OptionMatch, best_option
from voicebot.lang.zh_normalize import normalize
from voicebot.lang.zh_pinyin import syllables

HOMOPHONE = 0.75  # the lowest score of a phrase found by its pinyin; below CONTAINED
HOMOPHONE_SPAN = 0.09
WORDS_WEIGHT = 0.7
PINYIN_WORD = 0.9  # a content word found by pinyin only
STOP_WORDS = frozenset(
    "的 了 我 我的 你 您 你们 一下 在 吗 和 跟 给 要 想 个 这 那 这个 是 有 就 也 都 啊".split()
)

jieba.setLogLevel(logging.WARNING)


@lru_cache(maxsize=1)
def _tokenizer() -> jieba.Tokenizer:
    tokenizer = jieba.Tokenizer()
    tokenizer.initialize()
    return tokenizer


def warm_up() -> None:
    """Load jieba's dictionary now rather than on the first Mandarin utterance."""
    _tokenizer()


def words(text: str) -> tuple[str, ...]:
    """`text` segmented into words by jieba, spaces dropped ("查询话费余额" -> 查询 话费 余额)."""
    return tuple(w for w in _tokenizer().lcut(text) if w.strip())


@dataclass(frozen=True)
class _Phrase:
    text: str  # normalised
    pattern: re.Pattern[str]  # the characters, at word edges where they are Latin or digits
    syllables: tuple[str, ...]
    content: tuple[tuple[str, re.Pattern[str], tuple[str, ...]], ...]


def _edges(text: str) -> re.Pattern[str]:
    left = r"(?<![a-z0-9])" if text[:1].isascii() and text[:1].isalnum() else ""
    right = r"(?![a-z0-9])" if text[-1:].isascii() and text[-1:].isalnum() else ""
    return re.compile(left + re.escape(text) + right)


@lru_cache(maxsize=4096)
def _prepare(phrase: str) -> _Phrase:
    text = normalize(phrase) or phrase.lower().replace("_", " ").strip()
    found = [w for w in words(text) if w not in STOP_WORDS] or list(words(text)) or [text]
    content = tuple((w, _edges(w), syllables(w)) for w in found)
    return _Phrase(text, _edges(text), syllables(text), content)


def _contains(haystack: tuple[str, ...], needle: tuple[str, ...]) -> bool:
    n = len(needle)
    return n > 0 and any(haystack[i : i + n] == needle for i in range(len(haystack) - n + 1))


def score_phrase(text: str, phrase: str) -> float:
    """How well the normalised utterance `text` says `phrase` (0..1, see module doc)."""
    p = _prepare(phrase)
    if not p.text or not text:
        return 0.0
    if text == p.text:
        return 1.0
    if p.pattern.search(text):
        return CONTAINED + (1.0 - CONTAINED) * len(p.text) / len(text)
    said = syllables(text)
    if len(p.syllables) >= 2 and _contains(said, p.syllables):
        return HOMOPHONE + HOMOPHONE_SPAN * len(p.syllables) / len(said)
    total = 0.0
    for _word, pattern, sounds in p.content:
        if pattern.search(text):
            total += 1.0
        elif len(sounds) >= 2 and _contains(said, sounds):
            total += PINYIN_WORD
    return WORDS_WEIGHT * total / len(p.content)


def match_option(
    text: str,
    options: Mapping[str, Sequence[str]],
    *,
    threshold: float = DEFAULT_THRESHOLD,
) -> OptionMatch | None:
    """The option whose phrases `text` says, or None when none (or no single one) fits."""
    return best_option(normalize(text), options, score_phrase, threshold)
