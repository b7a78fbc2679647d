"""The Mandarin benchmark's tables and its section of BENCHMARKS.md, from bench/zh_bench.py's
results (saved as bench/out/zh_results.json). Nothing here measures.

    render(results) -> str              # the whole "## Mandarin" section
    write_section(text, path)           # replaces that section of BENCHMARKS.md, or appends it
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from bench.zh_data import EN_CALLER, KINDS, LENGTHS, SEED, ZH, ZH_CALLER

ROOT = Path(__file__).resolve().parents[1]
HEADING = "## Mandarin"
TARGET_CER = 0.12
TARGET_GRAMMAR = 0.95
TARGET_ROUND_TRIP = 0.10
TARGET_SLOWER = 0.100  # s: a Mandarin turn's p50 at most this over the same English turn's


def table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + " --- |" * len(header)]
    lines += ["| " + " | ".join(str(c).replace("|", "\\|") for c in r) + " |" for r in rows]
    return "\n".join(lines)


def ms(values: Sequence[float], q: float) -> str:
    return f"{float(np.percentile(np.array(values) * 1000, q)):.0f}" if len(values) else "-"


def pct(part: float, whole: float) -> str:
    return f"{part / whole:.1%}" if whole else "-"


def met(ok: bool) -> str:
    return "**met**" if ok else "**missed**"


def cer_table(first: str, rows: list[dict], what: str) -> tuple[str, float]:
    """Reference, recognised, CER, audio and compute per row (`first` names it), then the
    total of `rows` (`what` they are: "sentences", "prompts"); and the overall CER."""
    body = [
        [
            "; ".join(r["flows"]) if "flows" in r else r["name"],
            r["ref"],
            r["text"] or f"({r['rejected']})",
            pct(r["edits"], r["chars"]),
            f"{r['audio']:.1f}",
            f"{r['wall'] * 1000:.0f}",
        ]
        for r in rows
    ]
    edits, chars = sum(r["edits"] for r in rows), sum(r["chars"] for r in rows)
    total = [f"{len(rows)} {what}, {chars} characters", "", f"**{pct(edits, chars)}**"]
    body.append(["**all**", *total, f"{sum(r['audio'] for r in rows):.1f}", ""])
    header = [first, "reference", "recognised", "CER", "audio s", "compute ms"]
    return table(header, body), edits / chars if chars else float("nan")


def chinese_only(rows: list[dict]) -> tuple[int, float]:
    """How many round-trip prompts have no Latin text, and their overall CER."""
    mine = [r for r in rows if not r["bilingual"]]
    edits, chars = sum(r["edits"] for r in mine), sum(r["chars"] for r in mine)
    return len(mine), edits / chars if chars else float("nan")


def grammar_rows(rows: list[dict]) -> list[dict[str, Any]]:
    """One summary per (grammar, take set), held-out first, then each set's total."""
    order = ["menu 零..十 (11 options)", "digits, 1", *(f"digits, {n}" for n in LENGTHS)]
    out = []
    for tset in ("held out (takes 3-5)", "development (takes 1-2)"):
        mine = [r for r in rows if r["set"] == tset]
        for g in [*order, "all"]:
            rs = mine if g == "all" else [r for r in mine if r["grammar"] == g]
            if not rs:
                continue
            wrong = [f"{r['truth']}→{r['heard'] or '∅'}" for r in rs if not r["right"]]
            out.append(
                {
                    "set": tset,
                    "grammar": g,
                    "right": sum(r["right"] for r in rs),
                    "n": len(rs),
                    "walls": [r["wall"] for r in rs],
                    "wrong": wrong,
                }
            )
    return out


def grammar_table(summary: list[dict]) -> str:
    body = []
    for s in summary:
        cells = [
            s["set"],
            s["grammar"],
            f"{s['right']}/{s['n']}",
            pct(s["right"], s["n"]),
            f"{ms(s['walls'], 50)} / {ms(s['walls'], 95)}",
            ", ".join(s["wrong"][:8])
            + (f" (+{len(s['wrong']) - 8})" if len(s["wrong"]) > 8 else ""),
        ]
        body.append([f"**{c}**" if s["grammar"] == "all" and c else c for c in cells])
    header = ["takes", "grammar", "right", "%", "compute ms p50 / p95", "wrong (truth→heard)"]
    return table(header, body)


def latency_summary(lat: dict[str, dict[str, list[dict]]]) -> list[dict[str, Any]]:
    out = []
    for kind, label in KINDS:
        en, zh = lat.get(kind, {}).get("en", []), lat.get(kind, {}).get(ZH, [])
        if not en or not zh:
            continue
        p50 = {
            k: float(np.percentile([r["wall"] for r in v], 50)) for k, v in (("en", en), (ZH, zh))
        }
        out.append(
            {"kind": kind, "label": label, "en": en, "zh": zh, "slower": p50[ZH] - p50["en"]}
        )
    return out


