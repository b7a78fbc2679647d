"""One phone call's turn-taking, sans-IO: the listener and the dialog engine, joined.

    session = CallSession(engine, Listener(rate=8000))
    outputs = session.start(CallStarted(...), now)
    outputs = session.handle(AudioIn(frame_pcm, now), now)     # every 20 ms frame
    outputs = session.handle(Recognized(turn, "yes", 0.93, final=True), now)

Inputs are what happened on the call (caller audio, keys, recognition results, playback
finished, HTTP and transfer results, hang-up); outputs are what to do (play a prompt, stop
playing, recognise this audio, fetch, transfer, hang up, save a recording). The runner that owns
the SIP call, the recogniser and the synthesiser performs them; this module does no I/O, starts
no thread and reads no clock.

Rules it keeps:
- Prompts queue in order. `HangUp`, `Transfer` and `Record` wait for the queue to drain.
- The listener knows when a prompt plays (barge-in) and starts the no-input timer when the
  prompts finish. A barge-in pauses playback (`PausePlayback`); an interruption then stops it
  and drops the prompts still queued, a backchannel ("uh-huh") resumes it (`ResumePlayback`,
  a little before where it paused) and is kept as a caller turn marked "backchannel" that the
  engine never sees.
- An utterance goes to the recogniser when the listener ends it; while the caller pauses, a
  partial is asked for so the listener can end a complete answer early, and, in an open answer
  (free text), the turn model's score (`PredictTurn` -> `TurnScored`; with `turn_model=True`)
  so it can end a finished sentence early. A score that never comes costs only the early end.
  A final result with no text (noise, a cough) re-opens listening without counting as an
  attempt.
- Keys go straight to the engine and stop a barge-in prompt; the prompt counts as finished
  at once, and the runner's later `PlaybackFinished` for it is ignored.
- Turn latency is measured from the end of the caller's speech (the listener's estimate) to the
  first bot audio the runner reports playing (`PlaybackStarted`).
- Every request to the outside (`Perform` of an HTTP request or a transfer, a final `Recognize`,
  `SaveRecording`) has a deadline (`Deadlines`) and comes back as exactly one input: its result,
  a `RequestFailed` the runner posts, or a timeout the session declares itself when the deadline
  passes (a result arriving after that is dropped). HTTP failures are `HttpResult`s with
  `error`, transfer failures `TransferResult("failed"|"no_answer")`; the others reach the
  engine as a `Failure`, which takes the flow's error route.
- An `llm` step's completion (`AskModel`) streams back as `Streamed` inputs, each piece to the
  engine as it comes (so the first sentence plays while the rest is written); its deadline is
  `Deadlines.model`, and a failure or timeout reaches the engine as `CompletionEnded(error)`.
- The watchdog: a call that neither plays nor listens (nor records, nor waits for answering-
  machine detection or a transfer) for `Deadlines.watchdog` seconds gets a `Failure("watchdog")`
  (the flow's error route); if that route makes no sound at once, the apology plays and the
  bot hangs up.
  Each incident is kept in `incidents`, for the call record.
- Each caller utterance carries its voice (loudness and pitch, speech/prosody.py, measured once
  on the utterance's audio) and whether it barged in, for the frustration estimate; each
  caller turn keeps the estimate the engine made of it (`Turn.frustration`), for the record.
- A `callback` step's `ScheduleCallback` is a request like HTTP: the runner books it and posts
  `CallbackResult`, or the session declares it failed after `Deadlines.callback`.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any, Protocol

from voicebot.dialog import actions as act
from voicebot.dialog import events as ev
from voicebot.dialog.engine import DialogEngine
from voicebot.dialog.expectation import FREE_TEXT, Expectation
from voicebot.dialog.frustration import Prosody
from voicebot.speech import listener as lis
from voicebot.speech.prosody import measure
from voicebot.speech.vad import Vad

log = logging.getLogger(__name__)


# -- inputs --------------------------------------------------------------------------------------
@dataclass(frozen=True)
class AudioIn:
    pcm: bytes  # one 20 ms frame of caller audio, PCM16 at the listener's rate
    played: int = 0  # peak of the bot audio sent at the same tick (the listener's echo test)


@dataclass(frozen=True)
class KeyIn:
    digits: str


@dataclass(frozen=True)
class Recognized:
    turn: int
    text: str
    confidence: float
    final: bool
    audio_end: float | None = None  # for partials: the end of the audio they cover


@dataclass(frozen=True)
class TurnScored:
    """The turn model's answer to `PredictTurn`: P(the caller has finished)."""

    turn: int
    score: float
    audio_end: float


