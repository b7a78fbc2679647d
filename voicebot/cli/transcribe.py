"""`voicebot transcribe FILE.wav [--expect KIND]`: the recogniser on a file, with its timing.

The main CLI registers the subcommand with `add_arguments(parser)` and calls `run(args)`.
`--expect` takes what a flow step would expect:

    text (default)       free transcription
    digits               any number of digits (free transcription, digits kept)
    digits:8             exactly 8 digits (grammar mode); digits:4-10 a range
    yes_no               yes or no (grammar mode)
    choice:a,b,c         one of the options a, b, c (grammar mode); menu:... is the same

`--language zh` (or any Chinese BCP 47 tag, zh-CN) recognises Mandarin with the multilingual
model (assembled into settings `data_dir` the first time), and `--expect` options are then
given in Chinese: `--expect choice:北京,上海`.

The file is read whatever its rate (PCM WAV, mono or stereo) and resampled to 16 kHz by soxr.
The model is the bundled tiny.en unless `--model DIR` or settings `speech.model_dir` name a
CTranslate2 Whisper directory. Model loading is timed apart from recognition.
"""

from __future__ import annotations

import argparse
import re
import time
from dataclasses import replace
from typing import Any

from voicebot.dialog.expectation import FREE_TEXT, Expectation


def parse_expect(value: str) -> Expectation:
    """`--expect` as an `Expectation`; argparse reports the error on a bad value."""
    kind, _, arg = value.strip().partition(":")
    if kind == "text" and not arg:
        return FREE_TEXT
    if kind == "yes_no" and not arg:
        return Expectation(kind="yes_no")
    if kind == "digits":
        if not arg:
            return Expectation(kind="digits")
        m = re.fullmatch(r"(\d+)(?:-(\d+))?", arg)
        if m and 0 < int(m.group(1)) <= int(m.group(2) or m.group(1)):
            low, high = int(m.group(1)), int(m.group(2) or m.group(1))
            return Expectation(kind="digits", min_digits=low, max_digits=high)
    if kind in ("choice", "menu") and arg:
        names = [a.strip() for a in arg.split(",") if a.strip()]
        if names:
            return Expectation(kind=kind, options=tuple((n, (n,)) for n in names))
    raise argparse.ArgumentTypeError(
        f"cannot use --expect {value!r}: give text, digits, digits:N, digits:MIN-MAX, yes_no "
        "or choice:a,b,c"
    )


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("file", help="a PCM WAV file (any rate; resampled to 16 kHz)")
    parser.add_argument(
        "--expect",
        type=parse_expect,
        default=FREE_TEXT,
        metavar="KIND",
        help="text (default), digits, digits:N, digits:MIN-MAX, yes_no, choice:a,b,c",
    )
    parser.add_argument(
        "--language",
        default="en",
        help="the speech's language, BCP 47: en (default, tiny.en) or zh / zh-CN (Whisper base)",
    )
    parser.add_argument(
        "--model", help="CTranslate2 Whisper directory for English (default: bundled tiny.en)"
    )
    parser.add_argument("--threads", type=int, help="CPU threads (default: settings, 2)")


def recognizer_for(language: str, model: str | None = None, threads: int | None = None):
    """The recogniser of `language` as settings configure it (the CLI's callers share it)."""
    from voicebot.settings import Settings
    from voicebot.speech.languages import load_recognizer

    settings = Settings()
    speech = settings.speech
    return load_recognizer(
        [language],
        data_dir=settings.data_dir,
        model_dir=model or (str(speech.model_dir) if speech.model_dir else None),
        compute_type=speech.compute_type,
        cpu_threads=threads or speech.cpu_threads,
    ).for_language(language)


def run(args: Any) -> int:
    from voicebot.audio import read_wav
    from voicebot.speech.recognizer import to_model_audio

    expect: Expectation = replace(args.expect, language=args.language)
    pcm, rate = read_wav(args.file)
    audio = to_model_audio(pcm, rate)
    began = time.perf_counter()
    recognizer = recognizer_for(args.language, args.model, args.threads)
    loaded = time.perf_counter() - began
    model = recognizer.model
    result = recognizer.final(audio, expect)

    if result.text:
        print(result.text)
    else:
        print(f"(nothing recognised: {result.rejected or 'empty'})")
    chosen = f", option {result.option!r}" if result.option else ""
    seconds = result.audio_seconds
    rtf = result.compute_seconds / seconds if seconds else 0.0
    print(
        f"mode {result.mode}{chosen}, confidence {result.confidence:.2f}; "
        f"audio {seconds:.2f} s at {rate} Hz, encoder window {result.window_seconds:.1f} s; "
        f"recognition {result.compute_seconds * 1000:.0f} ms (real-time factor {rtf:.3f}); "
        f"model load {loaded * 1000:.0f} ms ({model.path})"
    )
    return 0
