"""A warm transfer on a live call: the agent's SIP leg, performed for `WarmTransfer`.

The call's thread (call/live_call.py) owns one `WarmLeg` while a warm transfer runs. It places
the agent's call through the worker (`AgentLegs.dial_agent`: the agent leg takes one of the
worker's pjsua2 call slots; with none free the transfer is `busy`), plays the whisper into the
agent's media and the hold prompt, looped, into the caller's, joins the two calls on pjsua2's
conference bridge (`SipEndpoint.bridge`), and hands `WarmTransfer` what happened on both legs.
When it is over, `TransferResult(outcome)` goes into the call's inbox for the flow.

The worker routes the agent leg's SIP events here as `AgentLeg(event)` inputs. The caller's
`PlaybackFinished` for the hold prompt is taken here too (`takes`), never by the session: each
hold playback started here ends in exactly one of them, natural or stopped.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from voicebot.call import warm_transfer as wt
from voicebot.call.session import PlaybackFinished
from voicebot.dialog import actions as act
from voicebot.dialog import events as dev
from voicebot.errors import SipError
from voicebot.sip import events as sev

log = logging.getLogger(__name__)


class NoFreeSlot(SipError):
    """Every call slot of the worker is taken: the agent cannot be called from here now."""


class AgentLegs(Protocol):
    """The worker's side: place the agent's call and route its events to `caller_id`'s call."""

    def dial_agent(self, caller_id: str, uri: str, headers: Mapping[str, str]) -> str: ...


class Bridging(Protocol):
    def hangup(self, call_id: str, status_code: int = 0) -> None: ...
    def bridge(self, call_a: str, call_b: str) -> None: ...


@dataclass(frozen=True)
class AgentLeg:
    """A SIP event of the agent's call, for the caller's call thread."""

    event: sev.SipEvent


class Playing(Protocol):
    def stop_playback(self) -> bool: ...
    @property
    def playing(self) -> bool: ...


class WarmLeg:
    def __init__(
        self,
        caller_id: str,
        transfer: act.Transfer,
        *,
        caller_media: Playing,
        sip: Bridging,
        legs: AgentLegs,
        play: Callable[[act.Say, Any], None],
        post: Callable[[Any], None],
        accept_key: str | None = None,
        logger: logging.Logger | logging.LoggerAdapter[logging.Logger] = log,
    ) -> None:
        self.caller_id = caller_id
        self.core = wt.WarmTransfer(transfer, accept_key)
        self.caller_media = caller_media
        self.sip, self.legs = sip, legs
        self.play, self.post = play, post
        self.agent_id: str | None = None
        self.agent_media: Any = None
        self.agent_up = False  # the agent leg exists and has not ended
        self.hold_pending = 0  # hold playbacks whose PlaybackFinished is still to come
        self.join_seconds: float | None = None
        self.log = logger

    def start(self, now: float) -> None:
        self._do(self.core.start(now), now)

    def takes(self, item: Any) -> bool:
        """Is `item` (from the call's inbox) this leg's? It is handled if so."""
        return isinstance(item, AgentLeg) or (
            isinstance(item, PlaybackFinished) and self.hold_pending > 0
        )

    def handle(self, item: Any, now: float) -> None:
        if isinstance(item, AgentLeg):
            event = self._agent_event(item.event)
            if event is not None:
                self._do(self.core.handle(event, now), now)
        elif isinstance(item, PlaybackFinished):
            self.hold_pending -= 1
            self._do(self.core.handle(wt.CallerPlayed(), now), now)
        elif isinstance(item, dev.Hangup):
            self._do(self.core.handle(wt.CallerGone(), now), now)

    def tick(self, now: float) -> None:
        if self.core.live:
            self._do(self.core.handle(wt.Tick(), now), now)

    def close(self) -> None:
        """The caller's call is over: the agent's ends with it."""
        if self.agent_up and self.agent_id is not None:
            self.agent_up = False
            try:
                self.sip.hangup(self.agent_id)
            except SipError as exc:
                self.log.info("agent leg %s: %s", self.agent_id, exc)

    # -- the agent's events ------------------------------------------------------------------
    def _agent_event(self, event: sev.SipEvent) -> wt.WarmEvent | None:
        if isinstance(event, sev.MediaReady):
            first = self.agent_media is None
            self.agent_media = event.media
            return wt.AgentMedia() if first else None
        if isinstance(event, sev.PlaybackDone) and not event.interrupted:
            return wt.AgentPlayed()
        if isinstance(event, sev.DtmfReceived):
            return wt.AgentKey(event.digit)
        if isinstance(event, sev.CallEnded):
            self.agent_up = False
            return wt.AgentEnded(event.status_code)
        return None

    # -- performing --------------------------------------------------------------------------
    def _do(self, actions: list[wt.WarmAction], now: float) -> None:
        for a in actions:
            follow = self._one(a)
            if follow is not None:
                self._do(self.core.handle(follow, now), now)

    def _one(self, a: wt.WarmAction) -> wt.WarmEvent | None:
        if isinstance(a, wt.Dial):
            return self._dial(a)
        if isinstance(a, wt.PlayCaller):
            if not self.caller_media.playing and a.says:
                self.hold_pending += 1
            for say in a.says:
                self.play(say, self.caller_media)
            if not self.caller_media.playing and a.says:  # rendered to nothing: no end comes
                self.hold_pending -= 1
        elif isinstance(a, wt.PlayAgent):
            for say in a.says:
                self.play(say, self.agent_media)
            if not self.agent_media.playing:  # nothing to say after all: it is said
                return wt.AgentPlayed()
        elif isinstance(a, wt.StopCaller):
            self.caller_media.stop_playback()
        elif isinstance(a, wt.StopAgent):
            if self.agent_media is not None:
                self.agent_media.stop_playback()
        elif isinstance(a, wt.Join):
            return self._join()
        elif isinstance(a, wt.HangupAgent):
            self.close()
        elif isinstance(a, wt.HangupCaller):
            self.sip.hangup(self.caller_id)
        elif isinstance(a, wt.Done):
            self._done(a)
        return None

    def _dial(self, a: wt.Dial) -> wt.WarmEvent | None:
        try:
            self.agent_id = self.legs.dial_agent(self.caller_id, a.to, a.headers)
        except NoFreeSlot as exc:
            self.log.warning("warm transfer to %s: %s", a.to, exc)
            return wt.DialFailed(True, str(exc))
        except (SipError, ValueError) as exc:
            busy = "ETOOMANY" in str(exc)  # pjsua2 itself found no call slot
            self.log.warning("warm transfer to %s: %s", a.to, exc)
            return wt.DialFailed(busy, str(exc))
        self.agent_up = True
        self.log.info("warm transfer: calling the agent at %s as %s", a.to, self.agent_id)
        return None

    def _join(self) -> wt.WarmEvent:
        assert self.agent_id is not None
        try:
            self.sip.bridge(self.caller_id, self.agent_id)
        except SipError as exc:
            return wt.JoinFailed(str(exc))
        return wt.Joined()

    def _done(self, done: wt.Done) -> None:
        if done.outcome == "ok":
            self.join_seconds = done.join_seconds
            self.log.info(
                "warm transfer: caller and agent joined %.0f ms after the agent accepted",
                (done.join_seconds or 0.0) * 1000,
            )
        else:
            self.log.info("warm transfer: %s (%s)", done.outcome, done.detail)
        self.post(dev.TransferResult(done.outcome))
