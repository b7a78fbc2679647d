"""Turns for bench/turn_bench.py: real speech with pauses inside it, at 8 kHz over G.711.

Every sample is one caller turn whose end is known: it is the end of its last word. Pauses
inside a turn are built from real speech (nothing is synthesised):

* English, FSDD digits (`--fsdd DIR`): a digit group is 3-5 takes of one speaker, each what the
  listener hands over for it trimmed of its silence (bench/zh_data.py's `trimmed`), joined by
  0.08-0.20 s, as people run digits
  together; a turn is one group, or two groups with a 0.3-0.6 s pause between them (how people
  say "four one five five ... five five one two").
* Mandarin (`--zh DIR`, bench/zh_data.py): digit groups of 2-4 numbers of the one speaker's
  takes, as above, each trimmed tighter (to 30 dB under its loudest 10 ms: the takes hold up
  to a second of room tone) and levelled to -16 dBFS at its loudest; and the real sentences,
  whole, or cut at their quietest 20 ms inside the middle 30-70 % with 0.3-0.6 s of silence
  put there (a mid-sentence pause).

Dev and test never share a voice or a take: FSDD speakers jackson, nicolas and theo are dev,
yweweler, george and lucas test; Mandarin takes 1-2 are dev, 3-5 test; sentences 1-2 dev, 3-5
test (their cuts and pauses are drawn per split). Thresholds are chosen on dev and scored on
test. Each turn has `LEAD` s of silence before it and `TAIL` s after it.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from bench import zh_data
from bench.asr_data import trim

RATE = 8000
LEAD, TAIL = 0.5, 1.5
GROUP_GAPS = (0.08, 0.20)  # s between the digits of a group
TURN_PAUSES = (0.3, 0.6)  # s of the pause inside a turn
DEV_SPEAKERS = ("jackson", "nicolas", "theo")
TEST_SPEAKERS = ("yweweler", "george", "lucas")
SPLITS = ("dev", "test")


@dataclass(frozen=True)
class Sample:
    name: str
    language: str  # "en" | "zh"
    kind: str  # "digits" (one group), "digits+pause" (two groups), "sentence", "sentence+pause"
    split: str
    pcm: bytes  # 8 kHz PCM16 after a G.711 round trip, LEAD before and TAIL after the speech
    turn_end: float  # s from the start of `pcm`: the end of the last word's clip


def _turn(parts: Sequence[np.ndarray], gaps: Sequence[float]) -> tuple[bytes, float]:
    speech = zh_data.join_with_pauses(parts, gaps)
    samples = np.concatenate([np.zeros(round(LEAD * RATE)), speech, np.zeros(round(TAIL * RATE))])
    return zh_data.telephone(samples).astype("<i2").tobytes(), LEAD + len(speech) / RATE


def _group(clips: Sequence[np.ndarray], rng: random.Random) -> np.ndarray:
    gaps = [rng.uniform(*GROUP_GAPS) for _ in clips[1:]]
    return zh_data.join_with_pauses(clips, gaps)


def digit_turns(
    language: str,
    split: str,
    count: int,
    clips: Callable[[random.Random, int], list[np.ndarray]],
    sizes: tuple[int, int],
    rng: random.Random,
) -> list[Sample]:
    out = []
    for i in range(count):
        two = i % 2 == 1
        groups = [_group(clips(rng, rng.randint(*sizes)), rng) for _ in range(2 if two else 1)]
        pauses = [rng.uniform(*TURN_PAUSES)] if two else []
        pcm, end = _turn(groups, pauses)
        kind = "digits+pause" if two else "digits"
        out.append(Sample(f"{language}-{split}-digits-{i}", language, kind, split, pcm, end))
    return out


def fsdd_clips(files: Sequence[Path], split: str) -> Callable[[random.Random, int], list]:
    speakers = DEV_SPEAKERS if split == "dev" else TEST_SPEAKERS
    by_speaker: dict[str, list[Path]] = {}
    for f in files:
        speaker = f.stem.split("_")[1]
        if speaker in speakers:
            by_speaker.setdefault(speaker, []).append(f)
    cache: dict[Path, np.ndarray] = {}

    def clip(path: Path) -> np.ndarray:
        if path not in cache:
            cache[path] = zh_data.trimmed(zh_data.read_8k(path))
        return cache[path]

    def pick(rng: random.Random, n: int) -> list[np.ndarray]:
        speaker = rng.choice(sorted(by_speaker))
        return [clip(rng.choice(by_speaker[speaker])) for _ in range(n)]

    return pick


def zh_clips(data: Path, split: str) -> Callable[[random.Random, int], list]:
    wanted = zh_data.DEV_TAKES if split == "dev" else zh_data.HELD_OUT_TAKES
    takes = [t for t in zh_data.takes(data) if t.take in wanted and t.number <= 9]
    cache: dict[Path, np.ndarray] = {}

    def pick(rng: random.Random, n: int) -> list[np.ndarray]:
        chosen = [rng.choice(takes).path for _ in range(n)]
        for p in chosen:
            if p not in cache:
                cache[p] = levelled(trim(zh_data.trimmed(zh_data.read_8k(p)), floor_db=-30.0))
        return [cache[p] for p in chosen]

    return pick


def levelled(clip: np.ndarray, peak_dbfs: float = -16.0) -> np.ndarray:
    """`clip` scaled so that its loudest 10 ms is at `peak_dbfs` (a line's level control: the
    Mandarin takes were recorded from -36 to -11 dBFS)."""
    hop = RATE // 100
    n = max(len(clip) // hop, 1)
    peak = float(np.sqrt(np.mean(clip[: n * hop].reshape(n, -1) ** 2, axis=1)).max()) + 1e-9
    return clip * (32768.0 * 10 ** (peak_dbfs / 20) / peak)


def quietest_cut(speech: np.ndarray, rng: random.Random) -> int:
    """The sample index of the quietest 20 ms inside the middle 30-70 % of `speech`."""
    hop = RATE // 50
    n = len(speech) // hop
    rms = np.sqrt(np.mean(speech[: n * hop].reshape(n, hop) ** 2, axis=1))
    lo, hi = int(0.3 * n), max(int(0.7 * n), int(0.3 * n) + 1)
    k = lo + int(np.argmin(rms[lo:hi]))
    return k * hop + hop // 2


def sentence_turns(data: Path, split: str, rng: random.Random) -> list[Sample]:
    sentences = zh_data.sentences(data)
    chosen = sentences[:2] if split == "dev" else sentences[2:]
    out = []
    for s in chosen:
        speech = trim(zh_data.read_8k(s.path))
        pcm, end = _turn([speech], [])
        out.append(Sample(f"zh-{split}-{s.name}", "zh", "sentence", split, pcm, end))
        cut = quietest_cut(speech, rng)
        pcm, end = _turn([speech[:cut], speech[cut:]], [rng.uniform(*TURN_PAUSES)])
        out.append(Sample(f"zh-{split}-{s.name}+pause", "zh", "sentence+pause", split, pcm, end))
    return out


def samples(
    fsdd_files: Sequence[Path], zh: Path | None, per_split: int, seed: int = 11
) -> list[Sample]:
    """`per_split` digit turns per language and split, plus the Mandarin sentences."""
    out: list[Sample] = []
    for split in SPLITS:
        rng = random.Random(f"{seed}-{split}")
        out += digit_turns("en", split, per_split, fsdd_clips(fsdd_files, split), (3, 5), rng)
        if zh is not None:
            out += digit_turns("zh", split, per_split, zh_clips(zh, split), (2, 4), rng)
            out += sentence_turns(zh, split, rng)
    return out
