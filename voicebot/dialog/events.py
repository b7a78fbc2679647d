"""Events the dialog engine takes: plain frozen data, stamped with `now` by the caller."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from voicebot.dialog.frustration import Prosody


@dataclass(frozen=True)
class CallStarted:
    call_id: str
    caller: str = ""
    callee: str = ""
    direction: str = "inbound"  # "inbound" | "outbound"
    started_at: datetime | None = None
    contact: dict[str, Any] = field(default_factory=dict)  # the campaign row, outbound only


@dataclass(frozen=True)
class AnswerDetected:
    """Outbound only: who picked up, decided by answering-machine detection."""

    kind: str  # "human" | "machine"


@dataclass(frozen=True)
class Utterance:
    """Recognised speech (final result)."""

    text: str
    confidence: float = 1.0
    prosody: Prosody | None = None  # the turn's loudness and pitch (speech/prosody.py)
    barged_in: bool = False  # the caller spoke over the prompt


@dataclass(frozen=True)
class Dtmf:
    """One or more keys, in order (RFC 4733 or SIP INFO)."""

    digits: str


@dataclass(frozen=True)
class TimerFired:
    """A timer started by a `StartTimer` action ran out ("no_input", "interdigit", ...)."""

    name: str


@dataclass(frozen=True)
class PlaybackDone:
    """Everything the engine asked to say so far has been played (or barged into)."""

    interrupted: bool = False


@dataclass(frozen=True)
class HttpResult:
    status: int | None = None  # None on network error or timeout
    json: Any = None
    text: str = ""
    error: str = ""  # "" | "timeout" | "error"


@dataclass(frozen=True)
class TransferResult:
    outcome: str  # "ok" | "failed" | "busy" | "no_answer"


@dataclass(frozen=True)
class CallbackResult:
    """The runtime's answer to `ScheduleCallback`: the contact exists (`ok`), or why not."""

    ok: bool
    detail: str = ""


@dataclass(frozen=True)
class RecordingDone:
    path: str = ""
    seconds: float = 0.0  # speech captured; 0 means no audio


@dataclass(frozen=True)
class Failure:
    """Work done for the call failed or never came back: recognition, synthesis, saving a
    recording, or a call the watchdog found neither playing nor listening. The flow's error
    handling takes it (`on.timeout` / `on.error` of the step, then `defaults.on_error`, ...)."""

    what: str  # "recognition" | "synthesis" | "recording" | "watchdog" | ...
    error: str = "error"  # "error" | "timeout"
    detail: str = ""


@dataclass(frozen=True)
class CompletionText:
    """A piece of the language model's reply, as it streams in."""

    text: str


@dataclass(frozen=True)
class ToolCall:
    """A tool the model called: its name and its arguments as the JSON text it wrote."""

    id: str
    name: str
    arguments: str = ""


@dataclass(frozen=True)
class CompletionEnded:
    """The model's reply is complete (with the tools it called), or failed: `error` is
    "timeout" or "error" (HTTP status, malformed stream, no endpoint), `detail` says why."""

    tool_calls: tuple[ToolCall, ...] = ()
    error: str = ""
    detail: str = ""


@dataclass(frozen=True)
class Hangup:
    """The far end hung up."""

    reason: str = "caller"


Event = (
    CallStarted
    | AnswerDetected
    | Utterance
    | Dtmf
    | TimerFired
    | PlaybackDone
    | HttpResult
    | TransferResult
    | CallbackResult
    | RecordingDone
    | Failure
    | CompletionText
    | CompletionEnded
    | Hangup
)