@dataclass(frozen=True)
class PlaybackStarted:
    """The first frame of a prompt went out on the wire."""


@dataclass(frozen=True)
class PlaybackFinished:
    """Everything queued has been played (or stopped)."""


@dataclass(frozen=True)
class Saved:
    path: str
    seconds: float


@dataclass(frozen=True)
class Tick:
    """Time passed with no audio (timers)."""


@dataclass(frozen=True)
class Reply:
    """The result of `Perform(HttpRequest)` number `request`."""

    request: int
    result: ev.HttpResult


@dataclass(frozen=True)
class RequestFailed:
    """A request (the output whose `key` this is) failed in the runner: an exception, or the
    runner gave up. `error` is "error" or "timeout"; key "synthesis" reports a prompt that
    could not be rendered, key "playback" the end of a playback that was never reported (it
    counts as `PlaybackFinished`)."""

    key: str
    error: str = "error"
    detail: str = ""


@dataclass(frozen=True)
class Streamed:
    """A piece of the completion `AskModel` number `request` asked for (the last one ends it)."""

    request: int
    event: ev.CompletionText | ev.CompletionEnded


SessionInput = (
    AudioIn
    | Streamed
    | KeyIn
    | Recognized
    | TurnScored
    | PlaybackStarted
    | PlaybackFinished
    | Saved
    | Tick
    | Reply
    | RequestFailed
    | ev.HttpResult
    | ev.TransferResult
    | ev.CallbackResult
    | ev.Hangup
    | ev.AnswerDetected
)


# -- outputs -------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Play:
    say: act.Say


@dataclass(frozen=True)
class StopPlayback:
    pass


@dataclass(frozen=True)
class PausePlayback:
    """The caller talks over the prompt: silence it, keeping its place."""


@dataclass(frozen=True)
class ResumePlayback:
    """Go on with the paused prompt, `rewind` seconds before where it paused (the words the
    caller talked over)."""

    rewind: float = 0.0


BACKCHANNEL_REWIND_MAX = 1.0  # seconds of a prompt replayed at most after a backchannel
BACKCHANNEL_REWIND_LEAD = 0.3  # replayed from this long before the caller began: the word


@dataclass(frozen=True)
class Recognize:
    turn: int
    pcm: bytes
    rate: int
    expect: Expectation
    final: bool
    audio_end: float | None = None  # the time of the last sample of `pcm` (the runner passes
    # it back in `Recognized`, so that the listener can tell a partial that speech outran)

    @property
    def key(self) -> str:
        return f"recognition:{self.turn}:{'final' if self.final else 'partial'}"


@dataclass(frozen=True)
class PredictTurn:
    """Ask the turn model whether the caller, paused at `audio_end`, has finished."""

    turn: int
    pcm: bytes
    rate: int
    audio_end: float


@dataclass(frozen=True)
class Beep:
    """Play the record tone (before a `record` step listens)."""


@dataclass(frozen=True)
class SaveRecording:
    pcm: bytes  # empty when the caller said nothing
    rate: int

    key = "recording"


@dataclass(frozen=True)
class Perform:
    """An engine action the runner performs as it is: HttpRequest, Transfer, HangUp."""

    action: act.HttpRequest | act.Transfer | act.ScheduleCallback | act.HangUp
    request: int = 0  # numbers HTTP requests and transfers (`Reply`, `RequestFailed.key`)

    @property
    def key(self) -> str:
        if isinstance(self.action, act.ScheduleCallback):
            return f"callback:{self.request}"
        kind = "http" if isinstance(self.action, act.HttpRequest) else "transfer"
        return f"{kind}:{self.request}"


@dataclass(frozen=True)
class AskModel:
    """Stream a completion from the flow's language model (settings `llm.*`)."""

    action: act.Complete
    request: int = 0

    @property
    def key(self) -> str:
        return f"model:{self.request}"


@dataclass(frozen=True)
class Deadlines:
    """How long the session waits for each kind of request; HTTP waits for the flow step's own
    `timeout` plus `http_grace` (the backend times itself and should report first)."""

    watchdog: float = 10.0
    recognition: float = 10.0
    recording: float = 10.0
    transfer: float = 60.0
    callback: float = 10.0
    http_grace: float = 0.5
    model: float = 10.5  # a whole completion: settings llm.timeout + http_grace


