"""End-of-turn benchmark (not a test), in the manner of eot-bench: is a caller cut off at a pause?

    .venv/bin/python bench/turn_bench.py [--fsdd DIR] [--zh DIR] [--per-split N] [--write]

Real speech with pauses inside the turn (bench/turn_data.py: FSDD digit groups, one or two with
a 0.3-0.6 s pause between; Mandarin digit groups; the real Mandarin sentences, whole or with a
mid-sentence pause), 8 kHz over G.711. The listener's VAD (voicebot.speech.vad, as a call runs
it) finds every pause; the turn model (voicebot.speech.turn_model, smart-turn v3.2) scores the
turn's audio so far at the moment the listener declares the pause (`SpeechPaused`, 120 ms after
the last voiced frame), as a call asks it, and its compute time is measured there. Each rule is
then played over every pause of every turn:

* silence timeout T (today's rule for free text, T = 0.8 s): the turn ends at the first pause
  of at least T;
* turn model θ: it ends at the first pause whose score is >= θ once the score is in and 0.2 s of
  silence have passed (the caller must still be silent then), else at 3 s of silence;
* turn model θ + 0.8 s timeout (what the listener does for an open answer): as above, but a
  pause of 0.8 s ends the turn whatever the score.

A turn ended at a pause inside it is a false cut-off; latency is from the end of the last word
to the end of turn, for the turns not cut off. θ is chosen on the dev split (the lowest θ whose
dev false cut-offs are <= 5 %) and every table is the test split. `--write` replaces the
"## Turn-taking" section of BENCHMARKS.md (command, load average, tables).
"""

from __future__ import annotations

import argparse
import math
import os
import shlex
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench import fsdd_data, zh_data  # noqa: E402
from bench.benchmarks_md import write_section  # noqa: E402
from bench.turn_data import RATE, Sample, samples  # noqa: E402

HEADING = "## Turn-taking"
FRAME = 0.02
TURN_WINDOW = 0.2  # the listener's turn_timeout
LONG = 0.8  # the listener's incomplete_timeout
MODEL_ONLY_CAP = 3.0  # the model alone: a turn it never calls finished ends here
TARGET_CUTOFFS = 0.05
TIMEOUTS = (0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 1.0, 1.2)
THRESHOLDS = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9)


@dataclass(frozen=True)
class Pause:
    voiced_end: float  # end of the last voiced frame before it
    declared: float  # when the VAD said so (the listener's SpeechPaused)
    length: float  # to the next voiced start (inf after the last word)
    score: float
    compute: float  # s the turn model took
    final: bool


