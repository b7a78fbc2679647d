"""Planning cost at scale: import 100,000 contacts, then time one planning step, on SQLite and
on a throwaway PostgreSQL (voicebot/testing/postgres.py).

    .venv/bin/python bench/dialer_scale_bench.py [--contacts 100000] [--steps 50] [--write]

Import: `Ledger.create` of N generated contacts (the CSV reading is timed apart, by the
contacts tests). Step: `CampaignLoop.step` with every contact waiting, 4 calls allowed at once
(median and worst of --steps steps; each step claims due contacts, plans, writes its attempts;
calls are ended between steps so every step has room). Targets: import <= 60 s, step <= 5 ms.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.benchmarks_md import write_section  # noqa: E402
from voicebot.campaign.config import CampaignSettings  # noqa: E402
from voicebot.campaign.contacts import Contact, ImportResult  # noqa: E402
from voicebot.campaign.ledger import Ledger  # noqa: E402
from voicebot.campaign.loop import CampaignLoop  # noqa: E402
from voicebot.testing.postgres import TemporaryPostgres  # noqa: E402

NOW = datetime(2026, 11, 23, 16, 0, tzinfo=UTC)  # 11:00 in New York


def imported(n: int) -> ImportResult:
    rows = tuple(
        Contact(i + 2, f"+1212{5550000 + i:07d}"[:12] if i < 10000 else f"+1646{i:07d}",
                {"phone": "x", "name": f"N{i}"}, ("America/New_York",))
        for i in range(n)
    )  # fmt: skip
    return ImportResult("bench.csv", ("phone", "name"), rows, ())


def measure(url: str, n: int, steps: int) -> tuple[float, float, float]:
    ledger = Ledger(url)
    contacts = imported(n)
    began = time.perf_counter()
    ledger.create("scale", flow="/f.yaml", imported=contacts,
                  settings=CampaignSettings(cps=1000, burst=4), now=NOW)  # fmt: skip
    import_s = time.perf_counter() - began
    ledger.transition("scale", "start", NOW)
    loop = CampaignLoop(ledger, "scale", now=NOW)
    times = []
    for k in range(steps):
        now = NOW + timedelta(seconds=k)
        began = time.perf_counter()
        decisions = loop.step(now)
        times.append((time.perf_counter() - began) * 1000)
        for d in decisions:
            loop.report(d.attempt.id, "answered", now)
    ledger.db.close()
    return import_s, statistics.median(times), max(times)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--contacts", type=int, default=100_000)
    parser.add_argument("--steps", type=int, default=50)
    parser.add_argument("--write", action="store_true")
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        rows.append(("SQLite", *measure(f"sqlite:///{tmp}/scale.db", args.contacts, args.steps)))
    with TemporaryPostgres() as pg:
        rows.append(("PostgreSQL 15", *measure(pg.url("scale"), args.contacts, args.steps)))
    lines = [
        f"`.venv/bin/python bench/dialer_scale_bench.py --contacts {args.contacts} "
        f"--steps {args.steps} --write` (2 shared cores, other engineers' jobs running: "
        "timings are noisy, read them as upper bounds)",
        "",
        "| backend | import of contacts (s, target <= 60) | planning step p50 (ms, target <= 5) "
        "| worst step (ms) |",
        "| --- | --- | --- | --- |",
    ]
    for name, imp, p50, worst in rows:
        lines.append(f"| {name} | {imp:.1f} | {p50:.2f} | {worst:.2f} |")
    print("\n".join(lines))
    if args.write:
        write_section(f"## Dialer planning at {args.contacts:,} contacts", lines)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
