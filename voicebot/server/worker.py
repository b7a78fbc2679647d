"""One worker process of `voicebot serve`: a SIP endpoint answering calls with a flow.

At start, once per process: load and check the flow, load the Whisper model, render every static
prompt of the flow into the prompt cache, open the call records, start the SIP endpoint. Then
the dispatcher (the thread that called `run`) reads the endpoint's events and hands each to its
call: an answered call gets a `LiveCall` (its own thread) when its media is ready.

Draining (SIGTERM, or `stop()`): new INVITEs get 503 (Kamailio fails over at once), calls in
progress finish, and after `drain_seconds` whatever is left is hung up.
"""

from __future__ import annotations

import dataclasses
import functools
import logging
import os
import queue
import signal
import threading
import time
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import TypeAdapter

from voicebot import telemetry
from voicebot.call.live_call import LiveCall, Resources
from voicebot.call.records import CallStore
from voicebot.call.scoring import flow_rules
from voicebot.call.session import CallSession, Deadlines, KeyIn, PlaybackFinished
from voicebot.call.warm_leg import AgentLeg, NoFreeSlot
from voicebot.dialog import engine as eng
from voicebot.dialog import events as dev
from voicebot.dialog import frustration
from voicebot.dialog.assistant import LlmOptions
from voicebot.dialog.embeddings import VectorCache
from voicebot.dialog.engine import DialogEngine
from voicebot.dialog.meaning import Meaning
from voicebot.flow import templates
from voicebot.flow.backend import HttpLimits, HttpxBackend
from voicebot.flow.completions import Endpoint, OpenAIClient
from voicebot.flow.loader import LoadedFlow, load_flow
from voicebot.flow.schema import AudioPrompt, for_language
from voicebot.flow.source import Limits
from voicebot.lang import espeak_voice, is_mandarin
from voicebot.policy.numbers import DEFAULT_REFUSED, NumberPolicy
from voicebot.policy.transfers import TransferPolicy
from voicebot.server.supervisor import Supervisor, WorkerSpec, specs
from voicebot.settings import drop_secrets_from_environment
from voicebot.sip import events as sev
from voicebot.sip.config import SipConfig
from voicebot.sip.endpoint import SipEndpoint
from voicebot.speech.listener import Listener, ListenerSettings
from voicebot.speech.prompt_cache import PromptCache
from voicebot.speech.synthesizer import EspeakSynthesizer, Voice

if TYPE_CHECKING:
    from voicebot.campaign.pool import PoolDialer
    from voicebot.server.pool_link import PoolLink

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ServiceConfig:
    flow: Path
    sip: SipConfig = SipConfig()
    data_dir: Path = Path("var")
    call_records: Path | None = Path("var/calls.db")  # a SQLite file; else database_url
    database_url: str | None = None  # settings database.url: call records when no file
    audio_dir: Path | None = Path("audio_assets")
    model_dir: Path | None = None
    compute_type: str = "int8"
    cpu_threads: int = 2
    turn_model: bool = False  # settings speech.turn_model / turn_threshold
    turn_threshold: float = 0.9
    env: dict[str, str] = field(default_factory=dict)
    currency: str = "USD"
    locale: str = "en_US"
    worker: str = "w1"
    max_call_seconds: float = 3600.0
    drain_seconds: float = 30.0
    watchdog_seconds: float = 10.0  # neither playing nor listening this long: error route
    http_connect_timeout: float = 2.0
    http_max_reply_bytes: int = 1_000_000
    clock: str | None = None  # demos/tests: ISO time the flow sees when each call starts
    voice: Voice = Voice("en-us", 165)  # TTS when the flow sets no `voice` (speech.tts_*)
    log_level: str = "INFO"  # a worker's logging level (settings log_level)
    transfer_allow: tuple[str, ...] = ()  # settings transfers.allow
    transfer_context_url: str = ""  # settings transfers.context_url
    outbound_allow: tuple[str, ...] = ()  # settings outbound.allow
    outbound_refuse: tuple[str, ...] = DEFAULT_REFUSED  # settings outbound.refuse
    region: str = "US"  # of numbers written without + (settings campaign.region)
    campaign_database: Path | None = None  # campaigns dialed, call-backs booked (else database_url)
    limits: Limits = Limits()  # flow file limits (settings limits.*)
    llm: Endpoint = Endpoint()  # the model of `llm` steps (settings llm.*)
    llm_options: LlmOptions = LlmOptions()  # its filler and first-sentence budget
    retention_days: int = 0  # settings retention.days: 0 keeps recordings and words
    retention_every: float = 3600.0  # seconds between purges (retention.every_minutes)

    @property
    def recordings_dir(self) -> Path:
        return self.data_dir / "recordings"

    @property
    def numbers(self) -> NumberPolicy:
        return NumberPolicy(tuple(self.outbound_allow), tuple(self.outbound_refuse))


