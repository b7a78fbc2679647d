"""A `CallSession` on a real call: the thread that feeds it audio and performs what it asks.

One `LiveCall` per answered call, one thread each. The thread reads the caller's frames from
`CallMedia` (20 ms, already timestamped on the media clock), takes other inputs from its inbox
(keys, playback done, recognition and HTTP results, transfer outcome, hang-up, posted by the
service's dispatcher or by worker pools), hands everything to the session with
`time.monotonic()` as `now`, and performs the outputs:

    Play       render (prompt cache: static prompts were rendered at start; dynamic text one
               sentence at a time, the first playing while the rest renders) -> media.play
    StopPlayback  media.stop_playback() (an interruption)
    PausePlayback / ResumePlayback  media.pause_playback() (barge-in) / resume_playback(rewind)
               (it was a backchannel)
    Recognize  on the worker's recognition scheduler (finals first, one partial in flight per
               call; speech/scheduler.py) -> Recognized, with the audio end, into inbox
    AskModel   the completion streamed on the I/O pool (the worker's `CompletionClient`) ->
               each piece into the inbox as it comes (`Streamed`)
    PredictTurn  on the worker's turn model thread (speech/turn_model.py) -> TurnScored
    Perform    HTTP on the I/O pool (the worker's `HttpBackend`) -> Reply into inbox;
               transfer / hang-up through the SIP endpoint; a call-back into the campaign
               database on the I/O pool (campaign/callbacks.py) -> CallbackResult into inbox
    Beep / SaveRecording  a 440 Hz tone / a WAV under data_dir/recordings

Whatever fails comes back as an input too: work on a pool that raises posts `RequestFailed`
(with the output's `key`), a prompt that cannot be rendered posts `RequestFailed("synthesis")`,
a transfer the endpoint refuses posts `TransferResult("failed")`; the session's deadlines and
watchdog cover what never comes back. Nothing is left for the caller to wait on in silence.

The call record (turns with latencies, steps, slots, outcome) is written as the call goes;
once the call is over and let go, it is scored against the flow's quality rules, if it has any
(voicebot/call/scoring.py).
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable
from concurrent.futures import Executor
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from voicebot import telemetry
from voicebot.audio.wav import write_wav
from voicebot.call.records import CallStore, TurnRecord
from voicebot.call.scoring import score_ended_call
from voicebot.call.session import (
    AskModel,
    AudioIn,
    Beep,
    CallSession,
    PausePlayback,
    Perform,
    Play,
    PlaybackFinished,
    PlaybackStarted,
    PredictTurn,
    Recognize,
    Recognized,
    Reply,
    RequestFailed,
    ResumePlayback,
    Saved,
    SaveRecording,
    SessionInput,
    SessionOutput,
    StopPlayback,
    Streamed,
    Tick,
    TurnScored,
)
from voicebot.call.warm_leg import AgentLeg, AgentLegs, WarmLeg
from voicebot.call_log import call_logger
from voicebot.dialog import actions as act
from voicebot.dialog import events as dev
from voicebot.flow.backend import HttpBackend
from voicebot.flow.completions import NO_ENDPOINT, CompletionClient
from voicebot.policy.redaction import MASK
from voicebot.private_files import private_file
from voicebot.quality.rules import Rules
from voicebot.speech.prompt_cache import PromptCache
from voicebot.speech.recognizer import Recognition, Recognizer, to_model_audio
from voicebot.speech.scheduler import RecognitionJob, RecognitionScheduler
from voicebot.speech.synthesizer import Voice
from voicebot.speech.turn_model import TurnJob, TurnPredictor

log = logging.getLogger(__name__)

CONTEXT_HEADER = "X-Voicebot-Context"  # the URL of the agent's context document
PLAYBACK_LOST = 2.0  # seconds of quiet media while the session waits for a playback's end


class Media(Protocol):
    rate: int

    def read_frames(self, timeout: float | None = 0.0) -> list[Any]: ...
    def play(self, pcm: bytes) -> None: ...
    def stop_playback(self) -> bool: ...
    def pause_playback(self) -> bool: ...
    def resume_playback(self, rewind: float = 0.0) -> bool: ...
    @property
    def playing(self) -> bool: ...


class CallbackBooker(Protocol):
    """campaign/callbacks.py's CallbackBook, as a call uses it."""

    def book(self, request: act.ScheduleCallback, now: datetime) -> dev.CallbackResult: ...


