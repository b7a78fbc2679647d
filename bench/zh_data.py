"""Audio and text for bench/zh_bench.py: the real Mandarin recordings, digit strings built from
them, English counterparts (FSDD, espeak-ng), and the Mandarin prompts of the shipped flows.

The Mandarin recordings are not in the repository (the numbers may not be copied into it at
all): `--data DIR`, else `$VOICEBOT_ZH_DATA`, else `shared/data/zh` in the folder that holds
the repository (the main checkout's, when this is a git worktree). DIR holds
`sentences/` (WAVs and `text.tsv`: file, transcript) and `digits_one_speaker/N-K.wav` (one
speaker saying the number N, 零..十, take K, 1..5).

Every utterance is what a call hands the recogniser, at 8 kHz through a G.711 μ-law round
trip. A number or a yes/no alone: what the listener hands over for the recording (`listened`:
`voicebot.speech.listener` with its VAD and endpointing: its pre-roll, the speech, its tail).
A digit string: those utterances of its digits trimmed of their silence (`trimmed`, the trim
of bench/asr_data.py) joined by pauses of 0.15-0.45 s (`digit_string`), with the listener's
pre-roll and tail of silence around them (`utterance`). Free text is whole: a real sentence
is the recording as it is (`recording`: it has its own lead-in), an espeak-ng render has the
pre-roll before it (the listener would cut a sentence at a pause of 0.8 s; a transcript
covers the whole file).
Synthetic callers speak in `EN_CALLER` (EspeakSynthesizer's default, as bench/asr_data.py
renders English) and `ZH_CALLER` (as tests/data/zh/tts renders Mandarin answers).
"""

from __future__ import annotations

import os
import random
import re
import subprocess
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
RATE = 8000
ENV = "VOICEBOT_ZH_DATA"
ZH = "zh-CN"
SEED = 2026  # digit strings: digits, takes and pauses
LENGTHS = (4, 8, 11)  # digit strings in grammar mode
KINDS = (  # the answer kinds whose latency is compared, and their labels
    ("menu", "menu word (11 numbers)"),
    ("yes_no", "yes/no"),
    ("digits4", "4 digits"),
    ("digits11", "11 digits"),
    ("text", "free-text sentence"),
    ("text_tts", "free-text sentence, both espeak-ng"),
)
PAUSES = (0.15, 0.45)  # s between the digits of a string
NUMBER_WORDS = ("零", "一", "二", "三", "四", "五", "六", "七", "八", "九", "十")
EN_CALLER = ("en-us", 175)  # espeak-ng voice and words a minute
ZH_CALLER = ("cmn-latn-pinyin", 130)
DEV_TAKES = (1, 2)  # looked at while the recogniser was built (its Mandarin context prompt)
HELD_OUT_TAKES = (3, 4, 5)
_TAKE = re.compile(r"^(\d+)-(\d+)\.wav$")


