"""Audio for bench/asr_bench.py: FSDD digits and strings, digits said continuously (espeak-ng
voices and FSDD speakers butted together), espeak-ng sentences, line noise.

Everything is 8 kHz PCM16 after a G.711 μ-law round trip (what a PSTN call delivers), with
0.3 s of line before the speech (the listener's pre-roll), in a clean and a line-noise variant.
Each item names the question of bench/asr_flow.yaml that asks for it (`question`): the
recogniser is given that step's expectation, as on a call.
"""

from __future__ import annotations

import random
from collections.abc import Collection
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from fsdd_data import test_split  # noqa: E402  (bench/ is the script's directory)

from voicebot.audio import read_wav, ulaw_decode, ulaw_encode

ROOT = Path(__file__).resolve().parents[1]
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


# groupings as people say them: phone numbers 3-3-4 / 3-4, PINs, ZIP codes, IDs
GROUPS = ((4,), (5,), (3, 3), (3, 4), (4, 4), (3, 2, 4), (3, 3, 4), (2, 3, 3))
VOICES = ("en-us", "en-gb", "en-gb-scotland", "en-029", "en-us-nyc")
RATES = (140, 170, 200)  # words per minute


@dataclass(frozen=True)
class Item:
    id: str
    set: str  # e.g. "single digit, clean"
    kind: str  # "digit", "string" or "sentence"
    question: str  # the step of bench/asr_flow.yaml that asks for it
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
    n = round(seconds * RATE)  # int() loses a sample to float error on some lengths
    t = np.arange(n) / RATE
    hum = 32768 * 10 ** (-55 / 20) * np.sqrt(2) * np.sin(2 * np.pi * 50 * t + rng.uniform(0, 6))
    return rng.normal(0, 32768 * 10 ** (-50 / 20), n) + hum


def _variants(
    item_id: str, label: str, question: str, truth: str, speech: np.ndarray, seed: int
) -> list[Item]:
    kind = {"digit": "digit", "reason": "sentence"}.get(question, "string")
    lead = np.zeros(int(LEAD * RATE))
    body = np.concatenate([lead, speech])
    end = LEAD + speech_end(speech)
    noisy = body + line(len(body) / RATE, np.random.default_rng(seed))
    return [
        Item(f"{item_id}-clean", f"{label}, clean", kind, question, truth, telephone(body), end),
        Item(
            f"{item_id}-noisy", f"{label}, line noise", kind, question, truth,
            telephone(noisy), end,
        ),
    ]  # fmt: skip


def speech_end(speech: np.ndarray) -> float:
    """Where the speech ends: the end of the last 10 ms above -45 dBFS (espeak-ng renders end
    in ~0.1-0.2 s of silence, which must not count as speech for the latency figures)."""
    hop = RATE // 100
    n = len(speech) // hop
    rms = np.sqrt(np.mean(speech[: n * hop].reshape(n, hop) ** 2, axis=1))
    loud = np.flatnonzero(rms > 32768 * 10 ** (-45 / 20))
    return (loud[-1] + 1) * hop / RATE if len(loud) else len(speech) / RATE


def recordings(data: Path, speakers: Collection[str] | None = None) -> list[Path]:
    """FSDD's test split in `data`, only `speakers`' recordings when given."""
    files = test_split(data)
    return [p for p in files if speakers is None or p.stem.split("_")[1] in speakers]


def _fsdd(data: Path, speakers: Collection[str] | None = None) -> dict[str, list[Path]]:
    by_digit: dict[str, list[Path]] = {}
    for path in recordings(data, speakers):
        by_digit.setdefault(path.name[0], []).append(path)
    return by_digit


def _samples(path: Path) -> np.ndarray:
    pcm, _ = read_wav(path, RATE)
    return np.frombuffer(pcm, "<i2").astype(np.float64)


def single_digits(
    data: Path, n: int, rng: random.Random, speakers: Collection[str] | None = None
) -> list[Item]:
    files = recordings(data, speakers)
    chosen = files if n >= len(files) else rng.sample(files, n)
    out: list[Item] = []
    for k, path in enumerate(chosen):
        out += _variants(f"d{k}", "single digit", "digit", path.name[0], _samples(path), k)
    return out


def _question(length: int) -> tuple[str, str]:
    """(set label stem, flow step): 8 digits are an account number of known length."""
    return ("8-digit", "account") if length == 8 else ("4-10", "number")


def digit_strings(
    data: Path, n: int, rng: random.Random, speakers: Collection[str] | None = None
) -> list[Item]:
    """`n` strings of 4-10 digits and `n` of exactly 8, random FSDD speakers (of `speakers`
    when given), pauses of 0.15-0.45 s inserted between the digits."""
    by_digit = _fsdd(data, speakers)
    out: list[Item] = []
    for k in range(2 * n):
        length = 8 if k >= n else rng.randint(4, 10)
        truth = "".join(rng.choice("0123456789") for _ in range(length))
        parts: list[np.ndarray] = []
        for i, d in enumerate(truth):
            if i:
                parts.append(np.zeros(int(rng.uniform(0.15, 0.45) * RATE)))
            parts.append(_samples(rng.choice(by_digit[d])))
        _, question = _question(length)
        label = "8-digit strings" if length == 8 else "digit strings 4-10"
        out += _variants(f"s{k}", label, question, truth, np.concatenate(parts), 1000 + k)
    return out


