"""The `llm` step: a conversation with the operator's language model, sans-IO.

    assistant = Assistant(LlmOptions(first_sentence=0.8, fillers={"en": "One moment."}))
    assistant.enter(engine, step, out)        # the step begins: its prompt, or the model opens
    assistant.heard(engine, "do you have roaming in Japan", out)   -> Complete(messages, tools)
    assistant.completion(engine, CompletionText("Yes, we "), out)  -> Say per whole sentence
    assistant.completion(engine, CompletionEnded(tool_calls=(...)), out)  -> route, or listen
    assistant.filler(engine, out)             # the first sentence is late: "One moment."

Nothing here does I/O: the engine hands over events and takes actions; the runtime (a live
call's worker, `flow chat`, `flow test`) streams the completion (flow/completions.py).

What the model sees: the step's `instructions`, a note that it speaks on the phone, and, per
caller turn, the `KNOWLEDGE_ENTRIES` knowledge entries closest to the caller's words (when
`knowledge: true`) as the only facts to answer from. What it may do: talk, call one tool per
intent of the step's `intents:` (its way out: the step's `on.<intent>`), and call
`fill_slots` with the step's `slots:`, each value checked by the same parsers as a spoken
answer (dialog/understanding.py) - a refused value is not kept and the model is told why, so
it asks again. It has no other tool: it cannot transfer, hang up or read settings except by
the flow's routes.

Outcomes: `on.<intent>`; `max_turns` (the model replied that many times with no way out;
falls back to `next`, then the error route); `error` for a failed request (HTTP status,
malformed stream, no endpoint), an invalid tool call (unknown tool, arguments that are not a
JSON object) or `MAX_ROUNDS` tool calls in a row without a word to the caller; `timeout`
(falls back to `error`) when the reply does not come in time.

Speech: the reply is said sentence by sentence as it streams (the first as soon as it is
whole); if nothing is ready `LlmOptions.first_sentence` seconds after the request, the
filler prompt plays once ("One moment.").
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from voicebot.dialog.actions import Action, CancelTimer, Complete, StartTimer
from voicebot.dialog.events import CompletionEnded, CompletionText, ToolCall
from voicebot.dialog.expectation import Expectation
from voicebot.dialog.understanding import understand
from voicebot.flow.schema import Flow, Llm, Slot, Step, for_language

if TYPE_CHECKING:
    from voicebot.dialog.engine import DialogEngine

SLOT_TOOL = "fill_slots"
FILLER_TIMER = "first_sentence"
KNOWLEDGE_ENTRIES = 3  # entries given to the model as grounding, per caller turn
MAX_ROUNDS = 3  # model calls in a row without the caller speaking (tool results sent back)
PHONE_NOTE = (
    "You are speaking with a caller on the phone: answer in one to three short spoken "
    "sentences, with no lists, markup or emoji."
)
TOOLS_NOTE = (
    "You cannot transfer the call, hang up or do anything else yourself. When the caller "
    "wants one of the things your tools name, call that tool."
)
GROUNDING = (
    "Facts from the knowledge base that may answer the caller's last words. Answer only "
    "from them; if they do not answer the question, say you do not know.\n"
)
_SENTENCE_END = re.compile(r"(?<=[.!?…])\s+|(?<=[。！？；])|\n+")
_MARKUP = re.compile(r"[*#`_]+")


@dataclass(frozen=True)
class LlmOptions:
    """Settings `llm.first_sentence_budget` and `llm.filler`, as the engine uses them."""

    first_sentence: float = 0.8  # seconds from the request to the filler prompt
    fillers: dict[str, str] = field(
        default_factory=lambda: {"en": "One moment.", "zh-CN": "请稍等。"}
    )

    def filler(self, language: str) -> str:
        return str(for_language(self.fillers, language, "en") or "")


@dataclass(frozen=True)
class Verdict:
    """What the tool calls of one reply amount to."""

    intent: str | None = None  # the way out the model chose
    filled: dict[str, Any] = field(default_factory=dict)  # slots filled, with valid values
    results: tuple[dict[str, Any], ...] = ()  # tool messages to send back to the model
    invalid: str = ""  # why a call was invalid ("" when none was)


def tools(spec: Llm, flow: Flow, language: str) -> tuple[dict[str, Any], ...]:
    """OpenAI function tools: one per intent of the step, and `fill_slots` for its slots."""
    out = []
    for name in spec.intents:
        intent = flow.intents.get(name)
        examples = for_language(intent.examples, language, flow.language) if intent else None
        said = "; ".join(examples or [])
        out.append(_function(name, f"The caller wants this ({said}). The call moves on.", {}))
    if spec.slots:
        properties = {s.name: {"type": "string", "description": describe(s)} for s in spec.slots}
        text = "Record what the caller told you. Each value is checked; ask again if refused."
        out.append(_function(SLOT_TOOL, text, properties))
    return tuple(out)


def _function(name: str, description: str, properties: dict[str, Any]) -> dict[str, Any]:
    parameters = {"type": "object", "properties": properties}
    return {
        "type": "function",
        "function": {"name": name, "description": description, "parameters": parameters},
    }


def describe(slot: Slot) -> str:
    """What a slot's value looks like, for the model."""
    if slot.type == "digits":
        if slot.min is not None and slot.min == slot.max:
            return f"{slot.min} digits"
        return f"digits ({slot.min or 1} to {slot.max or 'any number of'})"
    if slot.type == "choice":
        return "one of: " + ", ".join(slot.option_map())
    return {
        "yes_no": "yes or no",
        "number": "a number",
        "date": "a date, YYYY-MM-DD",
        "money": "an amount of money, e.g. 12.50",
        "text": "the caller's words",
    }[slot.type]


