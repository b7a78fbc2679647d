"""Loading a flow file: YAML -> located pydantic validation -> reference checks -> subflows.

Every problem is reported at once, each with file:line:column, the dotted path of the offending
key and a hint, e.g. ``support.yaml:31:11: steps.account.next: unknown step 'acount' (did you
mean 'account'?)``. A flow that loads is safe to run: every step a route can reach exists, every
`on:` outcome makes sense for its step, and every subflow loads and can return.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from voicebot.dialog.knowledge import KnowledgeBase
from voicebot.errors import FlowError, FlowValidationError, Location, Problem
from voicebot.flow import source
from voicebot.flow.schema import ACTION_KEYS, Escalation, Flow, Step

# outcomes each step kind can route with `on:`; `error` is accepted on every step
OUTCOMES: dict[str, tuple[str, ...]] = {
    "ask": ("exhausted",),
    "menu": ("exhausted", "answered"),
    "answer": ("answered", "no_answer", "exhausted"),
    "llm": ("timeout", "max_turns", "exhausted"),  # plus the step's intents
    "http": ("ok", "timeout"),  # plus status codes: 404, 4xx, 5xx
    "hours": ("open", "closed", "holiday"),
    "transfer": ("failed", "busy", "no_answer"),
    "record": ("done", "no_audio"),
    "call": (),
    "say": (),
    "set": (),
    "return": (),
    "hangup": (),
    "callback": ("done", "failed"),
}
M = TypeVar("M", bound=BaseModel)
_STATUS = re.compile(r"^[1-5](\d\d|xx)$")


@dataclass(frozen=True)
class LoadedFlow:
    """A validated flow with where it came from, and its subflows by the name used in `call:`."""

    flow: Flow
    path: Path
    document: source.Document
    subflows: dict[str, LoadedFlow] = field(default_factory=dict)
    knowledge: KnowledgeBase | None = None  # the flow's `knowledge:` file

    @property
    def base_dir(self) -> Path:
        return self.path.parent

    def where(self, *path: str | int) -> Location:
        return self.document.where(tuple(path))

    def key_where(self, *path: str | int) -> Location:
        return self.document.where((*path, "<key>"))

    def call_tree(self) -> list[Flow]:
        """This flow and every subflow it calls, directly or not, each once."""
        out: dict[Path, Flow] = {}
        todo: list[LoadedFlow] = [self]
        while todo:
            loaded = todo.pop(0)
            if loaded.path.resolve() not in out:
                out[loaded.path.resolve()] = loaded.flow
                todo += loaded.subflows.values()
        return list(out.values())


def did_you_mean(word: str, choices: Any) -> str:
    close = difflib.get_close_matches(str(word), [str(c) for c in choices], n=1, cutoff=0.6)
    return f"did you mean '{close[0]}'?" if close else ""


def _strip(msg: str) -> str:
    for prefix in ("Value error, ", "Assertion failed, "):
        if msg.startswith(prefix):
            return msg[len(prefix) :]
    return msg


def _data_path(data: Any, loc: tuple[Any, ...]) -> tuple[tuple[str | int, ...], list[Any]]:
    """Follow a pydantic `loc` through the data; return the path that exists and the rest."""
    path: list[str | int] = []
    node = data
    rest = list(loc)
    while rest:
        part = rest[0]
        if part == "return_":
            part = "return"
        if isinstance(node, dict) and part in node:
            node = node[part]
        elif isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node):
            node = node[part]
        elif isinstance(node, dict | list):
            # a union member name or a tagged alternative: skip it, it is not in the document
            if isinstance(part, str) and (
                "[" in part or part[:1].isupper() or part in ("str", "int", "list", "dict")
            ):
                rest.pop(0)
                continue
            break
        else:
            break
        path.append(part)
        rest.pop(0)
    return tuple(path), rest


def _model_fields(loc_path: tuple[Any, ...]) -> list[str]:
    """Field names valid at a location, for did-you-mean on unknown keys."""
    if len(loc_path) == 0:
        return list(Flow.model_fields)
    if loc_path[0] == "steps" and len(loc_path) == 2:
        return [*ACTION_KEYS, "next", "on", "barge_in", "globals", "reprompt", "help", "escalation"]
    return []


_UNION_HINT = {
    "prompt": "a prompt is text, a list of texts, {audio: file.wav, text: ...}, "
    "or a map keyed by locale",
}


def validation_problems(doc: source.Document, exc: ValidationError) -> list[Problem]:
    problems: list[Problem] = []
    seen: set[tuple[Any, ...]] = set()
    for err in exc.errors():
        path, rest = _data_path(doc.data, tuple(err["loc"]))
        kind = err["type"]
        msg = _strip(err["msg"])
        hint = ""
        if kind == "extra_forbidden" and path:
            key = path[-1]
            where = doc.where((*path, "<key>"))
            hint = did_you_mean(str(key), _model_fields(path[:-1]))
            msg = f"unknown key '{key}'"
            path_for_msg = path[:-1]
        elif kind == "missing":
            where = doc.where(path)
            name = rest[-1] if rest else (path[-1] if path else "")
            msg = f"missing required key '{name}'"
            path_for_msg = path
        elif kind == "literal_error":
            where = doc.where(path)
            path_for_msg = path
            choices = re.findall(r"'([^']*)'", str(err.get("ctx", {}).get("expected", "")))
            msg = f"'{err['input']}' is not one of: {', '.join(choices)}"
            hint = did_you_mean(str(err["input"]), choices)
        else:
            where = doc.where(path)
            path_for_msg = path
            if rest and isinstance(rest[-1], str) and not rest[-1][:1].isupper():
                msg = f"{rest[-1]}: {msg}" if rest[-1] not in str(err["loc"][-1:]) else msg
        dedupe_key = (path_for_msg, "union") if _is_union_noise(err) else (path_for_msg, msg)
        if dedupe_key in seen:
            continue
        seen.add(dedupe_key)
        if _is_union_noise(err) and kind == "extra_forbidden" and path:
            key = str(path[-1])
            where = doc.where((*path, "<key>"))
            msg = f"unknown key '{key}'"
            hint = did_you_mean(key, ["audio", "text"]) or _UNION_HINT["prompt"]
            path_for_msg = path[:-1]
        elif _is_union_noise(err):
            field_name = next((p for p in reversed(path) if isinstance(p, str)), "")
            leaf = field_name.split(".")[-1]
            msg = f"unexpected value {_short(_get(doc.data, path))}"
            hint = _UNION_HINT.get(
                "prompt" if leaf in ("say", "prompt", "no_match", "no_input", "help") else leaf,
                _strip(err["msg"]),
            )
        code = "union" if _is_union_noise(err) else ""
        problems.append(Problem(where, source.dotted(path_for_msg), msg, hint, code=code))
    return _deepest(problems)


def _deepest(problems: list[Problem]) -> list[Problem]:
    """Of union mismatches, keep the deepest: `prompt[1]` says more than `prompt`."""
    paths = [p.path for p in problems if p.code == "union"]

    def shadowed(p: Problem) -> bool:
        return p.code == "union" and any(
            q.startswith(p.path + ".") or q.startswith(p.path + "[") for q in paths
        )

    return [p for p in problems if not shadowed(p)]


def _is_union_noise(err: Any) -> bool:
    return any(isinstance(p, str) and ("[" in p or p[:1].isupper()) for p in err["loc"])


def _get(data: Any, path: tuple[Any, ...]) -> Any:
    for p in path:
        data = data[p]
    return data


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def step_targets(step: Step) -> Iterator[tuple[tuple[str | int, ...], str]]:
    """(path inside the step, target step id) for every route out of a step."""
    if isinstance(step.next, str):
        yield ("next",), step.next
    elif isinstance(step.next, list):
        for i, branch in enumerate(step.next):
            yield ("next", i, "goto"), branch.goto
    for outcome, target in step.on.items():
        yield ("on", outcome), target
    if step.menu is not None:
        for name, option in step.menu.options.items():
            if option.goto:
                yield ("menu", "options", name, "goto"), option.goto


def flow_targets(flow: Flow) -> Iterator[tuple[tuple[str | int, ...], str]]:
    """Every step reference in a flow, with its document path."""
    yield ("start",), flow.start
    if flow.defaults.retries.exhausted:
        yield ("defaults", "retries", "exhausted"), flow.defaults.retries.exhausted
    if flow.defaults.on_error:
        yield ("defaults", "on_error"), flow.defaults.on_error
    for name, command in flow.globals.items():
        if command.goto:
            yield ("globals", name, "goto"), command.goto
    if flow.on_answer is not None:
        for kind in ("machine", "human"):
            target = getattr(flow.on_answer, kind)
            if target:
                yield ("on_answer", kind), target
    for step_id, step in flow.steps.items():
        for path, target in step_targets(step):
            yield ("steps", step_id, *path), target
    for path, rule in escalations(flow):
        if rule.frustrated is not None:
            yield (*path, "frustrated", "goto"), rule.frustrated.goto


def escalations(flow: Flow) -> Iterator[tuple[tuple[str, ...], Escalation]]:
    """The flow's `escalation` rule and the steps' own, with their document paths."""
    if flow.escalation is not None:
        yield ("escalation",), flow.escalation
    for step_id, step in flow.steps.items():
        if step.escalation is not None:
            yield ("steps", step_id, "escalation"), step.escalation


def _reference_problems(loaded: LoadedFlow) -> list[Problem]:
    flow = loaded.flow
    problems: list[Problem] = []
    for path, target in flow_targets(flow):
        if target not in flow.steps:
            problems.append(
                Problem(
                    loaded.where(*path),
                    source.dotted(path),
                    f"unknown step '{target}'",
                    did_you_mean(target, flow.steps),
                )
            )
    for step_id, step in flow.steps.items():
        allowed = OUTCOMES[step.kind] + (tuple(step.llm.intents) if step.llm else ())
        for outcome in step.on:
            ok = outcome in allowed or outcome == "error"
            if step.kind == "http" and _STATUS.match(outcome):
                ok = True
            if not ok:
                valid = [*allowed, "error"] + (["404", "4xx", "5xx"] if step.kind == "http" else [])
                problems.append(
                    Problem(
                        loaded.key_where("steps", step_id, "on", outcome),
                        f"steps.{step_id}.on",
                        f"'{outcome}' is not an outcome of a {step.kind} step",
                        did_you_mean(outcome, valid) or f"valid outcomes: {', '.join(valid)}",
                    )
                )
        if isinstance(step.next, list) and step.next:
            for i, branch in enumerate(step.next[:-1]):
                if branch.when is None:
                    problems.append(
                        Problem(
                            loaded.where("steps", step_id, "next", i),
                            f"steps.{step_id}.next[{i}]",
                            "only the last branch may omit 'when'",
                            "the branches after it could never be taken",
                        )
                    )
    problems += _understanding_problems(loaded)
    if flow.languages:
        for pid, value in flow.prompts.items():
            if isinstance(value, dict) and "audio" not in value:
                for locale in value:
                    if locale not in flow.languages:
                        problems.append(
                            Problem(
                                loaded.key_where("prompts", pid, locale),
                                f"prompts.{pid}",
                                f"locale '{locale}' is not in languages {flow.languages}",
                            )
                        )
    return problems


def _understanding_problems(loaded: LoadedFlow) -> list[Problem]:
    """Intents named by options and globals exist; knowledge is there where it is asked for."""
    flow = loaded.flow
    problems = []
    named: list[tuple[tuple[str | int, ...], str]] = [
        (("globals", n, "intent"), g.intent) for n, g in flow.globals.items() if g.intent
    ]
    for step_id, step in flow.steps.items():
        if step.menu is not None:
            named += [
                (("steps", step_id, "menu", "options", n, "intent"), o.intent)
                for n, o in step.menu.options.items()
                if o.intent
            ]
        if step.llm is not None:
            named += [
                (("steps", step_id, "llm", "intents", i), n) for i, n in enumerate(step.llm.intents)
            ]
        asks = step.answer is not None or any(
            s is not None and s.knowledge for s in (step.menu, step.llm)
        )
        if asks and flow.knowledge is None:
            path = ("steps", step_id, step.kind)
            key = path if step.answer else (*path, "knowledge")
            problems.append(
                Problem(
                    loaded.key_where(*key),
                    source.dotted(path),
                    "answers questions, but the flow names no knowledge file",
                    "add `knowledge: FILE` at the top of the flow",
                )
            )
    for where, intent in named:
        if intent not in flow.intents:
            hint = did_you_mean(intent, flow.intents) or "define it under `intents:`"
            problems.append(
                Problem(
                    loaded.where(*where), source.dotted(where), f"unknown intent '{intent}'", hint
                )
            )
    return problems


def _load_knowledge(
    flow: Flow, doc: source.Document, path: Path, limits: source.Limits
) -> KnowledgeBase | None:
    """The flow's knowledge file, or None; raises FlowValidationError with its problems."""
    if flow.knowledge is None:
        return None
    file = path.parent / flow.knowledge
    if not file.is_file():
        raise FlowValidationError(
            Problem(
                doc.where(("knowledge",)),
                "knowledge",
                f"knowledge file '{flow.knowledge}' not found",
                f"looked for {file}",
            )
        )
    from voicebot.flow.knowledge_file import load_knowledge

    return load_knowledge(file, flow.language, limits)