def find_pauses(pcm: bytes) -> list[tuple[float, float, float]]:
    """(voiced end, declared at, length) of every pause the listener's VAD finds."""
    from voicebot.speech.vad import Vad

    vad = Vad()
    frame = int(RATE * FRAME) * 2
    stops: list[tuple[float, float]] = []
    starts: list[float] = []
    for k in range(len(pcm) // frame):
        now = (k + 1) * FRAME
        change = vad.process(pcm[k * frame : (k + 1) * frame], RATE, now)
        if change is not None and change.speaking:
            starts.append(change.at)
        elif change is not None:
            stops.append((change.at, now))
    out = []
    for end, declared in stops:
        later = [s for s in starts if s > end]
        out.append((end, declared, (later[0] - end) if later else math.inf))
    return out


def score_pauses(sample: Sample, model) -> list[Pause]:
    from voicebot.speech.recognizer import to_model_audio

    found = find_pauses(sample.pcm)
    first = None
    pauses = []
    for i, (end, declared, length) in enumerate(found):
        if first is None:
            first = _speech_start(sample.pcm)
        lo = max(0, int((first - 0.3) * RATE)) * 2
        hi = int(declared * RATE) * 2
        audio = to_model_audio(sample.pcm[lo:hi], RATE)
        t0 = time.perf_counter()
        score = model.finished(audio)
        compute = time.perf_counter() - t0
        pauses.append(Pause(end, declared, length, score, compute, i == len(found) - 1))
    return pauses


def _speech_start(pcm: bytes) -> float:
    from voicebot.speech.vad import Vad

    vad = Vad()
    frame = int(RATE * FRAME) * 2
    for k in range(len(pcm) // frame):
        change = vad.process(pcm[k * frame : (k + 1) * frame], RATE, (k + 1) * FRAME)
        if change is not None and change.speaking:
            return change.at
    return 0.0


# -- the rules -------------------------------------------------------------------------------
def timeout_rule(t: float):
    def ends(p: Pause) -> float | None:
        return t if p.length >= t else None

    return ends


def model_rule(theta: float, long: float):
    def ends(p: Pause) -> float | None:
        ready = max(TURN_WINDOW, p.declared - p.voiced_end + p.compute)
        if p.score >= theta and p.length >= ready:
            return ready
        return long if p.length >= long else None

    return ends


def play(pauses: list[Pause], ends) -> tuple[bool, float | None]:
    """(cut off, latency from the last voiced frame) of one turn under a rule."""
    for p in pauses:
        after = ends(p)
        if after is not None:
            return (True, None) if not p.final else (False, after)
    return False, None  # never ended (cannot happen with a fallback)


@dataclass(frozen=True)
class Point:
    label: str
    cutoffs: float
    p50: float
    p95: float
    n: int


def evaluate(turns: list[tuple[Sample, list[Pause]]], label: str, ends) -> Point:
    cut, latencies = 0, []
    for _, pauses in turns:
        was_cut, latency = play(pauses, ends)
        cut += was_cut
        if latency is not None:
            latencies.append(latency)
    lat = np.array(latencies) * 1000 if latencies else np.array([math.nan])
    return Point(
        label,
        cut / max(len(turns), 1),
        float(np.percentile(lat, 50)),
        float(np.percentile(lat, 95)),
        len(turns),
    )


def choose_threshold(dev: list[tuple[Sample, list[Pause]]]) -> float:
    """The lowest θ whose dev false cut-offs are at most 5 %, or at most today's rule's where
    that already cuts more (pauses longer than 0.8 s inside real turns)."""
    allowed = max(TARGET_CUTOFFS, evaluate(dev, "", timeout_rule(LONG)).cutoffs) + 1e-9
    for theta in THRESHOLDS:
        if evaluate(dev, "", model_rule(theta, LONG)).cutoffs <= allowed:
            return theta
    return THRESHOLDS[-1]


# -- report ----------------------------------------------------------------------------------
def _row(p: Point) -> str:
    return f"| {p.label} | {100 * p.cutoffs:.1f}% | {p.p50:.0f} | {p.p95:.0f} |"


def _cell(p: Point) -> str:
    """cut-offs / p50 / p95; "-" for latency when every turn was cut off."""
    lat = "- / -" if math.isnan(p.p50) else f"{p.p50:.0f} / {p.p95:.0f}"
    return f"{100 * p.cutoffs:.0f}% / {lat}"


def report(
    scored: list[tuple[Sample, list[Pause]]], theta: float, argv: Sequence[str], load, wall
) -> list[str]:
    dev = [t for t in scored if t[0].split == "dev"]
    test = [t for t in scored if t[0].split == "test"]
    computes = np.array([p.compute for _, ps in scored for p in ps]) * 1000
    n_pauses = sum(len(ps) for _, ps in test)
    inside = sum(1 for _, ps in test for p in ps if not p.final)
    head = "| rule | false cut-offs | latency p50 (ms) | latency p95 (ms) |"
    sep = "| --- | --- | --- | --- |"
    lines = [
        "Command: `" + shlex.join([".venv/bin/python", "bench/turn_bench.py", *argv]) + "`",
        "",
        f"Run {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())} ({wall / 60:.1f} min) on the "
        "shared 2-core machine; load average (1 min) "
        f"{load[0][0]:.2f} at start, {load[1][0]:.2f} at end: other sessions' work shares the "
        "cores, so the model's compute time (and the latency it adds) carries that load.",
        "",
        "How it measures: bench/turn_bench.py's docstring; the turns: bench/turn_data.py "
        "(real speech only: FSDD digit groups, the shared Mandarin takes and sentences, with "
        "0.3-0.6 s pauses put inside turns). Test split: "
        f"{len(test)} turns ({sum(1 for s, _ in test if '+pause' in s.kind)} with a pause "
        f"inside), {n_pauses} pauses found by the VAD, {inside} of them inside a turn. "
        f"Dev split: {len(dev)} turns, used only to choose θ = {theta:g} (the lowest θ whose "
        f"dev false cut-offs are <= {100 * TARGET_CUTOFFS:.0f}%, or <= the 0.8 s rule's where "
        "that cuts more). Latency: from the end of the last voiced frame to the listener's end "
        "of turn, for the turns not cut off (the wire adds recognition, TTS and jitter).",
        "",
        f"Turn model cost per pause (8 s window, 1 thread): p50 {np.percentile(computes, 50):.0f}"
        f" ms, p95 {np.percentile(computes, 95):.0f} ms, over {len(computes)} pauses.",
        "",
        "False cut-offs against latency, test split, every turn:",
        "",
        head,
        sep,
    ]
    for t in TIMEOUTS:
        lines.append(_row(evaluate(test, f"silence timeout {t:g} s", timeout_rule(t))))
    for th in THRESHOLDS:
        lines.append(
            _row(evaluate(test, f"turn model θ {th:g} (else {MODEL_ONLY_CAP:g} s)",
                          model_rule(th, MODEL_ONLY_CAP)))
        )  # fmt: skip
    for th in THRESHOLDS:
        mark = " (chosen on dev)" if th == theta else ""
        lines.append(
            _row(evaluate(test, f"turn model θ {th:g} + {LONG:g} s timeout{mark}",
                          model_rule(th, LONG)))
        )  # fmt: skip
    lines += ["", "Per language and kind of turn, test split, today's rule beside the chosen:", ""]
    lines += [
        "| turns | n | silence 0.8 s: cut-offs / p50 / p95 (ms) | "
        f"turn model θ {theta:g} + 0.8 s: cut-offs / p50 / p95 (ms) |",
        "| --- | --- | --- | --- |",
    ]
    groups = [
        (f"{lang} {kind}", [t for t in test if t[0].language == lang and t[0].kind == kind])
        for lang in ("en", "zh")
        for kind in ("digits", "digits+pause", "sentence", "sentence+pause")
    ]
    for name, turns in groups:
        if not turns:
            continue
        a = evaluate(turns, "", timeout_rule(LONG))
        b = evaluate(turns, "", model_rule(theta, LONG))
        lines.append(f"| {name} | {len(turns)} | {_cell(a)} | {_cell(b)} |")
    return lines


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--fsdd", type=Path, default=fsdd_data.DEFAULT, metavar="DIR")
    parser.add_argument("--zh", type=Path, default=None, metavar="DIR")
    parser.add_argument("--per-split", type=int, default=40, help="digit turns per language")
    parser.add_argument("--write", action="store_true")
    args = parser.parse_args(argv)
    from voicebot.speech.turn_model import load_turn_model

    model = load_turn_model()
    if model is None:
        sys.exit("the turn model is not installed: make setup")
    load0, wall0 = os.getloadavg(), time.perf_counter()
    turns = samples(fsdd_data.test_split(args.fsdd), zh_data.find_data(args.zh), args.per_split)
    scored = []
    for i, s in enumerate(turns):
        scored.append((s, score_pauses(s, model)))
        if (i + 1) % 20 == 0:
            print(f"{i + 1}/{len(turns)} turns scored", file=sys.stderr)
    dev = [t for t in scored if t[0].split == "dev"]
    theta = choose_threshold(dev)
    lines = report(scored, theta, argv, (load0, os.getloadavg()), time.perf_counter() - wall0)
    print("\n".join(lines))
    if args.write:
        write_section(HEADING, lines)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
