"""The labelled answering-machine set: answered calls as 8 kHz PCM16, generated, never stored.

Humans: short answers ("hello?", "yes, speaking", "hi, this is Sam", "hello, who is this?")
in espeak-ng English voices (US, British, Scottish, RP, Caribbean, Lancaster, West Midlands)
with male/female variants, 140-200 words/minute and pitch 30-75, and FSDD speakers saying
one or two digits as a short-answer stand-in; each after 0.2-1.2 s of silence, followed by
silence to 7 s (a human waits for the caller). Machines: voicemail greetings (10 templates,
several names) in the same voices, half of them followed after 0.3-1.0 s by a beep of
440-1400 Hz lasting 0.2-0.8 s, then silence. Every call goes through a G.711 mu-law round
trip; a third get white line noise (-48..-40 dBFS), levels vary from -26 to -14 dBFS.

    @dataclass(frozen=True) class Call: name, label, pcm, rate, speech_start, speech_end,
        beep (start, end) | None, text, source, kind (category: see HUMAN_KINDS, MACHINE_KINDS)
    labelled_calls(seed: int = 7, humans: int = 80, machines: int = 80) -> list[Call]
"""

from __future__ import annotations

import random
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from voicebot.audio import read_wav, ulaw_decode, ulaw_encode

RATE = 8000
VOICES = (
    "en-us",
    "en-gb",
    "en-gb-scotland",
    "en-gb-x-rp",
    "en-029",
    "en-gb-x-gbclan",
    "en-gb-x-gbcwmd",
)
VARIANTS = ("", "+m3", "+f2", "+f4", "+m7", "+f1", "+klatt")
HUMAN_TEXTS = (
    "Hello?",
    "Yes?",
    "Hi, this is Sam.",
    "Speaking.",
    "Hello, who is this?",
    "Yes, speaking.",
    "Hello.",
    "Yeah?",
    "Hi there.",
    "Hello, Maria speaking.",
)
LONG_ANSWERS = (
    "Hello, this is Maria Johnson speaking, who's calling please?",
    "Yes hello, you're speaking to David, how can I help you?",
)
# categories, cycled: 12 in 20 humans give a short espeak-ng answer, 4 are FSDD digits, one
# says "hello?" twice, one waits 3.2-4 s in silence first, two give a long answer (~2.5-3.5 s)
HUMAN_KINDS = (
    ("short answer",) * 12
    + ("fsdd",) * 4
    + ("hello twice", "waits silently", "long answer", "long answer")
)
SHORT_GREETINGS = (
    "Leave a message.",
    "Please leave a message after the tone.",
    "{n}. Leave a message.",
    "Not available.",
    "Hi, it's {n}, leave a message.",
)
# machines: 16 in 20 long greetings, 3 short greetings (under ~2.2 s), 1 beep only
MACHINE_KINDS = ("long greeting",) * 16 + ("short greeting",) * 3 + ("beep only",)
NAMES = ("Maria", "John", "Priya", "the Johnson family", "David Chen", "Sam")
GREETINGS = (
    "Hi, you've reached {n}. I can't come to the phone right now. "
    "Please leave a message after the tone.",
    "Hello, this is {n}. I'm not available right now, but if you leave your name and number "
    "I'll get back to you as soon as I can.",
    "You have reached the voicemail of {n}. Please leave a message after the beep.",
    "Hi, it's {n}. Sorry I missed your call. Leave me a message and I'll call you back.",
    "The person you are calling is not available. Please record your message after the tone. "
    "When you have finished recording, you may hang up.",
    "Hey, this is {n}, I'm probably out walking the dog. Leave a message!",
    "Thank you for calling {n}. Our office is currently closed. Our hours are nine to five, "
    "Monday through Friday.",
    "Hello! You've reached {n}'s mailbox. I'm away from my desk. Please leave a detailed message.",
    "Hi, this is {n}. I'm on the other line or away from the phone. "
    "Leave your name, number and a short message, and I will return your call.",
    "Welcome to the voice messaging system. The subscriber you have dialed is unavailable.",
)


@dataclass(frozen=True)
class Call:
    name: str
    label: str  # "human" | "machine"
    pcm: bytes  # 8 kHz PCM16, the answer at t = 0
    rate: int
    speech_start: float
    speech_end: float
    beep: tuple[float, float] | None  # start, end (s)
    text: str
    source: str  # "espeak" | "fsdd"
    kind: str  # the category below


def _trim(samples: np.ndarray, threshold: float = 200.0) -> np.ndarray:
    loud = np.flatnonzero(np.abs(samples.astype(np.int32)) > threshold)
    return samples[loud[0] : loud[-1] + 1] if loud.size else samples


def espeak(text: str, voice: str, wpm: int, pitch: int) -> np.ndarray:
    """espeak-ng's command line (voice variants and pitch), at 8 kHz, silence trimmed."""
    with tempfile.NamedTemporaryFile(suffix=".wav") as f:
        cmd = ["espeak-ng", "-v", voice, "-s", str(wpm), "-p", str(pitch), "-w", f.name, text]
        subprocess.run(cmd, check=True, capture_output=True)
        pcm, _ = read_wav(f.name, RATE)
    return _trim(np.frombuffer(pcm, dtype="<i2"))


