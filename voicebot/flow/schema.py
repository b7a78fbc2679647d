"""The flow format (docs/flow-format.md) as pydantic v2 models: the designers' edge.

Unknown keys are rejected everywhere (`extra="forbid"`), so a misspelt key is an error with a
location rather than something silently ignored. Keys this implementation adds to the contract:

- step `reprompt: false` (ask/menu): after a no-input/no-match prompt, skip the main prompt.
- step `help:` prompt, played by a `help` global.
- ask/menu `input:` overrides of `defaults.input` for one step.
- `defaults.on_error: step`: where a run-time failure (template error, failed HTTP with no route)
  goes; without it, `defaults.retries.exhausted`; without that, an apology and a hang-up.
- `on_answer: {machine: step, human: step}` (human optional).

Languages (the contract's "Languages" section): `language` and `languages` are BCP 47 tags
(language[-extlang][-Script][-REGION][-variant]); a malformed one is a located error, a
well-formed one voicebot does not speak (only English and Mandarin) a `flow check` warning.
`voice` is one voice or a map keyed by language; `voice_for(tag)` and `for_language(map, tag,
default)` choose a variant: the exact tag, else the same primary language (`zh` for `zh-CN`),
else the flow's default language, else the first. `set: {call.language: en}` switches the rest
of the call (dialog/engine.py). `flow check` (flow/lint.py) reports a language map that misses
a declared language (`missing-language`) or is keyed by an undeclared one (`unknown-language`).

Understanding (the contract's section of that name): `intents` give example phrases per intent
and language; a menu option or a global names an `intent:` (matched by meaning once its phrases
and keys found nothing: dialog/intents.py); `knowledge: FILE` names a knowledge file beside the
flow (flow/knowledge_file.py); `menu.knowledge: true` answers a question no option matches; the
`answer` step answers one question (dialog/knowledge.py). The `llm` step talks with the operator's
language model (dialog/assistant.py); keys it adds: `prompt` (said first; without it the
caller's words that led to the step, else the model, open the conversation), `no_input`,
`no_match`, `input`, and the outcome `max_turns` (falls back to `error`).

`ask.slot.sensitive: true` is the contract's (FLOW_FORMAT.md Rules): see voicebot/policy/.
"""

from __future__ import annotations

import re
from datetime import date
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    model_validator,
)

ACTION_KEYS = (
    "say",
    "ask",
    "menu",
    "set",
    "http",
    "hours",
    "transfer",
    "record",
    "call",
    "return",
    "hangup",
    "answer",
    "llm",
    "callback",
)
SLOT_TYPES = ("yes_no", "digits", "number", "choice", "date", "money", "text")

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h)?\s*$")
_UNIT = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, None: 1.0}


def parse_duration(value: Any) -> float:
    """'300ms', '5s', '2m', '1h' or a number of seconds -> seconds (float)."""
    if isinstance(value, bool):
        raise ValueError("a duration is a number of seconds or text such as 300ms, 5s, 2m")
    if isinstance(value, int | float):
        if value < 0:
            raise ValueError("a duration cannot be negative")
        return float(value)
    if isinstance(value, str):
        m = _DURATION.match(value)
        if m:
            return float(m.group(1)) * _UNIT[m.group(2)]
    raise ValueError(f"'{value}' is not a duration (use 300ms, 5s, 2m, or a number of seconds)")


Duration = Annotated[float, BeforeValidator(parse_duration)]


def _keys_as_text(value: Any) -> Any:
    """DTMF keys and status codes may be written unquoted: 0, 1, 404 -> '0', '1', '404'."""
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return value


Text = Annotated[str, BeforeValidator(_keys_as_text)]


def _phrases(value: Any) -> Any:
    return [value] if isinstance(value, str) else value


Phrases = Annotated[list[Text], BeforeValidator(_phrases)]


