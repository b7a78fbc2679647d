"""Intents by meaning: which of a step's intents the caller's own words ask for.

    index = IntentIndex({"check_bill": {"en": ["what do I owe"], "zh-CN": [...]}, ...}, embedder)
    index.scores("how much do I have to pay") -> {"check_bill": 0.93, ...}   # soft maximum
    index.decide(text, {"bill": "check_bill", "plan": "change_plan"}) -> Decision

Only after the listed phrases, keys and fuzzy rules found nothing (dialog/matching.py,
zh_matching.py) does the engine ask by meaning. Every example of every language is embedded
when the flow is prepared (the model is multilingual: an English example helps a Mandarin
caller). An intent's score is a soft maximum of its examples' cosines with the utterance,
`1 + SOFTNESS * log(sum(exp((cosine - 1) / SOFTNESS)))`: its best cosine when one example is
far closer than the others, up to `SOFTNESS * log(n)` more when n of its examples are about as
close. Examples that agree are better evidence than one that happens to be near: on the
development set of bench/understanding_data.py it got 1-2 more utterances right per language
than the best cosine alone, and 2 more of each language's examples when each was held out in
turn (leave-one-out); the mean of an intent's best two or three did less well, and adding the
phrase matcher's score or the intent's name as an example changed one DEV utterance either way
(not kept). `decide` ranks the candidates (a menu's options and the globals that name an
intent) and calibrates the best one's score and its lead over the runner-up into a confidence
(`Embedder.calibration_for` the text's script, its offset raised by `SOFT_OFFSET`, since a soft
maximum scores above the best cosine that the calibration was fitted on):

* "tie"     when the best two are both in scope (each at or above that raised offset)
            and within `TIE_LEAD` of each other: the engine asks which one was meant ("Did you
            mean your balance or a payment?");
* "chosen"  otherwise, when the confidence reaches `ACCEPT`;
* "none"    otherwise (out of scope, or too unsure): the step's no-match, or a knowledge answer.

`close_examples` finds examples of two intents that mean nearly the same (`flow check` warns).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace

import numpy as np

from voicebot.dialog.embeddings import Calibration, Embedder, VectorCache, query_text
from voicebot.lang import has_han

ACCEPT = 0.5  # calibrated confidence from which the best intent is taken
TIE_LEAD = 0.005  # cosine lead under which two in-scope intents are a near tie (chosen on the
# development set of bench/understanding_data.py: 0.01 asked back 3 of 48 English utterances
# whose best intent was right, 0.005 one; 0.0025 let a Chinese out-of-scope question through)
SOFTNESS = 0.02  # the soft maximum's temperature (0.01 and 0.05 did less well on DEV)
SOFT_OFFSET = 0.0225  # the soft maximum scores above a best cosine: an intent is in scope from
ZH_SOFT_OFFSET = 0.025  # the embedder's calibration offset (a knowledge question's best cosine)
# plus these, English and Chinese (fitted on DEV by bench/understanding_bench.py --fit)
CLOSE = 0.95  # examples of two intents this similar confuse callers' words between them


@dataclass(frozen=True)
class Candidate:
    name: str  # the option's (or global's) name
    intent: str
    score: float  # soft maximum of the utterance's cosines with the intent's examples
    example: float = -1.0  # the best of those cosines (what a knowledge question's is set against)


@dataclass(frozen=True)
class Decision:
    kind: str  # "chosen" | "tie" | "none"
    best: Candidate | None = None
    second: Candidate | None = None
    confidence: float = 0.0  # of `best`


@dataclass(frozen=True)
class Example:
    intent: str
    language: str
    text: str


def soft_maximum(
    cosines: np.ndarray, owner: np.ndarray, groups: int, softness: float = SOFTNESS
) -> np.ndarray:
    """Per group (`owner[i]`: the group 0..groups-1 of `cosines[i]`): `1 + softness * log(sum(
    exp((cosine - 1) / softness)))`, at least the group's best cosine and at most `softness *
    log(size)` above it; -1 for a group without cosines."""
    sums = np.bincount(owner, weights=np.exp((cosines - 1.0) / softness), minlength=groups)
    out = np.full(groups, -1.0)
    np.log(sums, out=out, where=sums > 0)
    return np.where(sums > 0, 1.0 + softness * out, -1.0)


class IntentIndex:
    def __init__(
        self,
        intents: Mapping[str, Mapping[str, Sequence[str]]],
        embedder: Embedder,
        cache: VectorCache | None = None,
    ):
        self.embedder = embedder
        self.examples = tuple(
            Example(name, lang, text)
            for name, by_language in intents.items()
            for lang, texts in by_language.items()
            for text in texts
        )
        self.names = tuple(intents)
        self._owner = np.array([self.names.index(e.intent) for e in self.examples], dtype=int)
        self.vectors = (cache or VectorCache()).vectors(embedder, [e.text for e in self.examples])

    def scores(self, text: str, vector: np.ndarray | None = None) -> dict[str, float]:
        """Each intent's score for `text` (module doc; `vector`: its embedding, when made)."""
        return {name: soft for name, (soft, _best) in self._scored(text, vector).items()}

    def _scored(self, text: str, vector: np.ndarray | None) -> dict[str, tuple[float, float]]:
        """Each intent's (score, best example cosine) for `text`."""
        if not self.examples:
            return {}
        query = self.embedder.embed([query_text(text)])[0] if vector is None else vector
        cosines = self.vectors @ query
        best = np.full(len(self.names), -1.0)
        np.maximum.at(best, self._owner, cosines)
        soft = soft_maximum(cosines, self._owner, len(self.names))
        return {n: (float(s), float(b)) for n, s, b in zip(self.names, soft, best, strict=True)}

    def calibration_for(self, text: str) -> Calibration:
        """The embedder's calibration for `text`, its offset raised by `SOFT_OFFSET` (Chinese:
        `ZH_SOFT_OFFSET`)."""
        calibration = self.embedder.calibration_for(text)
        shift = ZH_SOFT_OFFSET if has_han(text) else SOFT_OFFSET
        return replace(calibration, offset=calibration.offset + shift)

    def decide(
        self, text: str, candidates: Mapping[str, str], vector: np.ndarray | None = None
    ) -> Decision:
        """Which of `candidates` (name -> intent) `text` asks for (see the module doc)."""
        wanted = {n: i for n, i in candidates.items() if i in self.names}
        if not text.strip() or not wanted:
            return Decision("none")
        scored = self._scored(text, vector)
        ranked = sorted(
            (Candidate(n, i, *scored[i]) for n, i in wanted.items()),
            key=lambda c: c.score,
            reverse=True,
        )
        best = ranked[0]
        # the runner-up is the best candidate of another intent (two options may share one)
        second = next((c for c in ranked[1:] if c.intent != best.intent), None)
        calibration = self.calibration_for(text)
        confidence = calibration.confidence(best.score, second.score if second else -1.0)
        if (
            second is not None
            and second.score >= calibration.offset
            and best.score - second.score <= TIE_LEAD
        ):
            return Decision("tie", best, second, confidence)
        if confidence >= ACCEPT:
            return Decision("chosen", best, second, confidence)
        return Decision("none", best, second, confidence)

    def close_examples(self, threshold: float = CLOSE) -> list[tuple[Example, Example, float]]:
        """Pairs of examples of different intents at least `threshold` alike, closest first."""
        if len(self.examples) < 2:
            return []
        similar = self.vectors @ self.vectors.T
        out = []
        for i, j in zip(*np.nonzero(np.triu(similar, 1) >= threshold), strict=True):
            a, b = self.examples[i], self.examples[j]
            if a.intent != b.intent:
                out.append((a, b, float(similar[i, j])))
        return sorted(out, key=lambda t: -t[2])