def _load_subflows(
    loaded: LoadedFlow, stack: tuple[Path, ...], limits: source.Limits
) -> list[Problem]:
    problems: list[Problem] = []
    for step_id, step in loaded.flow.steps.items():
        if step.call is None or step.call in loaded.subflows:
            continue
        sub_path = loaded.base_dir / step.call
        where = loaded.where("steps", step_id, "call")
        if sub_path.resolve() in stack:
            problems.append(
                Problem(where, f"steps.{step_id}.call", "a subflow cannot call itself (cycle)")
            )
            continue
        if not sub_path.is_file():
            problems.append(
                Problem(
                    where,
                    f"steps.{step_id}.call",
                    f"subflow file '{step.call}' not found",
                    f"looked for {sub_path}",
                )
            )
            continue
        try:
            sub = _load(sub_path, (*stack, sub_path.resolve()), limits)
        except FlowError as exc:
            problems.extend(exc.problems)
            continue
        loaded.subflows[step.call] = sub  # a subflow without `return` is a lint warning
    return problems


def validated(doc: source.Document, model: type[M], shape: str) -> M:
    """`doc`'s data as `model`; raises FlowValidationError with every problem, located.
    `shape` says what the file should be when it is not even a mapping."""
    if not isinstance(doc.data, dict):
        raise FlowValidationError(Problem(doc.where(()), "", shape))
    try:
        return model.model_validate(doc.data)
    except ValidationError as exc:
        raise FlowValidationError(validation_problems(doc, exc)) from None


def _load(path: Path, stack: tuple[Path, ...], limits: source.Limits) -> LoadedFlow:
    doc = source.load_file(path, limits)
    flow = validated(doc, Flow, "a flow file is a mapping with name, start and steps")
    problems: list[Problem] = []
    try:
        knowledge = _load_knowledge(flow, doc, path, limits)
    except FlowError as exc:
        knowledge = None
        problems += exc.problems
    loaded = LoadedFlow(flow, path, doc, knowledge=knowledge)
    problems += _reference_problems(loaded)
    problems += _load_subflows(loaded, stack, limits)
    if problems:
        raise FlowValidationError(problems)
    return loaded


def load_flow(path: str | Path, limits: source.Limits | None = None) -> LoadedFlow:
    """Load and validate a flow file and its subflows; raises FlowError with every problem.
    `limits` (file size, aliases, nesting; see flow/source.py) default to `source.Limits()`."""
    p = Path(path)  # kept as given, so messages show the path the user typed
    return _load(p, (p.resolve(),), limits or source.Limits())
