"""Actions the dialog engine returns; the runtime (simulator, flow test, SIP call) performs them."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from voicebot.dialog.expectation import Expectation


@dataclass(frozen=True)
class Say:
    """Speak `text`, or play `audio` (a path) when given; the text is the fallback/transcript."""

    text: str
    audio: str | None = None
    barge_in: bool = True
    prompt_id: str | None = None  # catalogue id when the prompt is static (cacheable)
    voice: str | None = None
    rate: int | None = None
    step: str | None = None  # the step that said it (transcripts, call records)
    language: str | None = None  # BCP 47 tag of the text (the call's language when said)


@dataclass(frozen=True)
class Listen:
    """Open the microphone (and keypad) for the caller's answer."""

    expect: Expectation
    timeout: float = 5.0  # no-input timeout, started when prompts finish playing
    interdigit: float = 3.0
    terminator: str = "#"
    barge_in: bool = True


@dataclass(frozen=True)
class StartTimer:
    name: str
    seconds: float
    after_playback: bool = True  # start counting when the prompts queued before it finish


@dataclass(frozen=True)
class CancelTimer:
    name: str


@dataclass(frozen=True)
class HttpRequest:
    method: str
    url: str
    timeout: float = 3.0
    headers: dict[str, str] = field(default_factory=dict)
    body: str | None = None


@dataclass(frozen=True)
class Warm:
    """How a warm transfer goes: `whisper` to the agent only, `hold` looped to the caller
    meanwhile, `timeout` seconds of ringing before `no_answer`."""

    whisper: tuple[Say, ...] = ()
    hold: tuple[Say, ...] = ()
    timeout: float = 30.0


@dataclass(frozen=True)
class Transfer:
    """Blind transfer (REFER), or warm with `warm`; `headers` carry the flow's context as X-
    headers."""

    to: str
    headers: dict[str, str] = field(default_factory=dict)
    warm: Warm | None = None


@dataclass(frozen=True)
class Record:
    max_seconds: float = 120.0
    silence: float = 5.0
    beep: bool = True


@dataclass(frozen=True)
class ScheduleCallback:
    """Add `number` to the callback campaign `campaign`, to be called from `at` (None: as soon
    as its calling window allows), with the call's `context` as the contact's fields. The
    runtime answers with `CallbackResult`."""

    number: str
    campaign: str
    at: datetime | None = None
    context: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class HangUp:
    reason: str = "flow"


@dataclass(frozen=True)
class Complete:
    """Ask the language model for its next reply, streamed back as `CompletionText` events and
    one `CompletionEnded`: OpenAI chat-completions `messages` and `tools` (dialog/assistant.py).
    The runtime adds the endpoint, the model's name and the key (settings `llm.*`)."""

    messages: tuple[dict[str, Any], ...]
    tools: tuple[dict[str, Any], ...] = ()


Action = (
    Say
    | Listen
    | StartTimer
    | CancelTimer
    | HttpRequest
    | Transfer
    | Record
    | ScheduleCallback
    | HangUp
    | Complete
)