def judge(spec: Llm, calls: tuple[ToolCall, ...], language: str, today: Any = None) -> Verdict:
    """Check the tool calls of a reply: the way out, slot values by the slot parsers, and the
    tool messages that tell the model what was kept and what was refused."""
    slots = {s.name: s for s in spec.slots}
    intent, filled, results = None, {}, []
    for call in calls:
        if call.name in spec.intents:
            intent = intent or call.name
            results.append(_result(call, "ok"))
            continue
        if call.name != SLOT_TOOL or not slots:
            return Verdict(invalid=f"the model called an unknown tool {call.name!r}")
        try:
            values = json.loads(call.arguments or "{}")
        except ValueError as exc:
            return Verdict(invalid=f"{SLOT_TOOL} arguments are not JSON: {exc}")
        if not isinstance(values, dict):
            return Verdict(invalid=f"{SLOT_TOOL} arguments are not a JSON object")
        told = []
        for name, value in values.items():
            slot = slots.get(name)
            if slot is None:
                told.append(f"{name}: refused, there is no such slot ({', '.join(slots)})")
                continue
            kept = parse(slot, str(value), language, today)
            if kept is None:
                told.append(f"{name}: refused, {str(value)!r} is not {describe(slot)}; ask again")
            else:
                filled[name] = kept
                told.append(f"{name}: kept")
        results.append(_result(call, "; ".join(told) or "nothing to record"))
    return Verdict(intent, filled, tuple(results))


def _result(call: ToolCall, text: str) -> dict[str, Any]:
    return {"role": "tool", "tool_call_id": call.id, "content": text}


def parse(slot: Slot, value: str, language: str, today: Any = None) -> Any:
    """The slot's value parsed as a spoken answer would be, or None when it is not valid."""
    options = tuple((n, tuple(p)) for n, p in slot.option_map().items())
    expect = Expectation(slot.type, options, slot.min, slot.max, language=language)
    found = understand(expect, value, today=today)
    return found.value if found.kind == "slot" else None


def sentences(text: str) -> tuple[list[str], str]:
    """The whole sentences at the start of `text`, and the rest (not yet a sentence)."""
    parts = _SENTENCE_END.split(text)
    whole, rest = parts[:-1], parts[-1]
    return [s for s in (spoken(p) for p in whole) if s], rest


def spoken(text: str) -> str:
    """Text as it is said: markup the model may write (`**`, `#`) left out."""
    return " ".join(_MARKUP.sub(" ", text).split())


@dataclass
class Conversation:
    """One visit of an `llm` step: the messages so far and the reply streaming in."""

    messages: list[dict[str, Any]]
    replies: int = 0  # replies to the caller (max_turns counts them)
    rounds: int = 0  # model calls since the caller last spoke
    reply: str = ""  # the text of the reply streaming in
    pending: str = ""  # its end that is not a whole sentence yet
    spoken: bool = False  # a sentence of this reply was said: no filler needed
    filler_said: bool = False
    said: list[Any] = field(default_factory=list)  # Says of this reply (for `repeat`)


