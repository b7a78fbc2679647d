"""Knowledge files (`knowledge: FILE` beside a flow): YAML -> located checks -> `KnowledgeBase`.

```yaml
version: 1
entries:
  - id: roaming
    questions:
      en: ["how do I turn on roaming", "can I use my phone abroad"]
      zh-CN: ["国际漫游怎么开通", "出国能用吗"]
    answer:
      en: "Text ROAM to 10086 to turn on international roaming."
      zh-CN: "发送短信KTMY到10086即可开通国际漫游。"
```

`questions` and `answer` are keyed by language (an answer may be one text for every language).
Errors, all at once, each at file:line:column: what the schema refuses (unknown keys, missing
questions), an empty question or answer, two entries with one id, and one question listed
twice (in one entry or two: the second would never decide anything, or decide at random),
compared without case, spacing or punctuation ("Roaming abroad?" is "roaming  abroad", 出国能用吗？
is 出国能用吗). `flow check` takes a knowledge file as well as a flow (`is_knowledge_file`).
"""

from __future__ import annotations

import re
import unicodedata
from pathlib import Path
from typing import Literal

from pydantic import Field

from voicebot.dialog.knowledge import Entry, KnowledgeBase
from voicebot.errors import FlowValidationError, Problem
from voicebot.flow import source
from voicebot.flow.schema import LanguageTag, Model, Phrases, Text

_SPACES = re.compile(r"\s+")
_CJK_SPACE = re.compile(r"(?<=[\u3400-\u9fff]) (?=[\u3400-\u9fff])")  # 出国 能用吗: 出国能用吗


def _question_key(text: str) -> str:
    """What two questions that are the same share: no case, punctuation or extra spaces."""
    kept = "".join(" " if unicodedata.category(c).startswith("P") else c for c in text.lower())
    return _CJK_SPACE.sub("", _SPACES.sub(" ", kept).strip())


class KnowledgeEntry(Model):
    id: str = Field(pattern=r"^[A-Za-z_][A-Za-z0-9_-]*$")
    questions: dict[LanguageTag, Phrases] = Field(min_length=1)
    answer: Text | dict[LanguageTag, Text]


class KnowledgeFile(Model):
    version: Literal[1] = 1
    entries: list[KnowledgeEntry] = Field(min_length=1)


def _problems(doc: source.Document, file: KnowledgeFile) -> list[Problem]:
    problems = []
    ids: dict[str, int] = {}
    questions: dict[str, str] = {}  # normalised question -> the entry that has it
    for i, entry in enumerate(file.entries):
        if entry.id in ids:
            problems.append(
                Problem(
                    doc.where(("entries", i, "id")),
                    f"entries[{i}].id",
                    f"duplicate id '{entry.id}'",
                    f"entries[{ids[entry.id]}] has it already; ids name entries in flow tests",
                )
            )
        ids.setdefault(entry.id, i)
        for lang, texts in entry.questions.items():
            for j, text in enumerate(texts):
                where = doc.where(("entries", i, "questions", lang, j))
                key = _question_key(text)
                if not key:
                    problems.append(Problem(where, f"entries[{i}].questions", "empty question"))
                elif key in questions:
                    problems.append(
                        Problem(
                            where,
                            f"entries[{i}].questions",
                            f"duplicate question {text!r}",
                            f"entry '{questions[key]}' lists it already",
                        )
                    )
                questions.setdefault(key, entry.id)
        answers = entry.answer if isinstance(entry.answer, dict) else {"": entry.answer}
        for lang, text in answers.items():
            if not text.strip():
                path = ("entries", i, "answer", lang) if lang else ("entries", i, "answer")
                problems.append(Problem(doc.where(path), f"entries[{i}].answer", "empty answer"))
    return problems


def is_knowledge_file(doc: source.Document) -> bool:
    """A knowledge file, not a flow: a mapping with `entries` and no `steps` (`flow check` and
    `kb search` take either)."""
    return isinstance(doc.data, dict) and "entries" in doc.data and "steps" not in doc.data


def load_knowledge(
    path: Path,
    language: str = "en",
    limits: source.Limits | None = None,
    doc: source.Document | None = None,
) -> KnowledgeBase:
    """Read and check a knowledge file; raises FlowValidationError with every problem.
    `language` is the flow's default language (answers fall back to it); `doc`: the file
    already read (`flow check` reads a file once to tell a flow from a knowledge file)."""
    from voicebot.flow.loader import validated

    doc = doc or source.load_file(path, limits or source.Limits())
    file = validated(doc, KnowledgeFile, "a knowledge file is a mapping with version and entries")
    problems = _problems(doc, file)
    if problems:
        raise FlowValidationError(problems)
    entries = tuple(
        Entry(
            e.id,
            tuple((lang, q) for lang, qs in e.questions.items() for q in qs),
            tuple(e.answer.items()) if isinstance(e.answer, dict) else ((language, e.answer),),
        )
        for e in file.entries
    )
    return KnowledgeBase(entries, language, str(path))
