"""Answers from a knowledge base: which entry a caller's question asks, if any.

    kb = KnowledgeBase(entries=(Entry("roaming", questions=(("en", "how do I ..."), ...),
                                      answers=(("en", "Text ROAM to ..."), ...)), ...))
    retriever = Retriever(kb, embedder, cache)          # embeds every question once
    retriever.search("do you have roaming in Japan") -> [Hit(entry, score, ...)] best first
    retriever.answer(question) -> Hit | None  # None below the confidence threshold

Retrieval is hybrid. Each entry's questions (of every language: the model is multilingual)
are embedded; a question's meaning score for an entry is its best cosine with the entry's
questions. Words count too: Okapi BM25 (k1 1.2, b 0.75) over the entry's questions and answer,
tokenised by `tokens` (English: normalised words less stop words; Chinese: jieba's words less
stop words, so 漫游 matches 国际漫游), scaled to 0..1 by the best entry's score. The entry's
score is meaning + `WORDS_WEIGHT` x words. Its confidence is the embedder's calibration (for
the question's script) of the best meaning score and its lead over the next entry's; below
`ANSWER_THRESHOLD` nothing is answered (`no_answer`), never a guess. The knowledge file itself
(YAML, located errors) is read by flow/knowledge_file.py; this module holds only the frozen
result.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from voicebot.dialog.embeddings import Embedder, VectorCache, query_text
from voicebot.dialog.matching import STOP_WORDS, normalize
from voicebot.flow.schema import for_language

WORDS_WEIGHT = 0.05  # BM25's share beside meaning: it breaks ties between close entries
ANSWER_THRESHOLD = 0.5  # calibrated confidence under which nothing is answered
K1, B = 1.2, 0.75
_CJK = re.compile(r"[\u3400-\u9fff]")
_ZH_STOP = frozenset(
    "的 了 吗 呢 吧 啊 我 你 您 是 有 在 怎么 什么 能 可以 请问 一下 想 要".split()
)


@dataclass(frozen=True)
class Entry:
    id: str
    questions: tuple[tuple[str, str], ...]  # (language, question)
    answers: tuple[tuple[str, str], ...]  # (language, answer)

    def answer_for(self, language: str, default: str) -> str:
        """The answer in `language` (else the flow's default language's, else the first)."""
        return str(for_language(dict(self.answers), language, default))


@dataclass(frozen=True)
class KnowledgeBase:
    entries: tuple[Entry, ...]
    language: str = "en"  # the flow's default language: answers fall back to it
    path: str = ""

    def entry(self, entry_id: str) -> Entry:
        return next(e for e in self.entries if e.id == entry_id)


@dataclass(frozen=True)
class Hit:
    entry: Entry
    score: float  # meaning + WORDS_WEIGHT * words (the ranking)
    meaning: float  # best cosine with the entry's questions
    words: float  # BM25, 0..1 of the best entry's
    confidence: float  # calibrated: the probability that this entry answers the question


def tokens(text: str) -> list[str]:
    """Words for BM25: Chinese by jieba, otherwise `matching.normalize`d words; no stop words."""
    if _CJK.search(text):
        from voicebot.dialog.zh_matching import words
        from voicebot.lang.zh_normalize import normalize as zh_normalize

        found = [w.lower() for w in words(zh_normalize(text))]
        return [w for w in found if w not in _ZH_STOP and w not in STOP_WORDS and w.strip()]
    return [w for w in normalize(text).split() if w not in STOP_WORDS]


class Bm25:
    """Okapi BM25 over documents given as token lists."""

    def __init__(self, documents: Sequence[Sequence[str]]):
        self.docs = [Counter(d) for d in documents]
        self.lengths = [len(d) for d in documents]
        self.average = (sum(self.lengths) / len(self.lengths)) if self.lengths else 0.0
        frequency: Counter[str] = Counter()
        for doc in self.docs:
            frequency.update(doc.keys())
        n = len(self.docs)
        self.idf = {t: math.log(1 + (n - f + 0.5) / (f + 0.5)) for t, f in frequency.items()}

    def scores(self, query: Sequence[str]) -> np.ndarray:
        out = np.zeros(len(self.docs))
        for i, (doc, length) in enumerate(zip(self.docs, self.lengths, strict=True)):
            norm = K1 * (1 - B + B * length / (self.average or 1.0))
            for term in set(query):
                tf = doc.get(term, 0)
                if tf:
                    out[i] += self.idf[term] * tf * (K1 + 1) / (tf + norm)
        return out


class Retriever:
    def __init__(self, kb: KnowledgeBase, embedder: Embedder, cache: VectorCache | None = None):
        self.kb = kb
        self.embedder = embedder
        texts = [q for e in kb.entries for _, q in e.questions]
        self.owner = np.array([i for i, e in enumerate(kb.entries) for _ in e.questions])
        self.vectors = (cache or VectorCache()).vectors(embedder, texts)
        self.bm25 = Bm25(
            [
                [t for _, text in (*e.questions, *e.answers) for t in tokens(text)]
                for e in kb.entries
            ]
        )

    def search(self, question: str, vector: np.ndarray | None = None) -> list[Hit]:
        """Every entry, best first, with its scores (`voicebot kb search` prints them);
        `vector`: the question's embedding, when already made."""
        if not question.strip() or not self.kb.entries:
            return []
        query = self.embedder.embed([query_text(question)])[0] if vector is None else vector
        calibration = self.embedder.calibration_for(question)
        cosines = self.vectors @ query
        meaning = np.full(len(self.kb.entries), -1.0)
        np.maximum.at(meaning, self.owner, cosines)
        words = self.bm25.scores(tokens(question))
        if words.max() > 0:
            words = words / words.max()
        score = meaning + WORDS_WEIGHT * words
        order = np.argsort(-score, kind="stable")
        hits = []
        for i in order:
            others = np.delete(meaning, i)
            second = float(others.max()) if len(others) else -1.0
            confidence = calibration.confidence(float(meaning[i]), second)
            entry = self.kb.entries[i]
            hits.append(Hit(entry, float(score[i]), float(meaning[i]), float(words[i]), confidence))
        return hits

    def answer(self, question: str, vector: np.ndarray | None = None) -> Hit | None:
        """The entry that answers `question`, or None when none is confident enough."""
        hits = self.search(question, vector)
        if hits and hits[0].confidence >= ANSWER_THRESHOLD:
            return hits[0]
        return None
