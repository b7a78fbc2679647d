"""Four callers answering free text at once on one worker, against the same turn alone.

    .venv/bin/python bench/free_text_concurrency.py [--rounds 10] [--callers 4]

Issue 8's target: each turn's p95 latency with `--callers` callers answering a free-text
question at the same moment is within 300 ms of the same turn on a call alone. One worker
(`voicebot serve`, bench/free_text_flow.yaml) answers `voicebot call --say SENTENCE` callers
on loopback; the latency is the bot's own record of the turn (end of the caller's speech, by
its listener, to the first frame of the reply), read from the call records. Each round runs
the callers alone one after another, then all at once. Heavy: run it on a quiet machine.
"""

from __future__ import annotations

import argparse
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from voicebot.call.records import CallStore  # noqa: E402

FLOW = ROOT / "bench" / "free_text_flow.yaml"
SENTENCES = [
    "I would like to change the address on my account",
    "my internet has been down since this morning",
    "I was charged twice for the same order last week",
    "can you tell me when my package will arrive",
]


def start_worker(work: Path) -> tuple[subprocess.Popen[str], str]:
    env = {
        **os.environ,
        "VOICEBOT_DATA_DIR": str(work),
        "VOICEBOT_CALL_RECORDS": str(work / "c.db"),
    }
    proc = subprocess.Popen(
        [sys.executable, "-m", "voicebot", "serve", "--flow", str(FLOW), "--port", "0"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env, cwd=ROOT,
    )  # fmt: skip
    assert proc.stdout is not None
    for line in proc.stdout:
        m = re.search(r"answering at (sip:\S+)", line)
        if m:
            return proc, m.group(1)
    raise SystemExit("voicebot serve did not start")


def call(uri: str, sentence: str) -> None:
    subprocess.run(
        [sys.executable, "-m", "voicebot", "call", uri, "--say", sentence],
        capture_output=True, timeout=120, cwd=ROOT, check=True,
    )  # fmt: skip


def latencies(db: Path, seen: set[str]) -> list[float]:
    """The reply latency (ms) of the caller's answer in each call not in `seen`."""
    store, out = CallStore(db), []
    for summary in store.list():
        if summary.id in seen:
            continue
        seen.add(summary.id)
        full = store.get(summary.id)
        timed = [t["latency_ms"] for t in full.turns if t["latency_ms"] is not None] if full else []
        out += timed[:1]
    store.close()
    return out


def p(values: list[float], q: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, int(round(q * (len(s) - 1))))] if s else float("nan")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rounds", type=int, default=10)
    ap.add_argument("--callers", type=int, default=4)
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="voicebot-freetext-"))
    proc, uri = start_worker(work)
    alone: list[float] = []
    together: list[float] = []
    seen: set[str] = set()
    sentences = (SENTENCES * args.callers)[: args.callers]
    try:
        for _ in range(args.rounds):
            for s in sentences:
                call(uri, s)
            alone += latencies(work / "c.db", seen)
            with ThreadPoolExecutor(args.callers) as pool:
                list(pool.map(lambda s: call(uri, s), sentences))
            together += latencies(work / "c.db", seen)
            time.sleep(0.5)
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(60)
    print("| callers | turns | p50 ms | p95 ms |\n|---|---|---|---|")
    for name, v in ((1, alone), (args.callers, together)):
        print(f"| {name} | {len(v)} | {p(v, 0.5):.0f} | {p(v, 0.95):.0f} |")
    gap = p(together, 0.95) - p(alone, 0.95)
    print(f"\np95 with {args.callers} at once - alone: {gap:.0f} ms (target: <= 300 ms)")
    print(f"command: {' '.join([Path(sys.argv[0]).as_posix(), *sys.argv[1:]])}")
    return 0 if gap <= 300 else 1


if __name__ == "__main__":
    raise SystemExit(main())
