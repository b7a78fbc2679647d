"""The outbound-campaign acceptance run: 200 contacts dialed over real SIP on loopback.

    .venv/bin/python bench/campaign_bench.py [--contacts 200] [--cps 2] [--crash-at 0.4]
                                             [--only plain|crash] [--dir DIR] [--write]

For each variant, a fresh directory, a simulated-callees process
(`python -m voicebot.testing.callees`) and `voicebot campaign create/start/run` with the
appointment-reminder flow, max_concurrent 4, `--cps`, 2 attempts, busy / no answer / unknown
retried after 3 s, a 3 s ring time. The contacts mix every callee behaviour (number plan in
voicebot/testing/callees.py; humans answer by key or by voice) in time zones where the
08:00-21:00 window is open now, plus contacts in zones where it is closed for hours: those must
never be dialed, and the run cancels the campaign once every other contact is done.

* plain: one dialer from start to end.
* crash: the dialer is killed with SIGKILL once `--crash-at` of the dialable contacts are done,
  and started again once the callees have hung up the calls it left (as a trunk would) and
  their pjsua2 has freed the slots (its BYEs to the dead dialer time out after 32 s).

Then `voicebot.testing.callee_log.check` compares the callees' own log with the ledger: calls
up at most, INVITEs per second, INVITEs outside a window, dispositions against the number plan,
INVITEs per number against the ledger and max_attempts, 503s not counted, opt-outs on the
do-not-call list. `--write` puts the figures in BENCHMARKS.md under "## Campaign dialer".
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from voicebot.campaign.ledger import Ledger  # noqa: E402 (after the path is set)
from voicebot.testing.callee_log import Evidence, check  # noqa: E402
from voicebot.testing.callees import idle, read_log  # noqa: E402

FLOW = ROOT / "dialog_flows" / "appointment_reminder.yaml"
NAME = "bench"
ZONES = (
    "Pacific/Kiritimati", "Pacific/Auckland", "Australia/Sydney", "Asia/Tokyo", "Asia/Shanghai",
    "Asia/Bangkok", "Asia/Kolkata", "Asia/Dubai", "Europe/Moscow", "Europe/Berlin",
    "Europe/London", "Atlantic/Azores", "America/Sao_Paulo", "America/New_York",
    "America/Chicago", "America/Denver", "America/Los_Angeles", "Pacific/Honolulu",
)  # fmt: skip
# share of the contacts per behaviour (hundreds digit); "closed": humans out of their window
MIX = {"1": 0.20, "2": 0.125, "3": 0.15, "4": 0.15, "5": 0.05, "6": 0.175, "7": 0.075}
CLOSED_SHARE = 0.075
SECTION = "## Campaign dialer"


@dataclass
class Variant:
    name: str
    seconds: float = 0.0
    runs: int = 1
    killed_at_done: int = 0
    reconciled: int = 0
    evidence: Evidence = field(default_factory=Evidence)


def zones(now: datetime) -> tuple[list[str], list[str]]:
    """Zones where 08:00-21:00 stays open for the next hour, and where it is shut for hours."""
    local = {z: now.astimezone(ZoneInfo(z)).hour for z in ZONES}
    return [z for z, h in local.items() if 8 <= h < 20], [z for z, h in local.items() if h < 5]


def contacts(total: int, seed: int = 5, mix: dict[str, float] = MIX) -> tuple[str, list[str]]:
    """The CSV text and the numbers that must not be dialed (closed windows)."""
    rng = random.Random(seed)
    open_zones, closed_zones = zones(datetime.now(UTC))
    if not open_zones or not closed_zones:
        raise SystemExit(f"no open/closed zone pair among {ZONES} now")
    closed = round(total * CLOSED_SHARE)
    counts = {digit: round(total * share) for digit, share in mix.items()}
    counts["6"] += total - closed - sum(counts.values())
    numbers: list[tuple[str, str]] = []
    for digit, count in counts.items():
        # tens digits 0-4 and 5-9 alternate: humans answer by key and by voice; past 100 of a
        # kind, the thousands digit counts up (the callees read the last three digits)
        tails = [(i // 100, i % 100 // 2 + 50 * (i % 2)) for i in range(count)]
        numbers += [(f"+1212555{k}{digit}{t:02d}", rng.choice(open_zones)) for k, t in tails]
    shut = [(f"+12125559{1}{99 - i:02d}", rng.choice(closed_zones)) for i in range(closed)]
    rows = numbers + shut
    rng.shuffle(rows)
    lines = ["phone,name,clinic,appointment,time,timezone"]
    lines += [f"{p},Pat {p[-4:]},Elm Clinic,2026-12-01,2:30 PM,{z}" for p, z in rows]
    return "\n".join(lines) + "\n", [p for p, _ in shut]


class Site:
    """One variant's directory, callees process and CLI environment."""

    def __init__(self, work: Path, cps: float):
        self.work, self.cps = work, cps
        work.mkdir(parents=True, exist_ok=True)
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("VOICEBOT_")}
        self.env["PYTHONPATH"] = str(ROOT)
        self.log = work / "callees.jsonl"
        self.callees = subprocess.Popen(
            [sys.executable, "-m", "voicebot.testing.callees", "--port", "0", "--log",
             str(self.log), "--max-ring", "6", "--quiet-timeout", "6", "--max-call", "90"],
            cwd=work, env=self.env, stdout=subprocess.DEVNULL,
            stderr=(work / "callees.err").open("w"), start_new_session=True,
        )  # fmt: skip
        deadline = time.monotonic() + 30
        while not (self.log.exists() and self.log.read_text().strip()):
            if self.callees.poll() is not None or time.monotonic() > deadline:
                raise SystemExit((work / "callees.err").read_text() or "callees did not start")
            time.sleep(0.1)
        port = json.loads(self.log.read_text().splitlines()[0])["port"]
        self.env.update(
            VOICEBOT_CAMPAIGN__TRUNK=f"sip:{{number}}@127.0.0.1:{port}",
            VOICEBOT_CAMPAIGN__RING_SECONDS="3",
            VOICEBOT_CAMPAIGN__CONGESTION_PAUSE_SECONDS="1",
            VOICEBOT_SIP__RTP_PORT=str(random.randrange(20000, 40000, 2)),
        )
        self.dialer: subprocess.Popen[bytes] | None = None

    def cli(self, *args: str) -> str:
        r = subprocess.run(
            [sys.executable, "-m", "voicebot", "campaign", *args, "--db", "c.db"],
            cwd=self.work, env=self.env, capture_output=True, text=True, timeout=120,
        )  # fmt: skip
        if r.returncode:
            raise SystemExit(f"campaign {args[0]} failed: {r.stderr}")
        return r.stdout

    def start_dialer(self) -> None:
        out = (self.work / "run.log").open("a")
        self.dialer = subprocess.Popen(
            [sys.executable, "-m", "voicebot", "campaign", "run", NAME, "--db", "c.db"],
            cwd=self.work, env=self.env, stdout=out, stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip

    def close(self) -> None:
        for proc in (self.dialer, self.callees):
            if proc is not None and proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
                try:
                    proc.wait(15)
                except subprocess.TimeoutExpired:
                    os.killpg(proc.pid, signal.SIGKILL)
                    proc.wait(5)


def done_count(ledger: Ledger, skip: set[str]) -> tuple[int, int]:
    """Contacts with a disposition, and contacts to dial, leaving out `skip`."""
    campaign = ledger.campaign(NAME)
    rows = ledger.db.execute(
        "SELECT phone, disposition FROM contacts WHERE campaign_id = ?", (campaign.id,)
    ).fetchall()
    dialable = [r for r in rows if r["phone"] not in skip]
    return sum(r["disposition"] is not None for r in dialable), len(dialable)


def run_variant(name: str, args: argparse.Namespace, base: Path) -> Variant:
    work = base / name
    site = Site(work, args.cps)
    variant = Variant(name)
    try:
        text, closed = contacts(args.contacts)
        (work / f"{NAME}.csv").write_text(text)
        site.cli("create", "--flow", str(FLOW), "--contacts", f"{NAME}.csv", "--name", NAME,
                 "--cps", str(args.cps), "--max-concurrent", "4", "--max-attempts", "2",
                 "--daily-cap", "3", "--retry", "busy=0.05", "--retry", "no_answer=0.05",
                 "--retry", "failed=0.05", "--retry", "unknown=0.05")  # fmt: skip
        site.cli("start", NAME)
        ledger = Ledger(work / "c.db")
        skip = set(closed)
        began = time.monotonic()
        site.start_dialer()
        crash = name == "crash"
        cancelled = False
        while True:
            assert site.dialer is not None
            done, total = done_count(ledger, skip)
            if crash and done >= args.crash_at * total:
                os.kill(site.dialer.pid, signal.SIGKILL)
                site.dialer.wait(10)
                variant.killed_at_done, crash = done, False
                print(f"{name}: dialer killed at {done}/{total} done", flush=True)
                deadline = time.monotonic() + 60  # callees free the dead dialer's calls
                while not idle(site.log) and time.monotonic() < deadline:
                    time.sleep(0.2)
                variant.reconciled = ledger.in_flight(ledger.campaign(NAME))
                variant.runs += 1
                site.start_dialer()
                continue
            if done == total and not cancelled:  # the rest wait for a window that is shut
                site.cli("cancel", NAME)
                cancelled = True
            code = site.dialer.poll()
            if code is not None:
                if code:
                    raise SystemExit(f"campaign run exited {code}: see {work / 'run.log'}")
                break
            if time.monotonic() - began > args.timeout:
                raise SystemExit(f"{name}: not done in {args.timeout} s ({done}/{total})")
            time.sleep(0.5)
        variant.seconds = time.monotonic() - began
        variant.evidence = check(read_log(site.log), ledger, NAME, not_dialed=closed)
    finally:
        site.close()
    return variant


def report(variants: list[Variant], args: argparse.Namespace) -> str:
    cmd = "`.venv/bin/python bench/campaign_bench.py" + (" --write`" if args.write else "`")
    lines = [
        SECTION,
        "",
        f"Command: {cmd} (defaults: `--contacts {args.contacts} --cps {args.cps:g} "
        f"--crash-at {args.crash_at:g}`), run on {datetime.now(UTC):%Y-%m-%d %H:%M} UTC.",
        "",
        f"{args.contacts} contacts of the appointment-reminder flow dialed by `voicebot campaign "
        "run` over real SIP on loopback to the simulated callees (voicebot/testing/callees.py; "
        "humans by key and by voice, machines with greeting and beep, 486, never answering, "
        '503 then human, 404, "stop calling me"), max_concurrent 4, 2 attempts, 3 s ring '
        "time and retry backoff; contacts in zones where 08:00-21:00 is shut must not be "
        "dialed (cancelled at the end). Every figure comes from the callees' own log, "
        "checked against the ledger by voicebot/testing/callee_log.py.",
        "",
        "| | " + " | ".join(v.name for v in variants) + " |",
        "|---|" + "---:|" * len(variants),
    ]
    rows = [
        ("wall time (s)", lambda v: f"{v.seconds:.0f}"),
        ("dialer runs (kill -9 in between)", lambda v: str(v.runs)),
        ("killed when contacts done", lambda v: str(v.killed_at_done or "-")),
        ("attempts reconciled as unknown", lambda v: str(v.evidence.unknown_attempts)),
        ("INVITEs received / answered", lambda v: f"{v.evidence.invites} / {v.evidence.answered}"),
        ("max calls up at the callees (limit 4)", lambda v: str(v.evidence.max_up)),
        ("INVITEs refused for want of a slot", lambda v: str(v.evidence.overflow)),
        (f"max INVITEs in any 1 s (cps {args.cps:g})", lambda v: str(v.evidence.max_per_second)),
        ("min gap between INVITEs (s)", lambda v: f"{v.evidence.min_gap or 0:.3f}"),
        ("INVITEs outside the calling window", lambda v: str(v.evidence.outside_window)),
        ("max counted INVITEs per number (limit 2)", lambda v: str(v.evidence.max_counted_invites)),
        ("503s recorded as not counting", lambda v: str(v.evidence.uncounted_503)),
        ("contacts with a wrong disposition", lambda v: str(v.evidence.wrong_disposition)),
        ("problems found by the check", lambda v: str(len(v.evidence.problems))),
    ]
    for label, cell in rows:
        lines.append(f"| {label} | " + " | ".join(cell(v) for v in variants) + " |")
    lines += ["", "Dispositions:", ""]
    for v in variants:
        counts = ", ".join(f"{k} {n}" for k, n in v.evidence.dispositions.items())
        lines.append(f"* {v.name}: {counts}")
    problems = [f"* {v.name}: {p}" for v in variants for p in v.evidence.problems]
    if problems:
        lines += ["", "Problems:", "", *problems[:20]]
    return "\n".join(lines) + "\n"


def write_section(text: str, path: Path = ROOT / "BENCHMARKS.md") -> None:
    """Replace this benchmark's section of BENCHMARKS.md (or append it); others stay as is."""
    doc = path.read_text()
    start = doc.find(SECTION + "\n")
    if start < 0:
        doc = doc.rstrip("\n") + "\n\n" + text
    else:
        end = doc.find("\n## ", start + len(SECTION))
        doc = doc[:start] + text + ("" if end < 0 else doc[end:])
    path.write_text(doc)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--contacts", type=int, default=200)
    parser.add_argument("--cps", type=float, default=2.0)
    parser.add_argument("--crash-at", type=float, default=0.4, help="share done at the kill")
    parser.add_argument("--only", choices=["plain", "crash"])
    parser.add_argument("--dir", type=Path, help="keep the runs here (default: a temp dir)")
    parser.add_argument("--timeout", type=float, default=1500, help="seconds per variant")
    parser.add_argument("--write", action="store_true", help="update BENCHMARKS.md")
    args = parser.parse_args()
    base = args.dir or Path(tempfile.mkdtemp(prefix="campaign-bench-"))
    names = [args.only] if args.only else ["plain", "crash"]
    variants = []
    for name in names:
        variant = run_variant(name, args, base)
        print(f"{name}: {json.dumps(variant.evidence.figures())}", flush=True)
        for problem in variant.evidence.problems:
            print(f"  problem: {problem}")
        variants.append(variant)
    text = report(variants, args)
    print(text)
    print(f"runs kept in {base}")
    if args.write:
        write_section(text)
    return 1 if any(v.evidence.problems for v in variants) else 0


if __name__ == "__main__":
    raise SystemExit(main())