def _grouped(rng: random.Random, eight: bool) -> tuple[str, tuple[int, ...]]:
    groups = rng.choice([g for g in GROUPS if (sum(g) == 8) == eight])
    truth = "".join(rng.choice("0123456789") for _ in range(sum(groups)))
    return truth, groups


def trim(samples: np.ndarray, floor_db: float = -40.0) -> np.ndarray:
    """The clip between its first and last 10 ms within `floor_db` of its loudest 10 ms (at
    -30 dB one speaker's "six" lost 0.2 s of its /s/; -40 dB kept it)."""
    hop = RATE // 100
    n = len(samples) // hop
    rms = np.sqrt(np.mean(samples[: n * hop].reshape(n, hop) ** 2, axis=1)) + 1e-9
    loud = np.flatnonzero(20 * np.log10(rms / rms.max()) > floor_db)
    return samples[loud[0] * hop : (loud[-1] + 1) * hop] if len(loud) else samples


def butt(clips: list[np.ndarray], fade: float = 0.005) -> np.ndarray:
    """Clips end to end with no gap: each faded in and out over `fade` s (no overlap)."""
    n = int(fade * RATE)
    ramp = np.linspace(0.0, 1.0, n)
    out = []
    for clip in clips:
        clip = clip.copy()
        clip[:n] *= ramp
        clip[-n:] *= ramp[::-1]
        out.append(clip)
    return np.concatenate(out)


def fsdd_continuous(data: Path, n: int, rng: random.Random) -> list[Item]:
    """`n` grouped strings of 4-10 digits and `n` 8-digit ones, each by one FSDD speaker, the
    digits trimmed of their silence by energy and butted together: no pause inserted."""
    by_speaker: dict[str, dict[str, list[Path]]] = {}
    for path in test_split(data):
        digit, speaker, _ = path.stem.split("_")
        by_speaker.setdefault(speaker, {}).setdefault(digit, []).append(path)
    speakers = sorted(s for s, d in by_speaker.items() if len(d) == 10)
    out: list[Item] = []
    for k in range(2 * n):
        truth, _ = _grouped(rng, eight=k >= n)
        speaker = rng.choice(speakers)
        clips = [trim(_samples(rng.choice(by_speaker[speaker][d]))) for d in truth]
        stem, question = _question(len(truth))
        label = f"continuous {stem}, FSDD butted"
        out += _variants(f"c{k}", label, question, truth, butt(clips), 3000 + k)
    return out


def _spoken(truth: str, groups: tuple[int, ...], rng: random.Random) -> str:
    """As said: "four one five, five five five, one two one two"; zero is "oh" half the time."""
    zero = "oh" if rng.random() < 0.5 else "zero"
    names = ("zero one two three four five six seven eight nine").split()
    words = [zero if d == "0" else names[int(d)] for d in truth]
    said, at = [], 0
    for size in groups:
        said.append(" ".join(words[at : at + size]))
        at += size
    return ", ".join(said)


def espeak_continuous(n: int, rng: random.Random) -> list[Item]:
    """`n` grouped strings of 4-10 digits and `n` 8-digit ones, each one espeak-ng utterance
    ("four one five, five five five, one two one two") in one of `VOICES` at one of `RATES`."""
    from voicebot.speech.synthesizer import EspeakSynthesizer, Voice

    tts = EspeakSynthesizer()
    out: list[Item] = []
    for k in range(2 * n):
        truth, groups = _grouped(rng, eight=k >= n)
        voice = Voice(VOICES[k % len(VOICES)], RATES[(k // len(VOICES)) % len(RATES)])
        pcm = tts.synthesize(_spoken(truth, groups, rng), RATE, voice)
        speech = np.frombuffer(pcm, "<i2").astype(np.float64)
        stem, question = _question(len(truth))
        label = f"continuous {stem}, espeak-ng"
        out += _variants(f"e{k}", label, question, truth, speech, 4000 + k)
    return out


def sentences() -> list[Item]:
    from voicebot.speech.synthesizer import EspeakSynthesizer

    tts = EspeakSynthesizer()
    out: list[Item] = []
    for k, text in enumerate(SENTENCES):
        speech = np.frombuffer(tts.synthesize(text, RATE), "<i2").astype(np.float64)
        out += _variants(f"t{k}", "sentences", "reason", text, speech, 2000 + k)
    return out


def line_noise_and_silence(seconds: float) -> bytes:
    """Line noise with a few clicks for the first half, digital silence for the second."""
    rng = np.random.default_rng(7)
    noise = line(seconds / 2, rng)
    for at in rng.integers(0, len(noise) - 40, size=6):
        noise[at : at + 40] += rng.normal(0, 3000, 40)
    return telephone(np.concatenate([noise, np.zeros(int(seconds / 2 * RATE))]))