def static_prompts(loaded: LoadedFlow, language: str | None = None) -> set[str]:
    """Every prompt text of a flow (and its subflows) that has no template: renderable now.

    With `language`, only what a call in that language says: the variant of each language map
    for it (`schema.for_language`) and the engine's own prompts in it."""
    if is_mandarin(language):
        texts: set[str] = {eng.ZH_NO_INPUT, eng.ZH_NO_MATCH, eng.ZH_APOLOGY}
    else:
        texts = {eng.DEFAULT_NO_INPUT, eng.DEFAULT_NO_MATCH, eng.APOLOGY}
    default = loaded.flow.language

    def walk(value: Any) -> None:
        if isinstance(value, str):
            if not templates.is_template(value) and value not in loaded.flow.prompts:
                texts.add(value)
        elif isinstance(value, AudioPrompt):
            if value.text and not templates.is_template(value.text):
                texts.add(value.text)
        elif isinstance(value, list):
            for v in value:
                walk(v)
        elif isinstance(value, dict) and language is not None:
            walk(for_language(value, language, default))
        elif isinstance(value, dict):
            for v in value.values():
                walk(v)

    flows = [loaded]
    while flows:
        lf = flows.pop()
        flows.extend(lf.subflows.values())
        for prompt in lf.flow.prompts.values():
            walk(prompt)
        for step in lf.flow.steps.values():
            walk(step.say)
            walk(step.help)
            if step.transfer is not None and step.transfer.mode == "warm":  # the hold prompt
                walk(step.transfer.hold.text if step.transfer.hold else None)
            spec = step.ask or step.menu
            if spec is not None:
                for part in (spec.prompt, spec.no_match, spec.no_input):
                    walk(part)
    return texts


@dataclass(frozen=True)
class Outbound:
    """A call we placed (campaigns): whom, with which contact row, and our tag for it."""

    tag: Any
    uri: str
    contact: dict[str, Any]
    placed_at: float
    ring_seconds: float
    flow: Path | None = None  # a campaign's flow, when not the worker's own


@dataclass(frozen=True)
class OutboundResult:
    """How a placed call ended: `status` is the INVITE's final SIP status when it was never
    answered; otherwise `answered_by` (AMD), and the flow's slots and vars."""

    tag: Any
    call_id: str
    status: int | None
    answered_by: str | None = None
    outcome: str = ""  # the call record's outcome for answered calls
    slots: dict[str, Any] = field(default_factory=dict)
    vars: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class FlowKit:
    """A loaded flow with what its calls need: its meaning (intents and knowledge embedded,
    their vectors kept in data_dir) and its transfer policy."""

    loaded: LoadedFlow
    meaning: Meaning
    transfers: TransferPolicy

    @classmethod
    def load(cls, path: Path, config: ServiceConfig) -> FlowKit:
        loaded = load_flow(path, config.limits)
        meaning = Meaning(cache=VectorCache(config.data_dir / "embeddings"))
        meaning.prepare(loaded)
        transfers = TransferPolicy.for_flows(
            loaded.call_tree(), config.transfer_allow, config.numbers, config.region
        )
        return cls(loaded, meaning, transfers)


