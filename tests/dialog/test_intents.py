"""Intents by meaning (dialog/intents.py): the soft maximum of an intent's example cosines, and
the in-scope offset it is decided from, with the fake embedder (voicebot/testing/embeddings.py)
and one of planted vectors; and a menu's knowledge answer set against the closest example."""

from __future__ import annotations

import math
import textwrap
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest

from voicebot.dialog import intents
from voicebot.dialog.embeddings import Calibration, VectorCache
from voicebot.dialog.intents import IntentIndex, soft_maximum
from voicebot.dialog.meaning import Meaning
from voicebot.flow.loader import load_flow
from voicebot.testing.embeddings import FakeEmbedder


def test_one_cosine_is_its_own_soft_maximum() -> None:
    out = soft_maximum(np.array([0.9, 0.7]), np.array([0, 1]), 2)
    assert out == pytest.approx([0.9, 0.7])


def test_examples_that_agree_score_above_the_best_one_alone() -> None:
    # two intents with the same best cosine: the one whose other examples are as close wins
    cosines = np.array([0.90, 0.90, 0.90, 0.90, 0.60, 0.60])
    out = soft_maximum(cosines, np.array([0, 0, 0, 1, 1, 1]), 2)
    assert out[0] == pytest.approx(0.90 + intents.SOFTNESS * math.log(3))
    assert 0.90 <= out[1] < 0.90 + 1e-6  # the far examples add (next to) nothing
    assert out[0] > out[1]


def test_the_soft_maximum_stays_between_the_best_and_the_best_plus_softness_log_size() -> None:
    rng = np.random.default_rng(7)
    cosines = rng.uniform(0.7, 0.95, 60)
    owner = rng.integers(0, 5, 60)
    out = soft_maximum(cosines, owner, 5)
    for group in range(5):
        mine = cosines[owner == group]
        assert (
            mine.max() - 1e-9 <= out[group] <= mine.max() + intents.SOFTNESS * math.log(len(mine))
        )


def test_a_group_without_cosines_scores_minus_one() -> None:
    assert soft_maximum(np.array([0.8]), np.array([0]), 2)[1] == -1.0
    assert len(soft_maximum(np.zeros(0), np.zeros(0, int), 0)) == 0


def test_index_scores_are_the_soft_maximum_of_the_examples() -> None:
    embedder = FakeEmbedder()
    index = IntentIndex(
        {"pay": {"en": ["pay my bill", "pay the bill"]}, "plan": {"en": ["a new plan"]}}, embedder
    )
    query = embedder.embed(["pay bill"])[0]
    cosines = index.vectors @ query
    scores = index.scores("pay bill")
    assert scores["pay"] == pytest.approx(
        1 + intents.SOFTNESS * math.log(np.exp((cosines[:2] - 1) / intents.SOFTNESS).sum())
    )
    assert scores["pay"] > max(cosines[:2])
    assert scores["plan"] == pytest.approx(cosines[2], abs=1e-6)


def test_an_intent_is_in_scope_from_the_calibration_offset_raised_per_script() -> None:
    index = IntentIndex({"pay": {"en": ["pay my bill"]}}, FakeEmbedder())
    offset = FakeEmbedder.calibration.offset
    assert index.calibration_for("pay").offset == pytest.approx(offset + intents.SOFT_OFFSET)
    assert index.calibration_for("交费").offset == pytest.approx(offset + intents.ZH_SOFT_OFFSET)
    assert index.calibration_for("pay").scale == FakeEmbedder.calibration.scale


def test_a_score_just_under_the_raised_offset_is_not_chosen() -> None:
    # the fake's cosine of "pay" with "pay x" is 1/sqrt(2) ~ 0.707; an offset just above it
    # (the raised one) rejects, the embedder's own (0.45) would have accepted
    class Strict(FakeEmbedder):
        calibration = Calibration(
            scale=14.0, offset=1 / math.sqrt(2) - intents.SOFT_OFFSET + 0.01, lead=6.0
        )

    index = IntentIndex({"pay": {"en": ["pay x"]}, "plan": {"en": ["plan y"]}}, Strict())
    decision = index.decide("pay", {"pay": "pay", "plan": "plan"})
    assert decision.best is not None and decision.best.intent == "pay"
    assert decision.kind == "none"
    looser = IntentIndex({"pay": {"en": ["pay x"]}, "plan": {"en": ["plan y"]}}, FakeEmbedder())
    assert looser.decide("pay", {"pay": "pay", "plan": "plan"}).kind == "chosen"


class Planted:
    """An embedder of fixed vectors (each text's, given): cosines chosen by the test."""

    name = "planted"
    calibration = FakeEmbedder.calibration

    def __init__(self, vectors: dict[str, list[float]]):
        self.vectors = {t: np.array(v) / np.linalg.norm(v) for t, v in vectors.items()}

    def calibration_for(self, text: str) -> Calibration:
        return self.calibration

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        return np.stack([self.vectors[t] for t in texts]) if texts else np.zeros((0, 3))


def test_the_best_example_cosine_rides_along_with_the_soft_score() -> None:
    embedder = Planted({"q": [1, 0, 0], "a": [0.9, 0.19**0.5, 0], "b": [0.9, 0, 0.19**0.5]})
    index = IntentIndex({"pay": {"en": ["a", "b"]}}, embedder)
    best = index.decide("q", {"pay": "pay"}).best
    assert best is not None
    assert best.example == pytest.approx(0.9)
    assert best.score == pytest.approx(0.9 + intents.SOFTNESS * math.log(2))


def test_a_knowledge_question_closer_than_the_closest_intent_example_wins_at_a_menu(
    tmp_path: Path,
) -> None:
    # the question's cosine (0.91) is above the intent's closest example (0.90) but below the
    # intent's soft maximum (0.914): like is set against like, cosine against cosine
    embedder = Planted(
        {
            "q": [1, 0, 0],
            "a": [0.9, 0.19**0.5, 0],
            "b": [0.9, 0, 0.19**0.5],
            "k": [0.91, (1 - 0.91**2) ** 0.5, 0],
        }
    )
    (tmp_path / "faq.yaml").write_text(
        "version: 1\nentries:\n  - {id: abroad, questions: {en: [k]}, answer: {en: Yes.}}\n"
    )
    (tmp_path / "flow.yaml").write_text(
        textwrap.dedent("""
        version: 1
        name: t
        intents: {pay: {examples: {en: [a, b]}}}
        knowledge: faq.yaml
        start: menu
        steps:
          menu:
            menu: {prompt: "Yes?", options: {pay: {dtmf: "1", intent: pay, goto: end}}, knowledge: true}
          end: {hangup: {}}
        """)
    )
    loaded = load_flow(tmp_path / "flow.yaml")
    meaning = Meaning(embedder, VectorCache())
    step = loaded.flow.steps["menu"]
    decision = meaning.decide(loaded, step, "q")
    assert decision.kind == "chosen" and decision.best is not None
    assert decision.best.example < 0.91 < decision.best.score
    understood = meaning.understand(loaded, step, "q", knowledge=True)
    assert understood.answer is not None and understood.answer.entry.id == "abroad"
    assert understood.decision.kind == "none"