@dataclass(frozen=True)
class _Pending:
    key: str
    deadline: float
    output: Any


SessionOutput = (
    Play
    | StopPlayback
    | PausePlayback
    | ResumePlayback
    | Beep
    | Recognize
    | PredictTurn
    | SaveRecording
    | Perform
    | AskModel
)


@dataclass
class Turn:
    """One caller turn, for call records: what was heard and how long the bot took."""

    index: int
    speech_start: float
    speech_end: float
    text: str = ""
    confidence: float = 0.0
    dtmf: str = ""
    recognized_at: float | None = None
    replied_at: float | None = None
    sensitive: bool = False  # an answer to a `sensitive: true` slot: recorded masked
    barged_in: bool = False  # the caller started it while a prompt played (talked over the bot)
    end_of_turn: str = ""  # what ended the speech: "complete", "turn", "timeout", "max_speech";
    # "backchannel": said over a prompt, which went on (not an answer)
    turn_score: float | None = None  # the turn model's latest score, if it was asked
    prosody: Prosody | None = None  # the voice of the utterance
    frustration: float | None = None  # the engine's estimate after this turn
    reasons: tuple[str, ...] = ()
    sentiment: float | None = None

    @property
    def latency(self) -> float | None:
        if self.replied_at is None:
            return None
        return self.replied_at - self.speech_end


@dataclass
class _Recording:
    spec: act.Record
    started: float | None = None  # None while the beep/prompts still play
    frames: list[bytes] = field(default_factory=list)
    heard_speech: bool = False
    last_voice: float = 0.0
    saving: bool = False


AMD_TURN = -1  # the `turn` of recognition requests about the greeting (AMD transcript cues)
AMD_NO_DECISION = 6.0  # nothing decided this long after answer: treat as a human
AMD_MACHINE_WAIT = 30.0  # machine decided, no beep nor end of greeting: speak anyway


class AnswerDetector(Protocol):
    """voicebot.speech.amd.AnsweringMachineDetector, as the session uses it."""

    def start(self, now: float) -> None: ...
    def feed(self, pcm: bytes, now: float) -> list[Any]: ...
    def transcript(self, text: str, now: float) -> list[Any]: ...