class Signalling(Protocol):
    def hangup(self, call_id: str, status_code: int = 0) -> None: ...
    def transfer(self, call_id: str, target: str, headers: Any = None) -> None: ...
    def bridge(self, call_a: str, call_b: str) -> None: ...


@dataclass(frozen=True)
class Resources:
    """What every call of a worker shares: loaded once per process, never per call."""

    recognizer: Recognizer
    prompts: PromptCache
    recognition: RecognitionScheduler
    io_pool: Executor
    records: CallStore | None
    recordings_dir: Path
    http: HttpBackend
    worker: str = ""
    voice: Voice = Voice("en-us", 165)  # for prompts that name none (settings speech.tts_*)
    model: CompletionClient | None = None  # `llm` steps' model (None: no endpoint configured)
    context_url: str = ""  # transfers' X-Voicebot-Context, "{call_id}" filled in (settings)
    quality: Rules | None = None  # the flow's quality rules: each ended call is scored
    turns: TurnPredictor | None = None  # the turn model (None: silence timeouts alone)
    callbacks: CallbackBooker | None = None  # a flow's `callback` step books here


def beep(rate: int, seconds: float = 0.3) -> bytes:
    t = np.arange(int(rate * seconds)) / rate
    tone = 0.25 * np.sin(2 * np.pi * 440.0 * t) * 32767
    return tone.astype("<i2").tobytes()


