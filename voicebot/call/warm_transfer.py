"""A warm transfer, sans-IO: call the agent, whisper to them, keep the caller on hold, join.

    wt = WarmTransfer(Transfer(to, headers, Warm(whisper, hold, timeout)))
    actions = wt.start(now)                        # Dial, PlayCaller(hold)
    actions = wt.handle(AgentMedia(), now)         # the agent answered: PlayAgent(whisper)
    actions = wt.handle(AgentPlayed(), now)        # whisper over (accepted): StopCaller, Join
    actions = wt.handle(Joined(), now)             # Done("ok", join_seconds)

The runner (call/live_call.py) performs the actions on the two SIP legs and feeds back what
happened; this module reads no clock and touches no socket. The agent *accepts* when their
call is answered and the whisper has been played to the end, or, with `accept_key`, when they
press that key during the whisper. `Done.join_seconds` is the time from accepting to the join.

Every way in and out of a state, in one table (`_TRANSITIONS`):

    state       event                      -> state      actions
    dialing     AgentMedia                 -> whisper    PlayAgent(whisper)
    dialing     AgentEnded 486/600         -> over       StopCaller, Done(busy)
    dialing     AgentEnded other           -> over       StopCaller, Done(no_answer|failed)
    dialing     Tick past `timeout`        -> over       HangupAgent, StopCaller, Done(no_answer)
    dialing     DialFailed(busy?)          -> over       StopCaller, Done(busy|failed)
    whisper     AgentPlayed / accept key   -> joining    StopAgent, StopCaller, Join
    whisper     AgentEnded                 -> over       StopCaller, Done(failed)
    whisper     Tick past WHISPER_LIMIT    -> over       HangupAgent, StopCaller, Done(failed)
    joining     Joined                     -> joined     Done(ok, join_seconds)
    joining     JoinFailed                 -> over       HangupAgent, Done(failed)
    joined      AgentEnded                 -> over       HangupCaller
    dialing, whisper  CallerPlayed          -> same       PlayCaller(hold)   (the hold loops)
    any live    CallerGone                 -> over       HangupAgent

No answer (408, 480, and our own CANCEL's 487) is `no_answer`; 486 and 600 are `busy`; every
other failure, and an agent who hangs up during the whisper, is `failed`. Until `Done`, the
caller hears the hold prompt, looped: never silence.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from enum import Enum

from voicebot.dialog.actions import Say, Transfer, Warm

WHISPER_LIMIT = 120.0  # seconds the whisper may take once the agent answered
BUSY = (486, 600)
NO_ANSWER = (408, 480, 487)


class State(Enum):
    DIALING = "dialing"
    WHISPER = "whisper"
    JOINING = "joining"
    JOINED = "joined"
    OVER = "over"


# -- what happened ---------------------------------------------------------------------------
@dataclass(frozen=True)
class AgentMedia:
    """The agent's call is answered and its audio flows."""


@dataclass(frozen=True)
class AgentPlayed:
    """Everything played to the agent went out (the whisper is over)."""


@dataclass(frozen=True)
class AgentKey:
    digit: str


@dataclass(frozen=True)
class AgentEnded:
    status_code: int  # the INVITE's final status when never answered; 200 after a BYE


@dataclass(frozen=True)
class DialFailed:
    busy: bool  # True: no call slot free on this worker
    detail: str = ""


@dataclass(frozen=True)
class CallerPlayed:
    """The hold prompt played to the caller ended."""


@dataclass(frozen=True)
class CallerGone:
    """The caller hung up."""


@dataclass(frozen=True)
class Joined:
    """Caller and agent hear each other."""


@dataclass(frozen=True)
class JoinFailed:
    detail: str = ""


@dataclass(frozen=True)
class Tick:
    """Time passed."""


WarmEvent = (
    AgentMedia
    | AgentPlayed
    | AgentKey
    | AgentEnded
    | DialFailed
    | CallerPlayed
    | CallerGone
    | Joined
    | JoinFailed
    | Tick
)


# -- what to do ------------------------------------------------------------------------------
@dataclass(frozen=True)
class Dial:
    to: str
    headers: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class PlayCaller:
    says: tuple[Say, ...]


@dataclass(frozen=True)
class PlayAgent:
    says: tuple[Say, ...]


@dataclass(frozen=True)
class StopCaller:
    pass


@dataclass(frozen=True)
class StopAgent:
    pass


@dataclass(frozen=True)
class Join:
    pass


@dataclass(frozen=True)
class HangupAgent:
    pass


@dataclass(frozen=True)
class HangupCaller:
    pass


@dataclass(frozen=True)
class Done:
    outcome: str  # ok | busy | no_answer | failed (the flow's transfer routes)
    join_seconds: float | None = None  # ok: from the agent accepting to the join
    detail: str = ""


WarmAction = (
    Dial
    | PlayCaller
    | PlayAgent
    | StopCaller
    | StopAgent
    | Join
    | HangupAgent
    | HangupCaller
    | Done
)


