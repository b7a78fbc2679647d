"""Barge-in over real SIP: backchannels, interruptions and the bot's own echo (issue 11).

    python bench/barge_bench.py [--repeat 1] [--write]

`voicebot serve` runs the shipped support lines (English, and Mandarin for its part) with the
real models on loopback; `voicebot call --barge TEXT@SECONDS` talks over the main menu. The
callers are espeak-ng voices (synthetic speech, several voices), not people. Kinds:

* backchannels ("uh-huh", "mm", "right", "yeah", "okay"; 对, 好): the menu must not stop. The
  caller's verdict line counts: "kept talking" or "paused ..., went on ..." (the caller found
  the replayed audio after the pause in what it had heard) is not stopped;
* interruptions ("billing", "balance", "I want to pay my bill"; 话费): the menu must stop; the
  latency is from the caller starting to speak to the bot falling silent, on the caller's
  recording ("stopped N ms after the caller began");
* echo: the bot's own first 3 s (welcome), cut from a recording of an earlier call, played
  back at -8 dB and 100 ms late from the start of its turn: must not stop it.

With --write, the table goes into BENCHMARKS.md ("## Barge-in") with this command.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from benchmarks_md import write_section  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
EN_FLOW, EN_CLOCK = ROOT / "dialog_flows" / "support_line.yaml", "2026-11-24T10:00:00-05:00"
ZH_FLOW, ZH_CLOCK = ROOT / "dialog_flows" / "zh_support_line.yaml", "2026-11-24T10:00:00+08:00"
EN_AT, ZH_AT = 5.0, 7.0  # seconds into the bot's first turn: over the main menu
VOICES = ("en-us", "en-gb", "en-us+f3")
BACKCHANNELS = ("uh-huh", "mm", "right", "yeah", "okay")
INTERRUPTIONS = ("billing", "balance", "I want to pay my bill")
ZH_BACKCHANNELS = ("对", "好")
ZH_INTERRUPTIONS = ("话费",)
STOPPED = re.compile(r"^barge   bot stopped (\d+) ms after the caller began$", re.M)
NOT_STOPPED = re.compile(
    r"^barge   bot (kept talking|paused \d+ ms .* went on \d+ ms later)$", re.M
)


def start_bot(flow: Path, clock: str, data: Path) -> tuple[subprocess.Popen[str], str]:
    records = data / f"calls-{flow.stem}.db"
    env = {**os.environ, "VOICEBOT_DATA_DIR": str(data), "VOICEBOT_CALL_RECORDS": str(records)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "voicebot", "serve", "--flow", str(flow), "--port", "0",
         "--clock", clock],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env, cwd=ROOT,
    )  # fmt: skip
    assert proc.stdout is not None
    for line in proc.stdout:
        m = re.search(r"answering at (sip:\S+)", line)
        if m:
            threading.Thread(target=proc.stdout.read, daemon=True).start()  # keep it drained
            return proc, m.group(1)
    raise SystemExit(f"{flow.name}: the bot did not start")


def call(uri: str, data: Path, *args: str) -> str:
    env = {**os.environ, "VOICEBOT_DATA_DIR": str(data)}
    out = subprocess.run(
        [sys.executable, "-m", "voicebot", "call", uri, *args],
        capture_output=True, text=True, timeout=300, cwd=ROOT, env=env,
    )  # fmt: skip
    return out.stdout


def heard_by_bot(data: Path, flow: Path) -> list[tuple[str, str]]:
    """The caller turns of the latest call, as the bot's record has them (text, end of turn)."""
    from voicebot.call.records import CallStore

    store = CallStore(data / f"calls-{flow.stem}.db")
    calls = store.list()
    full = store.get(calls[0].id) if calls else None
    turns = full.turns if full is not None else []
    return [(t["text"] or t["dtmf"], t["end_of_turn"]) for t in turns if t["who"] == "caller"]


def verdict(out: str) -> tuple[bool | None, float | None]:
    """(stopped, ms) from the caller's barge line; None when there is none."""
    m = STOPPED.search(out)
    if m:
        return True, float(m.group(1))
    return (False, None) if NOT_STOPPED.search(out) else (None, None)