class LiveCall:
    def __init__(
        self,
        call_id: str,
        session: CallSession,
        media: Media,
        sip: Signalling,
        res: Resources,
        *,
        max_duration: float = 3600.0,
        on_done: Callable[[LiveCall], None] | None = None,
        legs: AgentLegs | None = None,
    ):
        self.on_done = on_done
        self.legs = legs  # places a warm transfer's agent leg (the worker)
        self.warm: WarmLeg | None = None
        self.call_id = call_id
        self.session = session
        self.media = media
        self.sip = sip
        self.res = res
        self.max_duration = max_duration
        self.inbox: queue.Queue[SessionInput | AgentLeg] = queue.Queue()
        self.thread = threading.Thread(target=self._run, name=f"call-{call_id}", daemon=True)
        self.outcome = "completed"
        self.reason = ""
        self.done = threading.Event()
        self._recorded_turns = 0
        self._timed: object = None  # the caller turn whose reply latency was recorded
        self._said_since: list[tuple[str, str]] = []
        self._quiet_since: float | None = None  # session playing, media not, since
        self._unplayed = False  # a Play of this batch put nothing on the wire
        self.log = call_logger(log, call_id)

    # -- lifecycle -------------------------------------------------------------------------------
    def start(self, started: dev.CallStarted) -> None:
        self._started = started
        self.thread.start()

    def post(self, item: SessionInput | AgentLeg) -> None:
        self.inbox.put(item)

    def _run(self) -> None:
        began = time.monotonic()
        try:
            self._do(self.session.start(self._started, began))
            while not self.session.ended:
                frames = self.media.read_frames(timeout=0.02)
                for frame in frames:
                    self._do(self.session.handle(AudioIn(frame.pcm, frame.played), frame.timestamp))
                while not self.session.ended:
                    try:
                        item = self.inbox.get_nowait()
                    except queue.Empty:
                        break
                    if isinstance(item, AgentLeg) or (self.warm and self.warm.takes(item)):
                        if self.warm is not None:  # the agent leg's, or the hold's end
                            self.warm.handle(item, time.monotonic())
                        continue
                    if isinstance(item, dev.Hangup) and self.warm is not None:
                        self.warm.handle(item, time.monotonic())
                    if isinstance(item, dev.TransferResult) and item.outcome == "ok":
                        self.outcome = "transferred"
                    if isinstance(item, dev.Hangup) and item.reason == "caller":
                        self.outcome, self.reason = "caller_hangup", "caller hung up"
                    self._do(self.session.handle(item, time.monotonic()))
                if self.warm is not None:
                    self.warm.tick(time.monotonic())
                if not frames:
                    self._do(self.session.handle(Tick(), time.monotonic()))
                self._check_playback(time.monotonic())
                if time.monotonic() - began > self.max_duration:
                    self.outcome, self.reason = "completed", "maximum call duration"
                    self.sip.hangup(self.call_id)
                    break
        except Exception as exc:  # a bug must cost one call, never the worker
            self.log.exception("call failed")
            self.outcome, self.reason = "failed", f"{type(exc).__name__}: {exc}"
            try:
                self.sip.hangup(self.call_id)
            except Exception:
                self.log.debug("hang-up after failure failed too", exc_info=True)
        finally:
            if self.warm is not None:
                self.warm.close()
            self.res.recognition.forget(self.call_id)
            if self.res.turns is not None:
                self.res.turns.forget(self.call_id)
            self._write_turns()
            self._finish_record()
            self.done.set()
            if self.on_done is not None:
                self.on_done(self)
            if self.res.records is not None and self.res.quality is not None:
                score_ended_call(self.res.records, self.call_id, self.res.quality)

    def _check_playback(self, now: float) -> None:
        """The session thinks a prompt plays, the media has been quiet for PLAYBACK_LOST
        seconds: the end of that playback was lost; tell the session, so it listens again."""
        if self.session.playing and not self.media.playing:
            if self._quiet_since is None:
                self._quiet_since = now
            elif now - self._quiet_since >= PLAYBACK_LOST:
                self._quiet_since = None
                detail = f"media quiet for {PLAYBACK_LOST:g} s with no end of playback"
                self._do(self.session.handle(RequestFailed("playback", "timeout", detail), now))
        else:
            self._quiet_since = None

    # -- outputs ---------------------------------------------------------------------------------
    def _do(self, outputs: list[SessionOutput]) -> None:
        if not outputs:  # most frames: nothing to do, nothing new to record
            return
        for out in outputs:
            if isinstance(out, Play):
                self._play(out.say)
            elif isinstance(out, StopPlayback):
                self.media.stop_playback()
            elif isinstance(out, PausePlayback):
                if not self.media.pause_playback():
                    self.log.debug("barge-in: nothing playing to pause")
            elif isinstance(out, ResumePlayback):
                self.media.resume_playback(out.rewind)
            elif isinstance(out, Recognize):
                self._recognize(out)
            elif isinstance(out, PredictTurn):
                self._predict_turn(out)
            elif isinstance(out, Perform):
                self._perform(out)
            elif isinstance(out, AskModel):
                self._ask_model(out)
            elif isinstance(out, Beep):
                self.media.play(beep(self.media.rate))
            elif isinstance(out, SaveRecording):
                self._save(out)
        if self._unplayed:  # a prompt played nothing; if nothing else plays, no PlaybackDone
            self._unplayed = False  # will come: its end is now
            if not self.media.playing and self.session.playing:
                self._do(self.session.handle(PlaybackFinished(), time.monotonic()))
        self._write_turns()

    def _play(self, say: act.Say) -> None:
        was_playing = self.media.playing
        self._said_since.append((say.text, say.step or ""))
        try:
            self._render_and_play(say)
        except Exception as exc:
            self.log.exception("prompt %r could not be played", say.text[:40])
            self.post(RequestFailed("synthesis", "error", f"{type(exc).__name__}: {exc}"))
            self._unplayed = True
            return
        if not self.media.playing:  # it rendered to no audio (blank text): nothing will play
            self._unplayed = True
            return
        if not was_playing:
            self._do(self.session.handle(PlaybackStarted(), time.monotonic()))

    def _render_and_play(self, say: act.Say, media: Media | None = None) -> None:
        """Render `say` into `media` (the caller's by default; a warm transfer's agent's)."""
        media = media or self.media
        voice = Voice(say.voice or self.res.voice.name, say.rate or self.res.voice.words_per_minute)
        if say.audio:
            media.play(self.res.prompts.asset(say.audio))
        elif say.prompt_id is not None or self.res.prompts.contains(say.text, voice):
            media.play(self.res.prompts.get(say.text, voice))
        else:
            for pcm in self.res.prompts.stream(say.text, voice):
                media.play(pcm)  # the first sentence plays while the next renders

    def _recognize(self, req: Recognize) -> None:
        job = RecognitionJob(
            self.call_id, req.turn, req.pcm, req.rate, req.expect, req.final, req.audio_end
        )
        asked = time.monotonic()

        def done(job: RecognitionJob, rec: Recognition) -> None:
            if job.final:
                waited = time.monotonic() - asked
                telemetry.publish(telemetry.Recognised(self.call_id, self.res.worker, waited))
            self._recognized(job, rec)

        self.res.recognition.submit(job, done)

    def _recognized(self, job: RecognitionJob, rec: Recognition) -> None:
        """On the decode thread: hand the result to the call's thread."""
        self.post(Recognized(job.turn, rec.text, rec.confidence, job.final, job.audio_end))

    def _predict_turn(self, req: PredictTurn) -> None:
        if self.res.turns is None:
            return  # the listener's silence timeout ends the turn
        job = TurnJob(self.call_id, req.turn, to_model_audio(req.pcm, req.rate), req.audio_end)
        self.res.turns.submit(
            job, lambda j, score: self.post(TurnScored(j.turn, score, j.audio_end))
        )

    def _perform(self, out: Perform) -> None:
        action = out.action
        if isinstance(action, act.HttpRequest):
            http = self.res.http
            self._submit(
                self.res.io_pool, lambda: self.post(Reply(out.request, http.fetch(action))), out.key
            )
        elif isinstance(action, act.ScheduleCallback):
            book = self.res.callbacks
            if book is None:
                self.post(dev.CallbackResult(False, "no campaign database for call-backs"))
                return
            when = datetime.now(UTC)
            self._submit(self.res.io_pool, lambda: self.post(book.book(action, when)), out.key)
        elif isinstance(action, act.Transfer):
            self.transfer_target = action.to
            xfer = action
            if self.res.context_url:  # where the agent's desktop finds the call's story
                url = self.res.context_url.replace("{call_id}", self.call_id)
                xfer = replace(action, headers={**action.headers, CONTEXT_HEADER: url})
            self._keep_context(xfer)
            if xfer.warm is not None:
                self._warm_transfer(xfer)
                return
            try:
                self.sip.transfer(self.call_id, xfer.to, xfer.headers)
            except Exception as exc:  # the endpoint refused the REFER: the flow's `failed` route
                self.log.warning("transfer to %s failed: %s", action.to, exc)
                self.post(dev.TransferResult("failed"))
        else:
            self.outcome = "completed" if self.outcome != "transferred" else self.outcome
            self.reason = self.reason or action.reason
            self.sip.hangup(self.call_id)

    def _ask_model(self, out: AskModel) -> None:
        model = self.res.model

        def work() -> None:
            if model is None:
                ended = dev.CompletionEnded(error="error", detail=NO_ENDPOINT)
                self.post(Streamed(out.request, ended))
                return
            for _, event in model.stream(out.action):
                self.post(Streamed(out.request, event))

        self._submit(self.res.io_pool, work, out.key)

    def _warm_transfer(self, action: act.Transfer) -> None:
        if self.legs is None:  # no worker to place the agent's call: the flow's failed route
            self.log.warning("warm transfer to %s: no agent legs here", action.to)
            self.post(dev.TransferResult("failed"))
            return
        self.warm = WarmLeg(
            self.call_id,
            action,
            caller_media=self.media,
            sip=self.sip,
            legs=self.legs,
            play=self._render_and_play,
            post=self.post,
            logger=self.log,
        )
        self.warm.start(time.monotonic())

    def _keep_context(self, action: act.Transfer) -> None:
        """The summary the agent gets, in the call record (call/context.py serves it)."""
        store = self.res.records
        if store is None:
            return
        engine = self.session.engine
        mode = "warm" if action.warm is not None else "blind"
        target = engine.redactor.text(action.to, engine.slots)
        store.transfer_started(self.call_id, mode, target, engine.summary())

    def _save(self, out: SaveRecording) -> None:
        def work() -> None:
            if not out.pcm:
                self.post(Saved("", 0.0))
                return
            path = self.res.recordings_dir / f"{self.call_id}.wav"
            with private_file(path) as f:  # 0600, in a 0700 directory (voicebot/private_files)
                write_wav(f, out.pcm, out.rate)
            self.recording_path = str(path)
            self.post(Saved(str(path), len(out.pcm) / 2 / out.rate))

        self._submit(self.res.io_pool, work, out.key)

    def _submit(self, pool: Executor, fn: Callable[[], None], key: str) -> None:
        """Run `fn` on `pool`; if it raises, or the pool refuses it, the session hears of it."""

        def guarded() -> None:
            try:
                fn()
            except Exception as exc:
                self.log.exception("%s failed", key)
                self.post(RequestFailed(key, "error", f"{type(exc).__name__}: {exc}"))

        try:
            pool.submit(guarded)
        except RuntimeError as exc:  # shut down (draining)
            self.post(RequestFailed(key, "error", f"{type(exc).__name__}: {exc}"))

    # -- records ---------------------------------------------------------------------------------
    def _write_turns(self) -> None:
        store = self.res.records
        if store is None:
            self._said_since.clear()
            return
        turns = self.session.turns
        engine = self.session.engine
        while self._recorded_turns < len(turns) and turns[self._recorded_turns].recognized_at:
            t = turns[self._recorded_turns]
            text, keys = _masked(t.text, t.sensitive), _masked(t.dtmf, t.sensitive)
            turn = TurnRecord(
                "caller",
                text,
                keys,
                t.confidence if not t.dtmf else None,
                barge_in=t.barged_in,
                end_of_turn=t.end_of_turn,
                turn_score=t.turn_score,
                frustration=t.frustration,
                reasons=t.reasons,
                sentiment=t.sentiment,
            )
            store.add_turn(self.call_id, turn)
            self._published(turn)
            self._recorded_turns += 1
        for text, step in self._said_since:
            latency = None
            last = turns[-1] if turns else None
            if last is not None and last.latency is not None and last is not self._timed:
                latency = last.latency * 1000.0  # on the bot's first reply to that turn
                self._timed = last
            text = engine.redactor.text(text, engine.slots)  # "your PIN 1 2 3 4": masked
            turn = TurnRecord("bot", text, step=step, latency_ms=latency)
            store.add_turn(self.call_id, turn)
            self._published(turn)
        self._said_since.clear()

    def _published(self, t: TurnRecord) -> None:
        """The turn, as recorded (masked), to the supervisor's live view (`telemetry`)."""
        telemetry.publish(
            telemetry.TurnTaken(
                self.call_id,
                self.res.worker,
                t.who,
                t.text,
                t.dtmf,
                t.confidence,
                t.latency_ms,
                t.step,
                time.time(),
            )
        )

    def _finish_record(self) -> None:
        store = self.res.records
        if store is None:
            return
        engine = self.session.engine
        target = getattr(self, "transfer_target", None)
        if target and self.outcome == "completed" and engine.ended and not engine.trace.hangup:
            self.outcome = "transferred"
        done = self.warm.core.outcome if self.warm is not None else None
        if done is not None:
            join_ms = done.join_seconds * 1000 if done.join_seconds is not None else None
            store.transfer_finished(self.call_id, done.outcome, join_ms)
        redactor = engine.redactor  # sensitive slots, and the keys collected for them, masked
        store.call_ended(
            self.call_id,
            outcome=self.outcome,
            reason=redactor.text(self.reason, engine.slots),
            steps=[s for _, s in engine.trace.steps],
            slots=redactor.slots(engine.slots),
            vars=redactor.values(engine.vars, engine.slots),
            dtmf=_keys(self.session.turns),
            transfer_target=(
                redactor.text(target, engine.slots)
                if target and self.outcome == "transferred"
                else None
            ),
            recording_path=getattr(self, "recording_path", None),
            at=datetime.now(UTC),
            incidents=[*self.session.incidents, *engine.trace.errors],
        )
        finished = telemetry.CallFinished(self.call_id, self.res.worker, self.outcome, time.time())
        telemetry.publish(finished)


def _masked(text: str, sensitive: bool) -> str:
    return MASK if sensitive and text else text


def _keys(turns: list[Any]) -> str:
    """Every key of the call; a run of keys collected for a sensitive slot is one mask."""
    out = ""
    for t in turns:
        keys = _masked(t.dtmf, t.sensitive)
        if not (keys == MASK and out.endswith(MASK)):
            out += keys
    return out
