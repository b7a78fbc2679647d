"""Soak: many short real conversations in a row through Kamailio and `voicebot serve` workers.

    .venv/bin/python bench/soak_bench.py [--calls 1000] [--rate 4] [--workers 4]
        [--out DIR] [--write [--benchmarks BENCHMARKS.md]]

Quick try: `--calls 100`. Needs (Debian) kamailio, sip-tester (sipp), tshark (dumpcap),
espeak-ng; runs as root (capture on `lo`, sipp's RTP replay uses a raw socket).

It starts `voicebot serve --workers N` on bench/soak_flow.yaml (the bot asks for a digit,
repeats the digit it took, says bye and hangs up), a real Kamailio in front (the
`voicebot kamailio-config` config: call-load dispatching, failover, only workers answer 486),
and sipp placing `--calls` calls at `--rate` calls per second. Each call says one recorded
FSDD digit (tests/data/fsdd, picked at random per call) as RTP after the bot's prompt
(bench/soak_caller.py). `dumpcap` captures SIP and the calls' RTP on `lo`; every second a
sampler reads each worker's VmRSS, open descriptors and CPU ticks from /proc, Kamailio's
count of each worker's calls (`kamcmd dispatcher.list`), and the machine's CPU
(bench/soak_procfs.py). The workers' INFO log gives their own count of the calls they hold.

Afterwards (bench/soak_calls.py) each call is judged from the capture: answered, the prompt on
the wire, the caller's answer, the bot's reply after it, the bot's BYE; every 486 the caller
got is listed with the calls up at that moment. What the flow took from each answer comes from
the call records. Results: DIR/results.json; the Markdown section (bench/soak_report.py) on
stdout and, with `--write`, as the Soak section of `--benchmarks`.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import re
import signal
import sqlite3
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench import soak_calls  # noqa: E402 (after the path set-up)
from bench import soak_report as report_md  # noqa: E402
from bench import telephony_wire as wire  # noqa: E402
from bench.benchmarks_md import write_section  # noqa: E402
from bench.soak_caller import answer_pcaps, scenario  # noqa: E402
from bench.soak_procfs import SoakSampler  # noqa: E402
from bench.telephony_bench import (  # noqa: E402
    HOST,
    Processes,
    command_line,
    free_ports,
    start_kamailio,
    start_service,
    tool,
    utc,
)
from bench.telephony_procfs import session_pids  # noqa: E402

FLOW = ROOT / "bench" / "soak_flow.yaml"
RECORDINGS = ROOT / "tests" / "data" / "fsdd"
BOT_RTP = 46000  # worker i's first RTP port: --rtp-port + 200 * i (then +2 per call)
CALLER_MEDIA = 45900  # sipp's media port (its replayed RTP comes from here)
IDLE = 3.0  # s of samples before the first call and after the last (descriptor baseline)


def bot_ports(first: int, workers: int, calls: int) -> range:
    """Every RTP port the workers may use from `first` on: worker i starts at first + 200 * i
    and pjsua moves 2 ports on per call (and on past busy ones)."""
    return range(first, first + 200 * workers + 4 * calls + 400)


def cpu_model() -> str:
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown CPU"


def heard_digits(db: Path) -> dict[str, str]:
    """The digit the flow took on each call, by the user it dialled (soak-N), from the records."""
    if not db.exists():
        return {}
    with contextlib.closing(sqlite3.connect(db)) as con:
        rows = con.execute("SELECT to_uri, slots FROM calls").fetchall()
    out = {}
    for to_uri, slots in rows:
        user = to_uri.split("sip:", 1)[-1].split("@", 1)[0]
        out[user] = str(json.loads(slots or "{}").get("digit", ""))
    return out


def bot_latencies(db: Path) -> list[float]:
    """The bot's own latency of each reply (listener's end of speech to playback queued)."""
    if not db.exists():
        return []
    with contextlib.closing(sqlite3.connect(db)) as con:
        rows = con.execute(
            "SELECT latency_ms FROM turns WHERE who = 'bot' AND latency_ms IS NOT NULL"
        ).fetchall()
    return [ms / 1000 for (ms,) in rows]


def played(log: Path) -> dict[str, str]:
    """sipp's `-trace_logs`: which recording each call (by Call-ID) played."""
    out = {}
    if log.exists():
        for line in log.read_text(errors="replace").splitlines():
            parts = line.split()
            if len(parts) == 3 and parts[1] == "plays":
                out[parts[0]] = parts[2]
    return out