def echo_wav(uri: str, data: Path, tmp: Path) -> Path:
    """The bot's menu as the caller heard it, from 100 ms before the barge mark, at -8 dB."""
    from voicebot.audio.wav import read_wav, write_wav

    record = tmp / "heard.wav"
    call(uri, data, "--record", str(record), "--dtmf", "0")
    pcm, rate = read_wav(record, 8000)
    x = np.frombuffer(pcm, "<i2").astype(np.float64)
    frames = x[: len(x) // 160 * 160].reshape(-1, 160)
    start = int(np.flatnonzero(np.sqrt(np.mean((frames / 32768) ** 2, axis=1)) > 0.01)[0]) * 160
    cut = start - int(0.1 * rate)  # line echo is there whenever the bot talks: from its start
    path = tmp / "echo.wav"
    write_wav(path, (x[cut : cut + 3 * rate] * 10 ** (-8 / 20)).astype("<i2").tobytes(), rate)
    return path


def pct(values: list[float], q: float) -> str:
    return f"{np.percentile(values, q):.0f}" if values else "-"


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--repeat", type=int, default=1, help="calls per word and voice")
    p.add_argument("--voices", default=",".join(VOICES), help="espeak-ng voices, comma-separated")
    p.add_argument("--write", action="store_true", help="write the table into BENCHMARKS.md")
    args = p.parse_args(argv)
    voices = args.voices.split(",")
    results: dict[str, list[tuple[bool | None, float | None]]] = {}
    began = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="barge-bench-") as name:
        tmp = Path(name)
        plan = [
            (EN_FLOW, EN_CLOCK, "en", [("backchannel (en)", w) for w in BACKCHANNELS]
             + [("interruption (en)", w) for w in INTERRUPTIONS] + [("echo (en)", "echo")]),
            (ZH_FLOW, ZH_CLOCK, "zh-CN", [("backchannel (zh-CN)", w) for w in ZH_BACKCHANNELS]
             + [("interruption (zh-CN)", w) for w in ZH_INTERRUPTIONS]),
        ]  # fmt: skip
        for flow, clock, language, items in plan:
            proc, uri = start_bot(flow, clock, tmp)
            try:
                wav = echo_wav(uri, tmp, tmp) if language == "en" else None
                at = EN_AT if language == "en" else ZH_AT
                for kind, word in items:
                    for voice in voices if language == "en" and word != "echo" else voices[:1]:
                        for _ in range(args.repeat):
                            said = f"{wav}@0" if word == "echo" else f"{word}@{at:g}"
                            out = call(
                                uri, tmp, "--language", language, "--voice", voice,
                                "--barge", said, "--dtmf", "0",
                            )  # fmt: skip
                            results.setdefault(kind, []).append(verdict(out))
                            said_to = heard_by_bot(tmp, flow)
                            print(kind, voice, word, results[kind][-1], said_to, flush=True)
            finally:
                proc.terminate()
                proc.wait(30)
    lines = [
        "Real SIP on loopback (G.722), the shipped support lines with the real models; callers "
        "are espeak-ng voices (synthetic speech: "
        + ", ".join(voices)
        + "), talking over the main menu. Stopped: the caller's recording has the bot silent "
        "for 0.4 s from within 0.3 s of the caller finishing and not going on with the same "
        "audio; latency from the caller starting to the bot falling silent.",
        "",
        "| kind | calls | not stopped | stopped | stop latency p50 / p95 (ms) |",
        "| --- | ---: | ---: | ---: | ---: |",
    ]
    for kind, got in results.items():
        n = len(got)
        stopped = [ms for s, ms in got if s and ms is not None]
        kept = sum(1 for s, _ in got if s is False)
        lines.append(
            f"| {kind} | {n} | {100 * kept / n:.0f}% | {100 * len(stopped) / n:.0f}% "
            f"| {pct(stopped, 50)} / {pct(stopped, 95)} |"
        )
    lines += [
        "",
        f"Targets (issue 11): backchannels >= 95% not stopped; interruptions stopped within "
        f"300 ms. {sum(len(v) for v in results.values())} calls in "
        f"{time.monotonic() - began:.0f} s on 2 shared cores.",
        "",
        f"`python bench/barge_bench.py --repeat {args.repeat} --voices {args.voices} --write`",
    ]
    print("\n".join(lines))
    if args.write:
        write_section("## Barge-in", lines)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