class CallSession:
    def __init__(
        self,
        engine: DialogEngine,
        listener: lis.Listener,
        *,
        partials: bool = True,
        turn_model: bool = False,
        wall_clock_origin: datetime | None = None,
        amd: AnswerDetector | None = None,
        deadlines: Deadlines = Deadlines(),
    ):
        self.engine = engine
        self.deadlines = deadlines
        self.pending: dict[str, _Pending] = {}  # requests out, by key
        self.gave_up: set[str] = set()  # requests timed out or failed: late answers are dropped
        self.requests = 0  # Perform numbers handed out
        self.idle_since: float | None = None  # neither playing nor listening since
        self.incidents: list[str] = []  # "12.3 s: what happened", for the call record
        self.listener = listener
        self.rate = listener.rate
        self.partials = partials
        self.turn_model = turn_model  # ask for PredictTurn at pauses of open answers
        self.origin = wall_clock_origin  # datetime at monotonic 0, for the engine's `now`
        self.playing = 0  # prompts queued and not yet finished
        self.stale_finishes = 0  # PlaybackFinished still to come for prompts keys stopped
        self.deferred: list[act.Action] = []  # waits for playback to drain
        self.timers: dict[str, float] = {}  # name -> deadline
        self.expect: Expectation | None = None
        self.listen_timeout = 5.0
        self.turn = 0
        self.awaiting_final = False
        self.partial_pending = False
        self.turns: list[Turn] = []
        self.barged_in = False  # a barge-in stopped a prompt; the next caller turn is marked
        self.paused_over = 0.0  # seconds of prompt the caller had talked over when it paused
        self.barge_pending = False  # the final transcript judges the speech over a paused prompt
        self.recording: _Recording | None = None
        self.ended = False
        self.now = 0.0
        self.amd = amd
        self.amd_started: float | None = None
        self.amd_machine_at: float | None = None
        self.amd_audio: list[bytes] = []
        self.amd_asked = 0.0  # greeting seconds already sent for a transcript
        self.answered_by: str | None = None  # "human" | "machine" once decided

    # -- time ------------------------------------------------------------------------------------
    def _wall(self, now: float) -> datetime:
        origin = self.origin or datetime.now().astimezone()
        return origin + timedelta(seconds=now)

    # -- entry points ---------------------------------------------------------------------------
    def start(self, call: ev.CallStarted, now: float) -> list[SessionOutput]:
        self.now = now
        return self._supervise(self._start(call, now), now)

    def handle(self, item: SessionInput, now: float) -> list[SessionOutput]:
        self.now = now
        if self.ended:
            return []
        try:
            out = self._handle(item, now)
        except Exception as exc:  # a bug must cost the caller one error prompt, not the call
            log.exception("session failed on %s", type(item).__name__)
            out = self._failed("internal", f"{type(exc).__name__}: {exc}", "error", now)
        return self._supervise(out, now)

    def _start(self, call: ev.CallStarted, now: float) -> list[SessionOutput]:
        if self.origin is None:
            self.origin = (call.started_at or datetime.now().astimezone()) - timedelta(seconds=now)
        out = self._engine(call, now)
        if self.engine.waiting == "answer":
            if self.amd is None:  # nothing to tell: assume a person picked up
                return out + self._answered("human", now)
            self.amd.start(now)
            self.amd_started = now
        return out

    def _handle(self, item: SessionInput, now: float) -> list[SessionOutput]:
        out: list[SessionOutput] = []
        if isinstance(item, Reply | RequestFailed):
            return self._answered_request(item, now)
        if isinstance(item, Streamed):
            return self._streamed(item, now)
        if self.amd_started is not None:
            if isinstance(item, AudioIn):
                return self._amd_frame(item.pcm, now)
            if isinstance(item, Recognized) and item.turn == AMD_TURN:
                self.pending.pop(f"recognition:{AMD_TURN}:partial", None)
                return self._amd_events(self._amd().transcript(item.text, now), now)
            if isinstance(item, Tick):
                return self._amd_events([], now)
        if isinstance(item, AudioIn):
            if self.recording is not None:
                return self._record_frame(item.pcm, now)
            out += self._listener_events(self.listener.feed(item.pcm, now, item.played), now)
            out += self._timers(now)
        elif isinstance(item, Tick):
            out += self._listener_events(self.listener.tick(now), now)
            out += self._timers(now)
        elif isinstance(item, Recognized):
            key = f"recognition:{item.turn}:{'final' if item.final else 'partial'}"
            if self.pending.pop(key, None) is None and key in self.gave_up:
                return []  # after its deadline: the session took the error route
            out += self._recognized(item, now)
        elif isinstance(item, TurnScored):
            if item.turn == self.turn and not self.awaiting_final:
                events = self.listener.turn_score(item.score, now, item.audio_end)
                out += self._listener_events(events, now)
        elif isinstance(item, KeyIn):
            out += self._keys(item.digits, now)
        elif isinstance(item, PlaybackStarted):
            last = self.turns[-1] if self.turns else None  # the bot's first sound replies to it
            if (
                last is not None
                and last.replied_at is None
                and last.recognized_at is not None
                and last.end_of_turn != "backchannel"
            ):
                last.replied_at = now
        elif isinstance(item, PlaybackFinished):
            if self.stale_finishes:
                self.stale_finishes -= 1
            else:
                out += self._drained(now)
        elif isinstance(item, Saved):
            if self.pending.pop(SaveRecording.key, None) is None and self.recording is None:
                return []  # saved after the session gave up on it
            self.recording = None
            out += self._engine(ev.RecordingDone(item.path, item.seconds), now)
        elif isinstance(item, ev.Hangup):
            self.engine.handle(item, self._wall(now))
            self.ended = True
        elif isinstance(item, ev.HttpResult | ev.TransferResult | ev.CallbackResult):
            kind = {ev.HttpResult: "http:", ev.TransferResult: "transfer:"}.get(
                type(item), "callback:"
            )  # the one in flight, if any
            in_flight = next((k for k in self.pending if k.startswith(kind)), None)
            if in_flight is not None:
                del self.pending[in_flight]
            elif any(k.startswith(kind) for k in self.gave_up) and not (
                isinstance(item, ev.TransferResult) and item.outcome == "ok"
            ):
                return []  # after its deadline: the flow has moved on
            out += self._engine(item, now)
        else:  # AnswerDetected goes to the engine as it is
            out += self._engine(item, now)
        return out

    # -- requests, deadlines, the watchdog -----------------------------------------------------
    def _answered_request(self, item: Reply | RequestFailed, now: float) -> list[SessionOutput]:
        if isinstance(item, RequestFailed) and item.key == "synthesis":
            return self._failed("synthesis", item.detail, item.error, now)
        if isinstance(item, RequestFailed) and item.key == "playback":
            self._incident(f"playback {item.error}", item.detail, now)
            return self._handle(PlaybackFinished(), now) if self.playing else []
        key = f"http:{item.request}" if isinstance(item, Reply) else item.key
        pending = self.pending.pop(key, None)
        if pending is not None and isinstance(item, RequestFailed):
            self.gave_up.add(key)
        if pending is None:
            log.info("%s came back after the session gave up on it", key)
            return []
        if isinstance(item, Reply):
            if item.result.error:  # the flow routes it; the record keeps why
                self._incident(f"{key} {item.result.error}", item.result.text, now)
            return self._engine(item.result, now)
        return self._request_failed(pending, item.error, item.detail, now)

    def _streamed(self, item: Streamed, now: float) -> list[SessionOutput]:
        key = f"model:{item.request}"
        if key not in self.pending:
            return []  # after its deadline (or for a step long left): dropped
        if isinstance(item.event, ev.CompletionEnded):
            del self.pending[key]
            if item.event.error:
                self._incident(f"{key} {item.event.error}", item.event.detail, now)
        return self._engine(item.event, now)

    def _request_failed(
        self, pending: _Pending, error: str, detail: str, now: float
    ) -> list[SessionOutput]:
        output = pending.output
        if isinstance(output, AskModel):
            return self._engine(ev.CompletionEnded(error=error, detail=detail), now)
        if isinstance(output, Recognize) and not output.final:
            log.debug("%s %s: %s", pending.key, error, detail)
            self.partial_pending = False  # only an early end lost; the final will be asked for
            return []
        self._incident(f"{pending.key} {error}", detail, now)
        if isinstance(output, Perform) and isinstance(output.action, act.HttpRequest):
            return self._engine(ev.HttpResult(error=error, text=detail), now)
        if isinstance(output, Perform) and isinstance(output.action, act.ScheduleCallback):
            return self._engine(ev.CallbackResult(False, f"callback {error}: {detail}"), now)
        if isinstance(output, Perform):  # a transfer
            outcome = "no_answer" if error == "timeout" else "failed"
            return self._engine(ev.TransferResult(outcome), now)
        if isinstance(output, Recognize):
            self.awaiting_final = False
            self.expect = None
            self.listener.stop_listening()
            return self._engine(ev.Failure("recognition", error, detail), now)
        assert isinstance(output, SaveRecording)
        self.recording = None
        return self._engine(ev.Failure("recording", error, detail), now)

    def _incident(self, what: str, detail: str, now: float) -> None:
        self.incidents.append(f"{now:.1f} s: {what}" + (f": {detail}" if detail else ""))
        log.warning("%s: %s", what, detail)

    def _failed(self, what: str, detail: str, error: str, now: float) -> list[SessionOutput]:
        self._incident(f"{what} {error}", detail, now)
        return self._engine(ev.Failure(what, error, detail), now)

    def _deadline(self, output: SessionOutput) -> float | None:
        d = self.deadlines
        if isinstance(output, Perform) and isinstance(output.action, act.HttpRequest):
            return output.action.timeout + d.http_grace
        if isinstance(output, Perform) and isinstance(output.action, act.Transfer):
            warm = output.action.warm  # rings `timeout`, then the whisper: the core times both
            return d.transfer if warm is None else warm.timeout + d.transfer
        if isinstance(output, Perform) and isinstance(output.action, act.ScheduleCallback):
            return d.callback
        if isinstance(output, Recognize):
            return d.recognition
        if isinstance(output, SaveRecording):
            return d.recording
        if isinstance(output, AskModel):
            return d.model
        return None

    def _supervise(self, out: list[SessionOutput], now: float) -> list[SessionOutput]:
        """Number and time the requests in `out`; declare the overdue ones timed out; run the
        watchdog."""
        done: list[SessionOutput] = []
        while True:
            for i, o in enumerate(out):
                if (isinstance(o, Perform) and not isinstance(o.action, act.HangUp)) or isinstance(
                    o, AskModel
                ):
                    self.requests += 1
                    o = out[i] = replace(o, request=self.requests)
                seconds = self._deadline(o)
                if seconds is not None:
                    key = o.key  # type: ignore[union-attr]
                    self.pending[key] = _Pending(key, now + seconds, o)
            done += out
            out = []
            for key, p in list(self.pending.items()):
                if now >= p.deadline and not self.ended and key in self.pending:
                    del self.pending[key]
                    self.gave_up.add(key)
                    out += self._request_failed(p, "timeout", "no answer in time", now)
            if not out:
                out = self._watchdog(now)
            if not out:
                return done

    def _busy(self) -> bool:
        """Playing, listening, recording, detecting who answered or transferring."""
        return (
            self.playing > 0
            or (self.expect is not None and not self.awaiting_final)
            or self.recording is not None
            or self.amd_started is not None
            or any(k.startswith(("transfer:", "model:")) for k in self.pending)
            or self.engine.ended
        )

    def _watchdog(self, now: float) -> list[SessionOutput]:
        if self.ended or self._busy():
            self.idle_since = None
            return []
        if self.idle_since is None:
            self.idle_since = now
            return []
        idle = now - self.idle_since
        if idle < self.deadlines.watchdog:
            return []
        self.idle_since = None
        detail = f"neither playing nor listening for {idle:.1f} s in step {self.engine.step_id}"
        for key in list(self.pending):  # whatever it was waiting for no longer matters
            del self.pending[key]
            self.gave_up.add(key)
        out = self._failed("watchdog", detail, "timeout", now)
        if not self.ended and not self._busy():  # the error route is silent too: give up now
            self._incident("watchdog hang-up", "the error route made no sound", now)
            out += self._perform(self.engine.give_up("watchdog: no sound", self._wall(now)), now)
        return out

    # -- answering-machine detection (outbound) ----------------------------------------------
    def _amd(self) -> AnswerDetector:
        assert self.amd is not None
        return self.amd

    def _amd_frame(self, pcm: bytes, now: float) -> list[SessionOutput]:
        self.amd_audio.append(pcm)
        out = self._amd_events(self._amd().feed(pcm, now), now)
        heard = len(self.amd_audio) * 0.02
        if self.amd_started is not None and heard - self.amd_asked >= 1.0 and heard <= 6.0:
            self.amd_asked = heard  # the greeting's words so far, for cue phrases
            out.append(
                Recognize(AMD_TURN, b"".join(self.amd_audio), self.rate, FREE_TEXT, final=False)
            )
        return out

    def _amd_events(self, events: list[Any], now: float) -> list[SessionOutput]:
        assert self.amd_started is not None
        for e in events:
            kind = getattr(e, "kind", None)
            if kind == "human" and self.amd_machine_at is None:
                return self._answered("human", now)
            if kind == "machine" and self.amd_machine_at is None:
                self.amd_machine_at = now
            elif type(e).__name__ in ("BeepHeard", "GreetingEnded") and self.amd_machine_at:
                return self._answered("machine", now)
        if self.amd_machine_at is not None and now - self.amd_machine_at >= AMD_MACHINE_WAIT:
            return self._answered("machine", now)
        if self.amd_machine_at is None and now - self.amd_started >= AMD_NO_DECISION:
            return self._answered("human", now)
        return []

    def _answered(self, kind: str, now: float) -> list[SessionOutput]:
        self.amd_started = None
        self.amd_audio = []
        self.answered_by = kind
        return self._engine(ev.AnswerDetected(kind), now)

    # -- engine ----------------------------------------------------------------------------------
    def _engine(self, event: ev.Event, now: float) -> list[SessionOutput]:
        estimates = len(self.engine.estimates)
        out = self._perform(self.engine.handle(event, self._wall(now)), now)
        turn = self.turns[-1] if self.turns else None
        if len(self.engine.estimates) > estimates and turn is not None and turn.recognized_at:
            _, estimate = self.engine.estimates[-1]  # the estimate of the turn just heard
            if turn.frustration is None and isinstance(event, ev.Utterance | ev.Dtmf):
                turn.frustration, turn.reasons = estimate.level, estimate.reasons
                turn.sentiment = estimate.sentiment
        return out

    def _perform(self, actions: list[act.Action], now: float) -> list[SessionOutput]:
        out: list[SessionOutput] = []
        for action in actions:
            if self.deferred:  # something already waits for playback: keep the order
                self.deferred.append(action)
                continue
            if isinstance(action, act.Say):
                if self.playing == 0:
                    self.listener.stop_listening()
                    self.expect = None
                    self.listener.prompt_started(now, action.barge_in)
                self.playing += 1
                out.append(Play(action))
            elif isinstance(action, act.Listen):
                self.expect = action.expect
                self.listen_timeout = action.timeout
                self.turn += 1
                self.partial_pending = False  # one of an earlier turn no longer counts
                out += self._listener_events(
                    self.listener.start_listening(action.expect, now, action.timeout), now
                )
            elif isinstance(action, act.StartTimer):
                if action.name != "no_input":  # the listener times no-input from prompt end
                    self.timers[action.name] = now + action.seconds
            elif isinstance(action, act.CancelTimer):
                self.timers.pop(action.name, None)
            elif isinstance(action, act.HttpRequest | act.ScheduleCallback):
                out.append(Perform(action))
            elif isinstance(action, act.Complete):
                out.append(AskModel(action))
            elif isinstance(action, act.HangUp | act.Transfer | act.Record):
                if self.playing:
                    self.deferred.append(action)
                else:
                    out += self._final_action(action, now)
        return out

    def _final_action(self, action: act.Action, now: float) -> list[SessionOutput]:
        if isinstance(action, act.Record):
            self.listener.stop_listening()
            self.recording = _Recording(action, started=now)
            self._recorder_vad = Vad()
            return [Beep()] if action.beep else []
        if isinstance(action, act.HangUp):
            self.ended = True
        assert isinstance(action, act.HangUp | act.Transfer)
        return [Perform(action)]

    def _drained(self, now: float) -> list[SessionOutput]:
        self.playing = 0
        out = self._listener_events(self.listener.prompt_finished(now), now)
        self.engine.handle(ev.PlaybackDone(), self._wall(now))
        pending, self.deferred = self.deferred, []
        while pending and not self.ended:
            action = pending.pop(0)
            if isinstance(action, act.HangUp | act.Transfer | act.Record):
                out += self._final_action(action, now)
                if self.recording is not None or self.ended:
                    self.deferred = pending
                    break
            else:
                out += self._perform([action], now)
                if self.deferred:  # a new Say queued: the rest waits for it
                    self.deferred += pending
                    break
        return out

    # -- listening ------------------------------------------------------------------------------
    def _listener_events(self, events: list[lis.SpeechEvent], now: float) -> list[SessionOutput]:
        out: list[SessionOutput] = []
        for e in events:
            if isinstance(e, lis.BargeIn):
                self.paused_over = e.at - e.speech_start  # of the prompt the caller talked over
                out.append(PausePlayback())
            elif isinstance(e, lis.Interruption):
                self.barged_in = True
                self.deferred = [a for a in self.deferred if not isinstance(a, act.Say)]
                out.append(StopPlayback())
            elif isinstance(e, lis.Backchannel):
                out += self._backchannel(e)
            elif isinstance(e, lis.SpeechPaused) and self.expect is not None:
                if self.turn_model and self.listener.wants_turn_score and not self.awaiting_final:
                    audio = self.listener.utterance_audio()
                    out.append(PredictTurn(self.turn, audio, self.rate, e.at))
                wanted = self.partials or self.listener.deciding_barge
                if wanted and not self.partial_pending and not self.awaiting_final:
                    self.partial_pending = True
                    out.append(
                        Recognize(
                            self.turn,
                            self.listener.utterance_audio(),
                            self.rate,
                            self.expect,
                            final=False,
                            audio_end=e.at,  # the pause was declared on the latest frame
                        )
                    )
            elif isinstance(e, lis.EndOfUtterance | lis.MaxSpeech):
                if self.expect is None:
                    continue
                end = e.speech_end if isinstance(e, lis.EndOfUtterance) else e.at
                secret = self.expect.sensitive
                voice = measure(e.audio, e.rate)  # once per utterance: well under 1 ms
                turn = Turn(
                    self.turn,
                    e.speech_start,
                    end,
                    sensitive=secret,
                    barged_in=self.barged_in,
                    prosody=voice,
                )
                self.barged_in = False
                if isinstance(e, lis.EndOfUtterance):
                    turn.end_of_turn, turn.turn_score = e.reason, e.turn_score
                    self.barge_pending = e.barge
                else:
                    turn.end_of_turn = "max_speech"
                self.turns.append(turn)
                self.awaiting_final = True
                out.append(Recognize(self.turn, e.audio, e.rate, self.expect, final=True))
            elif isinstance(e, lis.NoInput):
                out += self._engine(ev.TimerFired("no_input"), now)
        return out

    def _backchannel(self, e: lis.Backchannel) -> list[SessionOutput]:
        secret = self.expect is not None and self.expect.sensitive
        turn = Turn(self.turn, e.speech_start, e.at, e.text, sensitive=secret, barged_in=True)
        turn.recognized_at = e.at
        self.turns.append(turn)
        self.partial_pending = False
        return self._resume(turn)

    def _resume(self, turn: Turn) -> list[SessionOutput]:
        """`turn` was a backchannel: the paused prompt goes on, a little before its pause."""
        turn.end_of_turn = "backchannel"
        rewind = min(max(self.paused_over, 0.0) + BACKCHANNEL_REWIND_LEAD, BACKCHANNEL_REWIND_MAX)
        return [ResumePlayback(rewind)] if self.playing else []

    def _recognized(self, result: Recognized, now: float) -> list[SessionOutput]:
        if result.turn != self.turn:
            return []  # an answer to a question no longer asked
        if not result.final:
            self.partial_pending = False
            if self.awaiting_final:
                return []
            return self._listener_events(
                self.listener.partial(result.text, now, result.audio_end), now
            )
        self.awaiting_final = False
        self.partial_pending = False  # a partial still waiting was dropped: the final covers it
        turn = self.turns[-1] if self.turns else None
        if turn is not None:
            turn.text, turn.confidence, turn.recognized_at = (result.text, result.confidence, now)
        stop: list[SessionOutput] = []  # the speech over a paused prompt, judged by its words
        if self.barge_pending and turn is not None and self.expect is not None:
            self.barge_pending, turn.barged_in = False, True
            if self.listener.backchannel(self.expect, result.text):
                events = self.listener.start_listening(self.expect, now, self.listen_timeout)
                return self._resume(turn) + self._listener_events(events, now)
            self.deferred = [a for a in self.deferred if not isinstance(a, act.Say)]
            if self.playing:  # an interruption: stop the prompt, take the answer; as for keys,
                stop = [StopPlayback(), *self._drained(now)]  # stopped is finished at once
                self.stale_finishes += 1
        if not result.text.strip() or self.expect is None:
            if self.expect is not None:  # noise: listen again, no attempt counted
                return self._listener_events(
                    self.listener.start_listening(self.expect, now, self.listen_timeout), now
                )
            return []
        voice, barged = (turn.prosody, turn.barged_in) if turn is not None else (None, False)
        return stop + self._engine(ev.Utterance(result.text, result.confidence, voice, barged), now)

    def _keys(self, digits: str, now: float) -> list[SessionOutput]:
        rec = self.recording
        if rec is not None and rec.started is not None and not rec.saving:
            return self._finish_recording(rec)  # a key ends a recording (VoiceXML dtmfterm)
        if self.expect is None:
            return []  # nobody is asking: keys during a plain announcement are ignored
        out: list[SessionOutput] = []
        if self.playing:
            out.append(StopPlayback())  # keys barge in on a prompt the caller may answer
            # stopped is finished: whatever the keys lead to is a new prompt, and the runner's
            # report of the stopped one (it comes after that prompt started) is not its end
            out += self._drained(now)
            self.stale_finishes += 1
        secret = self.expect.sensitive
        self.turns.append(
            Turn(self.turn, now, now, dtmf=digits, recognized_at=now, sensitive=secret)
        )
        out += self._engine(ev.Dtmf(digits), now)
        return out

    def _timers(self, now: float) -> list[SessionOutput]:
        out: list[SessionOutput] = []
        for name, deadline in list(self.timers.items()):
            if now >= deadline:
                del self.timers[name]
                out += self._engine(ev.TimerFired(name), now)
        return out

    # -- recording ------------------------------------------------------------------------------
    def _record_frame(self, pcm: bytes, now: float) -> list[SessionOutput]:
        rec = self.recording
        assert rec is not None and rec.started is not None
        if rec.saving:
            return []
        rec.frames.append(pcm)
        change = self._recorder_vad.process(pcm, self.rate, now)
        if self._recorder_vad.speaking or (change is not None and change.speaking):
            rec.heard_speech = True
            rec.last_voice = now
        silent_for = now - (rec.last_voice if rec.heard_speech else rec.started)
        if now - rec.started >= rec.spec.max_seconds or silent_for >= rec.spec.silence:
            return self._finish_recording(rec)
        return []

    def _finish_recording(self, rec: _Recording) -> list[SessionOutput]:
        rec.saving = True
        audio = b"".join(rec.frames) if rec.heard_speech else b""
        return [SaveRecording(audio, self.rate)]