def _unexpected(errors: str) -> list[str]:
    """The first line of each message sipp got but did not expect (and carried on past)."""
    out = []
    for part in errors.split("on unexpected message")[1:]:
        m = re.search(r"received '([^\r\n]*)", part)
        out.append(m.group(1).strip() if m else "?")
    return out


def analyse(
    out: Path, svc: Any, sipp_port: int, rtp_ports: range, sampler: SoakSampler
) -> dict[str, Any]:
    packets = wire.read_pcap(out / "soak.pcap")
    messages = soak_calls.sip_messages(packets)
    workers = {svc.sip_port + i: f"w{i + 1}" for i in range(svc.workers)}
    found = soak_calls.calls(messages, sipp_port, set(workers))
    rtp = wire.rtp_calls(packets, rtp_ports)
    log_lines = svc.log.read_text(errors="replace").splitlines()
    slots = soak_calls.worker_slots(log_lines, list(workers.values()))
    heard = heard_digits(svc.db)
    plays = played(out / "sipp_logs.log")
    rows = []
    all_calls = list(found.values())
    for c in all_calls:
        soak_calls.hear(c, rtp.get(c.bot_port))
    for c in all_calls:
        name = plays.get(c.call_id, "")
        refused = c.final_code not in (0, 200)
        at = c.final_at if refused and c.final_at else None
        rows.append(
            {
                "call_id": c.call_id,
                "user": c.user,
                "invite_at": c.invite_at,
                "final_code": c.final_code,
                "final_at": c.final_at,
                "ended_at": c.ended_at,
                "bye_by": c.bye_by,
                "worker": workers.get(c.worker, ""),
                "refusals": [
                    {
                        "t": t,
                        "worker": workers.get(w, str(w)),
                        "code": code,
                        "worker_held": soak_calls.held_at(
                            slots.get(workers.get(w, ""), [(0, 0)]), t
                        ),
                    }
                    for t, w, code in c.refusals
                ],  # fmt: skip
                "setup": c.setup,
                "reply_latency": c.reply_latency,
                "overlapped": c.media.overlapped,
                "failure": soak_calls.failure(c),
                "recording": name,
                "expect": name.split("_", 1)[0] if name else "",
                "heard": heard.get(c.user),
                # for a refusal (486) the caller got: how many calls were up then, by the
                # capture and by the workers' own count
                "up_then": soak_calls.up_at(all_calls, at) if at else None,
                "in_progress_then": soak_calls.in_progress_at(all_calls, at) if at else None,
                "workers_held_then": sum(soak_calls.held_at(s, at) for s in slots.values())
                if at
                else None,
            }
        )
    for row in sampler.rows:
        row["calls_up"] = soak_calls.up_at(all_calls, row["t"])
        row["workers_held"] = {n: soak_calls.held_at(s, row["t"]) for n, s in slots.items()}
    log_text = "\n".join(log_lines)
    errors_log = out / "sipp_errors.log"
    errors = errors_log.read_text(errors="replace") if errors_log.exists() else ""
    return {
        "calls": rows,
        "samples": sampler.rows,
        "asr_ms": soak_calls.asr_ms(log_text),
        "bot_latency": bot_latencies(svc.db),
        "log_errors": [x for x in log_lines if " ERROR " in x or "Traceback" in x][:20],
        "worker_exits": [x for x in log_lines if "exited with" in x],  # before the stop: crashes
        "sipp_overruns": errors.count("watchdog timer"),
        "sipp_aborted": errors.count("Aborting call"),  # on an unexpected message
        "sipp_unexpected": _unexpected(errors),
        "dispatcher_uris": {f"sip:{HOST}:{p}": n for p, n in workers.items()},
    }


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--calls", type=int, default=1000, help="calls to place")
    p.add_argument("--rate", type=float, default=4.0, help="calls started per second")
    p.add_argument("--workers", type=int, default=4, help="worker processes (4 calls each)")
    p.add_argument("--lead", type=float, default=0.85, help="caller's silence, then answer (s)")
    p.add_argument("--tail", type=float, default=1.3, help="caller's RTP after its answer (s)")
    p.add_argument("--bye-timeout", type=float, default=10.0, help="wait for the bot's BYE (s)")
    p.add_argument("--rtp-port", type=int, default=BOT_RTP, help="the workers' first RTP port")
    p.add_argument("--log-level", default="DEBUG", help="workers' log level (DEBUG: ASR times)")
    p.add_argument("--recordings", type=Path, default=RECORDINGS, help="8 kHz WAVs to say")
    p.add_argument("--out", type=Path, default=ROOT / "bench" / "out" / "soak")
    p.add_argument("--write", action="store_true", help="put the section into --benchmarks")
    p.add_argument("--benchmarks", type=Path, default=ROOT / "BENCHMARKS.md")
    args = p.parse_args()
    if args.calls < 1 or args.rate <= 0 or args.workers < 1:
        p.error("--calls, --rate and --workers must be positive")
    sipp, dumpcap = tool("sipp", "sip-tester"), tool("dumpcap", "tshark")
    kamcmd = tool("kamcmd", "kamailio")
    tool("espeak-ng", "espeak-ng")
    if os.geteuid() != 0:
        print("warning: not root: dumpcap and sipp's RTP replay may fail", file=sys.stderr)
    out = args.out.resolve()  # Kamailio changes directory: absolute paths only
    out.mkdir(parents=True, exist_ok=True)
    for old in ("soak.pcap", "sipp_logs.log", "sipp_errors.log", "results.json"):
        (out / old).unlink(missing_ok=True)
    for old in out.glob(f"serve-{args.workers}w.log"):
        old.unlink()
    (out / f"calls-{args.workers}w.db").unlink(missing_ok=True)
    recordings = sorted(args.recordings.glob("*.wav"))
    if not recordings:
        p.error(f"--recordings {args.recordings}: no WAV files")
    pcaps = answer_pcaps(recordings, out / "answers", args.lead, args.tail)
    bye_ms = int(1000 * args.bye_timeout)
    (out / "caller.xml").write_text(scenario(pcaps, bye_ms))

    def on_signal(signum: int, _frame: Any) -> None:
        raise KeyboardInterrupt(f"signal {signum}")

    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, on_signal)
    procs = Processes()
    began = time.monotonic()
    result: dict[str, Any] = {
        "command": command_line(),
        "started": utc(time.time()),
        "cores": os.cpu_count(),
        "cpu": cpu_model(),
        "load_start": os.getloadavg(),
        "calls_asked": args.calls,
        "rate": args.rate,
        "workers": args.workers,
        "slots": 4 * args.workers,
        "recordings": len(recordings),
        "lead": args.lead,
    }
    try:
        env = {"VOICEBOT_SIP__RTP_PORT": str(args.rtp_port)}
        svc = start_service(procs, out, args.workers, args.log_level, env, flow=FLOW)
        kam = start_kamailio(procs, out, svc)
        print(
            f"{args.workers} worker(s) up in {svc.started_in:.1f} s; kamailio on "
            f"{HOST}:{svc.kamailio_port}",
            flush=True,
        )
        sipp_port = free_ports(1, 37060)
        media = free_ports(4, CALLER_MEDIA)
        rtp = bot_ports(args.rtp_port, args.workers, args.calls)
        filt = (
            f"udp and (port {svc.kamailio_port} or port {sipp_port} or portrange "
            f"{svc.sip_port}-{svc.sip_port + svc.workers - 1} or portrange "
            f"{rtp.start}-{rtp.stop - 1})"
        )
        cap = procs.start(
            [dumpcap, "-i", "lo", "-P", "-q", "-B", "64", "-f", filt, "-w", str(out / "soak.pcap")],
            out / "dumpcap.log",
        )
        deadline = time.monotonic() + 10
        while not (out / "soak.pcap").exists() and time.monotonic() < deadline:
            time.sleep(0.1)
        sipp_proc: list[Any] = []
        kamailio_pids = session_pids(kam.pid)  # it forks its children at start only
        ctl = out / f"kamailio-{svc.workers}w" / "kamailio_ctl"
        sampler = SoakSampler(
            {f"w{i + 1}": pid for i, pid in enumerate(svc.worker_pids)},
            {
                "kamailio": lambda: kamailio_pids,
                "sipp": lambda: [q.pid for q in sipp_proc if q.poll() is None],
                "dumpcap": lambda: [cap.pid],
                "supervisor": lambda: [svc.proc.pid],
            },
            [kamcmd, "-s", f"unix:{ctl}", "dispatcher.list"],
        ).start()
        time.sleep(IDLE)
        result["calls_from"] = time.time()
        cmd = [sipp, "-sf", str(out / "caller.xml"), f"{HOST}:{svc.kamailio_port}"]
        cmd += ["-i", HOST, "-p", str(sipp_port), "-mi", HOST, "-mp", str(media)]
        cmd += ["-r", f"{args.rate:g}", "-m", str(args.calls), "-l", str(16 * args.workers)]
        cmd += ["-nostdin", "-trace_logs", "-log_file", str(out / "sipp_logs.log")]
        cmd += ["-trace_err", "-error_file", str(out / "sipp_errors.log")]
        cmd += ["-trace_screen", "-screen_file", str(out / "sipp_screen.log")]
        # sipp gives up after 120 of its 500 ms timer overruns (a busy machine): count them
        # instead (the report does) and judge the calls themselves
        cmd += ["-watchdog_minor_maxtriggers", "1000000", "-watchdog_major_maxtriggers", "1000"]
        # a stray message (a 180 that Kamailio's parallel UDP receivers relayed after the
        # 200) is logged and ignored, as a phone ignores it, instead of aborting the call
        cmd += ["-default_behaviors", "all,-abortunexp"]
        sipp_proc.append(procs.start(cmd, out / "sipp.out"))
        print(f"sipp: {args.calls} calls at {args.rate:g}/s ...", flush=True)
        limit = args.calls / args.rate + args.bye_timeout + 60
        try:
            sipp_proc[0].wait(limit)
        except Exception:
            print("sipp over its time: stopped", file=sys.stderr)
            procs.stop(sipp_proc[0], wait=5)
        result["sipp_exit"] = sipp_proc[0].returncode
        result["calls_until"] = time.time()
        time.sleep(IDLE + 2)  # the last calls' slots free; descriptors settle
        sampler.stop()
        procs.stop(cap, signal.SIGINT, wait=10)
        result["load_end"] = os.getloadavg()
        result.update(analyse(out, svc, sipp_port, rtp, sampler))
        procs.stop(kam, wait=10)
        procs.stop(svc.proc, wait=45)
    except KeyboardInterrupt:
        print("interrupted: stopping everything", file=sys.stderr)
        return 1
    finally:
        procs.stop_all()
    result["ended"] = utc(time.time())
    result["seconds"] = time.monotonic() - began
    (out / "results.json").write_text(json.dumps(result, indent=1))
    lines = report_md.section(result)
    print("\n".join(lines))
    if args.write:
        write_section(report_md.HEADING, lines, args.benchmarks)
        print(f"wrote the {report_md.HEADING} section into {args.benchmarks}")
    return 0 if report_md.failed(result) == 0 else 1


if __name__ == "__main__":
    raise SystemExit(main())
