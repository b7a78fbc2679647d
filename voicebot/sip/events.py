"""What happened on the SIP side, as small frozen events handed out by `SipEndpoint.events()`.

pjsua2 callbacks (on the endpoint's own thread) and the media clock thread only build these and
put them on a thread-safe queue; whoever runs the call logic reads them on its own thread.
Every event names its call by `call_id`, an id the endpoint chose (stable for the whole call,
unlike pjsua's small reusable call index), and carries `at`, the `time.monotonic()` at which it
was seen.

    IncomingCall     an INVITE passed the allow-list; answer, reject or let it ring
    CallRefused      an INVITE from outside the allow-list was answered 403 (no call_id)
    CallProgress     outbound: a provisional response (180, 183)
    CallAnswered     the call is confirmed (200 OK and ACK), either direction
    MediaReady       audio flows; `media` is the call's `CallMedia` handle (always after
                     CallAnswered: what is played from then on reaches the far end)
    CallHeld         a re-INVITE put the call on hold (`held`) or took it off; `by` who asked
    DtmfReceived     one key, by RFC 4733 ("rfc4733") or SIP INFO ("info")
    PlaybackDone     everything queued with `CallMedia.play` went out, or was stopped
    TransferOutcome  a NOTIFY about a REFER we sent (final when `final`; ok when 2xx)
    TransferRequested  the far end sent us a REFER; we are calling `target` as `new_call_id`
    CallEnded        the call is over; `by` says which side ended it
    Registered       a REGISTER got its final answer (status 200 = registered)
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from voicebot.sip.media import CallMedia


@dataclass(frozen=True)
class IncomingCall:
    call_id: str
    remote_uri: str  # From, e.g. '"Alice" <sip:alice@10.0.0.2>'
    local_uri: str  # To
    source: str  # "host:port" the INVITE came from
    sip_call_id: str = ""
    headers: dict[str, str] = field(default_factory=dict)  # the X- headers of the INVITE
    at: float = 0.0


@dataclass(frozen=True)
class CallRefused:
    remote_uri: str
    source: str
    status_code: int = 403
    at: float = 0.0


@dataclass(frozen=True)
class CallProgress:
    call_id: str
    status_code: int
    reason: str = ""
    at: float = 0.0


@dataclass(frozen=True)
class CallAnswered:
    call_id: str
    direction: str  # "inbound" | "outbound"
    at: float = 0.0


@dataclass(frozen=True)
class MediaReady:
    call_id: str
    media: CallMedia
    codec: str = ""  # e.g. "G722/16000", "PCMU/8000"
    at: float = 0.0


@dataclass(frozen=True)
class CallHeld:
    call_id: str
    held: bool  # False: resumed
    by: str = "remote"  # "remote" | "local"
    at: float = 0.0


@dataclass(frozen=True)
class DtmfReceived:
    call_id: str
    digit: str
    method: str  # "rfc4733" | "info"
    duration_ms: int = 0
    at: float = 0.0


@dataclass(frozen=True)
class PlaybackDone:
    call_id: str
    interrupted: bool = False  # True when `stop_playback` cut it short
    at: float = 0.0


@dataclass(frozen=True)
class TransferOutcome:
    call_id: str
    status_code: int  # from the NOTIFY's sipfrag: 100, 180, 200, 486, 603, ...
    reason: str = ""
    final: bool = False
    at: float = 0.0

    @property
    def ok(self) -> bool:
        return self.final and 200 <= self.status_code < 300


@dataclass(frozen=True)
class TransferRequested:
    call_id: str
    target: str  # the Refer-To URI
    new_call_id: str  # the call we place to it (its events follow under this id)
    at: float = 0.0


@dataclass(frozen=True)
class CallEnded:
    call_id: str
    reason: str  # the SIP reason phrase, e.g. "Normal call clearing", "Busy Here"
    status_code: int  # last status of the INVITE session (200 after a normal BYE, 486, 487 ...)
    by: str = "remote"  # "remote" | "local"
    at: float = 0.0


@dataclass(frozen=True)
class Registered:
    status_code: int
    reason: str = ""
    expires: int = 0
    at: float = 0.0


SipEvent = (
    IncomingCall
    | CallRefused
    | CallProgress
    | CallAnswered
    | MediaReady
    | CallHeld
    | DtmfReceived
    | PlaybackDone
    | TransferOutcome
    | TransferRequested
    | CallEnded
    | Registered
)
