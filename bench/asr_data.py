"""Audio for bench/asr_bench.py: FSDD digits and strings, espeak-ng sentences, line noise.

Everything is 8 kHz PCM16 after a G.711 μ-law round trip (what a PSTN call delivers), with
0.3 s of line before the speech (the listener's pre-roll), in a clean and a line-noise variant.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from voicebot.audio import read_wav, ulaw_decode, ulaw_encode

RATE = 8000
LEAD = 0.3

SENTENCES = (
    "I would like to check my account balance",
    "Can you transfer me to an agent",
    "I want to pay my bill",
    "What are your opening hours",
    "Please call me back tomorrow morning",
    "The package never arrived",
    "I need to change my address",
    "Cancel my subscription please",
    "Is anybody there",
    "Speak to a representative",
    "My internet has been down since Monday",
    "I was charged twice this month",
    "Yes that is correct",
    "No I did not order that",
    "I forgot my password",
    "Where is my refund",
    "I would like to book an appointment",
    "Can I speak to someone in billing",
    "The card number is on the back",
    "Thank you that is all",
)


@dataclass(frozen=True)
class Item:
    id: str
    set: str  # e.g. "single digit, clean"
    kind: str  # "digit", "string" or "sentence"
    truth: str
    pcm: bytes  # 8 kHz PCM16 after μ-law
    speech_end: float  # seconds into pcm where the speech ends

    @property
    def seconds(self) -> float:
        return len(self.pcm) / (2 * RATE)


def telephone(samples: np.ndarray) -> bytes:
    pcm = np.clip(samples, -32768, 32767).astype("<i2").tobytes()
    return ulaw_decode(ulaw_encode(pcm))


def line(seconds: float, rng: np.random.Generator) -> np.ndarray:
    """Hiss at -50 dBFS and 50 Hz hum at -55 dBFS (PSTN idle noise is about -65..-50 dBm0)."""
    n = int(seconds * RATE)
    t = np.arange(n) / RATE
    hum = 32768 * 10 ** (-55 / 20) * np.sqrt(2) * np.sin(2 * np.pi * 50 * t + rng.uniform(0, 6))
    return rng.normal(0, 32768 * 10 ** (-50 / 20), n) + hum


def _variants(item_id: str, kind: str, truth: str, speech: np.ndarray, seed: int) -> list[Item]:
    lead = np.zeros(int(LEAD * RATE))
    body = np.concatenate([lead, speech])
    end = LEAD + speech_end(speech)
    noisy = body + line(len(body) / RATE, np.random.default_rng(seed))
    label = {"digit": "single digit", "string": "digit strings 4-10", "sentence": "sentences"}
    if kind == "string" and len(truth) == 8:
        label = {**label, "string": "8-digit strings"}
    return [
        Item(f"{item_id}-clean", f"{label[kind]}, clean", kind, truth, telephone(body), end),
        Item(f"{item_id}-noisy", f"{label[kind]}, line noise", kind, truth, telephone(noisy), end),
    ]


def speech_end(speech: np.ndarray) -> float:
    """Where the speech ends: the end of the last 10 ms above -45 dBFS (espeak-ng renders end
    in ~0.1-0.2 s of silence, which must not count as speech for the latency figures)."""
    hop = RATE // 100
    n = len(speech) // hop
    rms = np.sqrt(np.mean(speech[: n * hop].reshape(n, hop) ** 2, axis=1))
    loud = np.flatnonzero(rms > 32768 * 10 ** (-45 / 20))
    return (loud[-1] + 1) * hop / RATE if len(loud) else len(speech) / RATE


def _fsdd(files: list[Path]) -> dict[str, list[Path]]:
    by_digit: dict[str, list[Path]] = {}
    for path in files:
        by_digit.setdefault(path.name[0], []).append(path)
    return by_digit


def _samples(path: Path) -> np.ndarray:
    pcm, _ = read_wav(path, RATE)
    return np.frombuffer(pcm, "<i2").astype(np.float64)


def single_digits(n: int, rng: random.Random, files: list[Path]) -> list[Item]:
    """`n` of the FSDD `files` (bench/fsdd_data.py), each a clean and a line-noise item."""
    chosen = files if n >= len(files) else rng.sample(files, n)
    out: list[Item] = []
    for k, path in enumerate(chosen):
        out += _variants(f"d{k}", "digit", path.name[0], _samples(path), k)
    return out


def digit_strings(n: int, rng: random.Random, files: list[Path]) -> list[Item]:
    """`n` strings of 4-10 digits and `n` of exactly 8, pauses of 0.15-0.45 s between."""
    by_digit = _fsdd(files)
    out: list[Item] = []
    for k in range(2 * n):
        length = 8 if k >= n else rng.randint(4, 10)
        truth = "".join(rng.choice("0123456789") for _ in range(length))
        parts: list[np.ndarray] = []
        for i, d in enumerate(truth):
            if i:
                parts.append(np.zeros(int(rng.uniform(0.15, 0.45) * RATE)))
            parts.append(_samples(rng.choice(by_digit[d])))
        out += _variants(f"s{k}", "string", truth, np.concatenate(parts), 1000 + k)
    return out


def sentences() -> list[Item]:
    from voicebot.speech.synthesizer import EspeakSynthesizer

    tts = EspeakSynthesizer()
    out: list[Item] = []
    for k, text in enumerate(SENTENCES):
        speech = np.frombuffer(tts.synthesize(text, RATE), "<i2").astype(np.float64)
        out += _variants(f"t{k}", "sentence", text, speech, 2000 + k)
    return out


def line_noise_and_silence(seconds: float) -> bytes:
    """Line noise with a few clicks for the first half, digital silence for the second."""
    rng = np.random.default_rng(7)
    noise = line(seconds / 2, rng)
    for at in rng.integers(0, len(noise) - 40, size=6):
        noise[at : at + 40] += rng.normal(0, 3000, 40)
    return telephone(np.concatenate([noise, np.zeros(int(seconds / 2 * RATE))]))
