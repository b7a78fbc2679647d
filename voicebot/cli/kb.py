"""`voicebot kb search FILE "question"`: how a knowledge file ranks a caller's question.

    $ voicebot kb search dialog_flows/support_line.faq.yaml "do you have roaming in Japan"
     1  roaming          score 0.972  meaning 0.922  words 1.000  confidence 0.98  answers
     2  coverage_5g      score 0.864  meaning 0.849  words 0.299  confidence 0.02
    ...
    answered by roaming (0.98 >= 0.50)

Every entry, best first (`--top N` to see fewer), with the scores `Retriever.search` ranks by
(dialog/knowledge.py): the entry's score (meaning + words), its best cosine with the entry's
questions, its BM25 share, and the calibrated confidence. The last line says what a call would
hear: the best entry when its confidence reaches the threshold, else no answer. FILE is a
knowledge file, or a flow that names one (`knowledge: FILE`).
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any


def add_arguments(sub: Any) -> None:
    kb = sub.add_parser("kb", help="knowledge files: how a question is answered")
    ksub = kb.add_subparsers(dest="kb_command", required=True)
    p = ksub.add_parser("search", help="the entries ranked for a question, with their scores")
    p.add_argument("file", metavar="FILE", help="a knowledge file, or a flow that names one")
    p.add_argument("question")
    p.add_argument("--top", type=int, default=0, metavar="N", help="show the best N entries")
    p.set_defaults(func=cmd_search)


def _knowledge(path: Path) -> Any:
    """The knowledge base of `path`: a knowledge file, or a flow's `knowledge:` file."""
    from voicebot.errors import VoicebotError
    from voicebot.flow import source
    from voicebot.flow.knowledge_file import is_knowledge_file, load_knowledge
    from voicebot.flow.loader import load_flow

    doc = source.load_file(path, source.Limits())
    if is_knowledge_file(doc):
        return load_knowledge(path, doc=doc)
    loaded = load_flow(path)
    if loaded.knowledge is None:
        raise VoicebotError(f"{path}: the flow names no knowledge file (`knowledge: FILE`)")
    return loaded.knowledge


def cmd_search(args: argparse.Namespace) -> int:
    from voicebot.dialog.embeddings import shared_embedder
    from voicebot.dialog.knowledge import ANSWER_THRESHOLD, Retriever

    kb = _knowledge(Path(args.file))
    hits = Retriever(kb, shared_embedder()).search(args.question)
    shown = hits[: args.top] if args.top > 0 else hits
    width = max((len(h.entry.id) for h in shown), default=0)
    for rank, hit in enumerate(shown, 1):
        answers = "  answers" if rank == 1 and hit.confidence >= ANSWER_THRESHOLD else ""
        print(
            f"{rank:2}  {hit.entry.id:<{width}}  score {hit.score:.3f}  meaning {hit.meaning:.3f}"
            f"  words {hit.words:.3f}  confidence {hit.confidence:.2f}{answers}"
        )
    if hits and hits[0].confidence >= ANSWER_THRESHOLD:
        print(
            f"answered by {hits[0].entry.id} ({hits[0].confidence:.2f} >= {ANSWER_THRESHOLD:.2f})"
        )
    else:
        best = f" (best {hits[0].entry.id}: {hits[0].confidence:.2f})" if hits else ""
        print(f"no answer: below the confidence threshold {ANSWER_THRESHOLD:.2f}{best}")
    return 0