class Assistant:
    """Runs the `llm` step for a `DialogEngine` (one per engine, so one per call)."""

    def __init__(self, options: LlmOptions | None = None):
        self.options = options or LlmOptions()
        self.chat: Conversation | None = None

    # -- entry points (the engine calls them) --------------------------------------------------
    def enter(self, engine: DialogEngine, step: Step, out: list[Action]) -> None:
        spec = _spec(step)
        self.chat = Conversation([{"role": "system", "content": self._system(engine, spec)}])
        if spec.prompt is not None:
            engine._prompt_and_listen(step, out)
        elif engine.turn.get("text"):  # the caller's words that led here open it
            self.heard(engine, str(engine.turn["text"]), out)
        else:  # the model opens the conversation
            self._ask(engine, out)

    def heard(self, engine: DialogEngine, text: str, out: list[Action]) -> None:
        chat = self._chat(engine)
        spec = _spec(engine.step)
        if spec.knowledge:
            facts = self._grounding(engine, text)
            if facts:
                chat.messages.append({"role": "system", "content": facts})
        chat.messages.append({"role": "user", "content": text})
        chat.rounds = 0
        self._ask(engine, out)

    def filler(self, engine: DialogEngine, out: list[Action]) -> None:
        chat = self._chat(engine)
        if chat.spoken or chat.filler_said:
            return
        chat.filler_said = True
        o = self.options
        out.append(engine._fixed(o.filler("en"), o.filler("zh-CN"), False, engine.step_id))

    def completion(
        self, engine: DialogEngine, event: CompletionText | CompletionEnded, out: list[Action]
    ) -> None:
        chat = self._chat(engine)
        if isinstance(event, CompletionText):
            chat.reply += event.text
            whole, chat.pending = sentences(chat.pending + event.text)
            self._say(engine, whole, out)
            return
        out.append(CancelTimer(FILLER_TIMER))
        step = engine.step
        spec = _spec(step)
        if event.error:
            self._fail(engine, f"model {event.error}: {event.detail}", event.error, out)
            return
        self._say(engine, [s for s in [spoken(chat.pending)] if s], out)
        chat.pending = ""
        today = engine.now.date() if engine.now else None
        verdict = judge(spec, event.tool_calls, engine.language, today)
        chat.messages.append(_assistant_message(chat.reply, event.tool_calls))
        if verdict.invalid:
            self._fail(engine, verdict.invalid, "error", out)
            return
        engine.slots.update(verdict.filled)
        if verdict.intent is not None:
            engine.turn.update(intent=verdict.intent, intent_confidence=1.0)
            engine.waiting = None
            engine._route(step, verdict.intent, out)
            return
        if verdict.results:  # slots kept or refused: the model is told, and goes on
            chat.messages.extend(verdict.results)
            if chat.rounds >= MAX_ROUNDS:
                why = f"{chat.rounds} tool calls in a row without a word to the caller"
                self._fail(engine, why, "error", out)
            else:
                self._ask(engine, out)
            return
        if not chat.reply.strip():
            self._fail(engine, "the model's reply was empty", "error", out)
            return
        chat.replies += 1
        if chat.replies >= spec.max_turns:
            engine.log.info("llm step %s: %d replies, no way out", engine.step_id, chat.replies)
            engine.waiting = None
            engine._route(step, "max_turns", out)
            return
        engine.last_prompts = list(chat.said)
        engine.waiting = "input"
        engine._listen(step, out)

    # -- inside --------------------------------------------------------------------------------
    def _chat(self, engine: DialogEngine) -> Conversation:
        if self.chat is None:  # pragma: no cover - enter() always runs first
            self.chat = Conversation([{"role": "system", "content": ""}])
        return self.chat

    def _ask(self, engine: DialogEngine, out: list[Action]) -> None:
        chat = self._chat(engine)
        chat.rounds += 1
        chat.reply, chat.pending, chat.spoken, chat.filler_said = "", "", False, False
        chat.said = []
        engine.waiting = "model"
        spec = _spec(engine.step)
        offered = tools(spec, engine.loaded.flow, engine.language)
        out.append(Complete(tuple(dict(m) for m in chat.messages), offered))
        out.append(StartTimer(FILLER_TIMER, self.options.first_sentence, after_playback=False))

    def _say(self, engine: DialogEngine, texts: list[str], out: list[Action]) -> None:
        chat = self._chat(engine)
        if texts and not chat.spoken:
            chat.spoken = True
            out.append(CancelTimer(FILLER_TIMER))
        for text in texts:
            says = engine._says([text], engine.step)
            chat.said += says
            out.extend(says)

    def _fail(self, engine: DialogEngine, reason: str, outcome: str, out: list[Action]) -> None:
        engine.log.warning("llm step %s: %s", engine.step_id, reason)
        engine.trace.errors.append(f"{engine.step_id}: {reason}")
        engine.waiting = None
        engine._route(engine.step, outcome, out)

    def _system(self, engine: DialogEngine, spec: Llm) -> str:
        flow = engine.loaded.flow
        instructions = spec.instructions
        if isinstance(instructions, dict):
            instructions = str(for_language(instructions, engine.language, flow.language))
        notes = [instructions.strip(), PHONE_NOTE]
        if spec.intents:
            notes.append(TOOLS_NOTE)
        return "\n\n".join(notes)

    def _grounding(self, engine: DialogEngine, text: str) -> str:
        retriever = engine.meaning.retriever(engine.loaded)
        if retriever is None:
            return ""
        language, default = engine.language, engine.loaded.flow.language
        lines = []
        for hit in retriever.search(text)[:KNOWLEDGE_ENTRIES]:
            question = for_language(dict(hit.entry.questions), language, default)
            lines.append(f"- Q: {question}\n  A: {hit.entry.answer_for(language, default)}")
        return GROUNDING + "\n".join(lines) if lines else ""


def _spec(step: Step) -> Llm:
    assert step.llm is not None
    return step.llm


def _assistant_message(text: str, calls: tuple[ToolCall, ...]) -> dict[str, Any]:
    message: dict[str, Any] = {"role": "assistant", "content": text or None}
    if calls:
        message["tool_calls"] = [
            {
                "id": c.id,
                "type": "function",
                "function": {"name": c.name, "arguments": c.arguments or "{}"},
            }
            for c in calls
        ]
    return message