# BCP 47 language[-extlang][-Script][-REGION][-variant...], without extensions or private use:
# en, en-US, zh-CN, zh-Hans-CN, zh-yue, cmn-Latn-pinyin
_TAG = re.compile(
    r"^([A-Za-z]{2,3})(-[A-Za-z]{3})?(-[A-Za-z]{4})?(-(?:[A-Za-z]{2}|\d{3}))?"
    r"(-(?:[A-Za-z0-9]{5,8}|\d[A-Za-z0-9]{3}))*$"
)
SPOKEN_LANGUAGES = {"en": "English", "zh": "Mandarin", "cmn": "Mandarin"}


def language_problem(tag: str) -> str | None:
    """Why `tag` is not a well-formed language tag, or None."""
    if _TAG.match(tag) is None:
        return f"'{tag}' is not a BCP 47 language tag (e.g. en, en-US, zh-CN)"
    return None


def is_spoken(tag: str) -> bool:
    """True for a language voicebot understands and speaks (English, Mandarin)."""
    m = _TAG.match(tag)
    return m is not None and m.group(1).lower() in SPOKEN_LANGUAGES


def _language_tag(value: str) -> str:
    problem = language_problem(value)
    if problem is not None:
        raise ValueError(problem)
    return value


LanguageTag = Annotated[str, AfterValidator(_language_tag)]


def _primary(tag: str) -> str:
    primary = tag.replace("_", "-").split("-", 1)[0].lower()
    return "zh" if primary == "cmn" else primary


def for_language(variants: dict[str, Any], language: str | None, default: str) -> Any:
    """The variant of a language map for `language` (see the module doc); None when empty."""
    if not variants:
        return None
    for tag in (language, default):
        if tag is None:
            continue
        if tag in variants:
            return variants[tag]
        lowered = {k.lower(): v for k, v in variants.items()}
        if tag.lower() in lowered:
            return lowered[tag.lower()]
        same = [v for k, v in variants.items() if _primary(k) == _primary(tag)]
        if same:
            return same[0]
    return next(iter(variants.values()))


class Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class AudioPrompt(Model):
    audio: str = Field(description="file in audio_assets/")
    text: str = Field("", description="spoken by TTS when the file is missing; also the transcript")


# left to right: {audio, text} is an AudioPrompt before it could be read as a locale map
PromptPiece = Annotated[AudioPrompt | Text, Field(union_mode="left_to_right")]
PromptValue = Annotated[
    AudioPrompt | Text | list[PromptPiece] | dict[str, PromptPiece | list[PromptPiece]],
    Field(union_mode="left_to_right"),
]


class Voice(Model):
    name: str = "en-us"
    # espeak-ng refuses rates under 80 (speech/synthesizer.py); 400 is plenty for a phone line
    rate: int = Field(165, ge=80, le=400, description="words per minute")


VoiceValue = Annotated[Voice | dict[LanguageTag, Voice], Field(union_mode="left_to_right")]


class InputSettings(Model):
    modes: list[Literal["speech", "dtmf"]] = ["speech", "dtmf"]
    timeout: Duration = 5.0
    interdigit: Duration = 3.0
    terminator: Text = "#"
    barge_in: bool = True


class InputOverride(Model):
    modes: list[Literal["speech", "dtmf"]] | None = None
    timeout: Duration | None = None
    interdigit: Duration | None = None
    terminator: Text | None = None
    barge_in: bool | None = None


class Retries(Model):
    no_input: int = Field(3, ge=1, le=10)
    no_match: int = Field(3, ge=1, le=10)
    exhausted: str | None = Field(None, description="step to go to when a ladder runs out")


class Defaults(Model):
    input: InputSettings = InputSettings()
    retries: Retries = Retries()
    on_error: str | None = None


class Intent(Model):
    examples: dict[LanguageTag, Phrases] = Field(
        min_length=1, description="language -> example phrases of what callers say"
    )