def _fsdd(path: Path) -> np.ndarray:
    pcm, _ = read_wav(path, RATE)
    return _trim(np.frombuffer(pcm, dtype="<i2"))


def _level(samples: np.ndarray, dbfs: float) -> np.ndarray:
    x = samples.astype(np.float64)
    rms = float(np.sqrt(np.mean(x**2))) or 1.0
    return x * (32768.0 * 10 ** (dbfs / 20) / rms)


def _tone(seconds: float, hz: float, dbfs: float) -> np.ndarray:
    t = np.arange(round(seconds * RATE)) / RATE
    ramp = np.minimum(1.0, np.minimum(t, t[::-1]) / 0.005)  # 5 ms edges, no clicks
    return np.sin(2 * np.pi * hz * t) * ramp * 32768.0 * 10 ** (dbfs / 20) * np.sqrt(2)


def _assemble(
    rng: random.Random,
    speech: np.ndarray,
    lead: float,
    after: float,
    beep: tuple[float, float, float] | None,
    i: int,
) -> tuple[bytes, float, float, tuple[float, float] | None]:
    """Lead silence, speech at a level, an optional beep (gap, length, Hz), tail, line."""
    level = rng.uniform(-26, -14)
    parts = [np.zeros(round(lead * RATE)), _level(speech, level) if speech.size else speech]
    end = lead + speech.size / RATE
    beep_span = None
    if beep is not None:
        gap, length, hz = beep
        parts += [np.zeros(round(gap * RATE)), _tone(length, hz, rng.uniform(-20, -10))]
        beep_span = (end + gap, end + gap + length)
    parts.append(np.zeros(round(after * RATE)))
    x = np.concatenate(parts)
    if i % 3 == 1:  # white line noise
        noise = np.random.default_rng(i).normal(
            0.0, 32768.0 * 10 ** (rng.uniform(-48, -40) / 20), x.size
        )
        x = x + noise
    pcm = np.clip(x, -32768, 32767).astype("<i2").tobytes()
    return ulaw_decode(ulaw_encode(pcm)), lead, end, beep_span


def _voice(rng: random.Random) -> tuple[str, int, int, str]:
    voice = rng.choice(VOICES) + rng.choice(VARIANTS)
    wpm, pitch = rng.randrange(140, 201, 10), rng.randrange(30, 76, 5)
    return voice, wpm, pitch, f"{voice} {wpm}wpm p{pitch}"


def _human(rng: random.Random, i: int, fsdd: list[Path]) -> Call:
    kind = HUMAN_KINDS[i % len(HUMAN_KINDS)]
    lead = rng.uniform(3.2, 4.0) if kind == "waits silently" else rng.uniform(0.2, 1.2)
    if kind == "fsdd" and fsdd:  # FSDD speaker: one or two digits as a short answer
        files = rng.sample(fsdd, rng.choice((1, 2)))
        gap = np.zeros(round(rng.uniform(0.05, 0.2) * RATE))
        speech = np.concatenate([p for f in files for p in (_fsdd(f), gap)][:-1])
        text, who = " ".join(f.stem.split("_")[0] for f in files), files[0].stem.split("_")[1]
    else:
        voice, wpm, pitch, who = _voice(rng)
        text = rng.choice(LONG_ANSWERS if kind == "long answer" else HUMAN_TEXTS)
        speech = espeak(text, voice, wpm, pitch)
        if kind == "hello twice":  # "Hello?" ... (1-1.5 s) ... "Hello?"
            pause = np.zeros(round(rng.uniform(1.0, 1.5) * RATE))
            speech = np.concatenate([speech, pause, speech])
    after = max(1.0, 7.0 - lead - speech.size / RATE)
    pcm, start, end, _ = _assemble(rng, speech, lead, after, None, i)
    source = "fsdd" if kind == "fsdd" else "espeak"
    return Call(
        f"human {i} {kind} {who}: {text}", "human", pcm, RATE, start, end, None, text, source, kind
    )


def _machine(rng: random.Random, i: int) -> Call:
    kind = MACHINE_KINDS[i % len(MACHINE_KINDS)]
    voice, wpm, pitch, who = _voice(rng)
    beep = None
    if i % 2 == 0 or kind == "beep only":
        beep = (rng.uniform(0.3, 1.0), rng.uniform(0.2, 0.8), rng.uniform(440, 1400))
    if kind == "beep only":
        text, speech = "", np.zeros(0)
    else:
        text = rng.choice(SHORT_GREETINGS if kind == "short greeting" else GREETINGS)
        text = text.format(n=rng.choice(NAMES))
        speech = espeak(text, voice, wpm, pitch)
    pcm, start, end, span = _assemble(rng, speech, rng.uniform(0.3, 1.5), 3.0, beep, i)
    tone = f"beep {beep[2]:.0f} Hz" if beep else "no beep"
    return Call(
        f"machine {i} {kind} {who} {tone}",
        "machine",
        pcm,
        RATE,
        start,
        end,
        span,
        text,
        "espeak",
        kind,
    )


def labelled_calls(
    fsdd: list[Path], seed: int = 7, humans: int = 80, machines: int = 80
) -> list[Call]:
    """The labelled set; `fsdd` is FSDD's test split (bench/fsdd_data.py)."""
    rng = random.Random(seed)
    return [_human(rng, i, fsdd) for i in range(humans)] + [
        _machine(rng, i) for i in range(machines)
    ]