# -- where the recordings are ------------------------------------------------------------------
def beside_repository() -> list[Path]:
    """`shared/data/zh` in the folder holding this checkout, and the main checkout's folder."""
    tops = [ROOT]
    try:
        common = subprocess.run(
            ["git", "rev-parse", "--path-format=absolute", "--git-common-dir"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        tops.append(Path(common).parent)  # .git of the main checkout
    except (OSError, subprocess.CalledProcessError):
        pass
    out: list[Path] = []
    for top in tops:
        candidate = top.parent / "shared" / "data" / "zh"
        if candidate not in out:
            out.append(candidate)
    return out


def find_data(given: Path | None, environ: dict[str, str] | None = None) -> Path:
    """The Mandarin recordings' directory; exits saying where it looked when there is none."""
    environ = dict(os.environ) if environ is None else environ
    if given is not None:
        tried = [given]
    elif environ.get(ENV):
        tried = [Path(environ[ENV])]
    else:
        tried = beside_repository()
    for path in tried:
        if (path / "sentences" / "text.tsv").is_file() and (path / "digits_one_speaker").is_dir():
            return path
    sys.exit(
        "Mandarin recordings not found: looked in "
        + ", ".join(str(p) for p in tried)
        + ". Pass --data DIR (or set VOICEBOT_ZH_DATA) naming the folder that holds "
        "sentences/text.tsv and digits_one_speaker/N-K.wav (see bench/zh_data.py)."
    )


# -- the recordings ----------------------------------------------------------------------------
@dataclass(frozen=True)
class Take:
    number: int  # 0..10
    take: int  # 1..5
    path: Path


@dataclass(frozen=True)
class Sentence:
    name: str
    text: str
    path: Path


def takes(data: Path) -> list[Take]:
    found = []
    for path in sorted((data / "digits_one_speaker").glob("*.wav")):
        m = _TAKE.match(path.name)
        if m:
            found.append(Take(int(m.group(1)), int(m.group(2)), path))
    if not found:
        sys.exit(f"{data / 'digits_one_speaker'}: no N-K.wav takes")
    return sorted(found, key=lambda t: (t.take, t.number))


def sentences(data: Path) -> list[Sentence]:
    out = []
    for row in (data / "sentences" / "text.tsv").read_text(encoding="utf-8").splitlines():
        if row.strip():
            name, text = row.split("\t", 1)
            out.append(Sentence(name, text.strip(), data / "sentences" / name))
    return out


def read_8k(path: Path) -> np.ndarray:
    from voicebot.audio import read_wav

    pcm, _ = read_wav(path, RATE)
    return np.frombuffer(pcm, "<i2").astype(np.float64)


def telephone(samples: np.ndarray) -> np.ndarray:
    """Samples after a G.711 μ-law round trip (what a PSTN call delivers)."""
    from voicebot.audio import ulaw_decode, ulaw_encode

    pcm = np.clip(samples, -32768, 32767).astype("<i2").tobytes()
    return np.frombuffer(ulaw_decode(ulaw_encode(pcm)), "<i2").astype(np.float64)


# -- utterances as a call hands them over ------------------------------------------------------
def listened(samples: np.ndarray) -> bytes:
    """A recording over the telephone line as the listener hands it to the recogniser: its
    `EndOfUtterance` audio (pre-roll, speech, tail: webrtcvad and the listener's endpointing),
    or the whole recording when the listener finds no end in it and 2 s of silence after."""
    from voicebot.dialog.expectation import FREE_TEXT
    from voicebot.speech.listener import EndOfUtterance, Listener, MaxSpeech

    line = telephone(samples).astype("<i2").tobytes()
    pcm = line + bytes(4 * RATE)
    listener = Listener(rate=RATE)
    listener.start_listening(FREE_TEXT, 0.0, timeout=60.0)
    frame = 2 * RATE // 50
    for k in range(len(pcm) // frame):
        for event in listener.feed(pcm[k * frame : (k + 1) * frame], (k + 1) * 0.02):
            if isinstance(event, EndOfUtterance | MaxSpeech):
                return event.audio
    return line


def trimmed(samples: np.ndarray) -> np.ndarray:
    """What the listener hands over for a recording (`listened`: no clicks or breaths far
    from the word), without the silence before and after the word (bench/asr_data.py's
    `trim`: between the first and last 10 ms within 40 dB of the loudest): for joining into
    digit strings."""
    from bench.asr_data import trim

    return trim(np.frombuffer(listened(samples), "<i2").astype(np.float64))


def join_with_pauses(clips: Sequence[np.ndarray], pauses: Sequence[float]) -> np.ndarray:
    """`clips` one after the other with `pauses[i]` seconds of silence after clip i."""
    if len(pauses) != max(len(clips) - 1, 0):
        raise ValueError(f"{len(clips)} clips need {max(len(clips) - 1, 0)} pauses")
    parts: list[np.ndarray] = []
    for i, clip in enumerate(clips):
        if i:
            parts.append(np.zeros(round(pauses[i - 1] * RATE)))
        parts.append(np.asarray(clip, dtype=np.float64))
    return np.concatenate(parts) if parts else np.zeros(0)


def recording(samples: np.ndarray) -> bytes:
    """A whole recording as it is (it has its own lead-in), 8 kHz PCM16 after G.711."""
    return telephone(samples).astype("<i2").tobytes()


def utterance(speech: np.ndarray, free_text: bool = False) -> bytes:
    """PCM16 (8 kHz, after G.711) as the listener hands it to the recogniser: its pre-roll of
    line before the speech and, for a number or a word, its tail of silence after it."""
    from voicebot.speech.listener import ListenerSettings

    s = ListenerSettings()
    tail = np.zeros(0 if free_text else round(s.tail * RATE))
    body = np.concatenate([np.zeros(round(s.pre_roll * RATE)), speech, tail])
    return telephone(body).astype("<i2").tobytes()


@dataclass(frozen=True)
class DigitString:
    truth: str
    parts: tuple[int, ...]  # the take of each digit
    pauses: tuple[float, ...]


def digit_string(length: int, take_numbers: Sequence[int], rng: random.Random) -> DigitString:
    """`length` random digits, each from a random take of `take_numbers`, and the pauses."""
    truth = "".join(rng.choice("0123456789") for _ in range(length))
    parts = tuple(rng.choice(take_numbers) for _ in truth)
    pauses = tuple(round(rng.uniform(*PAUSES), 3) for _ in range(length - 1))
    return DigitString(truth, parts, pauses)


def digit_strings(
    lengths: Sequence[int], count: int, take_numbers: Sequence[int], seed: int
) -> list[DigitString]:
    """`count` strings of each length; the same every run (one generator per length)."""
    out = []
    for length in lengths:
        rng = random.Random(seed * 1000 + length)
        out += [digit_string(length, take_numbers, rng) for _ in range(count)]
    return out


def string_audio(s: DigitString, clip: Callable[[int, int], np.ndarray]) -> bytes:
    """The string's utterance; `clip(digit, take)` gives that take's speech."""
    clips = [clip(int(d), t) for d, t in zip(s.truth, s.parts, strict=True)]
    return utterance(join_with_pauses(clips, s.pauses))


# -- the Mandarin prompts of the shipped flows -------------------------------------------------
@dataclass(frozen=True)
class Prompt:
    text: str
    flows: tuple[str, ...]  # the flows that say it
    voice: str  # espeak-ng voice and rate the worker renders it in
    rate: int
    default_voice: str  # the synthesiser's default (speaks a Latin run of a Mandarin voice)
    default_rate: int


def flow_files(flows_dir: Path) -> list[Path]:
    return [
        p
        for p in sorted(flows_dir.glob("*.yaml"))
        if not p.name.endswith((".test.yaml", ".qa.yaml", ".faq.yaml"))
    ]


def docs_example(doc: Path, into: Path) -> Path:
    """The first YAML example of the "Languages" section of docs/flow-format.md, as a file."""
    text = doc.read_text(encoding="utf-8")
    section = text.split("\n## Languages", 1)[1].split("\n## ", 1)[0]
    m = re.search(r"```yaml\n(.*?)```", section, re.S)
    if m is None:
        raise SystemExit(f"{doc}: no YAML example in its Languages section")
    path = into / "flow-format-languages.yaml"
    path.write_text(m.group(1), encoding="utf-8")
    return path


def worker_voices(loaded) -> tuple[dict[str, tuple[str, int]], tuple[str, int]]:
    """What a worker renders this flow's prompts in, with the default settings: the voice of
    each declared language, and the synthesiser's default voice (`VoicebotService`)."""
    from voicebot.server.worker import ServiceConfig, VoicebotService

    config = SimpleNamespace(loaded=loaded, config=ServiceConfig(flow=loaded.path))
    default = VoicebotService.voice.fget(config)  # type: ignore[attr-defined]
    voices = VoicebotService.voices(SimpleNamespace(loaded=loaded, voice=default))  # type: ignore[arg-type]
    return (
        {tag: (v.name, v.words_per_minute) for tag, v in voices.items()},
        (default.name, default.words_per_minute),
    )


def mandarin_prompts(paths: Sequence[Path]) -> tuple[list[Prompt], list[str]]:
    """Every static prompt a worker renders for a Mandarin call of each flow in `paths`
    (`worker.static_prompts(flow, language)`, the engine's own Mandarin prompts included),
    once per text and voice; texts without a Chinese character are left out. Also the flows
    that did not load (name: first line of the error)."""
    from voicebot.flow.loader import load_flow
    from voicebot.lang import has_han, is_mandarin
    from voicebot.server.worker import static_prompts

    found: dict[tuple[str, str, int, str, int], list[str]] = {}
    failed: list[str] = []
    for path in paths:
        try:
            loaded = load_flow(path)
        except Exception as exc:  # another engineer's flow in progress must not stop the run
            failed.append(f"{path.name}: {str(exc).splitlines()[0]}")
            continue
        voices, (dname, drate) = worker_voices(loaded)
        for tag, (name, rate) in voices.items():
            if not is_mandarin(tag):
                continue
            for text in static_prompts(loaded, tag):
                if has_han(text):
                    found.setdefault((text, name, rate, dname, drate), []).append(path.stem)
    prompts = [Prompt(k[0], tuple(sorted(set(v))), *k[1:]) for k, v in found.items()]
    return sorted(prompts, key=lambda p: (p.flows, p.text)), failed
