"""The soak's section of BENCHMARKS.md, from what bench/soak_bench.py saved (results.json).

    section(result) -> list[str]     # Markdown lines under HEADING; nothing here measures
    failed(result) -> int            # calls that were not a whole conversation
    figures(result) -> dict          # the numbers the section and its targets are made of

RSS "first" and "last" are each worker's mean VmRSS over the samples taken while the first and
the last `window` calls ran (100, or a tenth of the calls when there are fewer than 1,000):
from the first one's INVITE to the end of the last one of them. Descriptors: each worker's
count in the idle seconds before the first call and after the last.
"""

from __future__ import annotations

import os
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
HEADING = "## Soak"
CLK_TCK = os.sysconf("SC_CLK_TCK")
RSS_GROWTH_TARGET = 5.0  # % between the first and the last hundred calls
SLICES = 10  # rows of the table over time
nan = float("nan")


def _q(values: list[float], q: float) -> float:
    return float(np.percentile(np.array(values), q)) if values else float("nan")


def ms(values: list[float], q: float) -> str:
    return f"{_q(values, q) * 1000:.0f}" if values else "-"


def window_size(calls: int) -> int:
    return max(1, min(100, calls // 10)) if calls < 1000 else 100


def failed(result: dict[str, Any]) -> int:
    return sum(bool(c["failure"]) for c in result["calls"]) + max(
        0, result["calls_asked"] - len(result["calls"])
    )


def _span(calls: list[dict[str, Any]]) -> tuple[float, float]:
    ends = [c["ended_at"] or c["final_at"] or c["invite_at"] for c in calls]
    return min(c["invite_at"] for c in calls), max(ends)


def _of(rows: list[dict[str, Any]], worker: str, key: str) -> list[float]:
    """`key` ("rss_kb", "fds", "ticks") of `worker` in each of `rows` where it was alive."""
    return [s["workers"][worker][key] for s in rows if s["workers"].get(worker)]


def _rows(samples: list[dict[str, Any]], start: float, end: float) -> list[dict[str, Any]]:
    return [s for s in samples if start <= s["t"] <= end]


def _cpu(samples: list[dict[str, Any]], get: Any) -> float:
    """% of one core between the first and the last of `samples`, `get(row)` giving ticks."""
    pts = [(s["t"], get(s)) for s in samples if get(s) is not None]
    if len(pts) < 2 or pts[-1][0] <= pts[0][0]:
        return float("nan")
    return 100.0 * (pts[-1][1] - pts[0][1]) / CLK_TCK / (pts[-1][0] - pts[0][0])


def figures(result: dict[str, Any]) -> dict[str, Any]:
    calls = sorted(result["calls"], key=lambda c: c["invite_at"])
    samples = result["samples"]
    names = sorted({n for s in samples for n in s["workers"]}, key=lambda n: int(n[1:]))
    slots = result["slots"]
    f: dict[str, Any] = {"placed": len(calls), "asked": result["calls_asked"]}
    f["answered"] = sum(c["final_code"] == 200 for c in calls)
    reasons = Counter(c["failure"] for c in calls if c["failure"])
    missing = result["calls_asked"] - len(calls)
    if missing > 0:
        reasons["never placed (sipp stopped)"] += missing
    f["failures"] = dict(reasons.most_common())
    f["failed"] = sum(reasons.values())
    f["whole"] = sum(not c["failure"] for c in calls)
    refused = [c for c in calls if c["final_code"] not in (0, 200)]
    f["refused"] = [
        {"code": c["final_code"], "up": c["up_then"], "in_progress": c["in_progress_then"],
         "workers_held": c["workers_held_then"]}
        for c in refused
    ]  # fmt: skip
    f["busy_below_capacity"] = sum(
        c["final_code"] == 486 and (c["in_progress_then"] or 0) < slots for c in refused
    )
    tries = [r for c in calls for r in c["refusals"]]
    f["worker_refusals"] = len(tries)
    f["worker_refusals_not_full"] = sum(r["worker_held"] < 4 for r in tries)
    f["setup"] = [c["setup"] for c in calls if c["setup"] is not None]
    f["reply"] = [c["reply_latency"] for c in calls if c["reply_latency"] is not None]
    f["duration"] = [
        c["ended_at"] - c["final_at"] for c in calls if c["ended_at"] and c["final_code"] == 200
    ]
    f["overlapped"] = sum(c["overlapped"] for c in calls)
    judged = [c for c in calls if c["expect"] and c["heard"] is not None]
    f["heard_right"] = sum(c["heard"] == c["expect"] for c in judged)
    f["heard_judged"] = len(judged)
    if len(calls) >= 2:
        f["achieved_rate"] = (len(calls) - 1) / (calls[-1]["invite_at"] - calls[0]["invite_at"])
    else:
        f["achieved_rate"] = float("nan")
    w = window_size(len(calls))
    f["window"] = w
    run = [s for s in samples if result["calls_from"] <= s["t"] <= result["calls_until"]]
    f["max_up"] = max((s["calls_up"] for s in run), default=0)
    f["mean_up"] = float(np.mean([s["calls_up"] for s in run])) if run else float("nan")
    per: dict[str, dict[str, Any]] = {}
    first = _rows(samples, *_span(calls[:w])) if calls else []
    last = _rows(samples, *_span(calls[-w:])) if calls else []
    before = [s for s in samples if s["t"] < result["calls_from"]]
    after = [s for s in samples if s["t"] > result["calls_until"] + 1]
    for n in names:
        a = float(np.mean(_of(first, n, "rss_kb"))) / 1024 if _of(first, n, "rss_kb") else nan
        b = float(np.mean(_of(last, n, "rss_kb"))) / 1024 if _of(last, n, "rss_kb") else nan
        fds_before, fds_after = _of(before, n, "fds"), _of(after, n, "fds")
        per[n] = {
            "answered": sum(c["worker"] == n for c in calls),
            "rss_first": a,
            "rss_last": b,
            "rss_growth": 100.0 * (b - a) / a if a == a and a else nan,
            "rss_max": max(_of(samples, n, "rss_kb"), default=nan) / 1024,
            "fds_start": fds_before[-1] if fds_before else None,
            "fds_end": fds_after[-1] if fds_after else None,
            "fds_max": max(_of(run, n, "fds"), default=0),
            "cpu": _cpu(run, lambda s, n=n: (s["workers"].get(n) or {}).get("ticks")),
            "held_max": max((s["workers_held"].get(n, 0) for s in run), default=0),
        }
    f["per_worker"] = per
    f["cpu"] = (
        {g: _cpu(run, lambda s, g=g: s["ticks"].get(g)) for g in run[0]["ticks"]} if run else {}
    )
    if len(run) >= 2:
        (b0, t0), (b1, t1) = run[0]["machine"], run[-1]["machine"]
        f["machine_cpu"] = 100.0 * (result["cores"] or 1) * (b1 - b0) / max(1, t1 - t0)
    else:
        f["machine_cpu"] = float("nan")
    f["asr"] = [x / 1000 for x in result["asr_ms"]]
    seconds = run[-1]["t"] - run[0]["t"] if len(run) >= 2 else nan
    workers_cpu = sum(p["cpu"] for p in per.values())
    f["worker_cpu_per_call"] = workers_cpu / 100 * seconds / max(1, f["answered"])
    f["asr_per_call"] = sum(f["asr"]) / max(1, f["answered"])
    f["bot_latency"] = result["bot_latency"]
    uris = result.get("dispatcher_uris", {})
    diffs = [
        abs(load - s["workers_held"].get(uris.get(uri, ""), 0))
        for s in run
        for uri, load in s.get("kamailio_load", {}).items()
    ]
    f["kamailio_equal"] = (sum(d == 0 for d in diffs), len(diffs), max(diffs, default=0))
    f["kamailio_max"] = max((sum(s.get("kamailio_load", {}).values()) for s in run), default=0)
    return f


def _targets(result: dict[str, Any], f: dict[str, Any]) -> list[str]:
    def verdict(ok: bool) -> str:
        return "**met**" if ok else "**missed**"

    per = f["per_worker"].values()
    growth = [p["rss_growth"] for p in per]
    leaks = [(n, p["fds_start"], p["fds_end"]) for n, p in f["per_worker"].items()]
    leaked = [x for x in leaks if x[1] is None or x[2] is None or x[2] > x[1]]
    full = result["calls_asked"] >= 1000 and f["achieved_rate"] >= 3.95 and result["workers"] >= 4
    scale = (
        f"{result['calls_asked']} calls at {result['rate']:g}/s over {result['workers']} workers"
    )
    return [
        f"- Target run: 1,000 calls at ≥ 4/s over 4 workers; this run: {scale} "
        f"(achieved {f['achieved_rate']:.2f} calls/s): "
        f"{verdict(full)}.",
        f"- 0 failed calls: {verdict(f['failed'] == 0)} ({f['failed']} failed).",
        f"- No 486 while fewer calls hold a slot (capture) than the workers' "
        f"{result['slots']}: "
        f"{verdict(f['busy_below_capacity'] == 0)} ({f['busy_below_capacity']} such; "
        f"{len(f['refused'])} refusals in all).",
        f"- Worker RSS growth ≤ {RSS_GROWTH_TARGET:.0f}% between the first and the last "
        f"{f['window']} calls: {verdict(bool(growth) and max(growth) <= RSS_GROWTH_TARGET)} "
        f"(largest {max(growth, default=float('nan')):+.1f}%).",
        f"- No descriptor leak (each worker's idle count after the calls ≤ before): "
        f"{verdict(not leaked)}"
        + (f" ({', '.join(f'{n} {a} → {b}' for n, a, b in leaked)})." if leaked else "."),
    ]


def _over_time(result: dict[str, Any], f: dict[str, Any]) -> list[str]:
    samples = [
        s for s in result["samples"] if result["calls_from"] <= s["t"] <= result["calls_until"]
    ]
    if len(samples) < 2:
        return []
    names = list(f["per_worker"])
    t0, t1 = samples[0]["t"], samples[-1]["t"]
    step = (t1 - t0) / SLICES
    calls = result["calls"]
    lines = [
        "| seconds | calls started | calls up, max | workers' own count, max (sum) "
        "| Kamailio's count, max (sum) | RSS per worker (MB) | descriptors per worker "
        "| machine CPU (% of one core) | load 1 min |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for k in range(SLICES):
        a, b = t0 + k * step, t0 + (k + 1) * step
        rows = [s for s in samples if a <= s["t"] <= b]
        if not rows:
            continue
        started = sum(a <= c["invite_at"] < b for c in calls)
        held = max(sum(s["workers_held"].values()) for s in rows)
        kam = max(sum(s.get("kamailio_load", {}).values()) for s in rows)
        rss = ", ".join(f"{np.mean(_of(rows, n, 'rss_kb')) / 1024:.0f}" for n in names)
        fds = ", ".join(str(max(_of(rows, n, "fds"), default=0)) for n in names)
        prev = [s for s in result["samples"] if s["t"] < a] or rows  # since the slice before
        (b0, j0), (b1, j1) = prev[-1]["machine"], rows[-1]["machine"]
        cpu = 100.0 * (result["cores"] or 1) * (b1 - b0) / max(1, j1 - j0)
        lines.append(
            f"| {a - t0:.0f}-{b - t0:.0f} | {started} | {max(s['calls_up'] for s in rows)} "
            f"| {held} | {kam} | {rss} | {fds} | {cpu:.0f} | {rows[-1]['load']:.1f} |"
        )
    return lines


def _stray(firsts: list[str]) -> str:
    """'N' or 'N (2 × SIP/2.0 180 Ringing, ...)' for the messages sipp did not expect."""
    if not firsts:
        return "0"
    kinds = Counter(firsts).most_common(3)
    return f"{len(firsts)} ({', '.join(f'{n} × {k}' for k, n in kinds)})"


def _short(line: str) -> str:
    """A log line without its timestamp, this checkout's path and runs of spaces."""
    text = line.replace(str(ROOT), ".").split(" ", 2)[-1]
    return " ".join(text.split())[:160].replace("`", "'")


def section(result: dict[str, Any]) -> list[str]:
    f = figures(result)
    la, lb = result["load_start"], result["load_end"]
    per = f["per_worker"]
    cpu = f["cpu"]
    ours = sum(p["cpu"] for p in per.values()) + sum(v for k, v in cpu.items() if k != "supervisor")
    lines = [
        "Command (as root; needs the Debian packages `kamailio`, `sip-tester`, `tshark` and "
        f"`espeak-ng`): `{result['command']}`. Quick try: add `--calls 100`. The script writes "
        "this whole section (rerun it, no edits).",
        "",
        "What runs: `voicebot serve --workers N` (Whisper tiny.en int8, espeak-ng, DEBUG log) "
        "on `bench/soak_flow.yaml` behind a real Kamailio (the `voicebot kamailio-config` "
        "config: call-load dispatching, failover to the next worker on 486, only workers "
        "answer 486), and sipp (`bench/soak_caller.py`'s scenario) placing the calls at a "
        'fixed rate. Each call is one short conversation: the bot asks "Say a digit." '
        "(prerendered), the caller answers with a recorded FSDD digit "
        f"(one of {result['recordings']} recordings in tests/data/fsdd, picked at random; "
        f"G.711 RTP replayed by sipp after {result['lead']:g} s of silence), the bot replies "
        '"N, bye." '
        "(TTS during the call) and hangs up.",
        "",
        "How it is judged: `dumpcap` captures SIP and RTP on `lo`. A call counts as a whole "
        "conversation when the caller got a 200, the bot's prompt was on the wire before the "
        "answer, the answer went out, the bot's reply (a new stretch of its RTP above -50 dBFS, "
        "after ≥ 200 ms of silence) began after the answer ended, and the bot's BYE reached "
        "the caller. Reply latency: the answer's last loud packet to the reply's first. Setup: "
        "the caller's INVITE to its 200 (through Kamailio). Every second a sampler reads each "
        "worker's VmRSS, open descriptors (/proc/PID/fd) and CPU, Kamailio's count of each "
        "worker's calls (`kamcmd dispatcher.list`, DLGLOAD) and the machine's CPU; the "
        'workers\' own count of the calls they hold comes from their log. "Calls up": answered '
        "(200 to the caller) and not yet ended (BYE), from the capture.",
        "",
        f"Run {result['started']} to {result['ended']} ({result['seconds'] / 60:.1f} min) on "
        f"{result['cores']} cores ({result['cpu']}), shared with other work; load average "
        f"(1 / 5 / 15 min) {la[0]:.2f} / {la[1]:.2f} / {la[2]:.2f} at start, "
        f"{lb[0]:.2f} / {lb[1]:.2f} / {lb[2]:.2f} at end.",
        "",
        "| calls asked | placed | answered | whole conversations | failed | rate achieved "
        "(calls/s) | calls up, mean / max | refused (486 etc.) | 486 below capacity "
        "| workers' 486s taken over by the next worker (worker not full by its own count) "
        "| digit heard right |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
        f"| {f['asked']} | {f['placed']} | {f['answered']} | {f['whole']} "
        f"| {f['failed']} | {f['achieved_rate']:.2f} | {f['mean_up']:.1f} / {f['max_up']} "
        f"| {len(f['refused'])} | {f['busy_below_capacity']} "
        f"| {f['worker_refusals']} ({f['worker_refusals_not_full']}) "
        f"| {f['heard_right']} of {f['heard_judged']} |",
    ]
    if f["failures"]:
        lines += [
            "",
            "Failed calls by reason: "
            + "; ".join(f"{r}: {n}" for r, n in f["failures"].items())
            + ".",
        ]
    if f["refused"]:
        shown = f["refused"][:20]
        lines += [
            "",
            "Each refusal the caller got, with the calls at that moment: up (answered, not "
            "ended), holding a slot (capture: INVITE sent, the worker's BYE transaction not "
            "over) and held by the workers' own count: "
            + "; ".join(
                f"{r['code']} at {r['up']} up / {r['in_progress']} holding / "
                f"{r['workers_held']} held"
                for r in shown
            )
            + (f"; and {len(f['refused']) - len(shown)} more." if len(f["refused"]) > 20 else "."),
        ]
    lines += [
        "",
        "| timing | p50 (ms) | p95 (ms) | max (ms) | of |",
        "| --- | --- | --- | --- | --- |",
    ]
    for name, values in (
        ("setup: INVITE → 200 at the caller", f["setup"]),
        ("reply latency on the wire: answer's end → reply", f["reply"]),
        ("the bot's own latency (call records: end of speech → playback queued)", f["bot_latency"]),
        ("recognition compute per pass (workers' log)", f["asr"]),
        ("call length: 200 → BYE", f["duration"]),
    ):
        lines.append(
            f"| {name} | {ms(values, 50)} | {ms(values, 95)} | {ms(values, 100)} | {len(values)} |"
        )
    lines += [
        "",
        f"Per worker (RSS first / last: mean over the first / last {f['window']} calls; "
        "descriptors: idle before the first call → idle after the last):",
        "",
        "| worker | calls answered | RSS first / last (MB) | growth | RSS max (MB) "
        "| descriptors before → after (max) | CPU (% of one core) | calls held, max (own count) |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for n, p in per.items():
        lines.append(
            f"| {n} | {p['answered']} | {p['rss_first']:.1f} / {p['rss_last']:.1f} "
            f"| {p['rss_growth']:+.1f}% | {p['rss_max']:.0f} "
            f"| {p['fds_start']} → {p['fds_end']} ({p['fds_max']}) | {p['cpu']:.0f} "
            f"| {p['held_max']} |"
        )
    lines += [
        "",
        f"CPU while the calls ran (% of one core; {result['cores']} cores = "
        f"{100 * (result['cores'] or 1)}%): the machine {f['machine_cpu']:.0f}, of it this "
        f"soak {ours:.0f} (workers {sum(p['cpu'] for p in per.values()):.0f}, "
        + ", ".join(f"{k} {v:.0f}" for k, v in cpu.items())
        + f"); everything else on the machine {f['machine_cpu'] - ours:.0f}. Per answered "
        f"call the workers spent {f['worker_cpu_per_call'] * 1000:.0f} ms of CPU, of it "
        f"{f['asr_per_call'] * 1000:.0f} ms recognising (the rest: RTP and the session every "
        "20 ms, the dialog, TTS, SIP). Kamailio's count of each worker's calls equalled the "
        f"worker's own in {f['kamailio_equal'][0]} of {f['kamailio_equal'][1]} per-second "
        f"readings (largest difference {f['kamailio_equal'][2]}); answers overlapping the "
        "prompt (barge-in): "
        f"{f['overlapped']}. sipp's 500 ms timer overran {result.get('sipp_overruns', 0)} "
        f"times (its watchdog: the machine kept it waiting); calls sipp aborted on an "
        f"unexpected message: {result.get('sipp_aborted', 0)}; stray messages it ignored: "
        f"{_stray(result.get('sipp_unexpected', []))}.",
    ]
    exits, errors = result.get("worker_exits", []), result.get("log_errors", [])
    if exits or errors:
        shown = "; ".join(f"`{_short(x)}`" for x in errors[:3])
        lines += [
            "",
            f"Worker exits during the run: {len(exits)}; errors in the workers' log: "
            f"{len(errors)}{f' ({shown})' if shown else ''}.",
        ]
    over = _over_time(result, f)
    if over:
        lines += ["", "Over time (the run in tenths; per-second samples):", "", *over]
    lines += ["", "Targets:", *_targets(result, f)]
    return lines