def _score(kind: str, rs: list[dict], language: str) -> str:
    if kind.startswith("text"):
        return f"{'CER' if language == ZH else 'WER'} {np.mean([r['score'] for r in rs]):.1%}"
    return f"{int(sum(r['score'] for r in rs))}/{len(rs)}"


def latency_table(summary: list[dict]) -> str:
    """A row per answer kind and language; the Mandarin row says how much slower it is."""
    body = []
    for s in summary:
        for lang, rs in (("en", s["en"]), (ZH, s["zh"])):
            walls = [r["wall"] for r in rs]
            per_second = [r["wall"] / r["audio"] for r in rs if r["audio"]]
            body.append([
                s["label"] if lang == "en" else "",
                "English, tiny.en" if lang == "en" else "Mandarin, base",
                str(len(rs)),
                f"{np.median([r['audio'] for r in rs]):.1f}",
                f"{ms(walls, 50)} / {ms(walls, 95)}",
                ms([r["cpu"] for r in rs], 50),
                ms(per_second, 50),
                _score(s["kind"], rs, lang),
                "" if lang == "en" else f"**{s['slower'] * 1000:+.0f}**",
            ])  # fmt: skip
    header = ["answer", "recogniser", "n", "audio s p50", "wall ms p50 / p95", "CPU ms p50",
              "wall ms per s of audio p50", "right", "Mandarin − English p50 (ms)"]  # fmt: skip
    return table(header, body)


def memory_table(mem: dict[str, Any]) -> str:
    body = []
    for name, m in mem.items():
        body.append(
            [
                f"`load_recognizer({json.dumps(name.split('+'))})`",
                f"{m['imports']['VmRSS'] / 1024:.0f}",
                f"{m['loaded']['VmRSS'] / 1024:.0f}",
                f"{m['answered']['VmRSS'] / 1024:.0f}",
                f"{m['answered']['VmHWM'] / 1024:.0f}",
            ]
        )
    header = [
        "fresh process",
        "RSS after imports (MB)",
        "RSS loaded (MB)",
        "RSS after one answer per language (MB)",
        "peak (VmHWM, MB)",
    ]
    return table(header, body)


def render(res: dict[str, Any]) -> str:
    """The whole "## Mandarin" section from the results (nothing here measures)."""
    held = "takes 3-5 (held out)" if res["held_out"] else "takes 1-2 only (--no-held-out)"
    parts = [
        HEADING,
        "",
        "<!-- written by bench/zh_bench.py --write: rerun it, do not edit -->",
        "",
        f"Command: `{res['command']}`",
        "",
        f"Run {res['began']} to {res['ended']} ({res['took'] / 60:.1f} min) on "
        f"{res['cores']} cores shared with other work; load average (1 / 5 / 15 min, "
        f"`os.getloadavg`) {' / '.join(f'{x:.2f}' for x in res['load'][0])} at start, "
        f"{' / '.join(f'{x:.2f}' for x in res['load'][1])} at end: wall times carry that "
        "load (CPU times less so).",
        "",
        'Recognisers as a worker loads them (`load_recognizer(["en", "zh-CN"])`): '
        'Mandarin on Whisper base (multilingual) forced to "zh", English on tiny.en, '
        "CTranslate2 int8, 2 threads. Every utterance is 8 kHz through a G.711 μ-law round "
        "trip, as the listener hands it over: a number or yes/no alone is the listener's "
        "utterance for the recording (its VAD and endpointing: 0.3 s pre-roll, the speech, "
        "0.2 s tail); a digit string is those utterances of its digits trimmed of their "
        "silence (the trim of bench/asr_data.py) joined by 0.15-0.45 s of silence "
        f"(seed {SEED}), with the pre-roll and tail around it; free text is whole: a real "
        "sentence as recorded, an espeak-ng render after the pre-roll. Data: "
        "the shared Mandarin recordings (`shared/data/zh` beside the repository, not in "
        f"it: `--data DIR`): {res['n_sentences']} sentences with transcripts (AISHELL-1, "
        f"WeNet, FireRedASR examples) and one speaker's numbers 零..十, {res['n_takes']} "
        "takes. Takes 1-2 were listened to while the recogniser was built (its Mandarin "
        f"context prompt was chosen on them): the headline is {held}, and no setting was "
        "tuned on takes 3-5. Error rates are `voicebot.testing.scoring` (CER: characters, "
        "punctuation and spaces not counted; edits over all reference characters).",
    ]
    sent, cer_all = cer_table("file", res["sentences"], "sentences")
    parts += ["", "#### Free text on the real sentences", "", sent]
    summary = grammar_rows(res["numbers"])
    parts += [
        "",
        "#### Grammar mode on the real numbers",
        "",
        f"{res['strings']} strings of each length per take set; compute is the "
        "recogniser's `final()` wall time.",
        "",
        grammar_table(summary),
    ]
    trip, trip_all = cer_table("flows", res["round_trip"], "prompts")
    n_zh, trip_zh = chinese_only(res["round_trip"])
    source = res["prompts_source"]
    if n_zh == len(res["round_trip"]) or not n_zh:
        trip_zh = None
    else:
        source += (
            f" The {len(res['round_trip']) - n_zh} bilingual prompts (Latin text spoken in the "
            f"English voice) count their letters as characters; the {n_zh} others alone: "
            f"CER {pct(trip_zh, 1)}."
        )
    parts += [
        "",
        "#### Round trip of the Mandarin prompts (espeak-ng, then Mandarin free text)",
        "",
        source,
        "",
        trip,
    ]
    lat = latency_summary(res["latency"])
    parts += [
        "",
        "#### Latency per answer, Mandarin (base) beside English (tiny.en)",
        "",
        "`final()` wall time, the two languages interleaved answer by answer. English: "
        "FSDD digits (menu word: one digit in the 11-option menu zero..ten; strings joined "
        f"as above), espeak-ng {' '.join(map(str, EN_CALLER))} wpm (yes, no, yeah, nope; the "
        "20 IVR sentences of bench/asr_data.py). Mandarin: "
        f"{'the held-out takes' if res['held_out'] else 'takes 1-2'} and strings of them, "
        f"the real sentences, espeak-ng {' '.join(map(str, ZH_CALLER))} for 是的 不是 对 不对, "
        "and in the last row the round-trip prompts' audio. The speaker of the takes says "
        "each number slowly (about 1 s of speech), so the Mandarin strings are about twice "
        "as long as the English ones: the column per second of audio compares the "
        "recognisers on equal audio. Right: answers right (free text: mean WER for English, "
        "CER for Mandarin).",
        "",
        latency_table(lat),
    ]
    if res.get("memory"):
        parts += [
            "",
            "Memory of a worker's recognisers (fresh processes):",
            "",
            memory_table(res["memory"]),
        ]
    parts += ["", "#### Targets", "", *targets(cer_all, summary, trip_all, trip_zh, lat, res)]
    return "\n".join(parts) + "\n"


