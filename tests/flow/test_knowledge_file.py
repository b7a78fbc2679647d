"""Knowledge files and the flow keys of "Understanding": every mistake located, all at once."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from voicebot.cli import main
from voicebot.errors import FlowValidationError
from voicebot.flow.knowledge_file import load_knowledge
from voicebot.flow.loader import load_flow


def problems(path: Path, loader=load_knowledge) -> list[str]:
    with pytest.raises(FlowValidationError) as info:
        loader(path)
    return [str(p).replace(str(path.parent) + "/", "") for p in info.value.problems]


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text).lstrip())
    return path


def test_a_good_file_loads_with_answers_per_language(tmp_path):
    path = write(
        tmp_path,
        "faq.yaml",
        """
        version: 1
        entries:
          - id: roaming
            questions: {en: ["how do I turn on roaming"], zh-CN: ["国际漫游怎么开通"]}
            answer: {en: "Text ROAM.", zh-CN: "发送短信KTMY。"}
          - id: hours
            questions: {en: "opening hours"}
            answer: "Nine to six."
        """,
    )
    kb = load_knowledge(path, "en")
    assert [e.id for e in kb.entries] == ["roaming", "hours"]
    assert kb.entry("roaming").answer_for("zh-CN", "en") == "发送短信KTMY。"
    assert kb.entry("roaming").answer_for("en-GB", "en") == "Text ROAM."
    assert kb.entry("hours").answer_for("zh-CN", "en") == "Nine to six."


def test_mistakes_are_located(tmp_path):
    path = write(
        tmp_path,
        "faq.yaml",
        """
        version: 1
        entries:
          - id: roaming
            questions: {en: ["roaming abroad", "  "]}
            answer: {en: ""}
          - id: roaming
            questions: {en: ["Roaming  abroad"]}
            answer: "ok"
          - id: x
            question: {en: ["typo"]}
            answer: "ok"
        """,
    )
    assert problems(path) == [
        "faq.yaml:9:5: entries[2]: missing required key 'questions'",
        "faq.yaml:10:5: entries[2]: unknown key 'question'",
    ]
    path.write_text(path.read_text().replace("question: {en", "questions: {en"))
    assert problems(path) == [
        "faq.yaml:4:40: entries[0].questions: empty question",
        "faq.yaml:5:18: entries[0].answer: empty answer",
        "faq.yaml:6:9: entries[1].id: duplicate id 'roaming' (entries[0] has it already; "
        "ids name entries in flow tests)",
        "faq.yaml:7:22: entries[1].questions: duplicate question 'Roaming  abroad' "
        "(entry 'roaming' lists it already)",
    ]


FLOW = """
version: 1
name: t
intents:
  bill: {examples: {en: ["my bill"]}}
start: m
steps:
  m:
    menu:
      prompt: "?"
      options:
        a: {intent: bil, goto: e}
      knowledge: true
  f:
    answer: {prompt: "?"}
    next: e
  e: {hangup: {}}
"""


def test_unknown_intents_and_missing_knowledge_are_located(tmp_path):
    path = write(tmp_path, "flow.yaml", FLOW)
    assert problems(path, load_flow) == [
        "flow.yaml:12:7: steps.m.menu: answers questions, but the flow names no knowledge file "
        "(add `knowledge: FILE` at the top of the flow)",
        "flow.yaml:14:5: steps.f.answer: answers questions, but the flow names no knowledge "
        "file (add `knowledge: FILE` at the top of the flow)",
        "flow.yaml:11:21: steps.m.menu.options.a.intent: unknown intent 'bil' "
        "(did you mean 'bill'?)",
    ]


def test_the_knowledge_file_must_exist_and_its_errors_stop_the_flow(tmp_path, capsys):
    path = write(tmp_path, "flow.yaml", FLOW.replace("start: m", "knowledge: faq.yaml\nstart: m"))
    assert any("knowledge file 'faq.yaml' not found" in p for p in problems(path, load_flow))
    write(tmp_path, "faq.yaml", "version: 1\nentries:\n  - {id: a, questions: {en: [x]}}\n")
    assert main(["flow", "check", str(path)]) == 1
    err = capsys.readouterr().err
    assert f"{tmp_path}/faq.yaml:3:5: entries[0]: missing required key 'answer'" in err


@pytest.mark.slow  # the real embedding model
def test_flow_check_warns_about_intents_that_mean_the_same(tmp_path, capsys):
    path = write(
        tmp_path,
        "flow.yaml",
        """
        version: 1
        name: t
        intents:
          see_bill: {examples: {en: ["I want to see my bill", "what do I owe"]}}
          pay_bill: {examples: {en: ["pay by card", "I want to pay my bill"]}}
        start: m
        steps:
          m:
            menu:
              prompt: "?"
              options:
                a: {intent: see_bill, goto: e}
                b: {intent: pay_bill, goto: e}
          e: {hangup: {}}
        """,
    )
    assert main(["flow", "check", str(path)]) == 0
    err = capsys.readouterr().err
    assert (
        f"{path}:5:45: warning: intents.pay_bill.examples.en[1]: example 'I want to pay my "
        "bill' of intent 'pay_bill' means nearly the same as 'I want to see my bill' of "
        "'see_bill' (line 4, similarity 0.96)"
    ) in err, err
    assert err.count("means nearly the same") == 1


def test_duplicates_ignore_case_spacing_and_punctuation(tmp_path):
    path = write(
        tmp_path,
        "faq.yaml",
        """
        version: 1
        entries:
          - id: roaming
            questions: {en: ["Roaming abroad?"], zh-CN: ["出国能用吗？"]}
            answer: "Text ROAM."
          - id: travel
            questions: {en: ["roaming, abroad", "roaming in Japan"], zh-CN: ["出国 能用吗"]}
            answer: "Text ROAM."
        """,
    )
    assert problems(path) == [
        "faq.yaml:7:22: entries[1].questions: duplicate question 'roaming, abroad' "
        "(entry 'roaming' lists it already)",
        "faq.yaml:7:70: entries[1].questions: duplicate question '出国 能用吗' "
        "(entry 'roaming' lists it already)",
    ]


def test_flow_check_takes_a_knowledge_file(tmp_path, capsys):
    good = write(
        tmp_path,
        "faq.yaml",
        """
        version: 1
        entries:
          - {id: hours, questions: {en: ["when are you open"]}, answer: "Nine to six."}
        """,
    )
    bad = write(
        tmp_path,
        "bad.yaml",
        """
        version: 1
        entries:
          - {id: hours, questions: {en: ["when are you open"]}, answer: "  "}
          - {id: open, questions: {en: ["When are you open?"]}, answer: "Nine to six."}
        """,
    )
    assert main(["flow", "check", str(good)]) == 0
    assert (
        capsys.readouterr().out
        == f"{good}: ok (0 error(s), 0 warning(s)); knowledge file, 1 entries\n"
    )
    assert main(["flow", "check", str(good), str(bad)]) == 1
    captured = capsys.readouterr()
    assert captured.err.splitlines() == [
        f"{bad}:3:65: entries[0].answer: empty answer",
        f"{bad}:4:33: entries[1].questions: duplicate question 'When are you open?' "
        "(entry 'hours' lists it already)",
    ]
    assert captured.out.splitlines()[-1] == f"{bad}: 2 error(s)"
