"""A campaign dialed through the worker pool of `voicebot serve` (issue 13 item 5), on SQLite
and on PostgreSQL: 1,000 contacts, 16 calls up through 4 workers.

    .venv/bin/python bench/pool_bench.py [--contacts 1000] [--workers 4] [--max-concurrent 16]
                                         [--cps 4] [--only sqlite|postgresql] [--write]

For each database, a fresh directory, the simulated callees as a trunk of several processes
behind a real Kamailio (voicebot/testing/trunk.py: one pjsua2 process holds 4 calls, so
`--callees` processes, 5 by default, for 20 lines), the appointment-reminder campaign of
bench/campaign_bench.py's contact mix (every callee behaviour but "503 then human", plus
contacts whose calling window is shut, never to be dialed; cancelled once every other contact
is done) created and
started with the CLI, then `voicebot serve --workers N` dialing it; PostgreSQL is a throwaway
cluster (voicebot/testing/postgres.py) holding the campaign and the call records. The third
run, "postgresql, 2 machines", is two `serve`s with N/2 workers each on two loopback addresses
(127.0.0.1 and 127.0.0.2) dialing the same campaign from the one PostgreSQL, each under its own
leases: at 30 % of the contacts done a worker of the first is killed -9 (its supervisor starts
it again), at 50 % the whole second one (its dialer and its workers), started again 10 s later.

Every figure comes from the callees' own logs (merged), checked against the ledger by
voicebot/testing/callee_log.py: calls up at most across the callee processes, INVITEs per
second, INVITEs outside the window, INVITEs per number against the ledger and max_attempts.
CPU per call is the CPU time of `serve` (supervisor and workers, from /proc) per INVITE.
`--write` puts the table in BENCHMARKS.md under "## Campaign through the worker pool" (with
`--only V`: under "## Campaign through the worker pool (V)").
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.benchmarks_md import write_section  # noqa: E402 (after the path is set)
from bench.campaign_bench import FLOW, MIX, NAME, contacts, done_count  # noqa: E402
from bench.telephony_procfs import CLK_TCK, Sampler, session_pids  # noqa: E402
from voicebot.campaign.ledger import Ledger  # noqa: E402
from voicebot.testing.callee_log import Evidence, check  # noqa: E402
from voicebot.testing.postgres import TemporaryPostgres  # noqa: E402
from voicebot.testing.trunk import Procs, free_udp_port, merged, most_up, start_trunk  # noqa: E402

SECTION = "## Campaign through the worker pool"
UP_LASTING = 0.2  # seconds: see voicebot.testing.trunk.most_up
# campaign_bench's mix without "503 then human" (5xx): a callee process counts a number's
# INVITEs itself, and the trunk spreads a number's attempts over several processes
POOL_MIX = {d: share + (MIX["5"] if d == "1" else 0.0) for d, share in MIX.items() if d != "5"}
CALLEES = ("--max-ring", "6", "--quiet-timeout", "6", "--max-call", "90")


@dataclass
class Variant:
    name: str
    seconds: float = 0.0
    max_up: int = 0  # for at least UP_LASTING
    max_up_instant: int = 0
    late: int = 0  # orders whose INVITE was not sent, their turn had passed
    cpu_seconds: float = 0.0
    replies: dict[str, list[float]] = field(default_factory=dict)  # answer kind -> bot's ms
    kills: list[str] = field(default_factory=list)
    evidence: Evidence = field(default_factory=Evidence)


VARIANTS = ("sqlite", "postgresql", "postgresql, 2 machines")
HOSTS = ("127.0.0.1", "127.0.0.2")  # the two "machines" of the shared-PostgreSQL run


def worker_pid(procs: Procs, serve: str, worker: str) -> int | None:
    """The pid of `serve`'s worker (its latest start, from serve's own log)."""
    found = re.findall(rf"worker {worker} started \(pid (\d+)", procs.output(serve, 0))
    return int(found[-1]) if found else None


def reply_latencies(ledger: Ledger) -> dict[str, list[float]]:
    """The bot's reply latency (its turn's `latency_ms`, from the call records) after each
    caller turn, by how the caller answered: "spoken" (recognised text) or "keyed" (DTMF)."""
    rows = ledger.db.execute(
        "SELECT p.dtmf AS dtmf, b.latency_ms AS ms FROM turns b JOIN turns p"
        " ON p.call_id = b.call_id AND p.seq = b.seq - 1"
        " WHERE b.who = 'bot' AND p.who = 'caller' AND b.latency_ms IS NOT NULL"
    ).fetchall()
    out: dict[str, list[float]] = {"spoken": [], "keyed": []}
    for row in rows:
        out["keyed" if row["dtmf"] else "spoken"].append(float(row["ms"]))
    return out


def _p50_p95(values: list[float]) -> str:
    if not values:
        return "-"
    ordered = sorted(values)
    at = lambda q: ordered[min(len(ordered) - 1, int(q * len(ordered)))]  # noqa: E731
    return f"{at(0.5):.0f} / {at(0.95):.0f} (n {len(ordered)})"


def run_variant(
    name: str, url: str, args: argparse.Namespace, work: Path, machines: int = 1
) -> Variant:
    """One run; `machines` 2: two `serve`s (each with half the workers, on their own loopback
    address) dialing the campaign from one database, a worker of the first killed -9 at 30 %
    of the contacts done and the whole second (dialer and workers) at 50 %, restarted 10 s
    later."""
    work.mkdir(parents=True, exist_ok=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith("VOICEBOT_")}
    env["PYTHONPATH"] = str(ROOT)
    procs = Procs(work, env)
    variant = Variant(name)
    sampler: Sampler | None = None
    try:
        trunk = start_trunk(procs, args.callees, *CALLEES)
        env.update(
            VOICEBOT_DATABASE__URL=url,
            VOICEBOT_CAMPAIGN__TRUNK=trunk.uri,
            VOICEBOT_CAMPAIGN__RING_SECONDS="3",
            VOICEBOT_CAMPAIGN__CONGESTION_PAUSE_SECONDS="1",
            VOICEBOT_HTTP__PORT="0",
            VOICEBOT_SIP__RTP_PORT=str(random.randrange(20000, 30000, 2)),
        )
        text, closed = contacts(args.contacts, mix=POOL_MIX)
        (work / f"{NAME}.csv").write_text(text)
        cli = [sys.executable, "-m", "voicebot", "campaign"]
        create = [*cli, "create", "--flow", str(FLOW), "--contacts", f"{NAME}.csv", "--name",
                  NAME, "--cps", str(args.cps), "--max-concurrent", str(args.max_concurrent),
                  "--max-attempts", "2", "--daily-cap", "3", "--retry", "busy=0.05",
                  "--retry", "no_answer=0.05", "--retry", "failed=0.05",
                  "--retry", "unknown=0.05"]  # fmt: skip
        for command in (create, [*cli, "start", NAME]):
            done = subprocess.run(command, cwd=work, env=env, capture_output=True, text=True,
                                  timeout=300)  # fmt: skip
            if done.returncode:
                raise SystemExit(f"{' '.join(command[3:5])} failed: {done.stderr}")
        ledger = Ledger(url)
        skip = set(closed)
        began = time.monotonic()
        serves: dict[str, subprocess.Popen[bytes]] = {}

        def start(i: int, run: int = 1) -> str:
            label = f"serve-{i + 1}" + (f"-run{run}" if run > 1 else "")
            procs.env = {**env, "VOICEBOT_SIP__RTP_PORT": str(int(rtp) + 4000 * i)}
            serves[label] = procs.start(label, [
                sys.executable, "-m", "voicebot", "serve", "--flow", str(FLOW), "--workers",
                str(args.workers // machines), "--port", str(free_udp_port()),
                "--host", HOSTS[i],
            ])  # fmt: skip
            return label

        rtp = env["VOICEBOT_SIP__RTP_PORT"]
        for i in range(machines):
            start(i)
        sampler = Sampler(
            {"serve": lambda: [p for s in list(serves.values()) for p in session_pids(s.pid)]},
            every=1.0,
        ).start()
        cancelled = False
        killed_worker = killed_dialer = restarted = 0.0
        while True:
            finished, total = done_count(ledger, skip)
            if machines > 1 and not killed_worker and finished >= 0.3 * total:
                pid = worker_pid(procs, "serve-1", "w1")
                if pid is not None:
                    os.kill(pid, signal.SIGKILL)
                    killed_worker = time.monotonic()
                    variant.kills.append(f"worker w1 of serve-1 (pid {pid}) at {finished}/{total}")
            if machines > 1 and not killed_dialer and finished >= 0.5 * total:
                victim = serves.pop("serve-2")
                os.killpg(victim.pid, signal.SIGKILL)
                victim.wait(10)
                killed_dialer = time.monotonic()
                variant.kills.append(f"serve-2 (dialer and workers) at {finished}/{total}")
            if killed_dialer and not restarted and time.monotonic() - killed_dialer > 10:
                start(1, run=2)
                restarted = time.monotonic()
            if finished == total and not cancelled:  # the rest wait for a window that is shut
                subprocess.run([*cli, "cancel", NAME], cwd=work, env=env, check=True,
                               capture_output=True, timeout=60)  # fmt: skip
                cancelled = True
            if cancelled and ledger.in_flight(ledger.campaign(NAME)) == 0:
                break
            for label, serve in serves.items():
                if serve.poll() is not None:
                    raise SystemExit(f"{label} exited {serve.returncode}: {procs.output(label)}")
            if time.monotonic() - began > args.timeout:
                raise SystemExit(f"{name}: not done in {args.timeout} s ({finished}/{total})")
            time.sleep(1.0)
        variant.seconds = time.monotonic() - began
        sampler.stop()
        series = sampler.series.get("serve") or []
        variant.cpu_seconds = max((row[1] for row in series), default=0) / CLK_TCK
        for serve in serves.values():
            os.killpg(serve.pid, signal.SIGTERM)
        for serve in serves.values():
            serve.wait(60)
        logs = trunk.logs()
        variant.max_up = most_up(logs, lasting=UP_LASTING)
        variant.max_up_instant = most_up(logs)
        variant.evidence = check(merged(logs), ledger, NAME, not_dialed=closed)
        variant.late = ledger.db.execute(
            "SELECT COUNT(*) FROM attempts WHERE note LIKE '%turn passed%'"
            " OR note LIKE '%past its turn%'"
        ).fetchone()[0]
        variant.replies = reply_latencies(ledger)
        ledger.close()
    finally:
        if sampler is not None and sampler._thread.is_alive():
            sampler.stop()
        procs.stop_all()
    return variant


def report(variants: list[Variant], args: argparse.Namespace) -> str:
    lines = [
        f"Command: `.venv/bin/python bench/pool_bench.py{' --write' if args.write else ''}` "
        f"(`--contacts {args.contacts} --workers {args.workers} --max-concurrent "
        f"{args.max_concurrent} --cps {args.cps:g} --callees {args.callees}`), run on "
        f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC, 2 cores shared with other jobs.",
        "",
        f"{args.contacts} contacts of the appointment-reminder flow (the mix of "
        "bench/campaign_bench.py without 503s) dialed by `voicebot serve --workers "
        f"{args.workers}` (each call placed by the least-loaded worker with a free slot) over "
        f"real SIP: Kamailio in front of {args.callees} simulated-callee processes (4 lines "
        "each). Figures from the callees' own logs, checked against the ledger. "
        f"`postgresql, 2 machines`: two `serve --workers {args.workers // 2}` on 127.0.0.1 and "
        "127.0.0.2 dialing the campaign from one PostgreSQL, a worker of the first killed -9 at "
        "30 % of the contacts done, the whole second (dialer and workers) at 50 %. Each "
        "callee process stamps a call's end when its thread gets to the BYE, so their summed "
        "count can briefly include calls the bot had already ended: the calls-up row counts a "
        f"level held {UP_LASTING:g} s or more, the instantaneous most in brackets.",
        "",
        "| | " + " | ".join(v.name for v in variants) + " |",
        "|---|" + "---:|" * len(variants),
    ]
    rows = [
        ("wall time (s)", lambda v: f"{v.seconds:.0f}"),
        ("INVITEs received / answered", lambda v: f"{v.evidence.invites} / {v.evidence.answered}"),
        (
            f"max calls up at the callees for {UP_LASTING:g} s or more (at any instant; "
            f"max_concurrent {args.max_concurrent})",
            lambda v: f"{v.max_up} ({v.max_up_instant})",
        ),  # fmt: skip
        ("INVITEs refused for want of a slot", lambda v: str(v.evidence.overflow)),
        ("INVITEs not sent, their turn had passed (retried)", lambda v: str(v.late)),
        (f"max INVITEs in any 1 s (cps {args.cps:g})", lambda v: str(v.evidence.max_per_second)),
        ("INVITEs per second, whole run", lambda v: f"{v.evidence.invites / v.seconds:.2f}"),
        ("INVITEs outside the calling window", lambda v: str(v.evidence.outside_window)),
        ("max counted INVITEs per number (limit 2)", lambda v: str(v.evidence.max_counted_invites)),
        ("contacts with a wrong disposition", lambda v: str(v.evidence.wrong_disposition)),
        (
            "bot's reply after a spoken answer, ms p50 / p95 (call records)",
            lambda v: _p50_p95(v.replies.get("spoken", [])),
        ),  # fmt: skip
        (
            "bot's reply after a keyed answer, ms p50 / p95",
            lambda v: _p50_p95(v.replies.get("keyed", [])),
        ),  # fmt: skip
        ("processes killed -9 mid-campaign", lambda v: str(len(v.kills))),
        ("attempts reconciled as unknown", lambda v: str(v.evidence.unknown_attempts)),
        (
            '"stop calling me" said into a call a kill had ended (unheard)',
            lambda v: str(v.evidence.unheard_opt_outs),
        ),  # fmt: skip
        ("problems found by the check", lambda v: str(len(v.evidence.problems))),
        (
            "CPU of serve per INVITE (s)",
            lambda v: f"{v.cpu_seconds / max(1, v.evidence.invites):.2f}",
        ),  # fmt: skip
    ]
    for label, cell in rows:
        lines.append(f"| {label} | " + " | ".join(cell(v) for v in variants) + " |")
    kills = [f"* {v.name}: killed {k}" for v in variants for k in v.kills]
    if kills:
        lines += [
            "",
            "Kills (`2 machines`: restarted 10 s later as an operator's service manager would):",
            "",
            *kills,
        ]
    lines += ["", "Dispositions:", ""]
    for v in variants:
        counts = ", ".join(f"{k} {n}" for k, n in v.evidence.dispositions.items())
        lines.append(f"* {v.name}: {counts}")
    problems = [f"* {v.name}: {p}" for v in variants for p in v.evidence.problems]
    if problems:
        lines += ["", "Problems:", "", *problems[:20]]
    return "\n".join(lines) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--contacts", type=int, default=1000)
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--max-concurrent", type=int, default=16)
    parser.add_argument("--cps", type=float, default=4.0)
    parser.add_argument("--callees", type=int, default=5, help="callee processes, 4 lines each")
    parser.add_argument("--only", choices=VARIANTS)
    parser.add_argument("--dir", type=Path, help="keep the runs here (default: a temp dir)")
    parser.add_argument("--timeout", type=float, default=3000, help="seconds per variant")
    parser.add_argument("--write", action="store_true", help="update BENCHMARKS.md")
    args = parser.parse_args()
    base = args.dir or Path(tempfile.mkdtemp(prefix="pool-bench-"))
    variants = []
    for name in [args.only] if args.only else VARIANTS:
        work = base / name.replace(", ", "-").replace(" ", "-")
        if name == "sqlite":
            variants.append(run_variant(name, f"sqlite:///{work / 'voicebot.db'}", args, work))
        else:
            machines = 2 if "machines" in name else 1
            with TemporaryPostgres() as pg:
                variants.append(run_variant(name, pg.url("voicebot"), args, work, machines))
        v = variants[-1]
        print(f"{name}: max up {v.max_up}, {json.dumps(v.evidence.figures())}", flush=True)
    text = report(variants, args)
    print(text)
    print(f"runs kept in {base}")
    if args.write:
        # one variant alone (--only) has a section of its own, beside the others' table
        write_section(f"{SECTION} ({args.only})" if args.only else SECTION, text.splitlines())
    return 0 if all(not v.evidence.problems for v in variants) else 1


if __name__ == "__main__":
    raise SystemExit(main())
