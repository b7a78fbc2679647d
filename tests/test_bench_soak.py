"""The soak benchmark in quick mode, for real: 12 calls through Kamailio into two workers.

sipp says recorded digits after the bot's prompt, the capture shows every reply, the workers'
descriptors come back to where they were, and the section it writes has the figures the
full run puts into BENCHMARKS.md.
"""

from __future__ import annotations

import json
import random
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench import soak_report  # noqa: E402 (after the path set-up)

CALLS = 12


def test_a_quick_soak_has_every_conversation_whole_and_writes_its_section(tmp_path: Path) -> None:
    for name in ("sipp", "kamailio", "dumpcap"):
        assert shutil.which(name) or shutil.which(name, path="/usr/sbin:/usr/bin"), (
            f"{name} is missing: `make setup` installs it"
        )
    md = tmp_path / "BENCHMARKS.md"
    md.write_text("# Benchmarks\n\n## Other\n\nkept\n")
    rtp = random.randrange(50000, 60000, 1000)  # apart from a soak run on the default ports
    args = [sys.executable, str(ROOT / "bench" / "soak_bench.py"), "--calls", str(CALLS)]
    args += ["--rate", "2", "--workers", "2", "--rtp-port", str(rtp), "--out", str(tmp_path)]
    args += ["--write", "--benchmarks", str(md)]
    done = subprocess.run(args, capture_output=True, text=True, timeout=240, cwd=ROOT)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]

    result = json.loads((tmp_path / "results.json").read_text())
    calls = result["calls"]
    assert len(calls) == CALLS
    assert [c["failure"] for c in calls] == [""] * CALLS
    assert {c["worker"] for c in calls} == {"w1", "w2"}  # Kamailio spread them
    for c in calls:
        assert c["final_code"] == 200 and c["bye_by"] == "bot"
        assert 0 < c["setup"] < 2
        assert 0.2 < c["reply_latency"] < 3  # after the endpointing silence, not the prompt
        assert c["recording"] and c["expect"].isdigit()
    assert sum(c["heard"] == c["expect"] for c in calls) >= CALLS - 3  # real ASR on real digits

    f = soak_report.figures(result)
    assert f["failed"] == 0 and f["refused"] == [] and f["busy_below_capacity"] == 0
    assert 1 <= f["max_up"] <= result["slots"]
    for name, w in f["per_worker"].items():
        assert w["answered"] >= 1, name
        assert w["fds_start"] is not None and w["fds_end"] == w["fds_start"], (name, w)
        assert 100 < w["rss_first"] < 1000 and 100 < w["rss_last"] < 1000, (name, w)
    rows = result["samples"]
    assert len(rows) >= 10  # one a second over the run
    assert max(sum(r["workers_held"].values()) for r in rows) >= 2
    assert max(sum(r.get("kamailio_load", {}).values()) for r in rows) >= 2

    text = md.read_text()
    assert text.startswith("# Benchmarks\n") and "## Other\n\nkept\n" in text
    soak = text[text.index(soak_report.HEADING) :]
    assert f"--calls {CALLS} --rate 2 --workers 2" in soak
    assert "- 0 failed calls: **met** (0 failed)." in soak
    assert "| w1 |" in soak and "| w2 |" in soak
    assert "Over time" in soak
