"""Recognition in the call's language: English on tiny.en, Mandarin on the multilingual base.

    recognizer = load_recognizer(["en", "zh-CN"], data_dir=..., compute_type=..., threads=...)
    recognizer.final(audio, Expectation(..., language="zh-CN"), stream=call_id)

`LanguageRecognizer` is a `Recognizer` that sends each answer to the recogniser of the
`Expectation`'s language (the dialog sets it from the call's language: a flow's `language:`, or
`set: {call.language: ...}`); a language it has no recogniser for is recognised as English,
which is what every call did before languages existed. Automatic language identification is
not used: on short telephone answers it is unreliable, and the flow knows the language.

Mandarin uses Whisper base (multilingual, `multilingual.multilingual_model_dir`) forced to
"zh" with `MANDARIN_CONTEXT` leading every prompt, which makes it write Simplified characters
(the recogniser also converts any Traditional character left, through OpenCC). Both models are
loaded once per worker, at start, only for the languages its flows declare; the memory each
costs is in BENCHMARKS.md ("Mandarin").
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path

import numpy as np

from voicebot.dialog.expectation import Expectation
from voicebot.lang import is_mandarin
from voicebot.speech.recognizer import (
    Recognition,
    Recognizer,
    RecognizerSettings,
    WhisperRecognizer,
)

MANDARIN_CONTEXT = "以下是普通话的句子。"  # "What follows are sentences in Mandarin."


def recognition_language(tag: str | None) -> str:
    """The recogniser a BCP 47 tag goes to: "zh" for Chinese, "en" for anything else."""
    return "zh" if is_mandarin(tag) else "en"


class LanguageRecognizer:
    """A `Recognizer` over one recogniser per language ("en", "zh"); English is the fallback."""

    def __init__(self, recognizers: Mapping[str, Recognizer]) -> None:
        if "en" not in recognizers:
            raise ValueError("a LanguageRecognizer needs an English recogniser")
        self.recognizers = dict(recognizers)

    def for_language(self, tag: str | None) -> Recognizer:
        return self.recognizers.get(recognition_language(tag), self.recognizers["en"])

    def final(self, audio: np.ndarray, expect: Expectation, stream: str = "") -> Recognition:
        return self.for_language(expect.language).final(audio, expect, stream)

    def partial(self, audio: np.ndarray, expect: Expectation, stream: str = "") -> Recognition:
        return self.for_language(expect.language).partial(audio, expect, stream)

    def forget(self, stream: str) -> None:
        for recognizer in self.recognizers.values():
            forget = getattr(recognizer, "forget", None)
            if forget is not None:
                forget(stream)


def mandarin_recognizer(
    data_dir: str | Path,
    compute_type: str = "int8",
    cpu_threads: int = 2,
    settings: RecognizerSettings | None = None,
) -> WhisperRecognizer:
    """Whisper base forced to Mandarin (assembled into `data_dir` the first time)."""
    from voicebot.speech.model import load_model
    from voicebot.speech.multilingual import multilingual_model_dir

    model = load_model(multilingual_model_dir(data_dir), compute_type, cpu_threads)
    view = model.for_language("zh", MANDARIN_CONTEXT)
    return WhisperRecognizer(view, settings or RecognizerSettings())


def load_recognizer(
    languages: Iterable[str | None],
    *,
    data_dir: str | Path,
    model_dir: str | Path | None = None,
    compute_type: str = "int8",
    cpu_threads: int = 2,
) -> LanguageRecognizer:
    """English (tiny.en, or `model_dir`), and Mandarin if any of `languages` is Chinese."""
    from voicebot.speech.model import load_model

    english = WhisperRecognizer(load_model(model_dir, compute_type, cpu_threads))
    recognizers: dict[str, Recognizer] = {"en": english}
    if any(recognition_language(tag) == "zh" for tag in languages):
        recognizers["zh"] = mandarin_recognizer(data_dir, compute_type, cpu_threads)
    return LanguageRecognizer(recognizers)
