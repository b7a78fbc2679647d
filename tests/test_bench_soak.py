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
from datetime import datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench import soak_calls, soak_report  # noqa: E402 (after the path set-up)
from bench.telephony_wire import RtpCall  # noqa: E402

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


# -- the judging core, on a made-up capture -------------------------------------------------
CALLER, KAM, WORKER, BOT_PORT = 37060, 36060, 35060, 46000


def _msg(
    t: float, src: int, dst: int, *, method: str = "", code: int = 0, cseq: str = "INVITE",
    sdp: int = 0,
) -> soak_calls.SipMessage:  # fmt: skip
    return soak_calls.SipMessage(t, src, dst, method, code, cseq, "c1", "soak-1", sdp)


def _stream(
    start: float, end: float, loud: list[tuple[float, float]]
) -> list[tuple[float, int, bool]]:
    """RTP packets every 20 ms from `start` to `end`, loud inside the `loud` spans."""
    n = round((end - start) / 0.02)
    times = [start + 0.02 * k for k in range(n)]
    return [(t, k, any(a <= t < b for a, b in loud)) for k, t in enumerate(times)]


def _answered_call(bye_at: float) -> list[soak_calls.SipMessage]:
    return [
        _msg(0.0, CALLER, KAM, method="INVITE"),
        _msg(0.01, KAM, WORKER, method="INVITE"),
        _msg(0.02, WORKER, KAM, code=200, sdp=BOT_PORT),
        _msg(0.03, KAM, CALLER, code=200, sdp=BOT_PORT),
        _msg(bye_at, WORKER, KAM, method="BYE", cseq="BYE"),
        _msg(bye_at + 0.01, KAM, CALLER, method="BYE", cseq="BYE"),
        _msg(bye_at + 0.02, CALLER, KAM, code=200, cseq="BYE"),
        _msg(bye_at + 0.03, KAM, WORKER, code=200, cseq="BYE"),
    ]


def test_a_call_is_whole_only_with_a_reply_after_the_answer() -> None:
    rtp = RtpCall(BOT_PORT, 45900)
    rtp.caller = _stream(0.05, 2.5, [(1.0, 1.5)])  # the digit
    rtp.bot = _stream(0.05, 2.6, [(0.1, 0.7), (1.9, 2.5)])  # prompt, then the reply
    (call,) = soak_calls.calls(_answered_call(2.6), CALLER, {WORKER}).values()
    soak_calls.hear(call, rtp)
    assert soak_calls.failure(call) == ""
    assert call.worker == WORKER and call.bye_by == "bot" and call.released_at == 2.63
    assert call.setup == 0.03 and abs(call.reply_latency - 0.42) < 0.03

    rtp.bot = _stream(0.05, 2.6, [(0.1, 0.7)])  # the prompt, then silence
    (call,) = soak_calls.calls(_answered_call(2.6), CALLER, {WORKER}).values()
    soak_calls.hear(call, rtp)
    assert soak_calls.failure(call) == "no reply after the answer"

    rtp.bot = _stream(0.05, 2.6, [(0.1, 1.6)])  # a prompt still playing when the answer ended
    (call,) = soak_calls.calls(_answered_call(2.6), CALLER, {WORKER}).values()
    soak_calls.hear(call, rtp)
    assert call.media.overlapped and soak_calls.failure(call) == "no reply after the answer"


def test_a_refusal_counts_the_calls_that_still_hold_slots() -> None:
    up = soak_calls.calls(_answered_call(2.6), CALLER, {WORKER})["c1"]
    refused = soak_calls.Call("c2", "soak-2", 1.0, final_code=486, final_at=1.05)
    refused.refusals.append((1.04, WORKER, 486))
    assert soak_calls.failure(refused) == "refused 486"
    assert soak_calls.up_at([up, refused], 1.05) == 1
    assert soak_calls.in_progress_at([up, refused], 1.05) == 1  # the refused one is over
    assert soak_calls.in_progress_at([up], 2.62) == 1  # BYE sent, the worker's slot not yet free
    assert soak_calls.up_at([up], 2.62) == 0


def test_the_workers_own_count_comes_from_their_log() -> None:
    lines = [
        "2026-12-02 14:00:00,000 w1 INFO voicebot.sip.calls: incoming call a from x (y)",
        "2026-12-02 14:00:00,500 w1 INFO voicebot.sip.calls: incoming call b from x (y)",
        "2026-12-02 14:00:01,000 w2 INFO voicebot.sip.calls: incoming call c from x (y)",
        "2026-12-02 14:00:02,000 w1 INFO voicebot.sip.calls: call a ended by local: 200 OK",
        "2026-12-02 14:00:02,100 w1 DEBUG voicebot.speech.listener: speech started at 1.0",
    ]
    slots = soak_calls.worker_slots(lines, ["w1", "w2"])
    t0 = datetime.strptime("2026-12-02 14:00:00", "%Y-%m-%d %H:%M:%S").timestamp()
    assert [soak_calls.held_at(slots["w1"], t0 + s) for s in (0.2, 0.7, 1.5, 2.5)] == [1, 2, 2, 1]
    assert soak_calls.held_at(slots["w2"], t0 + 2.5) == 1
