"""The console benchmark on a small database, for real: 2,000 call records on SQLite and on
PostgreSQL (the throwaway cluster), the console started as `serve` starts it, every endpoint and
page asked; each answer is checked by the bench against the rows it wrote (totals by outcome,
flow, number and time, a call's turns, the campaigns' rows), the section is written. No timing
is asserted: the figures are the benchmark's business, their correctness is this test's."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.console_bench import HEADING, _total  # noqa: E402 (after the path set-up)

CALLS = 2000
ENDPOINTS = {
    "calls: first page", "calls: by number", "calls: by time range (a day)", "calls: by outcome",
    "calls: by flow", "calls: outcome in a week", "calls: a far page", "one call with turns",
    "campaigns list", "campaign progress", "flows list", "do-not-call list (a page)",
    "do-not-call lookup", "retention",
    "/metrics",
}  # fmt: skip
PAGES = {"page: campaigns", "page: calls", "page: calls searched by number", "page: one call",
         "page: workers"}  # fmt: skip


def test_the_checks_catch_a_wrong_total_or_page() -> None:
    page = {"total": 120, "offset": 0, "limit": 50, "calls": [{}] * 50}
    assert _total(120)(page) is None
    assert _total(121)(page) == "total 120, expected 121"
    assert _total(120)({**page, "calls": [{}] * 49}) == "49 calls on the page"
    assert _total(120)({**page, "offset": 100, "calls": [{}] * 20}) is None


def test_a_small_console_bench_answers_every_request_right_on_both_backends(tmp_path: Path) -> None:
    md = tmp_path / "BENCHMARKS.md"
    md.write_text("# Benchmarks\n\n## Other\n\nkept\n")
    args = [sys.executable, str(ROOT / "bench" / "console_bench.py"), "--calls", str(CALLS),
            "--repeat", "3", "--out", str(tmp_path), "--write", "--benchmarks", str(md)]  # fmt: skip
    done = subprocess.run(args, capture_output=True, text=True, timeout=240, cwd=ROOT)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]

    results = json.loads((tmp_path / "results.json").read_text())
    assert set(results["backends"]) == {"sqlite", "postgresql"}
    for backend, r in results["backends"].items():
        assert r["errors"] == [], (backend, r["errors"][:5])
        filled = r["filled"]
        assert filled["calls"] == CALLS and sum(filled["outcomes"].values()) == CALLS
        assert sum(filled["by_flow"].values()) == CALLS
        assert filled["turns"] > 2 * CALLS and 0 < filled["quality"] < CALLS
        assert len(filled["campaigns"]) == 6 and all(n > 0 for n in filled["campaigns"].values())
        assert set(r["endpoints"]) == ENDPOINTS and set(r["pages"]) == PAGES
        for name, row in {**r["endpoints"], **r["pages"]}.items():
            assert row["codes"] == [200], (backend, name, row)
            assert row["n"] == 3 and 0 < row["p50"] <= row["p95"] <= row["max"], (name, row)

    text = md.read_text()
    assert "## Other\n\nkept\n" in text and HEADING in text
    section = text[text.index(HEADING) :]
    assert "bench/console_bench.py --calls 2000" in section
    assert "| calls: by number |" in section and "| page: one call |" in section
    assert "sqlite: filled in" in section and "0 wrong" in section
