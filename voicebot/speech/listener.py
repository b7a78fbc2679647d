"""The listener, sans-IO: 20 ms frames with timestamps in, speech events out.

It runs the VAD over every frame of the call and turns its decisions into the turn-taking
events the runtime acts on. It never sleeps, starts no thread and reads no clock: every method
takes `now` (seconds, any monotonic origin; for `feed`, the time the frame's last sample was
captured). One `start_listening` yields at most one result: `EndOfUtterance`, `NoInput` or
`MaxSpeech`; then the listener is idle until the next `start_listening`.

Endpointing follows VoiceXML's ``completetimeout``/``incompletetimeout``: once the caller falls
silent, the utterance ends after

* `complete_timeout` (default 0.3 s) of silence when the latest partial transcript, covering all
  the speech so far, already satisfies the dialog's `Expectation` ("yes", all 8 digits, an
  option phrase). 300 ms is about the human turn gap (~200 ms) plus the VAD's own lag, and longer
  than the gaps inside a word (stop closures, 50-150 ms), which the VAD hysteresis bridges anyway;
* `turn_timeout` (default 0.2 s) of silence when the answer is open (free text, a menu by
  meaning, a number said freely: `Expectation.is_closed` false, where no text can prove it
  whole) and the turn model's score (`turn_score`, smart-turn on the audio so far, asked for at
  `SpeechPaused`) covering all the speech is at least `turn_threshold`: the caller's words and
  prosody say they have finished. A closed answer is judged by its text alone (a digit string
  the model hears as finished after four of eight digits is not);
* `incomplete_timeout` (default 0.8 s) otherwise: long enough for the pauses people make between
  digit groups or while thinking (typically 300-700 ms), short enough that a caller who has
  finished an answer we cannot yet recognise as complete does not wait a full second. A long
  pause always ends the turn, whatever the turn model said (or if it never answered).

`EndOfUtterance.reason` says which rule ended it ("complete", "turn" or "timeout") and
`turn_score` the latest score of the turn model (None if none came), for the turn's record.

A partial counts only when it covers the last voiced frame (`audio_end` >= end of the last
voiced frame): speech after it makes it stale. `SpeechPaused` is emitted when the VAD declares
a pause (120 ms after the last voiced frame), the moment to decode a partial so that it can
arrive within the complete window.

Barge-in: while a prompt started with ``barge_in=True`` plays and the listener is listening,
speech that lasts `barge_in_min_speech` (0.2 s) yields `SpeechStarted` then `BargeIn`: the
runtime PAUSES the prompt (so a real interruption silences the bot ~0.25 s after the caller
began), and the listener decides what the caller is doing:

* an `Interruption` ("long") at once when the speech passes `backchannel_max_speech` (0.8 s):
  no backchannel is that long. The runtime stops the prompt; the utterance is the answer;
* at the first partial transcript that covers all the speech (asked for at `SpeechPaused`,
  120 ms after the caller falls silent): a `Backchannel` when the text is only backchannel
  words of the expectation's language (speech/backchannel.py: "uh-huh", "right", 嗯, 对) and
  not an answer the expectation accepts ("yeah" to a yes/no question is an answer), or empty
  (a cough, a breath: the recogniser heard no words). The utterance is dropped (no answer, no
  turn) and the runtime resumes the prompt where it paused. Any other text: an `Interruption`
  ("words");
* if no covering partial came before the utterance ends (a slow recogniser), its
  `EndOfUtterance` has `barge=True`: the prompt stays paused and the runtime judges the final
  transcript the same way (`backchannel(expect, text)`).

Shorter bursts (clicks) are dropped silently. While a prompt without barge-in plays, speech is
ignored and detection restarts when it finishes. The no-input timer runs from the end of the
prompts (or from `start_listening` without one).

Echo: the bot's own voice coming back on the line (a hybrid's echo, a speakerphone) must not
barge in. `feed` takes `played`, the peak (PCM16 units) of the bot audio sent at that frame's
tick; a Geigel double-talk test counts a caller frame as speech only when its peak is above a
ratio of the loudest bot output of the last `echo_window` (0.5 s: the echo path's delay, jitter
buffers included). Plain Geigel uses a fixed ratio (0.5: echo comes back at least 6 dB down,
G.168's echo-return-loss assumption), which deafens the bot to a caller quieter than half its
own peaks (a full-scale prompt, a quiet line). So the ratio is measured on the call: 1.3 times
the 90th percentile of caller peak / bot window peak over the last `echo_history` (2 s) of
bot output, between `echo_floor` (0.05) and `echo_ratio` (0.6, -4.4 dB; also the ratio for the
first 0.5 s, before there is a measure). On a line with no echo the caller counts at any level;
echo at -6..-10 dB never proves a barge-in. The test applies only until a barge-in is proven
(the prompt is paused then).

API::

    Satisfies = Callable[[Expectation, str], bool]

    @dataclass(frozen=True)
    class ListenerSettings:
        complete_timeout: float = 0.3
        incomplete_timeout: float = 0.8
        turn_timeout: float = 0.2          # open answers the turn model calls finished
        turn_threshold: float = 0.5
        max_speech: float = 15.0           # cut an utterance this long (MaxSpeech)
        pre_roll: float = 0.3              # audio kept from before speech started
        tail: float = 0.2                  # silence kept after the last voiced frame
        barge_in_min_speech: float = 0.2
        backchannel_max_speech: float = 0.8  # a barge longer than this is an interruption
        echo_ratio: float = 0.6            # Geigel: caller peak / the bot's recent output peak
        echo_window: float = 0.5           # seconds of bot output peaks the test looks at
        echo_history: float = 2.0          # seconds of those ratios the echo level comes from
        echo_floor: float = 0.05
        vad: VadSettings = VadSettings()

    events (frozen dataclasses; SpeechEvent is their union):
        SpeechStarted(at: float, pre_roll: bytes, rate: int)
        SpeechPaused(at: float)
        EndOfUtterance(at: float, audio: bytes, rate: int, speech_start: float,
                       speech_end: float, complete: bool, text: str,
                       reason: str = "timeout", turn_score: float | None = None,
                       barge: bool = False)   # over a paused prompt, not yet judged
        BargeIn(at: float, speech_start: float = 0.0)     # pause the prompt
        Interruption(at: float, reason: str)   # stop it: "long" or "words"
        Backchannel(at: float, text: str, speech_start: float = 0.0)   # resume it
        NoInput(at: float)
        MaxSpeech(at: float, audio: bytes, rate: int, speech_start: float)

    class Listener:
        __init__(rate: int = 8000, settings: ListenerSettings = ListenerSettings(),
                 satisfies: Satisfies | None = None,     # default: voicebot.dialog.understanding
                 classifier: FrameClassifier | None = None,
                 is_backchannel: Satisfies | None = None)  # default: speech.backchannel
        listening -> bool;  in_utterance -> bool
        feed(frame_pcm: bytes, now: float, played: int = 0) -> list[SpeechEvent]
        tick(now: float) -> list[SpeechEvent]            # timers, when no frame arrives
        partial(text: str, now: float, audio_end: float | None = None) -> list[SpeechEvent]
        turn_score(score: float, now: float, audio_end: float) -> list[SpeechEvent]
        wants_turn_score -> bool     # in an open answer: ask the turn model at SpeechPaused
        deciding_barge -> bool       # a paused prompt waits for a transcript: ask a partial
        start_listening(expect: Expectation, now: float, timeout: float = 5.0)
            -> list[SpeechEvent]
        stop_listening() -> None
        prompt_started(now: float, barge_in: bool = True) -> list[SpeechEvent]
        prompt_finished(now: float) -> list[SpeechEvent]
        utterance_audio() -> bytes                       # the current utterance so far
        backchannel(expect: Expectation, text: str) -> bool   # no answer, only "uh-huh"s
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from voicebot.dialog.expectation import Expectation
from voicebot.policy.card_numbers import redact_cards
from voicebot.speech.vad import FrameClassifier, Vad, VadChange, VadSettings

log = logging.getLogger(__name__)

Satisfies = Callable[[Expectation, str], bool]


@dataclass(frozen=True)
class ListenerSettings:
    complete_timeout: float = 0.3
    incomplete_timeout: float = 0.8
    turn_timeout: float = 0.2
    turn_threshold: float = 0.5
    max_speech: float = 15.0
    pre_roll: float = 0.3
    tail: float = 0.2
    barge_in_min_speech: float = 0.2
    backchannel_max_speech: float = 0.8
    echo_ratio: float = 0.6
    echo_window: float = 0.5
    echo_history: float = 2.0
    echo_floor: float = 0.05
    vad: VadSettings = field(default_factory=VadSettings)


@dataclass(frozen=True)
class SpeechStarted:
    at: float
    pre_roll: bytes  # audio from `pre_roll` before speech to now; later frames follow in feed
    rate: int


@dataclass(frozen=True)
class SpeechPaused:
    at: float


@dataclass(frozen=True)
class EndOfUtterance:
    at: float
    audio: bytes  # pre-roll + speech + up to `tail` of silence
    rate: int
    speech_start: float
    speech_end: float
    complete: bool  # ended on the complete (short) window
    text: str  # latest partial transcript ("" if none)
    reason: str = "timeout"  # "complete" (the text), "turn" (the turn model), "timeout"
    turn_score: float | None = None  # the turn model's latest score for this utterance
    barge: bool = False  # said over a paused prompt and not judged yet: the final decides


@dataclass(frozen=True)
class BargeIn:
    """The caller talks over a barge-in prompt: pause it (an interruption or a backchannel)."""

    at: float
    speech_start: float = 0.0


@dataclass(frozen=True)
class Interruption:
    """The barge-in is an interruption: stop the prompt; the utterance is the answer."""

    at: float
    reason: str  # "long" (past backchannel_max_speech) or "words"


@dataclass(frozen=True)
class Backchannel:
    """The barge-in was a backchannel ("uh-huh"): resume the prompt; nothing was answered."""

    at: float
    text: str
    speech_start: float = 0.0


@dataclass(frozen=True)
class NoInput:
    at: float


@dataclass(frozen=True)
class MaxSpeech:
    at: float
    audio: bytes
    rate: int
    speech_start: float


SpeechEvent = (
    SpeechStarted
    | SpeechPaused
    | EndOfUtterance
    | BargeIn
    | Interruption
    | Backchannel
    | NoInput
    | MaxSpeech
)


def _understanding_satisfies(expect: Expectation, text: str) -> bool:
    from voicebot.dialog.understanding import satisfies

    return satisfies(expect, text)


def _table_backchannel(expect: Expectation, text: str) -> bool:
    from voicebot.speech.backchannel import is_backchannel

    return is_backchannel(expect, text)


class Listener:
    """VAD, endpointing and barge-in for one call leg (see the module docstring)."""

    def __init__(
        self,
        rate: int = 8000,
        settings: ListenerSettings = ListenerSettings(),
        satisfies: Satisfies | None = None,
        classifier: FrameClassifier | None = None,
        is_backchannel: Satisfies | None = None,
    ) -> None:
        self.rate = rate
        self.settings = settings
        self._satisfies = satisfies if satisfies is not None else _understanding_satisfies
        self._is_backchannel = is_backchannel or _table_backchannel
        self._played: deque[int] = deque(maxlen=max(1, round(settings.echo_window / 0.02)))
        self._played_peak = 0  # max of _played, kept as frames come
        self._echo_levels: deque[float] = deque(maxlen=max(1, round(settings.echo_history / 0.02)))
        self._vad = Vad(settings.vad, classifier)
        frames = round((settings.pre_roll + 0.02 * settings.vad.start_window) / 0.02) + 1
        self._history: deque[tuple[bytes, float]] = deque(maxlen=frames)
        self._expect: Expectation | None = None
        self._timeout = 0.0
        self._deadline: float | None = None
        self._prompt = False
        self._prompt_barge_in = False
        self._reset_utterance()

    def _reset_utterance(self) -> None:
        self._utt: list[bytes] = []
        self._utt_start = 0.0  # time of the first sample kept
        self._speech_start = 0.0
        self._confirmed = False  # SpeechStarted emitted (pending while a barge-in is unproven)
        self._barge = False  # a proven barge-in whose prompt is paused, not yet decided
        self._text = ""
        self._satisfied_to: float | None = None  # audio_end of the latest satisfying partial
        self._score: float | None = None  # the turn model's latest score ...
        self._scored_to = 0.0  # ... and the end of the audio it read

    @property
    def listening(self) -> bool:
        return self._expect is not None

    @property
    def in_utterance(self) -> bool:
        return bool(self._utt)

    @property
    def wants_turn_score(self) -> bool:
        """An open answer is being spoken: the turn model's score can end it early."""
        return bool(self._utt) and self._expect is not None and not self._expect.is_closed

    @property
    def deciding_barge(self) -> bool:
        """A paused prompt waits for the transcript of the speech over it."""
        return self._barge

    def utterance_audio(self) -> bytes:
        return b"".join(self._utt)

    # -- control -------------------------------------------------------------------------

    def start_listening(
        self, expect: Expectation, now: float, timeout: float = 5.0
    ) -> list[SpeechEvent]:
        """Listen for one answer to `expect`; the no-input timer starts when prompts end."""
        self._expect = expect
        self._timeout = timeout
        self._deadline = None if self._prompt else now + timeout
        self._reset_utterance()
        if self._vad.speaking and not (self._prompt and not self._prompt_barge_in):
            return self._begin(self._vad.segment_start or now, now)
        return []

    def stop_listening(self) -> None:
        """Abandon the current turn (a DTMF answer came, the call ended, ...)."""
        self._expect = None
        self._deadline = None
        self._reset_utterance()

    def prompt_started(self, now: float, barge_in: bool = True) -> list[SpeechEvent]:
        self._prompt = True
        self._prompt_barge_in = barge_in
        if self.listening and not self._utt:
            self._deadline = None
        return []

    def prompt_finished(self, now: float) -> list[SpeechEvent]:
        if not self._prompt:
            return []
        self._prompt = False
        events: list[SpeechEvent] = []
        if not self._prompt_barge_in:
            self._vad.reset()  # speech heard under the prompt was ignored; detect afresh
        elif self._utt and not self._confirmed:
            events.append(self._confirm())
        if self.listening and not self._utt:
            self._deadline = now + self._timeout
        return events

    def partial(self, text: str, now: float, audio_end: float | None = None) -> list[SpeechEvent]:
        """Record the recogniser's latest partial transcript of the current utterance."""
        if not self._utt or self._expect is None:
            return []
        self._text = text
        covered = now if audio_end is None else audio_end
        self._satisfied_to = covered if text and self._satisfies(self._expect, text) else None
        if log.isEnabledFor(logging.DEBUG):
            # a PIN is never logged, nor a card number (voicebot/policy/card_numbers.py)
            shown = "[masked]" if self._expect.sensitive else redact_cards(text)
            log.debug("partial %r satisfied=%s", shown, self._satisfied_to is not None)
        last_voiced = self._vad.last_voiced_end or self._speech_start
        if self._barge and covered >= last_voiced - 1e-6:
            return self._decide_barge(text, now)
        return self._check(now)

    def _decide_barge(self, text: str, now: float) -> list[SpeechEvent]:
        """A transcript of all the speech over a paused prompt: backchannel or interruption."""
        assert self._expect is not None
        said = text.strip()
        if self.backchannel(self._expect, said):
            start = self._speech_start
            self._reset_utterance()
            if not self._prompt:  # it ended before the pause took hold: listen from now
                self._deadline = now + self._timeout
            log.debug(
                "backchannel %r over the prompt", "[masked]" if self._expect.sensitive else said
            )
            return [Backchannel(now, said, start)]
        return [self._interrupted(now, "words"), *self._check(now)]

    def backchannel(self, expect: Expectation, text: str) -> bool:
        """`text`, said over a prompt, is no answer to `expect`, only backchannel words (or
        none: a cough)."""
        said = text.strip()
        if said and self._satisfies(expect, said):
            return False  # "yeah" to a yes/no question
        return not said or self._is_backchannel(expect, said)

    def _interrupted(self, now: float, reason: str) -> Interruption:
        self._barge = False
        self._prompt = False
        log.debug("barge-in is an interruption (%s)", reason)
        return Interruption(now, reason)

    def turn_score(self, score: float, now: float, audio_end: float) -> list[SpeechEvent]:
        """Record the turn model's probability that the utterance up to `audio_end` is a
        finished turn."""
        if not self._utt or self._expect is None:
            return []
        self._score, self._scored_to = score, audio_end
        log.debug("turn score %.3f to %.3f", score, audio_end)
        return self._check(now)

    # -- media ---------------------------------------------------------------------------

    def feed(self, frame_pcm: bytes, now: float, played: int = 0) -> list[SpeechEvent]:
        """Take one frame whose last sample was captured at `now` (`played`: the peak of the
        bot audio sent at its tick, for the echo test); return what happened."""
        echo = self._echo(frame_pcm, played) if played or self._played_peak else False
        change = self._vad.process(frame_pcm, self.rate, now, masked=echo)
        if self._utt:
            self._utt.append(frame_pcm)
            return self._in_speech(change, now)
        self._history.append((frame_pcm, now))
        if self._expect is None or (self._prompt and not self._prompt_barge_in):
            return []
        if change is not None and change.speaking:
            return self._begin(change.at, now)
        return self._check(now)

    def tick(self, now: float) -> list[SpeechEvent]:
        """Run the timers at `now` (frames normally do this; call it when none arrive)."""
        return self._check(now) if self._expect is not None else []

    # -- internals -----------------------------------------------------------------------

    def _echo(self, frame_pcm: bytes, played: int) -> bool:
        """Geigel's double-talk test: is this frame no louder than the bot's echo would be?"""
        history = self._played
        dropped = history[0] if len(history) == history.maxlen else 0
        history.append(played)
        if played >= self._played_peak:
            self._played_peak = played
        elif dropped == self._played_peak:
            self._played_peak = max(history)
        if not self._played_peak or (self._utt and self._confirmed):
            return False  # the bot is silent, or a barge-in is proven (its prompt paused)
        samples = np.frombuffer(frame_pcm, "<i2")
        peak = max(int(samples.max()), -int(samples.min())) if samples.size else 0
        s, levels = self.settings, self._echo_levels
        levels.append(peak / self._played_peak)
        ratio = s.echo_ratio
        if len(levels) >= 25:  # 0.5 s of the bot talking: the line's own echo level
            measured = 1.3 * sorted(levels)[int(0.9 * (len(levels) - 1))]
            ratio = min(s.echo_ratio, max(s.echo_floor, measured))
        return peak < ratio * self._played_peak

    def _begin(self, speech_start: float, now: float) -> list[SpeechEvent]:
        keep_from = speech_start - self.settings.pre_roll
        kept = [(pcm, end) for pcm, end in self._history if end > keep_from]
        self._history.clear()
        self._utt = [pcm for pcm, _ in kept]
        first_pcm, first_end = kept[0] if kept else (b"", now)
        self._utt_start = first_end - len(first_pcm) / (2 * self.rate)
        self._speech_start = speech_start
        self._deadline = None
        if self._prompt:  # barge-in: wait until the speech proves long enough
            return self._check(now)
        return [self._confirm()]

    def _confirm(self) -> SpeechStarted:
        self._confirmed = True
        log.debug("speech started at %.3f", self._speech_start)
        return SpeechStarted(self._speech_start, b"".join(self._utt), self.rate)

    def _in_speech(self, change: VadChange | None, now: float) -> list[SpeechEvent]:
        events: list[SpeechEvent] = []
        if change is not None and not self._vad.speaking:
            if not self._confirmed:  # too short to be a barge-in: forget it
                self._drop()
                return []
            events.append(SpeechPaused(now))
        events.extend(self._check(now))
        return events

    def _drop(self) -> None:
        self._reset_utterance()
        log.debug("speech burst under the prompt dropped")

    def _check(self, now: float) -> list[SpeechEvent]:
        """The timers: no-input, barge-in proof, max-speech, end of utterance."""
        if self._expect is None:
            return []
        if not self._utt:
            if self._deadline is not None and now >= self._deadline:
                self._finish()
                return [NoInput(now)]
            return []
        s = self.settings
        voiced_to = self._vad.last_voiced_end or self._speech_start
        if not self._confirmed:
            if self._vad.speaking and voiced_to - self._speech_start >= s.barge_in_min_speech:
                self._barge = True  # the prompt pauses; backchannel or interruption?
                log.debug("barge-in at %.3f: the prompt pauses", now)
                return [self._confirm(), BargeIn(now, self._speech_start)]
            return []
        if self._barge and voiced_to - self._speech_start > s.backchannel_max_speech:
            return [self._interrupted(now, "long"), *self._endpoint(now)]
        return self._endpoint(now)

    def _endpoint(self, now: float) -> list[SpeechEvent]:
        s = self.settings
        if now - self._speech_start >= s.max_speech:
            cut = MaxSpeech(now, self.utterance_audio(), self.rate, self._speech_start)
            self._finish()
            return [cut]
        last_voiced = self._vad.last_voiced_end
        if self._vad.speaking or last_voiced is None:
            return []
        complete = self._satisfied_to is not None and self._satisfied_to >= last_voiced - 1e-6
        finished = (
            not complete
            and self.wants_turn_score
            and self._score is not None
            and self._score >= s.turn_threshold
            and self._scored_to >= last_voiced - 1e-6
        )
        if complete:
            reason, window = "complete", s.complete_timeout
        elif finished:
            reason, window = "turn", s.turn_timeout
        else:
            reason, window = "timeout", s.incomplete_timeout
        if now - last_voiced < window - 1e-9:
            return []
        return [self._end(now, last_voiced, complete, reason)]

    def _end(self, now: float, last_voiced: float, complete: bool, reason: str) -> EndOfUtterance:
        keep = round((last_voiced + self.settings.tail - self._utt_start) * self.rate) * 2
        audio = self.utterance_audio()[: max(keep, 0)]
        eou = EndOfUtterance(
            now,
            audio,
            self.rate,
            self._speech_start,
            last_voiced,
            complete,
            self._text,
            reason,
            self._score,
            self._barge,  # no transcript in time: the final one decides
        )
        if log.isEnabledFor(logging.DEBUG):
            log.debug("end of utterance at %.3f, %s (turn score %s)", now, reason, self._score)
        self._finish()
        return eou

    def _finish(self) -> None:
        self._expect = None
        self._deadline = None
        self._reset_utterance()
