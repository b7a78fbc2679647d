"""The telephony benchmark's tables, and its part of BENCHMARKS.md, written by the script.

    tables(report) -> str           # Markdown: run line, levels, answer kinds, burst, profile
    write_section(path, text)       # puts `text` between BEGIN and END in the Telephony section

`report` is what bench/telephony_bench.py saves as results.json: the command, when it ran, the
machine's load average at start and end, one result per level and, for the free-text burst,
the same turn on a call alone and on 4 calls at once. Nothing here measures; every figure in
the tables is in results.json.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import numpy as np

BEGIN = "<!-- bench/telephony_bench.py --write: begin (generated: rerun the command, no edits) -->"
END = "<!-- bench/telephony_bench.py --write: end -->"
HEADING = "## Telephony"
KIND_NAMES = {"menu": "menu word", "digits": "8 digits", "text": "free text", "yes_no": "yes/no"}
BURST_TARGET = 0.300  # s: each turn's p95 with 4 callers at once within this of the turn alone


def ms(values: list[float], q: float) -> str:
    return f"{float(np.percentile(np.array(values), q)) * 1000:.0f}" if values else "-"


def spread(values: list[float]) -> str:
    return f"{ms(values, 50)} / {ms(values, 95)} / {ms(values, 100)}"


def label(r: dict[str, Any]) -> str:
    if r["tag"] == "burst-alone":
        return "1 (free text alone)"
    if r["tag"] == "burst-together":
        return f"{r['calls']} (free text at once)"
    return str(r["calls"])


def right(k: dict[str, Any], words: bool = False) -> str:
    if not k["recorded"]:
        return "-"
    out = f"{k['right']} of {k['recorded']}"
    if words and k["words"]:
        out += f" ({100 * k['word_errors'] / k['words']:.1f}% WER)"
    return out


def levels_table(results: list[dict[str, Any]]) -> str:
    lines = [
        "| calls | workers | answers | wire p50 / p95 / max (ms) | bot's own p50 / p95 (ms) "
        "| gaps > 40 ms in playback (clock thread waiting for a CPU) | longest gap (ms) "
        "| INVITE→200 p50 / p95 / max (ms) "
        "| CPU per worker (% of a core) | RSS peak per worker (MB) | load 1 min |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for r in results:
        lat, bot, inv = r["wire_latency"], r["bot_record_latency"], r["invite_to_ok"]
        usage = r["workers_usage"].values()
        cpu = ", ".join(f"{u['cpu_percent']:.0f}" for u in usage)
        rss = ", ".join(f"{max(u['rss_peak_mb'], u['hwm_mb']):.0f}" for u in usage)
        routing = f"{r['workers']} ({r['routing']})" if r["workers"] > 1 else "1"
        lines.append(
            f"| {label(r)} | {routing} | {r['turns']} "
            f"| {spread(lat)} | {ms(bot, 50)} / {ms(bot, 95)} "
            f"| {len(r['gaps_over_40ms'])} of {r['gap_intervals']} "
            f"({r['gaps_with_clock_thread_waiting']}) "
            f"| {r['gap_longest'] * 1000:.0f} | {spread(inv)} "
            f"| {cpu} | {rss} | {r['load_start'][0]:.1f} → {r['load_end'][0]:.1f} |"
        )
    return "\n".join(lines)


def kinds_table(results: list[dict[str, Any]]) -> str:
    head = "| calls |"
    for name in KIND_NAMES.values():
        head += f" {name}: wire p50 / p95 (ms) | {name}: right |"
    lines = [head, "|" + " --- |" * (1 + 2 * len(KIND_NAMES))]
    for r in results:
        row = f"| {label(r)} |"
        for kind in KIND_NAMES:
            k = r["by_kind"][kind]
            lat = k["wire_latency"]
            row += f" {ms(lat, 50)} / {ms(lat, 95)} ({len(lat)}) | {right(k, kind == 'text')} |"
        lines.append(row)
    return "\n".join(lines)


def burst_table(alone: dict[str, Any], together: dict[str, Any]) -> str:
    lines = [
        "| the free-text turn | answers | wire p50 / p95 / max (ms) | right "
        "| answers' ends apart on the wire p50 / max (ms) | load 1 min |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for name, r in (("on a call alone", alone), (f"{together['calls']} callers at once", together)):
        k = r["by_kind"]["text"]
        apart = r["free_text_end_spread"]
        lines.append(
            f"| {name} | {len(k['wire_latency'])} | {spread(k['wire_latency'])} "
            f"| {right(k, True)} | {f'{ms(apart, 50)} / {ms(apart, 100)}' if apart else '-'} "
            f"| {r['load_start'][0]:.1f} → {r['load_end'][0]:.1f} |"
        )
    return "\n".join(lines)


def profile_table(results: list[dict[str, Any]]) -> str:
    lines = [
        "| calls | endpointing 0.3 s / 0.8 s | ASR p50 / p95 (ms) | caller-side p50 / p95 (ms) "
        "| jitter buffer (ms) | worker's INVITE→200 p50 / max (ms) | callers' CPU (%) "
        "| Kamailio CPU (%) | gaps > 40 ms in the callers' streams (control) "
        "| RTP lost in playback | playback interval p99 (ms) | longest interval anywhere (ms) "
        "| clock threads' CPU wait, total / worst 100 ms (ms) |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for r in results:
        p = r["profile"]
        asr = [x / 1000 for x in p["asr_final_ms"] + p["asr_partial_ms"]]
        cl = r["caller_latency"]
        hop = r["invite_to_ok_worker"]
        kam = r["kamailio_cpu_percent"]
        jb = r["jitter_buffer_avg_ms"]
        usage = r["workers_usage"].values()
        wait = sum(u["clock_thread_wait_ms"] for u in usage)
        worst = max((u["clock_thread_worst_wait_ms"] for u in usage), default=0.0)
        lines.append(
            f"| {label(r)} | {p['endpoint_complete']} / {p['endpoint_incomplete']} "
            f"| {ms(asr, 50)} / {ms(asr, 95)} | {ms(cl, 50)} / {ms(cl, 95)} "
            f"| {sum(jb) / max(1, len(jb)):.0f} "
            f"| {f'{ms(hop, 50)} / {ms(hop, 100)}' if hop else '-'} "
            f"| {r['callers_cpu_percent']:.0f} | {'-' if kam is None else f'{kam:.0f}'} "
            f"| {len(r['caller_stream_gaps_over_40ms'])} of {r['caller_stream_packets']} "
            f"| {r['rtp_lost_in_playback']} | {r['gap_p99'] * 1000:.0f} "
            f"| {r['gap_longest_anywhere'] * 1000:.0f} | {wait:.0f} / {worst:.0f} |"
        )
    return "\n".join(lines)


def p95(values: list[float]) -> float:
    return float(np.percentile(np.array(values), 95)) if values else float("nan")


def verdict(ok: bool) -> str:
    return "**met**" if ok else "**missed**"


def targets(levels: list[dict[str, Any]], burst: dict[str, Any] | None) -> list[str]:
    out = []
    if burst is not None:
        a = burst["alone"]["by_kind"]["text"]["wire_latency"]
        b = burst["together"]["by_kind"]["text"]["wire_latency"]
        if a and b:
            d = p95(b) - p95(a)
            out.append(
                f"- 4 callers on one worker answering free text at once, p95 within "
                f"{BURST_TARGET * 1000:.0f} ms of the same turn alone: {verdict(d <= BURST_TARGET)}"
                f" ({ms(b, 95)} vs {ms(a, 95)} ms, {d * 1000:+.0f} ms)."
            )
    by = {r["calls"]: r for r in levels}
    if 1 in by and by[1]["wire_latency"]:
        lat = by[1]["wire_latency"]
        p50 = float(np.percentile(np.array(lat), 50))
        out.append(
            f"- Turn latency, 1 call, every kind, p50 ≤ 400 ms and p95 ≤ 700 ms: "
            f"{verdict(p50 <= 0.4 and p95(lat) <= 0.7)} ({ms(lat, 50)} / {ms(lat, 95)} ms)."
        )
    if 8 in by and by[8]["wire_latency"]:
        r = by[8]
        out.append(
            f"- 8 calls, p95 ≤ 1 s: {verdict(p95(r['wire_latency']) <= 1.0)} "
            f"({ms(r['wire_latency'], 95)} ms); no outbound gap over 40 ms in playback: "
            f"{verdict(not r['gaps_over_40ms'])} ({len(r['gaps_over_40ms'])} gaps)."
        )
    inv = [x for r in levels for x in r["invite_to_ok"]]
    if inv:
        out.append(f"- INVITE→200 ≤ 50 ms: {verdict(max(inv) <= 0.05)} (max {ms(inv, 100)} ms).")
    rss = [max(u["rss_peak_mb"], u["hwm_mb"]) for r in levels for u in r["workers_usage"].values()]
    if rss:
        out.append(
            f"- RSS ≤ 350 MB per worker: {verdict(max(rss) <= 350)} (max {max(rss):.0f} MB)."
        )
    return out


def tables(report: dict[str, Any]) -> str:
    levels, burst = report["levels"], report.get("burst")
    runs = levels + ([burst["alone"], burst["together"]] if burst else [])
    la, lb = report["load_start"], report["load_end"]
    parts = [
        f"Command: `{report['command']}`",
        "",
        f"Run {report['started']} to {report['ended']} ({report['seconds'] / 60:.1f} min) on "
        f"{report['cores']} cores; load average (1 / 5 / 15 min, `os.getloadavg`) "
        f"{la[0]:.2f} / {la[1]:.2f} / {la[2]:.2f} at start, "
        f"{lb[0]:.2f} / {lb[1]:.2f} / {lb[2]:.2f} at end.",
    ]
    errors = [e for r in runs for e in r["call_errors"]]
    if errors:
        parts.append(f"Calls with errors: {len(errors)} ({'; '.join(sorted(set(errors))[:5])}).")
    if levels:
        parts += ["", "Every answer of each level:", "", levels_table(levels)]
    if runs:
        parts += [
            "",
            "Turn latency on the wire per kind of answer (the answers timed), and how many the "
            "flow took right (from the call records; free text: word error rate over all words):",
            "",
            kinds_table(runs),
        ]
    if burst:
        parts += [
            "",
            "The free-text turn on one worker: a call alone, then "
            f"{burst['together']['calls']} calls whose answers end at the same moment:",
            "",
            burst_table(burst["alone"], burst["together"]),
        ]
    if runs:
        parts += ["", "Profile:", "", profile_table(runs)]
    found = targets(levels, burst)
    if found:
        parts += ["", "Targets:", *found]
    return "\n".join(parts) + "\n"


def write_section(path: Path, text: str) -> None:
    """Replaces what is between BEGIN and END; without them, the whole Telephony section (to
    the next `## ` heading) becomes the markers around `text`; without that, it is appended."""
    doc = path.read_text() if path.exists() else ""
    block = f"{BEGIN}\n\n{text}\n{END}"
    if BEGIN in doc and END in doc:
        a, b = doc.index(BEGIN), doc.index(END) + len(END)
        doc = doc[:a] + block + doc[b:]
    else:
        m = re.search(rf"^{re.escape(HEADING)}[ \t]*$", doc, re.M)
        if m is None:
            lead = doc.rstrip("\n") + "\n\n" if doc.strip() else ""
            doc = f"{lead}{HEADING}\n\n{block}\n"
        else:
            nxt = re.search(r"^## ", doc[m.end() :], re.M)
            end = m.end() + nxt.start() if nxt else len(doc)
            doc = doc[: m.end()] + f"\n\n{block}\n" + ("\n" + doc[end:] if nxt else "")
    path.write_text(doc)
