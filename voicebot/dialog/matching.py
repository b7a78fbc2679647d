"""Turning a caller's words into one of a menu's options.

`normalize` puts an utterance into the form every matcher compares: lower case, punctuation
dropped (except inside numbers: "12.50", "12/03" and "2026-12-03" keep theirs, and thousands
commas "12,345" are removed), whitespace collapsed, and filler words removed. Fillers are
politeness and hesitation that never change the answer ("um", "uh", "please", "well",
"i'd like", "i want to", "can i", ...). "yes", "no", "not" and the affirmations "uh huh" /
"mm hmm" are never fillers. Options' phrases go through the same function, so a designer's
phrase "I want to pay" and a caller's "um I want to pay please" compare equal.

`match_option` scores every phrase of every option against the normalised utterance and keeps
each option's best phrase. A phrase scores:

* 1.0 when it is the whole utterance;
* 0.85 + 0.15 * coverage when it occurs whole, at word boundaries ("bill" is found in "my bill"
  but not in "billion"), where coverage is the phrase's share of the utterance's characters, so
  "account balance" beats "balance" in "my account balance";
* otherwise 0.8 * the mean closeness of its content words (stop words such as "my", "do", "the"
  don't count unless the phrase has nothing else): each content word takes its closest word of
  the utterance by rapidfuzz's `ratio` (0..1), or 0 when none is at least `WORD_CUTOFF` (85)
  close. That tolerates ASR slips ("ballance", "invoices": 93) but not different short words
  ("bill"/"will": 75) or a word inside a longer one ("bill"/"billion": 73). The price: one
  letter changed in a long word still passes ("billion"/"billing": 86), as ASR slips often are.
  A fuzzy match scores at most 0.8, so below any phrase said whole.

Each option's name is an implicit phrase too (underscores read as spaces). The best option
wins if it reaches `threshold` and leads the runner-up by more than `AMBIGUITY_MARGIN`;
otherwise nothing is matched, because asking again is better than guessing between two.

Keys pressed select the one option that lists them among its phrases (`option_for_keys`), so
the engine may add an option's DTMF key ("1") to its phrases; spoken "option 1" then matches
too, while the word "one" does not.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache

from rapidfuzz import fuzz, process

DEFAULT_THRESHOLD = 0.6
AMBIGUITY_MARGIN = 0.05
WORD_CUTOFF = 85.0
CONTAINED = 0.85  # the lowest score of a phrase said whole; fuzzy matches score below it
FUZZY_WEIGHT = 0.8

# Longest first, so "i'd like to" wins over "i'd like". Matched at word boundaries.
FILLERS = (
    "i would like to",
    "i would like",
    "i'd like to",
    "i'd like",
    "i want to",
    "i want",
    "i need to",
    "i wanna",
    "okay so",
    "yeah so",
    "you know",
    "i mean",
    "kind of",
    "sort of",
    "could you",
    "can you",
    "could i",
    "can i",
    "let me",
    "actually",
    "basically",
    "please",
    "hmm",
    "erm",
    "um",
    "uh",
    "er",
    "ah",
    "like",
    "well",
    "just",
)
# Sounds that look like fillers but are answers: kept as they are.
PROTECTED = ("uh huh", "mm hmm", "uh uh")

STOP_WORDS = frozenset(
    "a an the my your our me i to do does did is are am be of for about on in at with it this "
    "that and or some any".split()
)

_APOSTROPHES = str.maketrans({"\u2019": "'", "\u2018": "'", "`": "'"})
_THOUSANDS = re.compile(r"(?<=\d),(?=\d{3}\b)")
# Anything but letters, digits, apostrophes inside words, and . / - : between digits.
_PUNCTUATION = re.compile(r"(?<!\d)[./:-]|[./:-](?!\d)|[^\w\s'./:-]|_|(?<!\w)'|'(?!\w)")
_FILLER = re.compile(
    r"\b(?:" + "|".join(re.escape(p) for p in PROTECTED + FILLERS) + r")\b(?!')",
)
_SPACES = re.compile(r"\s+")


def _drop_filler(m: re.Match[str]) -> str:
    return m.group(0) if m.group(0) in PROTECTED else " "


def normalize(text: str) -> str:
    """Lower-case `text`, drop punctuation and fillers, collapse whitespace (see module doc)."""
    out = text.lower().translate(_APOSTROPHES)
    out = _THOUSANDS.sub("", out)
    out = _PUNCTUATION.sub(" ", out)
    out = _SPACES.sub(" ", out)  # "uh  huh" -> "uh huh" before protected phrases are looked for
    out = _FILLER.sub(_drop_filler, out)
    return _SPACES.sub(" ", out).strip()


@dataclass(frozen=True)
class OptionMatch:
    name: str  # the option's name
    phrase: str  # the option phrase that matched, as the designer wrote it
    score: float  # 0..1, see the module docstring


@dataclass(frozen=True)
class _Phrase:
    text: str  # normalised
    pattern: re.Pattern[str]  # the whole phrase at word boundaries
    content: tuple[str, ...]  # words compared one by one for the fuzzy score


@lru_cache(maxsize=4096)
def _prepare(phrase: str) -> _Phrase:
    text = normalize(phrase) or _SPACES.sub(" ", phrase.lower().replace("_", " ")).strip()
    words = tuple(text.split())
    content = tuple(w for w in words if w not in STOP_WORDS) or words
    return _Phrase(text, re.compile(rf"(?<!\S){re.escape(text)}(?!\S)"), content)


def score_phrase(text: str, phrase: str) -> float:
    """How well the normalised utterance `text` says `phrase` (0..1, see module doc)."""
    p = _prepare(phrase)
    if not p.text or not text:
        return 0.0
    if text == p.text:
        return 1.0
    if p.pattern.search(text):
        return CONTAINED + (1.0 - CONTAINED) * len(p.text) / len(text)
    words = text.split()
    total = 0.0
    for word in p.content:
        best = process.extractOne(word, words, scorer=fuzz.ratio, score_cutoff=WORD_CUTOFF)
        total += best[1] / 100.0 if best else 0.0  # a missing word counts as 0
    return FUZZY_WEIGHT * total / len(p.content)


def match_option(
    text: str,
    options: Mapping[str, Sequence[str]],
    *,
    threshold: float = DEFAULT_THRESHOLD,
) -> OptionMatch | None:
    """The option whose phrases `text` says, or None when none (or no single one) fits."""
    return best_option(normalize(text), options, score_phrase, threshold)


def best_option(
    said: str,
    options: Mapping[str, Sequence[str]],
    score: Callable[[str, str], float],
    threshold: float = DEFAULT_THRESHOLD,
) -> OptionMatch | None:
    """The option (its name counts as a phrase) whose best phrase `score`s highest on the
    normalised `said`, if that reaches `threshold` and leads the runner-up by more than
    `AMBIGUITY_MARGIN`; every language's matcher ranks this way, with its own `score`."""
    if not said:
        return None
    ranked: list[OptionMatch] = []
    for name, phrases in options.items():
        best = OptionMatch(name, name, score(said, name.replace("_", " ")))
        for phrase in phrases:
            phrase_score = score(said, phrase)
            if phrase_score > best.score:
                best = OptionMatch(name, phrase, phrase_score)
        ranked.append(best)
    ranked.sort(key=lambda m: m.score, reverse=True)
    if not ranked or ranked[0].score < threshold:
        return None
    if len(ranked) > 1 and ranked[0].score - ranked[1].score <= AMBIGUITY_MARGIN:
        return None
    return ranked[0]


def option_for_keys(dtmf: str, options: Mapping[str, Sequence[str]]) -> str | None:
    """The one option that lists the keys pressed (without a "#" terminator) among its phrases."""
    keys = dtmf.removesuffix("#")
    chosen = [name for name, phrases in options.items() if keys in phrases]
    return chosen[0] if len(chosen) == 1 else None
