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
  prompts finish; a barge-in stops playback and drops the prompts still queued.
- An utterance goes to the recogniser when the listener ends it; while the caller pauses, a
  partial is asked for so the listener can end a complete answer early. A final result with no
  text (noise, a cough) re-opens listening without counting as an attempt.
- Keys go straight to the engine and stop a barge-in prompt; the prompt counts as finished
  at once, and the runner's later `PlaybackFinished` for it is ignored.
- Turn latency is measured from the end of the caller's speech (the listener's estimate) to the
  first bot audio the runner reports playing (`PlaybackStarted`).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Protocol

from voicebot.dialog import actions as act
from voicebot.dialog import events as ev
from voicebot.dialog.engine import DialogEngine
from voicebot.dialog.expectation import FREE_TEXT, Expectation
from voicebot.speech import listener as lis
from voicebot.speech.vad import Vad

log = logging.getLogger(__name__)


# -- inputs --------------------------------------------------------------------------------------
@dataclass(frozen=True)
class AudioIn:
    pcm: bytes  # one 20 ms frame of caller audio, PCM16 at the listener's rate


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


SessionInput = (
    AudioIn
    | KeyIn
    | Recognized
    | PlaybackStarted
    | PlaybackFinished
    | Saved
    | Tick
    | ev.HttpResult
    | ev.TransferResult
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
class Recognize:
    turn: int
    pcm: bytes
    rate: int
    expect: Expectation
    final: bool
    audio_end: float | None = None  # the time of the last sample of `pcm` (the runner passes
    # it back in `Recognized`, so that the listener can tell a partial that speech outran)


@dataclass(frozen=True)
class Beep:
    """Play the record tone (before a `record` step listens)."""


@dataclass(frozen=True)
class SaveRecording:
    pcm: bytes  # empty when the caller said nothing
    rate: int


@dataclass(frozen=True)
class Perform:
    """An engine action the runner performs as it is: HttpRequest, Transfer, HangUp."""

    action: act.HttpRequest | act.Transfer | act.HangUp


SessionOutput = Play | StopPlayback | Beep | Recognize | SaveRecording | Perform


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
        wall_clock_origin: datetime | None = None,
        amd: AnswerDetector | None = None,
    ):
        self.engine = engine
        self.listener = listener
        self.rate = listener.rate
        self.partials = partials
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
        if self.origin is None:
            self.origin = (call.started_at or datetime.now().astimezone()) - timedelta(seconds=now)
        out = self._engine(call, now)
        if self.engine.waiting == "answer":
            if self.amd is None:  # nothing to tell: assume a person picked up
                return out + self._answered("human", now)
            self.amd.start(now)
            self.amd_started = now
        return out

    def handle(self, item: SessionInput, now: float) -> list[SessionOutput]:
        self.now = now
        if self.ended:
            return []
        out: list[SessionOutput] = []
        if self.amd_started is not None:
            if isinstance(item, AudioIn):
                return self._amd_frame(item.pcm, now)
            if isinstance(item, Recognized) and item.turn == AMD_TURN:
                return self._amd_events(self._amd().transcript(item.text, now), now)
            if isinstance(item, Tick):
                return self._amd_events([], now)
        if isinstance(item, AudioIn):
            if self.recording is not None:
                return self._record_frame(item.pcm, now)
            out += self._listener_events(self.listener.feed(item.pcm, now), now)
            out += self._timers(now)
        elif isinstance(item, Tick):
            out += self._listener_events(self.listener.tick(now), now)
            out += self._timers(now)
        elif isinstance(item, Recognized):
            out += self._recognized(item, now)
        elif isinstance(item, KeyIn):
            out += self._keys(item.digits, now)
        elif isinstance(item, PlaybackStarted):
            last = self.turns[-1] if self.turns else None  # the bot's first sound replies to it
            if last is not None and last.replied_at is None and last.recognized_at is not None:
                last.replied_at = now
        elif isinstance(item, PlaybackFinished):
            if self.stale_finishes:
                self.stale_finishes -= 1
            else:
                out += self._drained(now)
        elif isinstance(item, Saved):
            self.recording = None
            out += self._engine(ev.RecordingDone(item.path, item.seconds), now)
        elif isinstance(item, ev.Hangup):
            self.engine.handle(item, self._wall(now))
            self.ended = True
        else:  # HttpResult, TransferResult, AnswerDetected go to the engine as they are
            out += self._engine(item, now)
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
        return self._perform(self.engine.handle(event, self._wall(now)), now)

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
            elif isinstance(action, act.HttpRequest):
                out.append(Perform(action))
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
                self.deferred = [a for a in self.deferred if not isinstance(a, act.Say)]
                out.append(StopPlayback())
            elif isinstance(e, lis.SpeechPaused) and self.partials and self.expect is not None:
                if not self.partial_pending and not self.awaiting_final:
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
                self.turns.append(Turn(self.turn, e.speech_start, end))
                self.awaiting_final = True
                out.append(Recognize(self.turn, e.audio, e.rate, self.expect, final=True))
            elif isinstance(e, lis.NoInput):
                out += self._engine(ev.TimerFired("no_input"), now)
        return out

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
        if not result.text.strip() or self.expect is None:
            if self.expect is not None:  # noise: listen again, no attempt counted
                return self._listener_events(
                    self.listener.start_listening(self.expect, now, self.listen_timeout), now
                )
            return []
        return self._engine(ev.Utterance(result.text, result.confidence), now)

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
        self.turns.append(Turn(self.turn, now, now, dtmf=digits, recognized_at=now))
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
