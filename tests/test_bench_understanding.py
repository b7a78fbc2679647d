"""The understanding benchmark's guard against leaks (bench/understanding_bench.py): nothing the
methods read (examples, FAQ questions, DEV items, the shipped flows' examples) says a TEST
utterance again, exactly, normalised or nearly; and the guard finds one that does."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))

import understanding_bench as bench  # noqa: E402 (after the path set-up)
import understanding_data as data  # noqa: E402


def test_nothing_read_while_tuning_repeats_a_test_utterance() -> None:
    assert bench.leaks() == []


def test_normalised_form_ignores_case_fillers_punctuation_script_and_width() -> None:
    assert bench.said("Um, I want to PAY my bill, please!") == bench.said("pay my bill")
    assert bench.said("嗯，話費多少？") == bench.said("话费多少")
    assert bench.said("查１００") == bench.said("查100")


@pytest.mark.parametrize("lang", ["en", "zh-CN"])
def test_a_test_utterance_said_again_as_an_example_is_found(
    lang: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    text, intent = data.TEST_UTTERANCES[lang][0]
    said_again = f"Um, {text.upper()}!" if lang == "en" else f"嗯，{text}。"
    intents = {name: dict(ex) for name, ex in data.INTENTS.items()}
    intents[intent] = {**intents[intent], lang: [*intents[intent][lang], said_again]}
    monkeypatch.setattr(data, "INTENTS", intents)
    assert bench.leaks() == [f"example of {intent}: {said_again!r}"]


def test_a_near_copy_of_a_test_utterance_in_dev_is_found(monkeypatch: pytest.MonkeyPatch) -> None:
    text, intent = max(data.TEST_UTTERANCES["en"], key=lambda item: len(item[0]))
    near = text[:-1] if text[-1] != "x" else text[:-1] + "y"  # one letter less: an ASR slip
    dev = {**data.DEV_UTTERANCES, "en": [*data.DEV_UTTERANCES["en"], (near, intent)]}
    monkeypatch.setattr(data, "DEV_UTTERANCES", dev)
    assert bench.leaks() == [f"DEV utterance: {near!r}"]