class VoicebotService:
    def __init__(self, config: ServiceConfig):
        self.config = config
        kit = FlowKit.load(config.flow, config)
        self.loaded, self.meaning, self.transfers = kit.loaded, kit.meaning, kit.transfers
        self.kits: dict[Path, FlowKit] = {config.flow: kit}  # campaigns' flows, once loaded
        self.pool: PoolLink | None = None  # serve's campaign pool, once started
        self.endpoint = SipEndpoint(config.sip)
        self.calls: dict[str, LiveCall] = {}
        self.pending: dict[str, sev.IncomingCall] = {}
        self.outbound: dict[str, Outbound] = {}
        self.results: queue.Queue[OutboundResult] = queue.Queue()
        # an answered call's result waits for both its flow and its SIP call to be over
        self._half_done: dict[str, OutboundResult | None] = {}
        self._half_lock = threading.Lock()
        # warm transfers: each agent leg's call id -> the caller's, under `_legs_lock`
        self.legs: dict[str, str] = {}
        self._legs_lock = threading.Lock()
        self.draining = threading.Event()
        self._stopped = threading.Event()
        self._heartbeat_at = 0.0

    # -- start-up: everything heavy happens once, here --------------------------------------
    def start(self) -> None:
        from voicebot.lang import is_mandarin
        from voicebot.speech.languages import load_recognizer
        from voicebot.speech.scheduler import RecognitionScheduler
        from voicebot.speech.turn_model import TurnPredictor, load_turn_model

        began = time.perf_counter()
        cfg = self.config
        languages = {tag for flow in self.loaded.call_tree() for tag in flow.declared_languages}
        recognizer = load_recognizer(
            languages,
            data_dir=cfg.data_dir,
            model_dir=cfg.model_dir,
            compute_type=cfg.compute_type,
            cpu_threads=cfg.cpu_threads,
        )
        if any(is_mandarin(tag) for tag in languages):
            from voicebot.dialog import zh_matching

            zh_matching.warm_up()  # jieba's dictionary: seconds, not on a caller's first answer
        frustration.warm(sorted(languages))  # the sentiment models, likewise (snownlp: seconds)
        voice = self.voice
        cache = PromptCache(cfg.data_dir / "prompts", EspeakSynthesizer(voice), cfg.sip.audio_rate)
        rendered = sum(
            cache.prerender(sorted(static_prompts(self.loaded, language)), speaker)
            for language, speaker in self.voices().items()
        )
        target = cfg.call_records or cfg.database_url
        records = CallStore(target) if target else None
        turn_model = load_turn_model() if cfg.turn_model else None
        self.resources = Resources(
            recognizer=recognizer,
            prompts=cache,
            recognition=RecognitionScheduler(recognizer),
            io_pool=ThreadPoolExecutor(max_workers=4, thread_name_prefix="io"),
            records=records,
            recordings_dir=cfg.recordings_dir,
            http=HttpxBackend(HttpLimits(cfg.http_connect_timeout, cfg.http_max_reply_bytes)),
            worker=cfg.worker,
            voice=voice,
            model=OpenAIClient(cfg.llm) if cfg.llm.configured else None,
            context_url=cfg.transfer_context_url,
            quality=flow_rules(cfg.flow),
            turns=TurnPredictor(turn_model) if turn_model is not None else None,
            callbacks=self._callbacks(),
        )
        if not cfg.llm.configured and any(
            s.llm for f in self.loaded.call_tree() for s in f.steps.values()
        ):
            log.warning("the flow has llm steps and settings llm.base_url is empty: they fail")
        self.endpoint.start()
        log.info(
            "worker %s ready on %s: flow %s, %d prompts rendered, started in %.1f s",
            cfg.worker,
            self.endpoint.uri,
            self.loaded.flow.name,
            rendered,
            time.perf_counter() - began,
        )

    def _callbacks(self) -> Any:
        """Where the flows' `callback` steps book: the campaign database (None without one)."""
        cfg = self.config
        steps = (s for f in self.loaded.call_tree() for s in f.steps.values())
        target = cfg.campaign_database or cfg.database_url  # a separate file, or the database
        if target is None or not any(s.callback for s in steps):
            return None
        # campaign/ builds on this module (its dialer drives a worker); the book needs only
        # the ledger, loaded here when a flow books call-backs
        from voicebot.campaign.callbacks import CallbackBook

        return CallbackBook(target, cfg.region, cfg.numbers)

    @property
    def voice(self) -> Voice:
        """The flow's `voice`, or the settings' (speech.tts_voice/tts_rate) if it sets none."""
        flow = self.loaded.flow
        voice = flow.voice_for(flow.language)  # the flow's default language's
        if voice is None:
            return self.config.voice
        return Voice(espeak_voice(voice.name, flow.language) or voice.name, voice.rate)

    def voices(self) -> dict[str, Voice]:
        """The voice of each language the flow declares, as a call's `Say` names it (the
        prompt cache is keyed by voice and rate: prerendered prompts must match)."""
        flow = self.loaded.flow
        out = {}
        for language in flow.declared_languages:
            chosen = flow.voice_for(language)
            name = espeak_voice(chosen.name if chosen else None, language)
            rate = chosen.rate if chosen else None
            out[language] = Voice(name or self.voice.name, rate or self.voice.words_per_minute)
        return out

    @property
    def uri(self) -> str:
        return self.endpoint.uri

    # -- the dispatcher --------------------------------------------------------------------------
    def run(self, stop: threading.Event | None = None) -> None:
        """Dispatch SIP events until `stop` is set (or `stop()` is called), then drain."""
        events = self.endpoint.events()
        stop = stop or self._stopped
        while not stop.is_set() and not self._stopped.is_set():
            self.poll(events, 0.02 if self.pool is not None else 0.1)  # orders wait < 20 ms
        self.drain()

    def stop(self) -> None:
        self._stopped.set()

    def poll(self, events: Any, timeout: float) -> None:
        self._heartbeat()
        if self.pool is not None:
            try:
                self.pool.step(self)
            except Exception:  # the pool's queues must not stop the worker's calls
                log.exception("campaign pool step failed")
        try:
            event = events.get(timeout=timeout)
        except queue.Empty:
            return
        try:
            self.dispatch(event)
        except Exception:  # one bad event must not stop the worker
            log.exception("dispatching %s failed", type(event).__name__)

    def _heartbeat(self) -> None:
        """Every 2 s, tell the supervisor (its console's workers' health) this worker lives."""
        now = time.monotonic()
        if telemetry.installed() and now - self._heartbeat_at >= 2.0:
            self._heartbeat_at = now
            beat = telemetry.Heartbeat(self.config.worker, os.getpid(), len(self.calls))
            telemetry.publish(dataclasses.replace(beat, at=time.time()))

    def kit(self, flow: Path | None) -> FlowKit:
        """The worker's own flow, or a campaign's (loaded at its first call, then kept)."""
        if flow is None:
            return self.kits[self.config.flow]
        if flow not in self.kits:
            log.info("loading campaign flow %s", flow)
            self.kits[flow] = FlowKit.load(flow, self.config)
        return self.kits[flow]

    def inbound_calls(self) -> int:
        """Slots taken by calls a campaign did not place: inbound calls (offered or up) and
        warm transfers' agent legs. A placed call keeps its slot until its result is handed
        over (`_half_done`); the campaign pool counts those itself until then."""
        placed = set(self.outbound) | set(self._half_done)
        up = sum(1 for call_id in list(self.calls) if call_id not in placed)
        return len(self.pending) + up + len(self.legs)

    def _began(
        self, call_id: str, direction: str, from_uri: str, to_uri: str, flow: str = ""
    ) -> None:
        flow, worker = flow or self.loaded.flow.name, self.config.worker
        began = telemetry.CallBegan(call_id, worker, direction, from_uri, to_uri, flow, time.time())
        telemetry.publish(began)

    def dispatch(self, event: sev.SipEvent) -> None:
        store = self.resources.records
        if self._agent_leg(event):
            return
        if isinstance(event, sev.IncomingCall):
            if self.draining.is_set():
                self.endpoint.hangup(event.call_id, 503)
                telemetry.publish(telemetry.SipResponse(self.config.worker, 503))
                return
            self.pending[event.call_id] = event
            self._began(event.call_id, "inbound", event.remote_uri, event.local_uri)
            if store is not None:
                store.call_started(
                    event.call_id,
                    direction="inbound",
                    from_uri=event.remote_uri,
                    to_uri=event.local_uri,
                    flow=self.loaded.flow.name,
                    worker=self.config.worker,
                )
            self.endpoint.answer(event.call_id)
        elif isinstance(event, sev.CallAnswered):
            if store is not None and (event.call_id in self.pending or event.call_id in self.calls):
                store.call_answered(event.call_id)
        elif isinstance(event, sev.MediaReady):
            self._begin(event)
        elif isinstance(event, sev.DtmfReceived):
            self._post(event.call_id, KeyIn(event.digit))
        elif isinstance(event, sev.PlaybackDone):
            self._post(event.call_id, PlaybackFinished())
        elif isinstance(event, sev.TransferOutcome) and event.final:
            self._transferred(event)
        elif isinstance(event, sev.CallEnded):
            self._ended(event)

    # -- warm transfers' agent legs -----------------------------------------------------------
    def dial_agent(self, caller_id: str, uri: str, headers: Mapping[str, str]) -> str:
        """Call the agent for `caller_id`'s warm transfer; its events go to that call. The leg
        takes one of this worker's call slots: with none free, `NoFreeSlot` (the flow's busy)."""
        with self._legs_lock:  # its first event waits for the leg to be known
            in_use, most = self.endpoint.calls_in_use(), self.config.sip.max_calls
            if in_use >= most:
                raise NoFreeSlot(f"all {most} call slots of worker {self.config.worker} in use")
            agent_id = self.endpoint.make_call(uri, headers)
            self.legs[agent_id] = caller_id
            return agent_id

    def _agent_leg(self, event: sev.SipEvent) -> bool:
        """An event of an agent leg goes to its caller's call; True if it was one."""
        call_id = str(getattr(event, "call_id", ""))
        with self._legs_lock:
            caller = self.legs.get(call_id)
            if caller is not None and isinstance(event, sev.CallEnded):
                del self.legs[call_id]
        if caller is None:
            return False
        live = self.calls.get(caller)
        if live is not None:
            live.post(AgentLeg(event))
        elif not isinstance(event, sev.CallEnded):  # its caller is gone: so is the agent's leg
            self.endpoint.hangup(call_id)
        return True

    def _post(self, call_id: str, item: Any) -> None:
        call = self.calls.get(call_id)
        if call is not None:
            call.post(item)

    # -- outbound calls (campaigns) ------------------------------------------------------------
    def place_call(
        self,
        uri: str,
        contact: dict[str, Any],
        tag: Any,
        ring_seconds: float = 30.0,
        flow: Path | None = None,
        not_after: float | None = None,
    ) -> str:
        """Call `uri`; the flow (the worker's, or `flow`) runs when answered. The result comes
        on `results`. `not_after`: the INVITE's deadline (`SipEndpoint.make_call`)."""
        name = self.kit(flow).loaded.flow.name
        call_id = self.endpoint.make_call(uri, not_after=not_after)
        placed = Outbound(tag, uri, dict(contact), time.monotonic(), ring_seconds, flow)
        self.outbound[call_id] = placed
        self._began(call_id, "outbound", self.endpoint.uri, uri, name)
        store = self.resources.records
        if store is not None:
            store.call_started(
                call_id,
                direction="outbound",
                from_uri=self.endpoint.uri,
                to_uri=uri,
                flow=name,
                worker=self.config.worker,
            )
        return call_id

    def check_ringing(self, now: float | None = None) -> None:
        """Give up (CANCEL) on placed calls that rang longer than their ring time."""
        now = time.monotonic() if now is None else now
        for call_id, out in list(self.outbound.items()):
            if call_id not in self.calls and now - out.placed_at > out.ring_seconds:
                self.outbound[call_id] = dataclasses.replace(out, ring_seconds=float("inf"))
                self.endpoint.hangup(call_id)  # -> CallEnded 487: no answer

    def _outbound_done(self, live: LiveCall) -> None:
        out = self.outbound.pop(live.call_id, None)
        if out is None:
            return
        engine = live.session.engine
        result = OutboundResult(  # campaign results and exports: sensitive slots masked
            out.tag,
            live.call_id,
            200,
            live.session.answered_by or "human",
            live.outcome,
            engine.redactor.slots(engine.slots),
            engine.redactor.values(engine.vars, engine.slots),
        )
        answered = telemetry.AmdDecided(live.call_id, self.config.worker, result.answered_by or "")
        telemetry.publish(answered)
        self._answered_part_done(live.call_id, result)

    def _answered_part_done(self, call_id: str, result: OutboundResult | None) -> None:
        """The flow (`result`) or the SIP call (None) of an answered outbound call is over; the
        result goes out once both are. A flow ends when the bot sends its BYE, and the call's
        pjsua2 slot stays taken until the BYE is answered: a dialer that took the result as a
        free slot placed its next call too early (PJ_ETOOMANY at 4 calls)."""
        with self._half_lock:
            if call_id not in self._half_done:
                self._half_done[call_id] = result
                return
            other = self._half_done.pop(call_id)
        final = result or other
        if final is not None:
            self.results.put(final)

    def _amd(self, rate: int) -> Any:
        from voicebot.speech.amd import AnsweringMachineDetector

        return AnsweringMachineDetector(rate=rate)

    def _begin(self, ready: sev.MediaReady) -> None:
        incoming = self.pending.pop(ready.call_id, None)
        outbound = self.outbound.get(ready.call_id)
        if ready.call_id in self.calls or (incoming is None and outbound is None):
            return  # a re-INVITE (hold, codec change) keeps the running session
        cfg = self.config
        kit = self.kit(outbound.flow if outbound is not None else None)
        engine = DialogEngine(
            kit.loaded,
            env=cfg.env,
            audio_dir=cfg.audio_dir,
            currency=cfg.currency,
            locale=cfg.locale,
            call_id=ready.call_id,
            transfers=kit.transfers,
            meaning=kit.meaning,
            llm=cfg.llm_options,
        )
        origin = None
        if cfg.clock:  # the flow sees `clock` at the start of the call, then time runs on
            origin = datetime.fromisoformat(cfg.clock) - timedelta(seconds=time.monotonic())
        amd = self._amd(ready.media.rate) if outbound is not None else None
        session = CallSession(
            engine,
            Listener(
                rate=ready.media.rate,
                settings=ListenerSettings(turn_threshold=cfg.turn_threshold),
            ),
            turn_model=self.resources.turns is not None,
            wall_clock_origin=origin,
            amd=amd,
            deadlines=Deadlines(watchdog=cfg.watchdog_seconds, model=cfg.llm.timeout + 0.5),
        )
        live = LiveCall(
            ready.call_id,
            session,
            ready.media,
            self.endpoint,
            self.resources,
            max_duration=cfg.max_call_seconds,
            on_done=self._outbound_done if outbound is not None else None,
            legs=self,
        )
        self.calls[ready.call_id] = live
        if outbound is not None:
            started = dev.CallStarted(
                ready.call_id,
                self.endpoint.uri,
                outbound.uri,
                "outbound",
                datetime.now().astimezone(),
                outbound.contact,
            )
        else:
            assert incoming is not None
            started = dev.CallStarted(
                ready.call_id,
                incoming.remote_uri,
                incoming.local_uri,
                "inbound",
                datetime.now().astimezone(),
            )
        live.start(started)

    def _transferred(self, outcome: sev.TransferOutcome) -> None:
        if outcome.ok:
            self._post(outcome.call_id, dev.TransferResult("ok"))
            live = self.calls.get(outcome.call_id)
            if live is not None:
                live.outcome = "transferred"
            self.endpoint.hangup(outcome.call_id)  # blind transfer done: our leg ends
            return
        code = outcome.status_code
        result = "busy" if code in (486, 600) else "no_answer" if code in (408, 480) else "failed"
        self._post(outcome.call_id, dev.TransferResult(result))

    def _ended(self, ended: sev.CallEnded) -> None:
        self.pending.pop(ended.call_id, None)
        live = self.calls.pop(ended.call_id, None)
        if live is None:
            out = self.outbound.pop(ended.call_id, None)
            if out is not None:  # never answered: the SIP status says why
                self.results.put(OutboundResult(out.tag, ended.call_id, ended.status_code))
                telemetry.publish(telemetry.SipResponse(self.config.worker, ended.status_code))
                gone = telemetry.CallFinished(ended.call_id, self.config.worker, "not_answered")
                telemetry.publish(gone)
                store = self.resources.records
                if store is not None:
                    store.call_ended(
                        ended.call_id,
                        outcome="not_answered",
                        reason=f"{ended.status_code} {ended.reason}",
                    )
            return
        if ended.by == "remote" and live.outcome != "transferred":
            live.post(dev.Hangup("caller"))
        else:
            live.post(dev.Hangup("bot"))
        if live.on_done is not None:  # an outbound call: its result may wait for this
            self._answered_part_done(ended.call_id, None)

    # -- draining --------------------------------------------------------------------------------
    def drain(self) -> None:
        self.draining.set()
        deadline = time.monotonic() + self.config.drain_seconds
        events = self.endpoint.events()
        while self.calls and time.monotonic() < deadline:
            self.poll(events, 0.1)
        for call_id in list(self.calls):
            log.warning("call %s still running at the drain deadline: hanging up", call_id)
            self.endpoint.hangup(call_id)
        end = time.monotonic() + 5
        while self.calls and time.monotonic() < end:
            self.poll(events, 0.1)
        if self.pool is not None:
            self.pool.refuse_waiting(self)
            self.pool.flush(self)
        self.endpoint.stop()
        self.resources.recognition.close()
        if self.resources.turns is not None:
            self.resources.turns.close()
        self.resources.io_pool.shutdown(wait=False, cancel_futures=True)
        if self.resources.records is not None:
            self.resources.records.close()


