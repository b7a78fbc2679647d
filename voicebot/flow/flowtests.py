"""Flow tests: `*.test.yaml` files that script conversations and check what the bot does.

Format (docs/flow-format.md, "Flow tests"): `flow`, `env`, `clock`, `http` mocks and `tests`, each a
`name` and `turns` of `bot`, `caller`, `dtmf`, `silence: N` or `expect: {step, slots, vars,
transfer, hangup}`. Keys this implementation adds, at file level or per test: `direction`
(inbound|outbound), `contact` (the campaign row), `caller`, `answer` (human|machine, for
outbound flows with `on_answer`), `transfer_result` (ok|failed|busy|no_answer),
`record_seconds` (0 means the caller left no audio), `expect: {language: en}` (the call's
current language), `expect: {intent: check_bill}` and `expect: {answered: roaming}` (what the
last input was understood as: docs/flow-format.md "Understanding"); an http mock may set
`timeout: true` or `error: true` instead of a status, and `method`. `model:` scripts the
language model of `llm` steps, one reply per request in order (file level or per test): `say`
(the text, streamed), `tool` (an intent the model chooses, or `fill_slots`), `fill` (slot ->
value: a `fill_slots` call), `arguments` (the raw JSON text of `tool`'s arguments), `delay`
(before the first word: over settings' budget, the filler plays), or `error: true` (HTTP 500),
`timeout: true`, `malformed: true` (a broken event). Flow tests never reach a real model.
`timeout: true` or `error: true` instead of a status, and `method`.
Escalation (docs/flow-format.md "Escalation and hand-off"): `expect: {escalated: true}` (the
flow's escalation rule handed the caller over), `expect: {frustration: {above: 0.7}}` or
`{below: 0.3}` (`call.frustration` now), `expect: {callback: "+15555550100"}` (a `callback`
step scheduled that number); `callback_result: failed` makes the callback campaign refuse.

`run_files(paths)` runs them with mocked HTTP and a fixed clock and returns results and coverage.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any, Literal

from pydantic import ConfigDict, Field, ValidationError, model_validator

from voicebot.dialog.assistant import SLOT_TOOL
from voicebot.errors import FlowError, FlowTestError, Problem
from voicebot.flow import graph, source
from voicebot.flow.backend import CannedReply, HttpxBackend, mock_transport
from voicebot.flow.completions import ScriptedModel, ScriptedReply
from voicebot.flow.loader import LoadedFlow, load_flow, validation_problems
from voicebot.flow.schema import Duration, Model, Text
from voicebot.flow.simulator import TextCall


class HttpMock(Model):
    url: str
    method: str = "GET"
    status: int = 200
    json_body: Any = Field(None, alias="json")
    text: str = ""
    timeout: bool = False
    error: bool = False

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class ModelReply(Model):
    say: Text = ""
    tool: str | None = None
    fill: dict[str, Any] = {}
    arguments: str | None = None
    delay: Duration = 0.0
    error: bool = False
    timeout: bool = False
    malformed: bool = False

    def scripted(self) -> ScriptedReply:
        tools = [(self.tool, self.arguments or "{}")] if self.tool else []
        if self.fill:
            tools.append((SLOT_TOOL, json.dumps(self.fill, default=str)))
        return ScriptedReply(
            self.say,
            tuple(tools),
            delay=self.delay,
            status=500 if self.error else 200,
            malformed=self.malformed,
            timeout=self.timeout,
        )


class Level(Model):
    above: float | None = Field(None, ge=0.0, le=1.0)
    below: float | None = Field(None, ge=0.0, le=1.0)


class Expect(Model):
    step: str | None = None
    slots: dict[str, Any] = {}
    vars: dict[str, Any] = {}
    transfer: str | None = None
    transfer_mode: Literal["blind", "warm"] | None = None  # of the last transfer
    whisper: str | None = None  # words the last warm transfer's whisper says to the agent
    hangup: bool | None = None
    language: str | None = None  # the call's current language (`set: {call.language: ..}`)
    intent: str | None = None  # what the last input was understood as (`turn.intent`)
    answered: str | None = None  # the knowledge entry that answered it (`turn.answered`)
    escalated: bool | None = None  # the escalation rule handed the caller over
    frustration: Level | None = None  # `call.frustration` now
    callback: Text | None = None  # a `callback` step scheduled this number


class Turn(Model):
    bot: Text | None = None
    caller: Text | None = None
    dtmf: Text | None = None
    silence: int | None = Field(None, ge=1)
    expect: Expect | None = None

    @model_validator(mode="before")
    @classmethod
    def _one(cls, data: Any) -> Any:
        keys = ("bot", "caller", "dtmf", "silence", "expect")
        if not isinstance(data, dict) or sum(k in data for k in keys) != 1:
            raise ValueError(f"a turn has exactly one of: {', '.join(keys)}")
        return data


class Options(Model):
    env: dict[str, str] = {}
    clock: dt.datetime | None = None
    http: list[HttpMock] = []
    direction: Literal["inbound", "outbound"] | None = None
    contact: dict[str, Any] = {}
    caller: str | None = None
    answer: Literal["human", "machine"] | None = None
    transfer_result: Literal["ok", "failed", "busy", "no_answer"] | None = None
    record_seconds: float | None = None
    model: list[ModelReply] = []
    callback_result: Literal["ok", "failed"] | None = None


class Case(Options):
    name: str
    turns: list[Turn] = Field(min_length=1)


class TestFile(Options):
    flow: str
    tests: list[Case] = Field(min_length=1)


@dataclass(frozen=True)
class CaseResult:
    file: str
    name: str
    failure: str = ""  # "" when the test passed

    @property
    def passed(self) -> bool:
        return not self.failure


@dataclass
class Coverage:
    flow: str
    path: str
    steps: set[str]
    transitions: set[tuple[str, str]]
    visited_steps: set[str] = field(default_factory=set)
    taken: set[tuple[str, str]] = field(default_factory=set)

    def summary(self) -> str:
        s, t = len(self.visited_steps & self.steps), len(self.taken & self.transitions)
        return (
            f"coverage {self.flow} ({self.path}): steps {s}/{len(self.steps)} "
            f"({_pct(s, len(self.steps))}), transitions {t}/{len(self.transitions)} "
            f"({_pct(t, len(self.transitions))})"
        )

    def missed(self) -> list[str]:
        return sorted(self.steps - self.visited_steps)


def _pct(a: int, b: int) -> str:
    return f"{100 * a // b}%" if b else "100%"


@dataclass
class Report:
    results: list[CaseResult] = field(default_factory=list)
    coverage: dict[str, Coverage] = field(default_factory=dict)
    problems: list[Problem] = field(default_factory=list)  # files that could not run at all

    @property
    def ok(self) -> bool:
        return not self.problems and all(r.passed for r in self.results)


def load_test_file(path: Path) -> tuple[TestFile, source.Document]:
    doc = source.load_file(path)
    try:
        return TestFile.model_validate(doc.data), doc
    except ValidationError as exc:
        raise FlowTestError(validation_problems(doc, exc)) from None


def _loose_equal(expected: Any, actual: Any) -> bool:
    if expected == actual:
        return True
    if isinstance(actual, Decimal | int | float) and isinstance(expected, int | float | str):
        try:
            return Decimal(str(expected)) == Decimal(str(actual))
        except ArithmeticError:
            return False
    return str(expected).lower() == str(actual).lower()


def mock_backend(mocks: list[HttpMock], unmatched: list[str]) -> HttpxBackend:
    """The `HttpBackend` of a test: httpx on a `MockTransport` answering from its `http:` list
    (also `flow chat --http-fixtures`). Requests no mock answers are noted in `unmatched`."""
    replies = [
        CannedReply(m.url, m.method, m.status, m.json_body, m.text, m.timeout, m.error)
        for m in mocks
    ]
    return HttpxBackend(transport=mock_transport(replies, unmatched))


def _pick(case: Case, file: TestFile, name: str, default: Any) -> Any:
    for holder in (case, file):
        value = getattr(holder, name)
        if value is not None and value != {} and value != []:
            return value
    return default


def run_case(
    loaded: LoadedFlow,
    file: TestFile,
    case: Case,
    doc: source.Document,
    index: int,
    audio_dir: Path | None = None,
    transfer_allow: tuple[str, ...] = (),
) -> tuple[str, TextCall]:
    """Run one test; return the failure message ("" on success) and the finished call."""
    unmatched: list[str] = []
    mocks = mock_backend([*case.http, *file.http], unmatched)
    clock = _pick(case, file, "clock", None) or dt.datetime.now(dt.UTC)
    call = TextCall(
        loaded,
        http=mocks,
        clock=clock,
        env={**file.env, **case.env},
        audio_dir=audio_dir,
        direction=_pick(case, file, "direction", "inbound"),
        contact={**file.contact, **case.contact},
        caller=_pick(case, file, "caller", "+15555550100"),
        answered_by=_pick(case, file, "answer", "human"),
        transfer_outcome=_pick(case, file, "transfer_result", "ok"),
        record_seconds=_pick(case, file, "record_seconds", 3.0),
        transfer_allow=transfer_allow,
        model=ScriptedModel([r.scripted() for r in _pick(case, file, "model", [])]),
        callback_ok=_pick(case, file, "callback_result", "ok") == "ok",
    )
    call.start()
    for t, turn in enumerate(case.turns):
        where = doc.where(("tests", index, "turns", t))
        failure = _play(call, turn)
        if failure:
            if unmatched:
                failure += f" (unmocked HTTP: {', '.join(unmatched)})"
            if call.engine.trace.errors:
                failure += f" (flow errors: {'; '.join(call.engine.trace.errors)})"
            return f"{where}: {failure}", call
    return "", call


def _play(call: TextCall, turn: Turn) -> str:
    if turn.bot is not None:
        said = call.said_since_input
        if any(turn.bot.lower() in s.lower() for s in said):
            return ""
        heard = " | ".join(said) if said else "nothing"
        return f"expected the bot to say {turn.bot!r}; since the last input it said: {heard}"
    if call.ended and (turn.caller is not None or turn.dtmf is not None or turn.silence):
        return "the call has already ended"
    if turn.caller is not None:
        call.say(turn.caller)
    elif turn.dtmf is not None:
        call.press(turn.dtmf)
    elif turn.silence is not None:
        call.silence(turn.silence)
    elif turn.expect is not None:
        return _check(call, turn.expect)
    return ""


def _check(call: TextCall, expect: Expect) -> str:
    engine = call.engine
    problems = []
    if expect.step is not None and engine.step_id != expect.step:
        problems.append(f"step is {engine.step_id!r}, expected {expect.step!r}")
    for space, wanted in (("slots", expect.slots), ("vars", expect.vars)):
        actual = getattr(engine, space)
        for key, value in wanted.items():
            if key not in actual:
                problems.append(f"{space}.{key} is not set (expected {value!r})")
            elif not _loose_equal(value, actual[key]):
                problems.append(f"{space}.{key} is {actual[key]!r}, expected {value!r}")
    if expect.transfer is not None and expect.transfer not in call.transfers:
        got = ", ".join(call.transfers) or "none"
        problems.append(f"expected a transfer to {expect.transfer}; transfers: {got}")
    problems += _check_warm(call, expect)
    if expect.language is not None and engine.language != expect.language:
        problems.append(f"the call is in {engine.language!r}, expected {expect.language!r}")
    for name in ("intent", "answered"):
        wanted, actual = getattr(expect, name), engine.turn.get(name)
        if wanted is not None and wanted != actual:
            problems.append(f"turn.{name} is {actual!r}, expected {wanted!r}")
    problems += _check_escalation(call, expect)
    if expect.hangup is not None and call.hung_up != expect.hangup:
        problems.append("expected the bot to have hung up" if expect.hangup else "the bot hung up")
    return "; ".join(problems)


def _check_warm(call: TextCall, expect: Expect) -> list[str]:
    if expect.transfer_mode is None and expect.whisper is None:
        return []
    if not call.transfer_actions:
        return ["expected a transfer; there was none"]
    last = call.transfer_actions[-1]
    mode = "warm" if last.warm is not None else "blind"
    problems = []
    if expect.transfer_mode is not None and mode != expect.transfer_mode:
        problems.append(f"the transfer to {last.to} is {mode}, expected {expect.transfer_mode}")
    if expect.whisper is not None:
        said = " ".join(s.text for s in last.warm.whisper) if last.warm else ""
        if expect.whisper.lower() not in said.lower():
            problems.append(f"the whisper says {said!r}, expected it to say {expect.whisper!r}")
    return problems


def _check_escalation(call: TextCall, expect: Expect) -> list[str]:
    engine, problems = call.engine, []
    escalations = engine.trace.escalations
    if expect.escalated is not None and bool(escalations) != expect.escalated:
        level = engine.call["frustration"]
        reasons = "; ".join(engine.call["frustration_reasons"]) or "none"
        problems.append(
            f"escalated: {'; '.join(escalations)}"
            if escalations
            else f"no escalation (frustration {level:.2f}, last reasons: {reasons})"
        )
    level = float(engine.call["frustration"])
    if expect.frustration is not None:
        above, below = expect.frustration.above, expect.frustration.below
        if (above is not None and level <= above) or (below is not None and level >= below):
            wanted = " and ".join(
                f"{word} {value}"
                for word, value in (("above", above), ("below", below))
                if value is not None
            )
            reasons = "; ".join(engine.call["frustration_reasons"]) or "none"
            problems.append(f"frustration is {level:.2f}, expected {wanted} (reasons: {reasons})")
    if expect.callback is not None and expect.callback not in [c.number for c in call.callbacks]:
        got = ", ".join(c.number for c in call.callbacks) or "none"
        problems.append(f"expected a callback to {expect.callback}; callbacks: {got}")
    return problems


def _coverage_for(loaded: LoadedFlow, report: Report) -> None:
    flows = [loaded, *_all_subflows(loaded)]
    for lf in flows:
        key = str(lf.path.resolve())
        if key not in report.coverage:
            report.coverage[key] = Coverage(
                lf.flow.name,
                str(lf.path),
                set(lf.flow.steps),
                {(e.src, e.dst) for e in graph.edges(lf.flow)},
            )


def _all_subflows(loaded: LoadedFlow) -> Iterable[LoadedFlow]:
    for sub in loaded.subflows.values():
        yield sub
        yield from _all_subflows(sub)


def _record(call: TextCall, loaded: LoadedFlow, report: Report) -> None:
    by_name = {lf.flow.name: str(lf.path.resolve()) for lf in [loaded, *_all_subflows(loaded)]}
    trace = call.engine.trace
    for flow_name, step in trace.steps:
        report.coverage[by_name[flow_name]].visited_steps.add(step)
    for flow_name, src, dst in trace.transitions:
        report.coverage[by_name[flow_name]].taken.add((src, dst))


def run_files(
    paths: Iterable[str | Path],
    audio_dir: Path | None = None,
    transfer_allow: tuple[str, ...] = (),
) -> Report:
    """Run test files; `transfer_allow` is settings transfers.allow (policy/transfers.py)."""
    report = Report()
    for p in paths:
        path = Path(p)
        try:
            file, doc = load_test_file(path)
            flow_path = path.parent / file.flow
            if not flow_path.is_file():
                raise FlowTestError(
                    Problem(
                        doc.where(("flow",)),
                        "flow",
                        f"flow file '{file.flow}' not found",
                        f"looked for {flow_path}",
                    )
                )
            loaded = load_flow(flow_path)
        except FlowError as exc:
            report.problems.extend(exc.problems)
            continue
        _coverage_for(loaded, report)
        for i, case in enumerate(file.tests):
            try:
                failure, call = run_case(loaded, file, case, doc, i, audio_dir, transfer_allow)
            except Exception as exc:  # a bug must fail the test, not hide the other results
                failure = f"{doc.where(('tests', i))}: crashed: {type(exc).__name__}: {exc}"
                report.results.append(CaseResult(str(path), case.name, failure))
                continue
            _record(call, loaded, report)
            report.results.append(CaseResult(str(path), case.name, failure))
    return report