def targets(cer_all, summary, trip_all, trip_zh, lat, res) -> list[str]:
    held = [s for s in summary if s["set"].startswith("held") and s["grammar"] != "all"]
    if not held:  # --no-held-out
        held = [s for s in summary if s["grammar"] != "all"]
    low = [s for s in held if s["right"] < TARGET_GRAMMAR * s["n"]]
    pooled = [s for s in summary if s["grammar"] == "all"][:1]
    slow = [s for s in lat if s["slower"] > TARGET_SLOWER]
    lines = [
        f"- Free-text CER on the real sentences <= 12%: {met(cer_all <= TARGET_CER)} "
        f"({cer_all:.1%}).",
        f"- Real numbers in grammar mode >= 95% right, every grammar, {held[0]['set']}: "
        f"{met(not low)} ("
        + "; ".join(f"{s['grammar']} {pct(s['right'], s['n'])}" for s in held)
        + (f"; all {pct(pooled[0]['right'], pooled[0]['n'])}" if pooled else "")
        + ").",
        f"- Round trip of the Mandarin prompts CER <= 10%: {met(trip_all <= TARGET_ROUND_TRIP)} "
        f"({trip_all:.1%} over every prompt"
        + (f"; {trip_zh:.1%} over those without Latin text" if trip_zh is not None else "")
        + ").",
        f"- A Mandarin turn at most 100 ms slower than the same English turn (p50): "
        f"{met(not slow)} ("
        + "; ".join(f"{s['label']} {s['slower'] * 1000:+.0f} ms" for s in lat)
        + ").",
    ]
    mem = res.get("memory") or {}
    if "en" in mem and f"en+{ZH}" in mem:
        extra = (mem[f"en+{ZH}"]["loaded"]["VmRSS"] - mem["en"]["loaded"]["VmRSS"]) / 1024
        peak = (mem[f"en+{ZH}"]["answered"]["VmHWM"] - mem["en"]["answered"]["VmHWM"]) / 1024
        lines.append(
            f"- Memory (no target): Mandarin base adds {extra:.0f} MB to a worker's "
            f"RSS once loaded, {peak:.0f} MB at peak after one answer in each language."
        )
    return lines


def write_section(text: str, path: Path = ROOT / "BENCHMARKS.md") -> None:
    """Replace the "## Mandarin" section (to the next `## ` heading), or append it."""
    doc = path.read_text(encoding="utf-8") if path.exists() else ""
    m = re.search(rf"^{re.escape(HEADING)}[ \t]*$", doc, re.M)
    if m is None:
        doc = (doc.rstrip("\n") + "\n\n" if doc.strip() else "") + text
    else:
        nxt = re.search(r"^## ", doc[m.end() :], re.M)
        doc = doc[: m.start()] + text + ("\n" + doc[m.end() + nxt.start() :] if nxt else "")
    path.write_text(doc, encoding="utf-8")
