"""Telephony benchmark: real `voicebot serve` workers answering scripted calls on loopback.

    .venv/bin/python bench/telephony_bench.py [--levels 1,4,8,16] [--turns 64]
        [--burst-rounds 8] [--out DIR] [--write [--benchmarks BENCHMARKS.md]]

Needs dumpcap (Debian `tshark`), kamailio, espeak-ng; runs as root (capture on `lo`).

For each level of concurrent calls it starts `voicebot serve --workers N` on the benchmark flow
(bench/telephony_flow.yaml: a loop asking for a menu word, an 8-digit account number, a
free-text reason and a yes/no, each prompt after the first repeating what the flow took) --
1 worker for 1 and 4 calls, 2 for 8, 4 for 16, with a real Kamailio (`voicebot
kamailio-config`'s config) in front when there is more than one (`--direct` spreads the
callers over the workers' ports instead) -- and places the calls from caller processes
(bench/telephony_caller.py, 4 calls each, pjsua2 softphones offering G.711 only so both
directions can be decoded from the capture), staggered over about one answer. Then, on the
one worker, the free-text burst: a call alone, then 4 calls whose free-text answers end at the
same moment (`--sync-text`), `--burst-rounds` rounds each. While the calls run, `dumpcap`
captures SIP and RTP on `lo` and a sampler reads /proc for each worker.

Measured (bench/telephony_wire.py reads the capture):
- turn latency on the wire: the caller's last loud RTP packet of an answer to the bot's first
  loud packet after it (endpointing silence, recognition, dialog, TTS, jitter buffers and
  packetisation included), p50/p95/max over every answer of the level, and per kind of answer
  (each call dials `sip:bench-N@`; the capture's INVITE and 200 OK tie its RTP port to the
  caller's script, whose play times say which answer each wire turn followed);
- whether the flow took each answer right, from the call records (`mark_recognised`);
- outbound RTP gaps: inter-arrival gaps > 40 ms between the bot's packets while it speaks
  (first to last loud packet of each bot turn), and the longest gap;
- INVITE -> 200 OK: the caller's INVITE to the 200 it receives (through Kamailio when there is
  one; the worker's own share is the relayed INVITE to its 200);
- CPU (% of one core) and resident memory per worker, from /proc/PID/stat and status: mean CPU
  over the calls, VmRSS peak while they ran, and VmHWM (the process's peak since start);
- for the profile: the bot's own latency from the call records (listener's end of speech to
  playback queued), and from the workers' DEBUG log the endpointing window used (0.3 s when the
  grammar completed the answer early, 0.8 s when not) and the final recognition's compute time.

Every process it starts gets its own session and is ended at exit (also on Ctrl-C); the whole
run stops at `--deadline` seconds (default 1800), skipping levels it has no time left for.
Results: DIR/results.json and the Markdown tables (bench/telephony_report.py) on stdout; with
`--write` also in the Telephony section of `--benchmarks`, between its markers.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import re
import shlex
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench import telephony_caller as caller  # noqa: E402 (after the path set-up)
from bench import telephony_report as report_tables  # noqa: E402
from bench import telephony_wire as wire  # noqa: E402
from bench.telephony_procfs import Sampler, children, hwm_kb, session_pids  # noqa: E402
from voicebot.deploy.kamailio import Destination, KamailioConfig, render_config  # noqa: E402
from voicebot.testing.sip_probe import options_ok  # noqa: E402

HOST = "127.0.0.1"
FLOW = ROOT / "bench" / "telephony_flow.yaml"
WORKERS_FOR = {1: 1, 4: 1, 8: 2, 16: 4}  # concurrent calls -> worker processes (4 calls each)
BOT_RTP = 41000  # worker i: BOT_RTP + 200 * i (voicebot.server.worker.worker_main)
CALLER_RTP = 52000  # caller process k: + 100 * k
CALLS_PER_CALLER = 4
KINDS = caller.KINDS  # one round of the flow: menu word, digits, free text, yes/no
SPREAD_SECONDS = 6.0  # the calls of a level start spread over about one answer of a round
ANSWER_SECONDS = 7.0  # one answer with the prompt before it, roughly (for time budgets)
MATCH_SECONDS = 0.5  # a wire turn belongs to the answer whose speech ended at most this before


# -- processes ---------------------------------------------------------------------------------
class Processes:
    """Everything the benchmark starts, each in its own session; `stop_all` ends them."""

    def __init__(self) -> None:
        self.procs: list[subprocess.Popen[bytes]] = []

    def start(self, args: list[str], log: Path, env: dict[str, str] | None = None):
        with open(log, "ab") as out:
            p = subprocess.Popen(
                args, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                env=env, cwd=ROOT, start_new_session=True,
            )  # fmt: skip
        self.procs.append(p)
        return p

    def stop(self, p: subprocess.Popen[bytes], sig: int = signal.SIGTERM, wait: float = 40) -> None:
        if p.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(p.pid, sig)
            try:
                p.wait(wait)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(p.pid, signal.SIGKILL)
                p.wait(5)
        # whatever else its session still holds (a worker's children)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(p.pid, signal.SIGKILL)

    def stop_all(self) -> None:
        for p in reversed(self.procs):
            self.stop(p, wait=15)


def tool(name: str, package: str) -> str:
    path = shutil.which(name) or shutil.which(name, path="/usr/sbin:/usr/bin")
    if not path:
        raise SystemExit(f"{name} is missing: apt-get install {package}")
    return path


def free_ports(count: int, start: int) -> int:
    """The first of `count` consecutive ports from `start` on free for UDP and TCP."""
    base = start
    while base < 65000:
        ok = True
        for port in range(base, base + count):
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as u, socket.socket() as t:
                try:
                    u.bind((HOST, port))
                    t.bind((HOST, port))
                except OSError:
                    ok = False
                    break
        if ok:
            return base
        base += count + 1
    raise RuntimeError("no free ports")


# -- the service under test --------------------------------------------------------------------
@dataclass
class Service:
    workers: int
    sip_port: int
    proc: subprocess.Popen[bytes]
    log: Path
    db: Path
    kamailio_port: int | None = None
    worker_pids: list[int] = field(default_factory=list)
    started_in: float = 0.0

    @property
    def uris(self) -> list[str]:
        return [f"sip:voicebot@{HOST}:{self.sip_port + i}" for i in range(self.workers)]

    @property
    def bot_rtp(self) -> range:
        return range(BOT_RTP, BOT_RTP + 200 * self.workers)


def start_service(
    procs: Processes,
    out: Path,
    workers: int,
    log_level: str,
    extra_env: dict[str, str],
    flow: Path = FLOW,
) -> Service:
    port = free_ports(workers, 35060)
    db = out / f"calls-{workers}w.db"
    log = out / f"serve-{workers}w.log"
    env = {
        **os.environ,
        "VOICEBOT_DATA_DIR": str(out / "data"),
        "VOICEBOT_CALL_RECORDS": str(db),
        "VOICEBOT_SIP__RTP_PORT": str(BOT_RTP),
        "VOICEBOT_LOG_LEVEL": log_level,
        "VOICEBOT_SIP__DRAIN_SECONDS": "5",  # calls a stopped caller left behind: end soon
        **extra_env,
    }
    args = [sys.executable, "-m", "voicebot", "--log-level", log_level, "serve"]
    args += ["--flow", str(flow), "--port", str(port), "--workers", str(workers)]
    began = time.monotonic()
    proc = procs.start(args, log, env)
    deadline = began + 180
    while log.read_text(errors="replace").count("answering at") < workers:
        if proc.poll() is not None or time.monotonic() > deadline:
            raise SystemExit(f"voicebot serve did not start:\n{log.read_text()[-3000:]}")
        time.sleep(0.2)
    svc = Service(workers, port, proc, log, db, started_in=time.monotonic() - began)
    if workers == 1:
        svc.worker_pids = [proc.pid]
    else:
        svc.worker_pids = [
            pid
            for pid in children(proc.pid)
            if b"spawn_main" in Path(f"/proc/{pid}/cmdline").read_bytes()
        ]
    return svc


def start_kamailio(procs: Processes, out: Path, svc: Service) -> subprocess.Popen[bytes]:
    port = free_ports(1, 36060)
    run_dir = out / f"kamailio-{svc.workers}w"
    run_dir.mkdir(exist_ok=True)
    settings = KamailioConfig(
        tuple(Destination(f"sip:{HOST}:{svc.sip_port + i}") for i in range(svc.workers)),
        listen_host=HOST,
        listen_port=port,
        list_file=str(run_dir / "dispatcher.list"),
        runtime_dir=str(run_dir),
    )
    cfg, dispatcher_list = render_config(settings)
    (run_dir / "dispatcher.list").write_text(dispatcher_list)
    (run_dir / "kamailio.cfg").write_text(cfg)
    args = [tool("kamailio", "kamailio"), "-f", str(run_dir / "kamailio.cfg"), "-DD", "-E"]
    args += ["-Y", str(run_dir), "-P", str(run_dir / "kamailio.pid"), "-m", "32", "-M", "4"]
    proc = procs.start(args, run_dir / "kamailio.log")
    deadline = time.monotonic() + 15
    while not options_ok(HOST, port, 0.3):
        if proc.poll() is not None or time.monotonic() > deadline:
            raise SystemExit(f"kamailio did not start: {(run_dir / 'kamailio.log').read_text()}")
    svc.kamailio_port = port
    time.sleep(1.5)  # its first keepalive round marks the workers up
    return proc


# -- one level ---------------------------------------------------------------------------------
def bot_record_latencies(db: Path, skip: set[str]) -> tuple[list[float], set[str]]:
    with contextlib.closing(sqlite3.connect(db)) as con:
        ids = {r[0] for r in con.execute("SELECT id FROM calls")}
        new = ids - skip
        rows = con.execute(
            "SELECT call_id, latency_ms FROM turns WHERE who = 'bot' AND latency_ms IS NOT NULL"
        ).fetchall()
    return [ms / 1000 for cid, ms in rows if cid in new], ids


def profile_from_log(text: str) -> dict[str, Any]:
    finals = [
        float(m) for m in re.findall(r"final \w+ [\d.]+s audio, [\d.]+s window, (\d+) ms", text)
    ]
    partials = [
        float(m) for m in re.findall(r"partial \w+ [\d.]+s audio, [\d.]+s window, (\d+) ms", text)
    ]
    complete = re.findall(r"end of utterance at [\d.]+, complete=(True|False)", text)
    return {
        "asr_final_ms": finals,
        "asr_partial_ms": partials,
        "endpoint_complete": complete.count("True"),
        "endpoint_incomplete": complete.count("False"),
        "errors": [line for line in text.splitlines() if " ERROR " in f" {line} "][:20],
        "warnings": [line for line in text.splitlines() if "WARNING" in line][:20],
    }


def heard(kind: str, step: str, text: str) -> str | None:
    """What the flow took from an answer of `kind`, read off the bot's next prompt (`step`,
    `text`), which repeats it (bench/telephony_flow.yaml); None when it took nothing (a
    reprompt of the same question)."""
    if kind == "menu" and step == "account":
        return text.split(".")[0].strip().lower()
    if kind == "digits" and step == "reason":
        m = re.match(r"Account ([\d ]+)\.", text)
        return m.group(1).replace(" ", "") if m else None
    if kind == "text" and step == "check":
        m = re.match(r"You said: (.*)\. Is that right\?$", text, re.S)
        return caller.normalise(m.group(1)) if m else None
    if kind == "yes_no":
        return {"menu": "yes", "again": "no"}.get(step)
    return None


def word_errors(expect: str, got: str | None) -> tuple[int, int]:
    """(word edits from `expect` to `got`, words in `expect`): Levenshtein over words."""
    ref, hyp = expect.split(), (got or "").split()
    row = list(range(len(hyp) + 1))
    for i, r in enumerate(ref, 1):
        prev, row[0] = row[0], i
        for j, h in enumerate(hyp, 1):
            prev, row[j] = row[j], min(row[j] + 1, row[j - 1] + 1, prev + (r != h))
    return row[-1], len(ref)


def mark_recognised(db: Path, new_ids: set[str], rows: list[dict[str, Any]]) -> None:
    """Sets each answer's `heard` (what the flow took from it) from the call records: the
    caller's turn recorded after the answer ended, then the bot's next prompt."""
    by_index = {r["index"]: r.get("answers", []) for r in rows}
    with contextlib.closing(sqlite3.connect(db)) as con:
        calls = con.execute("SELECT id, to_uri FROM calls").fetchall()
        for call_id, to_uri in calls:
            m = re.search(r"bench-(\d+)@", to_uri)
            if call_id not in new_ids or not m or int(m.group(1)) not in by_index:
                continue
            answers = by_index[int(m.group(1))]
            turns = con.execute(
                "SELECT who, text, step, at FROM turns WHERE call_id = ? ORDER BY seq", (call_id,)
            ).fetchall()
            for i, (who, text, _step, at) in enumerate(turns):
                if who != "caller":
                    continue
                when = datetime.fromisoformat(at).timestamp()
                before = [a for a in answers if a["speech_end"] <= when + 0.05]
                if not before:
                    continue
                answer = max(before, key=lambda a: a["speech_end"])
                bot = next((t for t in turns[i + 1 :] if t[0] == "bot"), None)
                answer["recorded"] = True
                got = heard(answer["kind"], bot[2], bot[1]) if bot else None
                if answer["kind"] == "text" and got is not None:
                    got = caller.normalise(text)  # the transcript: the slot drops "I want to"
                answer["heard"] = got


def mark_wire(
    rtp_calls: dict[int, wire.RtpCall], ports: dict[str, int], rows: list[dict[str, Any]]
) -> None:
    """Sets each answer's `wire_latency` and `wire_end`: the last wire turn whose caller
    packets ended while the answer played (or up to MATCH_SECONDS after its speech ended)."""
    for row in rows:
        c = rtp_calls.get(ports.get(f"bench-{row['index']}", -1))
        if c is None:
            continue
        found = wire.turns(c)
        for a in row.get("answers", []):
            inside = [
                t for t in found if a["start"] <= t.caller_end <= a["speech_end"] + MATCH_SECONDS
            ]
            if inside:
                a["wire_latency"], a["wire_end"] = inside[-1].latency, inside[-1].caller_end


def kind_figures(rows: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for kind in KINDS:
        answers = [a for r in rows for a in r.get("answers", []) if a["kind"] == kind]
        recorded = [a for a in answers if a.get("recorded")]
        edits = [word_errors(a["expect"], a.get("heard")) for a in recorded]
        out[kind] = {
            "answers": len(answers),
            "wire_latency": [a["wire_latency"] for a in answers if "wire_latency" in a],
            "recorded": len(recorded),
            "right": sum(a.get("heard") == a["expect"] for a in recorded),
            "word_errors": sum(e for e, _ in edits),
            "words": sum(n for _, n in edits),
            "wrong": [
                (a["expect"], a.get("heard")) for a in recorded if a.get("heard") != a["expect"]
            ],
        }
    return out


def sync_spread(rows: list[dict[str, Any]]) -> list[float]:
    """For answers held to end together: per round, the spread of their last loud packets."""
    rounds: dict[int, list[float]] = {}
    for r in rows:
        texts = [a for a in r.get("answers", []) if a["kind"] == "text"]
        for k, a in enumerate(texts):  # the k-th free-text question of every call
            if a.get("synced") and "wire_end" in a:
                rounds.setdefault(k, []).append(a["wire_end"])
    return [max(v) - min(v) for v in rounds.values() if len(v) > 1]


def run_level(
    procs: Processes,
    out: Path,
    svc: Service,
    calls: int,
    turns: int,
    args: argparse.Namespace,
    time_left: float,
    kamailio: subprocess.Popen[bytes] | None = None,
    *,
    tag: str = "",
    sync: bool = False,
    spread: float = SPREAD_SECONDS,
) -> dict[str, Any]:
    tag = tag or f"{calls}c"
    pcap = out / f"level-{tag}.pcap"
    pcap.unlink(missing_ok=True)
    sip_ports = f"portrange {svc.sip_port}-{svc.sip_port + svc.workers - 1}"
    if svc.kamailio_port:
        sip_ports += f" or port {svc.kamailio_port}"
    rtp = f"portrange {svc.bot_rtp.start}-{svc.bot_rtp.stop - 1}"
    capture_filter = f"udp and ({sip_ports} or {rtp})"
    dumpcap = procs.start(
        [tool("dumpcap", "tshark"), "-i", "lo", "-P", "-q", "-B", "64", "-f", capture_filter,
         "-w", str(pcap)],
        out / f"dumpcap-{tag}.log",
    )  # fmt: skip
    deadline = time.monotonic() + 10
    while not pcap.exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    time.sleep(0.5)

    _, before_ids = bot_record_latencies(svc.db, set()) if svc.db.exists() else ([], set())
    log_offset = svc.log.stat().st_size
    callers: list[subprocess.Popen[bytes]] = []
    caller_out: list[Path] = []
    n_callers = math.ceil(calls / CALLS_PER_CALLER)
    stagger = spread / calls
    targets = (
        [f"sip:voicebot@{HOST}:{svc.kamailio_port}"] if svc.kamailio_port else svc.uris
    )  # direct: caller process k calls worker k (4 calls each)
    sampler_groups: dict[str, Any] = {
        f"w{i + 1}": (lambda p=p: [p]) for i, p in enumerate(svc.worker_pids)
    }
    for k in range(n_callers):
        mine = min(CALLS_PER_CALLER, calls - k * CALLS_PER_CALLER)
        path = out / f"callers-{tag}-{k}.json"
        path.unlink(missing_ok=True)
        caller_out.append(path)
        cmd = [sys.executable, str(ROOT / "bench" / "telephony_caller.py")]
        cmd += [targets[k % len(targets)], "--calls", str(mine), "--first", str(k * 4)]
        cmd += ["--turns", str(turns), "--stagger", str(stagger * n_callers)]
        cmd += ["--delay", str(2.0 + k * stagger), "--quiet", str(args.quiet)]
        cmd += ["--rtp-port", str(CALLER_RTP + 100 * k), "--out", str(path)]
        cmd += ["--sync-text"] if sync else []
        callers.append(procs.start(cmd, out / f"caller-{tag}-{k}.log"))
    sampler_groups["callers"] = lambda: [p.pid for p in callers if p.poll() is None]
    if kamailio is not None:
        kamailio_pids = session_pids(kamailio.pid)  # it forks its children at start only
        sampler_groups["kamailio"] = lambda: kamailio_pids
    clocks = {f"w{i + 1}": pid for i, pid in enumerate(svc.worker_pids)}
    sampler = Sampler(sampler_groups, clocks, realtime_clock=args.rt_clock).start()
    load_start = os.getloadavg()
    limit = time.monotonic() + min(time_left, turns * 1.5 * ANSWER_SECONDS + spread + 60)
    for p in callers:
        try:
            p.wait(max(1.0, limit - time.monotonic()))
        except subprocess.TimeoutExpired:
            print(f"  caller {p.pid} over its time: stopped", file=sys.stderr)
            procs.stop(p, wait=5)
    load_end = os.getloadavg()
    sampler.stop()
    time.sleep(0.5)
    procs.stop(dumpcap, signal.SIGINT, wait=10)

    rows: list[dict[str, Any]] = []
    for path in caller_out:
        if path.exists():
            rows += json.loads(path.read_text())
    starts = [r["answered"] for r in rows if "answered" in r]
    ends = [r["ended"] for r in rows if "ended" in r]
    window = (min(starts), max(ends)) if starts and ends else (0.0, time.time())

    packets = wire.read_pcap(pcap)
    rtp_calls = wire.rtp_calls(packets, set(svc.bot_rtp))
    latencies = [x for c in rtp_calls.values() for x in wire.turn_latencies(c)]
    gaps = [wire.playback_gaps(c) for c in rtp_calls.values()]
    setup = wire.invite_to_ok(packets)
    bot_lat, after_ids = bot_record_latencies(svc.db, before_ids)
    mark_wire(rtp_calls, wire.bot_ports(packets), rows)
    mark_recognised(svc.db, after_ids - before_ids, rows)
    with open(svc.log, "rb") as f:
        f.seek(log_offset)
        prof = profile_from_log(f.read().decode(errors="replace"))
    caller_lat = [x for r in rows for x in r.get("latencies", [])]
    jb = [r["jitter_buffer"]["avg_ms"] for r in rows if "avg_ms" in r.get("jitter_buffer", {})]

    workers = {}
    for i, pid in enumerate(svc.worker_pids):
        name = f"w{i + 1}"
        workers[name] = {
            "clock_thread_wait_ms": sampler.clock_wait_ms(name, *window),
            "clock_thread_worst_wait_ms": sampler.clock_wait_worst_ms(name, *window),
            "cpu_percent": sampler.cpu_percent(name, *window),
            "rss_peak_mb": sampler.peak_rss_mb(name, *window),
            "hwm_mb": hwm_kb(pid) / 1024,
        }
    over = [g for x in gaps for g in x.over]
    # each gap: did the worker's clock thread wait for a CPU for at least half of it?
    waited = 0
    for port, call_gaps in zip(rtp_calls, gaps, strict=True):
        name = f"w{(port - BOT_RTP) // 200 + 1}"
        for end, length in zip(call_gaps.at, call_gaps.over, strict=True):
            if sampler.clock_wait_ms(name, end - length, end) >= 1000 * length / 2:
                waited += 1
    return {
        "tag": tag,
        "calls": calls,
        "turns_per_call": turns,
        "synchronised_free_text": sync,
        "workers": svc.workers,
        "routing": "kamailio" if svc.kamailio_port else "direct",
        "calls_answered": len(starts),
        "call_errors": [r["error"] for r in rows if r.get("error")],
        "rtp_calls": len(rtp_calls),
        "turns": len(latencies),
        "wire_latency": latencies,
        "by_kind": kind_figures(rows),
        "free_text_end_spread": sync_spread(rows),
        "answers": [{"index": r["index"], **a} for r in rows for a in r.get("answers", [])],
        "bot_record_latency": bot_lat,
        "caller_latency": caller_lat,
        "jitter_buffer_avg_ms": jb,
        "gaps_over_40ms": over,
        "gaps_at": sorted(t for x in gaps for t in x.at),
        "gaps_with_clock_thread_waiting": waited,
        "gap_intervals": sum(x.intervals for x in gaps),
        "gap_longest": max((x.longest for x in gaps), default=0.0),
        "gap_p99": max((x.p99 for x in gaps), default=0.0),
        "rtp_lost_in_playback": sum(x.lost for x in gaps),
        "gap_longest_anywhere": max((x.longest_anywhere for x in gaps), default=0.0),
        # control: the softphones' own outbound streams, timed by their clock threads on the
        # same two cores: gaps there too mean the machine, not the bot, held the thread up
        "caller_stream_gaps_over_40ms": [
            g for c in rtp_calls.values() for g in wire.stream_gaps(c.caller)
        ],
        "caller_stream_packets": sum(len(c.caller) for c in rtp_calls.values()),
        "invite_to_ok": [s.invite_to_ok for s in setup.values()],
        "invite_to_ok_worker": [s.worker for s in setup.values() if s.worker is not None],
        "workers_usage": workers,
        "callers_cpu_percent": sampler.cpu_percent("callers", *window),
        "kamailio_cpu_percent": sampler.cpu_percent("kamailio", *window)
        if "kamailio" in sampler_groups
        else None,
        "load_start": load_start,
        "load_end": load_end,
        "window_seconds": window[1] - window[0],
        "profile": prof,
    }


# -- run ---------------------------------------------------------------------------------------
def command_line() -> str:
    """This run's command as typed from the repository, paths inside it made relative."""

    def rel(arg: str) -> str:
        path = Path(arg)
        if path.is_absolute() and path.is_relative_to(ROOT):
            return str(path.relative_to(ROOT))
        return arg

    return shlex.join([rel(sys.executable), rel(str(Path(sys.argv[0]).resolve())), *sys.argv[1:]])