class GlobalCommand(Model):
    dtmf: Text | None = Field(None, pattern=r"^[0-9*#A-D]$", description="one key")
    say: Phrases = []
    intent: str | None = Field(None, description="an intent of the flow's `intents`")
    goto: str | None = None
    action: Literal["repeat", "help"] | None = None

    @model_validator(mode="after")
    def _one_effect(self) -> GlobalCommand:
        if (self.goto is None) == (self.action is None):
            raise ValueError("a global needs exactly one of goto: STEP or action: repeat|help")
        if self.dtmf is None and not self.say and self.intent is None:
            raise ValueError("a global needs dtmf: KEY, say: [phrases] and/or intent: NAME")
        return self


class Slot(Model):
    name: str = Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")
    type: Literal["yes_no", "digits", "number", "choice", "date", "money", "text"]
    min: int | None = Field(None, ge=1)
    max: int | None = Field(None, ge=1)
    options: list[Text] | dict[str, Phrases] | None = None
    sensitive: bool = Field(
        False, description="a PIN, a card number: masked in call records, logs and exports"
    )

    @model_validator(mode="after")
    def _check(self) -> Slot:
        if self.type == "choice" and not self.options:
            raise ValueError("a choice slot needs options: [phrases] or {name: [phrases]}")
        if self.options and self.type != "choice":
            raise ValueError(f"options only apply to choice slots, not {self.type}")
        if self.min is not None and self.max is not None and self.min > self.max:
            raise ValueError(f"min ({self.min}) is larger than max ({self.max})")
        if (self.min is not None or self.max is not None) and self.type != "digits":
            raise ValueError("min/max lengths only apply to digits slots")
        return self

    def option_map(self) -> dict[str, list[str]]:
        if isinstance(self.options, dict):
            return {k: list(v) for k, v in self.options.items()}
        return {o: [o] for o in self.options or []}


class Confirm(Model):
    when: str = Field("true", description="condition; confirmation is asked when it holds")
    prompt: PromptValue


class Ask(Model):
    slot: Slot
    prompt: PromptValue
    no_match: PromptValue | None = None
    no_input: PromptValue | None = None
    confirm: Confirm | None = None
    input: InputOverride | None = None


class MenuOption(Model):
    dtmf: Text | None = None
    say: Phrases = []
    intent: str | None = Field(None, description="an intent of the flow's `intents`")
    goto: str | None = None

    @model_validator(mode="after")
    def _selectable(self) -> MenuOption:
        if self.dtmf is None and not self.say and self.intent is None:
            raise ValueError("an option needs dtmf: KEY, say: [phrases] and/or intent: NAME")
        return self


class Menu(Model):
    prompt: PromptValue
    options: dict[str, MenuOption] = Field(min_length=1)
    no_match: PromptValue | None = None
    no_input: PromptValue | None = None
    input: InputOverride | None = None
    knowledge: bool = Field(
        False, description="answer a question no option matches from the flow's knowledge"
    )

    @property
    def understands_meaning(self) -> bool:
        """Free text plus meaning (not a closed set of phrases): an option has an intent, or
        questions are answered."""
        return self.knowledge or any(o.intent for o in self.options.values())


class Answer(Model):
    prompt: PromptValue
    no_answer: PromptValue | None = Field(
        None, description="said when the knowledge has no answer above its threshold"
    )
    no_input: PromptValue | None = None
    input: InputOverride | None = None


class Llm(Model):
    """A conversation with the operator's language model (dialog/assistant.py)."""

    instructions: Text | dict[LanguageTag, Text] = Field(
        description="the model's system instructions (or one per language)"
    )
    prompt: PromptValue | None = Field(
        None, description="said first, then the caller is heard; without it the model opens"
    )
    knowledge: bool = Field(
        False, description="ground each reply in the knowledge entries closest to the caller"
    )
    intents: list[str] = Field(
        [], description="the only ways out: intents the model may choose (on.<intent>)"
    )
    slots: list[Slot] = Field([], description="slots the model may fill (validated)")
    max_turns: int = Field(6, ge=1, le=50, description="replies before the `max_turns` route")
    no_input: PromptValue | None = None
    no_match: PromptValue | None = None
    input: InputOverride | None = None


