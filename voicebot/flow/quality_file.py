"""Quality rules files (`FLOW.qa.yaml` beside a flow): YAML -> located checks -> `Rules`.

```yaml
version: 1
rules:
  - {id: disclosure, bot_says: {any: ["may be recorded", "可能会被录音"], in: first_turn},
     weight: 20}
  - {id: no_promises, nobody_says: ["guarantee", "保证"], weight: 30}
  - {id: no_dead_air, silence: {longer_than: 6s}, weight: 10}
  - {id: no_talking_over, caller_talks_over: {more_than: 2}, weight: 10}
  - {id: calm_end, caller_frustration: {at_end_below: 0.5}, weight: 20}
  - {id: resolved, outcome: {not: [abandoned, error]}, weight: 20}
```

Each rule has an `id` (unique), a `weight` (> 0; weights need not add up to 100, the score is
a share of them) and exactly one kind (voicebot/quality/rules.py says what each checks).
`bot_says.in` is `first_turn`, `any_turn` (the default) or `last_turn`. Errors, all at once,
each at file:line:column: what the schema refuses (unknown keys, with a did-you-mean among this
format's keys), a rule with no kind or two, two rules with one id, an empty phrase.

The rules of a flow are the file beside it named like it (`support_line.yaml` ->
`support_line.qa.yaml`: `rules_beside`); `flow check` checks that file with the flow, and
`voicebot serve` scores every call of the flow with it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field

from voicebot.errors import FlowValidationError, Problem
from voicebot.flow import source
from voicebot.flow.schema import Duration, Model, Phrases
from voicebot.quality import rules as qr

SUFFIX = ".qa.yaml"


class BotSaysSpec(Model):
    any: Phrases = Field(min_length=1)
    in_: Literal["first_turn", "any_turn", "last_turn"] = Field("any_turn", alias="in")


class SilenceSpec(Model):
    longer_than: Duration


class TalksOverSpec(Model):
    more_than: int = Field(ge=0)


class FrustrationSpec(Model):
    at_end_below: float = Field(gt=0, le=1)


class OutcomeSpec(Model):
    not_: Phrases = Field(alias="not", min_length=1)


class RuleSpec(Model):
    id: str = Field(pattern=r"^[A-Za-z_][A-Za-z0-9_-]*$")
    weight: float = Field(gt=0)
    bot_says: BotSaysSpec | None = None
    nobody_says: Phrases | None = None
    silence: SilenceSpec | None = None
    caller_talks_over: TalksOverSpec | None = None
    caller_frustration: FrustrationSpec | None = None
    outcome: OutcomeSpec | None = None


class QualityFile(Model):
    version: Literal[1] = 1
    rules: list[RuleSpec] = Field(min_length=1)


_FIELDS: dict[str, list[str]] = {
    "": list(QualityFile.model_fields),
    "rule": ["id", "weight", *qr.KINDS],
    "bot_says": ["any", "in"],
    "silence": ["longer_than"],
    "caller_talks_over": ["more_than"],
    "caller_frustration": ["at_end_below"],
    "outcome": ["not"],
}


def is_quality_file(doc: source.Document) -> bool:
    """A rules file, not a flow: a mapping with `rules` and no `steps`."""
    return isinstance(doc.data, dict) and "rules" in doc.data and "steps" not in doc.data


def rules_beside(flow: str | Path) -> Path | None:
    """The flow's rules file (`name.yaml` -> `name.qa.yaml` in the same folder), if there is one."""
    p = Path(flow)
    candidate = p.with_name(p.name.removesuffix(".yaml").removesuffix(".yml") + SUFFIX)
    return candidate if candidate.is_file() else None


def _rehint(problems: list[Problem]) -> list[Problem]:
    """The shared validator suggests flow keys for an unknown key; suggest this format's."""
    from voicebot.flow.loader import did_you_mean

    out = []
    for p in problems:
        if p.message.startswith("unknown key '"):
            key = p.message.removeprefix("unknown key '").removesuffix("'")
            part = p.path.rsplit(".", 1)[-1] if "." in p.path else p.path
            scope = "" if not p.path else "rule" if part.endswith("]") else part
            p = Problem(p.location, p.path, p.message, did_you_mean(key, _FIELDS.get(scope, [])))
        out.append(p)
    return out


def _problems(doc: source.Document, file: QualityFile) -> list[Problem]:
    problems = []
    ids: dict[str, int] = {}
    for i, rule in enumerate(file.rules):
        kinds = [k for k in qr.KINDS if getattr(rule, k) is not None]
        if len(kinds) != 1:
            problems.append(
                Problem(
                    doc.where(("rules", i)),
                    f"rules[{i}]",
                    f"rule '{rule.id}' has {'no kind' if not kinds else ', '.join(kinds)}",
                    f"give exactly one of: {', '.join(qr.KINDS)}",
                )
            )
        if rule.id in ids:
            problems.append(
                Problem(
                    doc.where(("rules", i, "id")),
                    f"rules[{i}].id",
                    f"duplicate id '{rule.id}'",
                    f"rules[{ids[rule.id]}] has it already; ids name rules in findings",
                )
            )
        ids.setdefault(rule.id, i)
        lists = {
            "bot_says": rule.bot_says.any if rule.bot_says else [],
            "nobody_says": rule.nobody_says or [],
            "outcome": rule.outcome.not_ if rule.outcome else [],
        }
        for kind, phrases in lists.items():
            for j, phrase in enumerate(phrases):
                if not phrase.strip():
                    inner = {"bot_says": ("any",), "outcome": ("not",)}.get(kind, ())
                    path = ("rules", i, kind, *inner, j)
                    problems.append(Problem(doc.where(path), f"rules[{i}].{kind}", "empty phrase"))
    return problems


def _check(spec: RuleSpec) -> qr.Check:
    if spec.bot_says is not None:
        return qr.BotSays(tuple(spec.bot_says.any), spec.bot_says.in_)
    if spec.nobody_says is not None:
        return qr.NobodySays(tuple(spec.nobody_says))
    if spec.silence is not None:
        return qr.Silence(spec.silence.longer_than)
    if spec.caller_talks_over is not None:
        return qr.CallerTalksOver(spec.caller_talks_over.more_than)
    if spec.caller_frustration is not None:
        return qr.CallerFrustration(spec.caller_frustration.at_end_below)
    assert spec.outcome is not None
    return qr.Outcome(tuple(spec.outcome.not_))


def load_rules(
    path: str | Path, limits: source.Limits | None = None, doc: source.Document | None = None
) -> qr.Rules:
    """Read and check a rules file; raises FlowError (syntax) or FlowValidationError with every
    problem, located. `doc`: the file already read (`flow check` reads a file once)."""
    from voicebot.flow.loader import validated

    doc = doc or source.load_file(path, limits or source.Limits())
    try:
        file = validated(doc, QualityFile, "a rules file is a mapping with version and rules")
    except FlowValidationError as exc:
        raise FlowValidationError(_rehint(exc.problems)) from None
    problems = _problems(doc, file)
    if problems:
        raise FlowValidationError(problems)
    return qr.Rules(tuple(qr.Rule(r.id, r.weight, _check(r)) for r in file.rules), str(path))