class WarmTransfer:
    def __init__(self, transfer: Transfer, accept_key: str | None = None) -> None:
        self.to = transfer.to
        self.headers = dict(transfer.headers)
        self.spec: Warm = transfer.warm or Warm()
        self.accept_key = accept_key
        self.state = State.DIALING
        self.started = 0.0
        self.answered_at: float | None = None
        self.accepted_at: float | None = None
        self.outcome: Done | None = None

    @property
    def live(self) -> bool:
        """Not over yet: the agent leg exists or is being set up."""
        return self.state is not State.OVER

    def start(self, now: float) -> list[WarmAction]:
        self.started = now
        return [Dial(self.to, self.headers), PlayCaller(self.spec.hold)]

    def handle(self, event: WarmEvent, now: float) -> list[WarmAction]:
        if isinstance(event, CallerPlayed):
            live = self.state in (State.DIALING, State.WHISPER)
            return [PlayCaller(self.spec.hold)] if live else []
        if isinstance(event, CallerGone):
            was, self.state = self.state, State.OVER
            return [HangupAgent()] if was is not State.OVER else []
        for state, kind, rule in _TRANSITIONS:
            if state is self.state and isinstance(event, kind):
                return rule(self, event, now)
        return []

    # -- the transitions ---------------------------------------------------------------------
    def _over(
        self, outcome: str, now: float, detail: str = "", *first: WarmAction
    ) -> list[WarmAction]:
        self.state = State.OVER
        self.outcome = Done(outcome, None, detail)
        return [*first, StopCaller(), self.outcome]

    def _answered(self, event: WarmEvent, now: float) -> list[WarmAction]:
        self.state, self.answered_at = State.WHISPER, now
        if not self.spec.whisper:  # nothing to say: accepted on answer
            return self._accept(event, now)
        return [PlayAgent(self.spec.whisper)]

    def _accept(self, event: WarmEvent, now: float) -> list[WarmAction]:
        if isinstance(event, AgentKey) and event.digit != self.accept_key:
            return []
        self.state, self.accepted_at = State.JOINING, now
        return [StopAgent(), StopCaller(), Join()]

    def _dial_ended(self, event: WarmEvent, now: float) -> list[WarmAction]:
        assert isinstance(event, AgentEnded)
        code = event.status_code
        outcome = "busy" if code in BUSY else "no_answer" if code in NO_ANSWER else "failed"
        return self._over(outcome, now, f"agent leg ended: {code}")

    def _dial_failed(self, event: WarmEvent, now: float) -> list[WarmAction]:
        assert isinstance(event, DialFailed)
        return self._over("busy" if event.busy else "failed", now, event.detail)

    def _ringing(self, event: WarmEvent, now: float) -> list[WarmAction]:
        if now - self.started < self.spec.timeout:
            return []
        detail = f"no answer in {self.spec.timeout:g} s"
        return self._over("no_answer", now, detail, HangupAgent())

    def _whisper_ended(self, event: WarmEvent, now: float) -> list[WarmAction]:
        return self._over("failed", now, "the agent hung up during the whisper")

    def _whispering(self, event: WarmEvent, now: float) -> list[WarmAction]:
        assert self.answered_at is not None
        if now - self.answered_at < WHISPER_LIMIT:
            return []
        return self._over("failed", now, "the whisper never ended", HangupAgent())

    def _joined(self, event: WarmEvent, now: float) -> list[WarmAction]:
        assert self.accepted_at is not None
        self.state = State.JOINED
        self.outcome = Done("ok", now - self.accepted_at)
        return [self.outcome]

    def _join_failed(self, event: WarmEvent, now: float) -> list[WarmAction]:
        assert isinstance(event, JoinFailed)
        self.state = State.OVER
        self.outcome = Done("failed", None, f"join failed: {event.detail}")
        return [HangupAgent(), StopCaller(), self.outcome]

    def _agent_left(self, event: WarmEvent, now: float) -> list[WarmAction]:
        self.state = State.OVER
        return [HangupCaller()]


_Rule = Callable[[WarmTransfer, WarmEvent, float], list[WarmAction]]
_TRANSITIONS: tuple[tuple[State, type | tuple[type, ...], _Rule], ...] = (
    (State.DIALING, AgentMedia, WarmTransfer._answered),
    (State.DIALING, AgentEnded, WarmTransfer._dial_ended),
    (State.DIALING, DialFailed, WarmTransfer._dial_failed),
    (State.DIALING, Tick, WarmTransfer._ringing),
    (State.WHISPER, (AgentPlayed, AgentKey), WarmTransfer._accept),
    (State.WHISPER, AgentEnded, WarmTransfer._whisper_ended),
    (State.WHISPER, Tick, WarmTransfer._whispering),
    (State.JOINING, Joined, WarmTransfer._joined),
    (State.JOINING, JoinFailed, WarmTransfer._join_failed),
    (State.JOINING, AgentEnded, WarmTransfer._whisper_ended),
    (State.JOINED, AgentEnded, WarmTransfer._agent_left),
)
