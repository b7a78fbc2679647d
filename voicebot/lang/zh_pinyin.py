"""Chinese characters as pinyin: tone-numbered for the synthesiser, toneless for matching.

`speakable(text)` is what espeak-ng's `cmn-latn-pinyin` voice reads as Mandarin (Debian's
`cmn` voice reads characters badly): Arabic numbers are read the Chinese way first
(`zh_reading.read_numbers_in`: "58.3元" -> "五十八元三角"), then each character becomes a
syllable with its tone digit (pypinyin `Style.TONE3`, polyphones chosen by pypinyin's phrase
dictionary: 银行 -> yin2 hang2), with the tone changes of speech (pypinyin's `tone_sandhi`:
不是 bu2 shi4, 一个 yi2 ge4, 你好 ni2 hao3; espeak changes a third tone before a third tone
itself, but not 不 or 一); the neutral tone is 5 ("ma5": espeak reads 5 exactly as it
reads a syllable without digit, its contour following the tone before), and ü is written "v"
("nv3", which espeak reads as [ny]; "nü3" and "lu:4" it misreads). Chinese punctuation
becomes ", " or ". " so the voice pauses; Latin words pass through.

`script_runs(text)` cuts a bilingual prompt ("普通话请按1。For English, press 9.") into its
Chinese and Latin runs, [("zh", "普通话请按1。"), ("en", "For English, press 9.")], so a
synthesiser can speak each with its voice: digits, spaces and ASCII punctuation belong to the
run they follow (or, at the start, to the one they precede).

`syllables(text)` is the toneless syllable sequence used to match homophones ("话费" and
"花费" are both hua fei), with the initials and finals that southern speakers and the
recogniser often confuse folded together (zh/z, ch/c, sh/s, n/l, -ng/-n): "是" and "四" then
share shi/si -> "si".
"""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

from pypinyin import Style, lazy_pinyin

from voicebot.lang import MANDARIN_VOICE
from voicebot.lang.zh_reading import read_numbers_in

_STOPS = re.compile(r"[。！？!?；;]+")
_PAUSES = re.compile(r"[，、,：:（）()“”\"《》…—~～]+")
_SPACES = re.compile(r"\s+")
_CJK = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]")
_CHINESE_MARKS = re.compile(r"[\u3000-\u303f\uff00-\uffef]")  # 。，、 and full-width forms
ESPEAK_VOICE = MANDARIN_VOICE  # the espeak-ng voice that reads `speakable` text as Mandarin


def _script(ch: str) -> str | None:
    if _CJK.match(ch) or _CHINESE_MARKS.match(ch):
        return "zh"
    if ch.isascii() and ch.isalpha():
        return "en"
    return None  # digits, spaces, ASCII punctuation: the surrounding run's


def script_runs(text: str) -> list[tuple[str, str]]:
    """The Chinese ("zh") and Latin ("en") runs of `text`, in order (see module doc)."""
    runs: list[tuple[str, str]] = []
    leading = ""  # neutral characters before the first run
    for ch in text:
        script = _script(ch)
        if runs and (script is None or script == runs[-1][0]):
            runs[-1] = (runs[-1][0], runs[-1][1] + ch)
        elif script is None:
            leading += ch
        else:
            runs.append((script, leading + ch))
            leading = ""
    if not runs:
        return [("zh", text.strip())] if text.strip() else []
    return [(script, run.strip()) for script, run in runs if run.strip()]


def speakable(text: str) -> str:
    """Text for espeak-ng `-v cmn-latn-pinyin` ("你好，58元" -> "ni2 hao3, wu3 shi2 ba1 yuan2")."""
    said = read_numbers_in(unicodedata.normalize("NFKC", text))
    said = _STOPS.sub(" . ", said)
    said = _PAUSES.sub(" , ", said)
    pieces = lazy_pinyin(
        said,
        style=Style.TONE3,
        neutral_tone_with_five=True,
        v_to_u=False,
        tone_sandhi=True,
        errors="default",
    )
    out = " ".join(p.strip() for p in pieces if p.strip())
    out = re.sub(r"\s+([,.])", r"\1", _SPACES.sub(" ", out)).strip()
    return re.sub(r"([,.])(?:[ ,.]*[,.])+", r"\1", out).strip(" ,")


_FOLDS = (
    (re.compile(r"^zh"), "z"),
    (re.compile(r"^ch"), "c"),
    (re.compile(r"^sh"), "s"),
    (re.compile(r"^n(?=[aeiouv])"), "l"),
    (re.compile(r"(?<=[aei])ng$|(?<=i)ng$"), "n"),
)


def _fold(syllable: str) -> str:
    for pattern, replacement in _FOLDS:
        syllable = pattern.sub(replacement, syllable)
    return syllable


@lru_cache(maxsize=4096)  # the same utterance is scored against every phrase of a menu
def syllables(text: str, *, fold: bool = True) -> tuple[str, ...]:
    """The toneless syllables of `text`, one per character; a Latin word or number is one."""
    out: list[str] = []
    for piece in lazy_pinyin(text, style=Style.NORMAL, v_to_u=False, errors="default"):
        for part in piece.split():
            out.append(_fold(part) if fold and part.isascii() and part.isalpha() else part)
    return tuple(out)


def has_chinese(text: str) -> bool:
    return _CJK.search(text) is not None
