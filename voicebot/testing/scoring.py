"""Error rates for measuring recognition, shared by tests and benchmarks.

    cer(reference, hypothesis) -> float   # characters (Mandarin): edits / reference length
    wer(reference, hypothesis) -> float   # words: edits / reference words

Punctuation and spaces are not characters for `cer` (Whisper punctuates, transcripts don't);
`wer` compares lower-cased words with punctuation dropped.
"""

from __future__ import annotations

import re
from collections.abc import Sequence


def edit_distance(ref: Sequence[str], hyp: Sequence[str]) -> int:
    row = list(range(len(hyp) + 1))
    for i, r in enumerate(ref, 1):
        prev, row[0] = row[0], i
        for j, h in enumerate(hyp, 1):
            prev, row[j] = row[j], min(row[j] + 1, row[j - 1] + 1, prev + (r != h))
    return row[-1]


def cer(reference: str, hypothesis: str) -> float:
    ref = [ch for ch in reference if ch.isalnum()]
    hyp = [ch for ch in hypothesis if ch.isalnum()]
    return edit_distance(ref, hyp) / max(1, len(ref))


def wer(reference: str, hypothesis: str) -> float:
    def words(text: str) -> list[str]:
        return re.sub(r"[^\w' ]+", " ", text.lower()).split()

    ref = words(reference)
    return edit_distance(ref, words(hypothesis)) / max(1, len(ref))