# -- running it ------------------------------------------------------------------------------
# A worker's configuration crosses the process boundary as pydantic JSON (validated on the way
# in), inside the pickled arguments that multiprocessing's spawn writes to the child's pipe:
# never in an environment variable, so the SIP password is not in /proc/PID/environ.
WORKER_CONFIG = TypeAdapter(ServiceConfig)


def encode(config: ServiceConfig) -> str:
    return WORKER_CONFIG.dump_json(config).decode()


def decode(text: str) -> ServiceConfig:
    return WORKER_CONFIG.validate_json(text)


def serve_forever(config: ServiceConfig, pool: PoolLink | None = None) -> None:
    """Run one worker until SIGTERM/SIGINT, then drain. Main thread only.

    The handler is in place before the slow start (a SIGTERM while the model loads drains
    instead of killing), and once drained the worker ignores further SIGTERMs: a process-group
    kill also gets the supervisor's forwarded one, which must not turn a clean exit into -15."""
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    service = VoicebotService(config)
    service.start()
    service.pool = pool  # from now on it places the campaign calls the supervisor orders
    print(
        f"voicebot {config.worker} answering at {service.uri} with flow {service.loaded.flow.name}",
        flush=True,
    )
    service.run(stop)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)


def worker_main(
    config: str, spec: WorkerSpec, channel: Any = None, pool: tuple[Any, Any] | None = None
) -> None:
    """Body of a supervised worker process: `config` is `encode(ServiceConfig)`; `channel`,
    the supervisor's telemetry queue (its console), if it has one; `pool`, the campaign
    pool's queues (`campaign.pool.PoolDialer.queues`: every worker's orders, the reports)."""
    from voicebot.server.pool_link import PoolLink

    telemetry.install(channel)
    base = decode(config)
    sip = dataclasses.replace(
        base.sip, port=spec.sip_port, rtp_port=base.sip.rtp_port + 200 * spec.index
    )
    logging.basicConfig(
        level=base.log_level,
        format=f"%(asctime)s {spec.name} %(levelname)s %(name)s: %(message)s",
    )
    link = PoolLink(spec.name, pool[0][spec.name], pool[1]) if pool is not None else None
    serve_forever(dataclasses.replace(base, sip=sip, worker=spec.name), link)


