"""Micro-benchmark of the listener (VAD + endpointing) per frame, and of TTS latency.

Run:  .venv/bin/python bench/listener_bench.py [--seconds 120] [--runs 20] [--data DIR]
(--data: FSDD's test split, see bench/fsdd_data.py)

Per-frame cost is what the media thread pays for each 20 ms frame (it holds the GIL): the
listener is fed a call-like stream (real FSDD digits between silences and line noise) and every
`feed` call is timed. TTS latency is measured on cold, never-seen text (first sentence of a
three-sentence answer through `PromptCache.stream`, and the whole answer) and on a cache hit.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
from fsdd_data import add_data_option, test_split

from voicebot.audio.wav import read_wav
from voicebot.dialog.expectation import Expectation
from voicebot.speech.listener import EndOfUtterance, Listener, MaxSpeech, NoInput
from voicebot.speech.prompt_cache import PromptCache
from voicebot.speech.synthesizer import EspeakSynthesizer
from voicebot.speech.vad import WebRtcClassifier
from voicebot.testing.speech import noise, silence, timed_frames

DIGITS = Expectation(kind="digits", min_digits=1, max_digits=10)


def call_audio(seconds: float, rate: int, files: list[Path]) -> np.ndarray:
    """Digits from FSDD `files`, each between 0.5-1.5 s of silence, under -50 dBFS line noise."""
    rng = np.random.default_rng(7)
    parts: list[np.ndarray] = []
    total = 0
    while total < seconds * rate:
        pcm, _ = read_wav(files[int(rng.integers(len(files)))], rate=rate)
        gap = silence(float(rng.uniform(0.5, 1.5)), rate)
        parts += [gap, np.frombuffer(pcm, "<i2")]
        total += len(gap) + len(pcm) // 2
    clean = np.concatenate(parts)[: int(seconds * rate)].astype(np.int32)
    return np.clip(clean + noise(seconds, rate, level_dbfs=-50), -32768, 32767).astype(np.int16)


def percentile(values: list[float], q: float) -> float:
    return float(np.percentile(np.array(values), q))


def bench_frames(seconds: float, rate: int, fsdd: list[Path]) -> None:
    frames = list(timed_frames(call_audio(seconds, rate, fsdd), rate))
    classifier = WebRtcClassifier()
    vad_ns = []
    for pcm, _ in frames:
        t0 = time.perf_counter_ns()
        classifier.is_speech(pcm, rate)
        vad_ns.append(time.perf_counter_ns() - t0)
    listener = Listener(rate, satisfies=lambda expect, text: False)
    listener.start_listening(DIGITS, now=0.0, timeout=3.0)
    feed_ns, results = [], 0
    for pcm, now in frames:
        t0 = time.perf_counter_ns()
        events = listener.feed(pcm, now)
        feed_ns.append(time.perf_counter_ns() - t0)
        if any(isinstance(e, EndOfUtterance | NoInput | MaxSpeech) for e in events):
            results += 1
            listener.start_listening(DIGITS, now=now, timeout=3.0)
    us = [n / 1000 for n in feed_ns]
    vus = [n / 1000 for n in vad_ns]
    print(
        f"| listener.feed, {rate} Hz, {len(frames)} frames | {statistics.mean(us):.1f} | "
        f"{percentile(us, 50):.1f} | {percentile(us, 99):.1f} | {max(us):.0f} | "
        f"{statistics.mean(us) / 20000 * 100:.3f}% |"
    )
    print(
        f"| of which classifier (webrtcvad + gate), {rate} Hz | {statistics.mean(vus):.1f} | "
        f"{percentile(vus, 50):.1f} | {percentile(vus, 99):.1f} | {max(vus):.0f} | "
        f"({results} turns ended) |"
    )


def bench_tts(runs: int, rate: int) -> None:
    tts = EspeakSynthesizer()
    first, whole, hits = [], [], []
    with tempfile.TemporaryDirectory() as tmp:
        cache = PromptCache(tmp, tts, rate)
        for i in range(runs):
            text = (
                f"Your balance is {100 + i} dollars and {i % 100} cents. "
                f"The next payment of {20 + i} dollars is due on December {1 + i % 28}. "
                f"Is there anything else, caller {i}?"
            )
            t0 = time.perf_counter()
            parts = cache.stream(text)
            next(parts)
            first.append(time.perf_counter() - t0)
            list(parts)
            whole.append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            cache.get(f"Your balance is {100 + i} dollars and {i % 100} cents.")
            hits.append(time.perf_counter() - t0)
    for name, values in (
        ("first sentence, cold (stream)", first),
        ("whole 3-sentence answer, cold", whole),
        ("cache hit (get)", hits),
    ):
        ms = [v * 1000 for v in values]
        print(
            f"| TTS {name}, {rate} Hz, {runs} runs | {percentile(ms, 50):.2f} | "
            f"{percentile(ms, 95):.2f} | {max(ms):.2f} |"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=120.0, help="call audio per rate")
    parser.add_argument("--runs", type=int, default=20, help="TTS renders per rate")
    add_data_option(parser)
    args = parser.parse_args()
    fsdd = test_split(args.data)
    print("| per frame (µs) | mean | p50 | p99 | max | share of a 20 ms frame |")
    print("| --- | --- | --- | --- | --- | --- |")
    for rate in (8000, 16000):
        bench_frames(args.seconds, rate, fsdd)
    print()
    print("| latency (ms) | p50 | p95 | max |")
    print("| --- | --- | --- | --- |")
    for rate in (8000, 16000):
        bench_tts(args.runs, rate)


if __name__ == "__main__":
    main()