class Http(Model):
    method: Literal["GET", "POST", "PUT", "PATCH", "DELETE"] = "GET"
    url: str
    timeout: Duration = 3.0
    headers: dict[str, str] = {}
    json_body: Any = Field(None, alias="json")
    save: dict[str, str] = Field({}, description="var name -> dotted path in the JSON reply")

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


_DAY_SPEC = re.compile(r"^(mon|tue|wed|thu|fri|sat|sun)(-(mon|tue|wed|thu|fri|sat|sun))?$")
_RANGES = re.compile(r"^\d{1,2}:\d{2}-\d{1,2}:\d{2}(\s*,\s*\d{1,2}:\d{2}-\d{1,2}:\d{2})*$")


class Hours(Model):
    timezone: str
    open: dict[str, str]
    holidays: list[date] = []

    @model_validator(mode="after")
    def _check(self) -> Hours:
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        try:
            ZoneInfo(self.timezone)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(
                f"unknown timezone '{self.timezone}' (use an IANA name such as Europe/Paris)"
            ) from None
        for days, ranges in self.open.items():
            for part in days.split(","):
                if not _DAY_SPEC.match(part.strip().lower()):
                    raise ValueError(f"'{days}' is not a day or day range (e.g. mon-fri, sat)")
            if not _RANGES.match(ranges.strip()):
                raise ValueError(f"'{ranges}' is not a time range such as 08:00-20:00")
            for hhmm in re.findall(r"\d{1,2}:\d{2}", ranges):
                hh, mm = (int(x) for x in hhmm.split(":"))
                if mm > 59 or hh * 60 + mm > 24 * 60:
                    raise ValueError(
                        f"'{hhmm}' in '{ranges}' is not a time of day (00:00 to 24:00)"
                    )
        return self


class HoldAudio(Model):
    audio: str | None = Field(None, description="file in audio_assets/, looped while on hold")
    text: PromptValue | None = Field(None, description="spoken (looped) when there is no file")


class TransferTo(Model):
    to: str
    context: dict[str, str] = {}
    mode: Literal["blind", "warm"] = Field(
        "blind", description="blind: REFER; warm: call the agent, whisper, hold, then join"
    )
    whisper: PromptValue | None = Field(
        None, description="warm: said to the agent only (default: {{ call.summary }})"
    )
    hold: HoldAudio | None = Field(None, description="warm: what the caller hears meanwhile")
    timeout: Duration = Field(30.0, description="warm: ring time before `no_answer`")

    @model_validator(mode="after")
    def _warm_keys(self) -> TransferTo:
        stray = sorted({"whisper", "hold", "timeout"} & self.model_fields_set)
        if self.mode == "blind" and stray:
            raise ValueError(f"{', '.join(stray)}: only for a warm transfer (add mode: warm)")
        return self


class Frustrated(Model):
    above: float = Field(
        ge=0.0, le=1.0, description="hand over when call.frustration is above this"
    )
    prompt: PromptValue | None = Field(None, description="said before going (an apology)")
    goto: str = Field(description="step to go to (in this flow): usually the transfer to a person")


class Escalation(Model):
    """Checked after every caller turn (docs/flow-format.md "Escalation and hand-off")."""

    frustrated: Frustrated | None = None


class Callback(Model):
    """An outbound contact in a callback campaign (voicebot/campaign/callbacks.py)."""

    number: str = Field("{{ call.caller }}", description="whom to call back (a template)")
    campaign: str = Field("callbacks", description="the callback campaign")
    at: str | None = Field(
        None, description="when (a template: a date or an ISO date-time); default: at once"
    )
    prompt: PromptValue | None = None
    context: dict[str, str] = Field({}, description="`contact.*` of the call back (templates)")