def serve_workers(
    config: ServiceConfig,
    count: int,
    *,
    channel: Any = None,
    on_worker_exit: Callable[[Supervisor, WorkerSpec, list[str]], None] | None = None,
    watch: Callable[[Supervisor], None] | None = None,
    pool: PoolDialer | None = None,
) -> int:
    """`voicebot serve --workers N`: N supervised workers on ports port..port+N-1.

    For the console: `channel` is the telemetry queue every worker publishes to,
    `on_worker_exit(supervisor, spec, failed call ids)` runs after a worker exited, and
    `watch(supervisor)` once before the supervision starts. `pool` (`campaign_pool`) dials the
    running campaigns through the workers."""
    drop_secrets_from_environment()  # read into `config`; children must not inherit them
    target = config.call_records or config.database_url
    store = CallStore(target) if target else None

    def on_exit(spec: WorkerSpec, code: int | None) -> None:
        if pool is not None:  # its attempts still in flight are reconciled
            pool.worker_gone(spec.name, code)
        failed: list[str] = []
        if store is not None:
            failed = store.fail_unfinished(worker=spec.name, reason=f"worker exited ({code})")
            if failed:
                log.warning(
                    "worker %s died with %d call(s): recorded as failed", spec.name, len(failed)
                )
        if on_worker_exit is not None:
            on_worker_exit(sup, spec, failed)

    sup = Supervisor(
        specs(count, config.sip.port),
        functools.partial(
            worker_main, encode(config), channel=channel, pool=pool.queues if pool else None
        ),
        on_exit=on_exit,
        drain_deadline=config.drain_seconds + 10,
    )
    if watch is not None:
        watch(sup)
    print(
        f"voicebot: {count} workers on ports {config.sip.port}-{config.sip.port + count - 1}",
        flush=True,
    )
    if pool is None:
        return sup.run()
    pool.start()
    try:
        return sup.run()
    finally:
        pool.stop()


def campaign_pool(config: ServiceConfig, count: int, *, always: bool = False) -> PoolDialer | None:
    """The dialer of the running campaigns through `count` workers: on the campaign database
    (settings `campaign.database`, else `database.url`). Unless `always` (the console, which
    creates it anyway), only when that database exists: a URL, or a SQLite file already there."""
    from voicebot.campaign.pool import PoolDialer

    target = config.campaign_database or config.database_url
    if target is None:
        return None
    text = str(target)
    path = text.removeprefix("sqlite:///") if "://" not in text or text.startswith("sqlite") else ""
    if not always and path and not Path(path).exists():
        return None
    names = [spec.name for spec in specs(count, config.sip.port)]
    return PoolDialer(text, config.region, names, slots=config.sip.max_calls)
