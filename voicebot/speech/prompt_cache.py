"""Prompts ready to play: a content-addressed cache of synthesised speech and resampled WAVs.

Every rendered prompt is stored once on disk as a mono PCM16 WAV named by the SHA-256 of what
determines its sound: the synthesiser's engine, the voice, the speaking rate, the sample rate
and the text (or, for a WAV asset, its bytes). Writes go to a temporary file then
``os.replace``, so concurrent calls never see half a file. A flow's static prompts are
rendered by `prerender` when the flow loads, so they play with no synthesis delay; dynamic
text goes through `stream`, which renders sentence by sentence (each sentence cached on its
own) so the first sentence can play while the rest renders.

API::

    split_sentences(text: str) -> list[str]

    class PromptCache:
        __init__(directory: str | os.PathLike, synthesizer: Synthesizer, sample_rate: int)
        hits: int; misses: int                    # counters, for metrics and tests
        key(text: str, voice: Voice | None = None) -> str
        contains(text: str, voice: Voice | None = None) -> bool
        get(text: str, voice: Voice | None = None) -> bytes       # PCM16 at sample_rate
        prerender(texts: Iterable[str], voice: Voice | None = None) -> int   # newly rendered
        stream(text: str, voice: Voice | None = None) -> Iterator[bytes]     # per sentence
        asset(path: str | os.PathLike) -> bytes   # a WAV prompt resampled once to sample_rate
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path

from voicebot.audio.wav import read_wav, write_wav
from voicebot.private_files import private_dir
from voicebot.speech.synthesizer import Synthesizer, Voice

log = logging.getLogger(__name__)

# Chinese sentences end at 。！？； with no space after them
_SENTENCE_END = re.compile(r"(?<=[.!?;…])\s+|(?<=[。！？；])\s*|\n+")
_ABBREVIATIONS = frozenset(
    {"mr.", "mrs.", "ms.", "dr.", "st.", "no.", "vs.", "e.g.", "i.e.", "a.m.", "p.m.", "approx."}
)


def split_sentences(text: str) -> list[str]:
    """Split text after . ! ? ; … (and Chinese 。！？；) and at line breaks, not after common
    abbreviations."""
    sentences: list[str] = []
    pending = ""
    for piece in _SENTENCE_END.split(text.strip()):
        piece = piece.strip()
        if not piece:
            continue
        pending = f"{pending} {piece}" if pending else piece
        last_word = pending.rsplit(None, 1)[-1].lower()
        if last_word not in _ABBREVIATIONS:
            sentences.append(pending)
            pending = ""
    if pending:
        sentences.append(pending)
    return sentences


class PromptCache:
    """Rendered prompts on disk, addressed by content, at one sample rate."""

    def __init__(
        self, directory: str | os.PathLike[str], synthesizer: Synthesizer, sample_rate: int
    ) -> None:
        self.directory = Path(directory)
        self.synthesizer = synthesizer
        self.sample_rate = sample_rate
        self.hits = 0
        self.misses = 0

    def _digest(self, *parts: str | bytes) -> str:
        h = hashlib.sha256()
        for part in parts:
            data = part.encode("utf-8") if isinstance(part, str) else part
            h.update(len(data).to_bytes(8, "big"))
            h.update(data)
        return h.hexdigest()

    def key(self, text: str, voice: Voice | None = None) -> str:
        v = voice or self.synthesizer.default_voice
        return self._digest(
            "tts", self.synthesizer.engine, v.name, str(v.words_per_minute),
            str(self.sample_rate), text,
        )  # fmt: skip

    def _path(self, key: str) -> Path:
        return self.directory / key[:2] / f"{key}.wav"

    def contains(self, text: str, voice: Voice | None = None) -> bool:
        return self._path(self.key(text, voice)).exists()

    def _load(self, key: str) -> bytes | None:
        path = self._path(key)
        if not path.exists():
            return None
        self.hits += 1
        pcm, _ = read_wav(path)
        return pcm

    def _store(self, key: str, pcm: bytes) -> None:
        path = self._path(key)
        private_dir(path.parent)  # dynamic prompts say call data ("your balance is ..."): 0700
        fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
        os.close(fd)
        try:
            write_wav(tmp, pcm, self.sample_rate)
            os.replace(tmp, path)
        except BaseException:
            os.unlink(tmp)
            raise

    def get(self, text: str, voice: Voice | None = None) -> bytes:
        """The prompt as PCM16 at the cache's rate, rendering and storing it on a miss."""
        key = self.key(text, voice)
        cached = self._load(key)
        if cached is not None:
            return cached
        self.misses += 1
        pcm = self.synthesizer.synthesize(text, self.sample_rate, voice)
        self._store(key, pcm)
        return pcm

    def prerender(self, texts: Iterable[str], voice: Voice | None = None) -> int:
        """Render every text not cached yet; return how many were rendered."""
        rendered = cached = 0
        for text in dict.fromkeys(t for t in texts if t.strip()):
            if self.contains(text, voice):
                cached += 1
                continue
            self.get(text, voice)
            rendered += 1
        log.info("prerendered %d prompts (%d already cached)", rendered, cached)
        return rendered

    def stream(self, text: str, voice: Voice | None = None) -> Iterator[bytes]:
        """Yield the PCM of each sentence in turn, rendering each only when asked for."""
        for sentence in split_sentences(text):
            yield self.get(sentence, voice)

    def asset(self, path: str | os.PathLike[str]) -> bytes:
        """A recorded WAV prompt at the cache's rate, resampled on first use only."""
        raw = Path(path).read_bytes()
        key = self._digest("wav", str(self.sample_rate), raw)
        cached = self._load(key)
        if cached is not None:
            return cached
        self.misses += 1
        pcm, _ = read_wav(path, rate=self.sample_rate)
        self._store(key, pcm)
        return pcm
