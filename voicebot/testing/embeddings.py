"""A fake `Embedder` (voicebot/dialog/embeddings.py) for unit tests of intents, knowledge and the
dialog engine: no model, instant, and predictable.

    FakeEmbedder(synonyms={"owe": "bill", ...})

A text's vector is the normalised sum of one fixed random vector per word (Latin words; each
Chinese character is a word), so texts sharing words are close and texts sharing none are
orthogonal-ish. `synonyms` maps a word to the word whose vector it takes, which is how a test
says that "owe" means "bill". `calls` counts `embed` calls (a test of the cache reads it).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping, Sequence

import numpy as np

from voicebot.dialog.embeddings import Calibration

_WORD = re.compile(r"[a-z0-9']+|[\u4e00-\u9fff]")
DIM = 256


class FakeEmbedder:
    name = "fake-bag-of-words"
    calibration = Calibration(scale=14.0, offset=0.45, lead=6.0)

    def __init__(self, synonyms: Mapping[str, str] | None = None):
        self.synonyms = dict(synonyms or {})
        self.calls = 0

    def _word(self, word: str) -> np.ndarray:
        seed = int.from_bytes(hashlib.sha256(word.encode()).digest()[:8], "little")
        return np.random.default_rng(seed).standard_normal(DIM).astype(np.float32)

    def _one(self, text: str) -> np.ndarray:
        words = [self.synonyms.get(w, w) for w in _WORD.findall(text.lower())]
        vector = sum((self._word(w) for w in words), np.zeros(DIM, np.float32))
        norm = float(np.linalg.norm(vector))
        return vector / norm if norm else vector

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        self.calls += 1
        if not texts:
            return np.zeros((0, DIM), np.float32)
        return np.stack([self._one(t) for t in texts])