class RecordSpec(Model):
    max: Duration = 120.0
    silence: Duration = 5.0
    beep: bool = True
    save: str | None = Field(None, description="var that receives the recording's path")


class Branch(Model):
    when: str | None = None
    goto: str


class Hangup(Model):
    reason: str | None = None


class Empty(Model):
    pass


def _empty(value: Any) -> Any:
    return {} if value is None else value


class Step(Model):
    say: PromptValue | None = None
    ask: Ask | None = None
    menu: Menu | None = None
    set: dict[str, Any] | None = None
    http: Http | None = None
    hours: Hours | None = None
    transfer: TransferTo | None = None
    record: RecordSpec | None = None
    call: str | None = None
    return_: Annotated[Empty | None, BeforeValidator(_empty)] = Field(None, alias="return")
    hangup: Annotated[Hangup | None, BeforeValidator(_empty)] = None
    answer: Answer | None = None
    llm: Llm | None = None
    callback: Callback | None = None

    next: str | list[Branch] | None = None
    on: dict[Text, str] = {}
    barge_in: bool | None = None
    globals: bool = True
    reprompt: bool = True
    help: PromptValue | None = None
    escalation: Escalation | None = Field(None, description="replaces the flow's on this step")

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    @model_validator(mode="before")
    @classmethod
    def _one_action(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            raise ValueError("a step is a mapping with one action key, e.g. {say: welcome}")
        present = [k for k in ACTION_KEYS if k in data]
        if len(present) != 1:
            which = ", ".join(present) if present else "none"
            raise ValueError(
                f"a step has exactly one action key ({', '.join(ACTION_KEYS)}); found {which}"
            )
        return data

    @property
    def kind(self) -> str:
        for key in ACTION_KEYS:
            attr = "return_" if key == "return" else key
            if getattr(self, attr) is not None:
                return key
        raise AssertionError("validated steps have one action")  # pragma: no cover

    @property
    def listening(self) -> Ask | Menu | Answer | Llm | None:
        """The spec of a step that prompts and listens (ask, menu, answer, llm), else None."""
        return self.ask or self.menu or self.answer or self.llm


class OnAnswer(Model):
    machine: str | None = None
    human: str | None = None


class Flow(Model):
    version: Literal[1] = 1
    name: str
    description: str = ""
    language: LanguageTag = "en"
    languages: list[LanguageTag] | None = Field(None, min_length=1)
    voice: VoiceValue = Voice()
    defaults: Defaults = Defaults()
    globals: dict[str, GlobalCommand] = {}
    intents: dict[str, Intent] = {}
    knowledge: str | None = Field(None, description="knowledge file beside the flow")
    prompts: dict[str, PromptValue] = {}
    start: str
    steps: dict[str, Step] = Field(min_length=1)
    on_answer: OnAnswer | None = None
    escalation: Escalation | None = None

    @model_validator(mode="after")
    def _default_is_declared(self) -> Flow:
        if self.languages is not None and self.language not in self.languages:
            raise ValueError(
                f"language '{self.language}' is not among languages {self.languages}: list it there"
            )
        return self

    @property
    def declared_languages(self) -> list[str]:
        """Every language the flow's prompts are written in (`languages`, else `language`)."""
        return list(self.languages) if self.languages is not None else [self.language]

    def voice_for(self, language: str | None) -> Voice | None:
        """The flow's voice for `language`; None when the flow sets no `voice` (settings')."""
        if "voice" not in self.model_fields_set:
            return None
        if isinstance(self.voice, Voice):
            return self.voice
        chosen = for_language(self.voice, language, self.language)
        return chosen if isinstance(chosen, Voice) else None


def json_schema() -> dict[str, Any]:
    """JSON Schema of the flow format, for editors (yaml-language-server)."""
    schema = Flow.model_json_schema(by_alias=True)
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "voicebot dialog flow"
    return schema