def rounded_turns(n: int) -> int:
    """Answers per call: whole rounds of the flow (menu, digits, free text, yes/no)."""
    return len(KINDS) * math.ceil(n / len(KINDS))


def utc(at: float) -> str:
    return datetime.fromtimestamp(at, UTC).strftime("%Y-%m-%d %H:%M UTC")


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--levels", default="1,4,8,16", help="concurrent calls per level ('' none)")
    p.add_argument("--turns", type=int, default=64, help="caller answers per level, at least")
    p.add_argument("--min-turns-per-call", type=int, default=4)
    p.add_argument(
        "--burst-rounds",
        type=int,
        default=8,
        help="rounds of the free-text burst (a call alone, then 4 at once; 0: none)",
    )
    p.add_argument("--quiet", type=float, default=1.0, help="bot silence before answering (s)")
    p.add_argument("--direct", action="store_true", help="no Kamailio: callers dial workers")
    p.add_argument("--log-level", default="DEBUG", help="workers' log level (DEBUG: profile)")
    p.add_argument("--deadline", type=float, default=1800.0, help="whole run, seconds")
    p.add_argument(
        "--rt-clock",
        action="store_true",
        help="experiment: run the workers' pjmedia clock threads at SCHED_FIFO 10 (root)",
    )
    p.add_argument(
        "--worker-env",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="environment for the workers, e.g. VOICEBOT_SPEECH__CPU_THREADS=1 (experiments)",
    )
    p.add_argument("--out", default=str(ROOT / "bench" / "out" / "telephony"))
    p.add_argument("--write", action="store_true", help="put the tables into --benchmarks")
    p.add_argument("--benchmarks", default=str(ROOT / "BENCHMARKS.md"), help="file for --write")
    args = p.parse_args()
    levels = [int(x) for x in args.levels.split(",") if x.strip()]
    extra_env = dict(item.split("=", 1) for item in args.worker_env)
    for n in levels:
        if n not in WORKERS_FOR:
            p.error(f"--levels: {n}? use some of {sorted(WORKERS_FOR)}")
    if os.geteuid() != 0:
        print("warning: not root: dumpcap may not capture on lo", file=sys.stderr)
    tool("dumpcap", "tshark")
    tool("espeak-ng", "espeak-ng")
    out = Path(args.out).resolve()  # Kamailio changes directory: absolute paths only
    out.mkdir(parents=True, exist_ok=True)
    began = time.monotonic()
    end_by = began + args.deadline
    procs = Processes()
    report: dict[str, Any] = {
        "command": command_line(),
        "started": utc(time.time()),
        "cores": os.cpu_count(),
        "load_start": os.getloadavg(),
        "levels": [],
        "burst": None,
    }
    results: list[dict[str, Any]] = report["levels"]
    burst: dict[str, Any] = {}

    def on_signal(signum: int, _frame: Any) -> None:
        raise KeyboardInterrupt(f"signal {signum}")

    def save() -> None:
        (out / "results.json").write_text(json.dumps(report, indent=1))

    for signum in (signal.SIGTERM, signal.SIGINT):  # SIGINT too: ignored in background jobs
        signal.signal(signum, on_signal)
    print(f"load at start: {report['load_start']}; {report['cores']} cores", flush=True)
    # (calls, tag, sync) per service; the burst runs on the one-worker service, after its levels
    plan: dict[int, list[tuple[int, str, bool]]] = {}
    for n in levels:
        plan.setdefault(WORKERS_FOR[n], []).append((n, f"{n}c", False))
    if args.burst_rounds > 0:
        plan.setdefault(1, []).extend([(1, "burst-alone", True), (4, "burst-together", True)])
    try:
        for workers, jobs in sorted(plan.items()):
            if time.monotonic() > end_by - 60:
                print(f"no time left for {jobs}", flush=True)
                break
            svc = start_service(procs, out, workers, args.log_level, extra_env)
            print(f"{workers} worker(s) up in {svc.started_in:.1f} s: {svc.uris}", flush=True)
            kam = None
            if workers > 1 and not args.direct:
                kam = start_kamailio(procs, out, svc)
                print(f"kamailio on {HOST}:{svc.kamailio_port}", flush=True)
            for calls, tag, sync in jobs:
                left = end_by - time.monotonic() - 30
                if sync:
                    turns = len(KINDS) * args.burst_rounds
                else:
                    turns = rounded_turns(max(args.min_turns_per_call, args.turns / calls))
                if left < turns * ANSWER_SECONDS + 20:
                    print(f"no time left for {tag}", flush=True)
                    continue
                print(f"{tag}: {calls} calls x {turns} answers ...", flush=True)
                r = run_level(
                    procs, out, svc, calls, turns, args, left, kam,
                    tag=tag, sync=sync, spread=0.0 if sync else SPREAD_SECONDS,
                )  # fmt: skip
                if sync:
                    burst["alone" if calls == 1 else "together"] = r
                    if len(burst) == 2:
                        report["burst"] = burst
                else:
                    results.append(r)
                print(report_tables.kinds_table([r]).splitlines()[-1], flush=True)
                if r["call_errors"]:
                    print(f"  call errors: {r['call_errors']}", flush=True)
                save()
            if kam is not None:
                procs.stop(kam, wait=10)
            procs.stop(svc.proc, wait=45)
    except KeyboardInterrupt:
        print("interrupted: stopping everything", file=sys.stderr)
    finally:
        procs.stop_all()
    report["ended"] = utc(time.time())
    report["seconds"] = time.monotonic() - began
    report["load_end"] = os.getloadavg()
    save()
    text = report_tables.tables(report)
    print(f"\nran {report['seconds']:.0f} s\n\n{text}")
    if args.write:
        report_tables.write_section(Path(args.benchmarks), text)
        print(f"wrote the Telephony tables into {args.benchmarks}")
    return 0 if results or report["burst"] else 1


if __name__ == "__main__":
    raise SystemExit(main())
