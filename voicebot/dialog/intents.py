"""Intents by meaning: which of a step's intents the caller's own words ask for.

    index = IntentIndex({"check_bill": {"en": ["what do I owe"], "zh-CN": [...]}, ...}, embedder)
    index.scores("how much do I have to pay") -> {"check_bill": 0.93, ...}   # best cosine
    index.decide(text, {"bill": "check_bill", "plan": "change_plan"}) -> Decision

Only after the listed phrases, keys and fuzzy rules found nothing (dialog/matching.py,
zh_matching.py) does the engine ask by meaning. Every example of every language is embedded
when the flow is prepared (the model is multilingual: an English example helps a Mandarin
caller); an intent's score is its best cosine with the utterance. `decide` ranks the candidates
(a menu's options and the globals that name an intent) and calibrates the best one's score and
its lead over the runner-up (`Embedder.calibration_for` the text's script) into a confidence:

* "tie"     when the best two are both in scope (each at or above the calibration's offset)
            and within `TIE_LEAD` of each other: the engine asks which one was meant ("Did you
            mean your balance or a payment?");
* "chosen"  otherwise, when the confidence reaches `ACCEPT`;
* "none"    otherwise (out of scope, or too unsure): the step's no-match, or a knowledge answer.

`close_examples` finds examples of two intents that mean nearly the same (`flow check` warns).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from voicebot.dialog.embeddings import Embedder, VectorCache, query_text

ACCEPT = 0.5  # calibrated confidence from which the best intent is taken
TIE_LEAD = 0.005  # cosine lead under which two in-scope intents are a near tie (chosen on the
# development set of bench/understanding_data.py: 0.01 asked back 3 of 48 English utterances
# whose best intent was right, 0.005 one; 0.0025 let a Chinese out-of-scope question through)
CLOSE = 0.95  # examples of two intents this similar confuse callers' words between them


@dataclass(frozen=True)
class Candidate:
    name: str  # the option's (or global's) name
    intent: str
    score: float  # best cosine of the utterance with the intent's examples


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
        """Each intent's best cosine with `text` (`vector`: its embedding, when already made)."""
        if not self.examples:
            return {}
        query = self.embedder.embed([query_text(text)])[0] if vector is None else vector
        best = np.full(len(self.names), -1.0)
        np.maximum.at(best, self._owner, self.vectors @ query)
        return {name: float(s) for name, s in zip(self.names, best, strict=True)}

    def decide(
        self, text: str, candidates: Mapping[str, str], vector: np.ndarray | None = None
    ) -> Decision:
        """Which of `candidates` (name -> intent) `text` asks for (see the module doc)."""
        wanted = {n: i for n, i in candidates.items() if i in self.names}
        if not text.strip() or not wanted:
            return Decision("none")
        scores = self.scores(text, vector)
        ranked = sorted(
            (Candidate(n, i, scores[i]) for n, i in wanted.items()),
            key=lambda c: c.score,
            reverse=True,
        )
        best = ranked[0]
        # the runner-up is the best candidate of another intent (two options may share one)
        second = next((c for c in ranked[1:] if c.intent != best.intent), None)
        calibration = self.embedder.calibration_for(text)
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
