"""A fake `Embedder` (voicebot/dialog/embeddings.py) for unit tests of intents, knowledge and the
dialog engine: no model, instant, and predictable.

    FakeEmbedder(synonyms={"owe": "bill", ...})

A text's vector is the normalised count of its words (Latin words; each Chinese character is
a word), each word on its own axis (a hash of the word), so the cosine of two texts is exactly
their word overlap: "my balance" and "my payment" score 0.5. `synonyms` maps a word to the
word whose axis it takes, which is how a test says that "owe" means "bill". `calls` counts
`embed` calls (a test of the cache reads it).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping, Sequence

import numpy as np

from voicebot.dialog.embeddings import Calibration

_WORD = re.compile(r"[a-z0-9']+|[\u4e00-\u9fff]")
DIM = 4096


class FakeEmbedder:
    name = "fake-bag-of-words"
    calibration = Calibration(scale=14.0, offset=0.45, lead=6.0)

    def calibration_for(self, text: str) -> Calibration:
        return self.calibration

    def __init__(self, synonyms: Mapping[str, str] | None = None):
        self.synonyms = dict(synonyms or {})
        self.calls = 0

    def _one(self, text: str) -> np.ndarray:
        vector = np.zeros(DIM, np.float32)
        for word in _WORD.findall(text.lower()):
            word = self.synonyms.get(word, word)
            vector[int.from_bytes(hashlib.sha256(word.encode()).digest()[:4], "little") % DIM] += 1
        norm = float(np.linalg.norm(vector))
        return vector / norm if norm else vector

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        self.calls += 1
        if not texts:
            return np.zeros((0, DIM), np.float32)
        return np.stack([self._one(t) for t in texts])
