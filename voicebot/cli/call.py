"""`voicebot call URI`: a scripted caller that talks to a bot over SIP and says what it heard.

    voicebot call sip:bot@127.0.0.1:5060 --say "my balance please" --dtmf 12345678# --say no
    voicebot call sip:bot@127.0.0.1:5062 --language zh-CN --say 我想查一下话费 --dtmf 1
    voicebot call sip:bot@127.0.0.1:5060 --barge "uh-huh@1.5" --barge "billing@4"

It dials, and before each scripted item waits for the bot to finish speaking (speech heard, then
`quiet` seconds of silence), transcribes that turn with the recogniser (in the background:
the next item is not held back by it; lines still print in call order), then speaks (espeak-ng
or a WAV file) or keys the next item. Latency of a bot turn is measured on the received audio:
from the end of what the caller sent to the first frame of the bot's reply above the speech
threshold, i.e. the silence the caller actually heard. At the end it waits for the bot's last
turn and hangs up (or sees the bot hang up).

`--barge TEXT@SECONDS` talks over the bot: it waits for the bot's next turn to start, speaks TEXT
that many seconds into it without waiting for the turn to end, and says whether the bot stopped
(how long after the caller began: "stopped 240 ms after the caller began"), paused and went on
with the same prompt ("paused 260 ms after the caller began, went on 900 ms later": the bot
replays a little of what it had said before the pause, so the audio after the silence is found,
sample for sample, in what was heard before it), or kept talking. What the bot said before the
caller began is transcribed as that turn; if it went on, the rest is the next bot turn. TEXT may
be a WAV file (`--barge echo.wav@1`): it is played as it is.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from voicebot.audio.frames import pcm16_to_float32
from voicebot.audio.wav import read_wav

SPEECH_RMS = 0.01  # a frame this loud (full scale 1.0) is the bot speaking


@dataclass(frozen=True)
class BotTurn:
    text: str
    start: float  # seconds into the call
    end: float
    latency: float | None  # from the end of the caller's last item to the first bot audio
    # --barge over this turn: seconds from the caller starting to the bot falling silent, or
    # None when it kept talking (or nobody talked over it: `barged` False)
    barged: bool = False
    stopped_after: float | None = None


STOP_SILENCE = 0.4  # a bot this long silent after a barge began has stopped talking (s)
STOP_GRACE = 0.3  # ... if that silence began before the caller finished, or this soon after
RESUME_WITHIN = 4.0  # a bot that went on with its prompt did so this soon after falling silent
REPLAYED = 0.1  # seconds of the bot's audio after the silence looked for in what came before,
REPLAYED_FROM = (0.04, 0.1, 0.2)  # ... from these offsets (any one found will do): not at 0, as
# a stateful codec (G.722's ADPCM) decodes the replay alike only after a few tens of ms
SAME_AUDIO = 0.9  # normalised correlation at which that audio is the same


def replayed(before: np.ndarray, after: np.ndarray) -> bool:
    """`after` (a short piece) occurs in `before`, as the same samples: a resumed prompt."""
    if len(after) == 0 or len(before) < len(after) or not after.any():
        return False
    corr = np.correlate(before, after, "valid")
    window = np.convolve(before**2, np.ones(len(after)), "valid")
    best = corr / (np.sqrt(np.maximum(window, 1e-12)) * np.sqrt(float(np.dot(after, after))))
    return bool(best.max() >= SAME_AUDIO)


class _ScriptAction(argparse.Action):
    def __call__(self, parser: Any, namespace: Any, values: Any, option_string: Any = None) -> None:
        script = getattr(namespace, "script", None) or []
        script.append((self.dest, values))
        namespace.script = script


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("uri", help="whom to call, e.g. sip:bot@127.0.0.1:5060")
    p.add_argument("--say", action=_ScriptAction, metavar="TEXT", help="speak (espeak-ng)")
    p.add_argument("--wav", action=_ScriptAction, metavar="FILE", help="play a WAV file")
    p.add_argument("--dtmf", action=_ScriptAction, metavar="KEYS", help="press keys (RFC 4733)")
    p.add_argument(
        "--barge",
        action=_ScriptAction,
        metavar="TEXT@SECONDS",
        type=parse_barge,
        help="speak TEXT that many seconds into the bot's next turn, over it",
    )
    p.add_argument("--record", metavar="FILE", help="save what the caller heard as a WAV")
    p.add_argument("--quiet", type=float, default=1.2, help="silence that ends a bot turn (s)")
    p.add_argument("--turn-timeout", type=float, default=30.0, help="longest wait for the bot")
    p.add_argument("--voice", default="en-us", help="espeak-ng voice for --say")
    p.add_argument(
        "--language",
        default="en",
        help="the bot's language, BCP 47: its turns are transcribed in it (en, zh-CN); "
        "--say text in Chinese characters is spoken as Mandarin whatever the voice",
    )
    p.add_argument("--port", type=int, default=0, help="local SIP port (0: any free)")
    p.add_argument(
        "--from-user",
        default="voicebot",
        metavar="USER",
        help="user part of the caller's SIP URI, e.g. +12125551234 (the bot's call.caller)",
    )


def parse_barge(value: str) -> str:
    """Check `TEXT@SECONDS` (argparse type): returns it unchanged."""
    text, at, secs = value.rpartition("@")
    try:
        ok = bool(at and text.strip()) and 0 <= float(secs) < 600
    except ValueError:
        ok = False
    if not ok:
        raise argparse.ArgumentTypeError(
            f"{value!r}: write TEXT@SECONDS, e.g. 'uh-huh@1.5' (seconds into the bot's turn)"
        )
    return value


def trailing_silence(pcm: bytes, rate: int) -> float:
    """Seconds of quiet at the end of PCM16 audio (below the speech threshold)."""
    x = pcm16_to_float32(pcm)
    frame = rate // 50
    n = len(x) // frame
    if n == 0:
        return 0.0
    loud = np.sqrt(np.mean(x[: n * frame].reshape(n, frame) ** 2, axis=1)) > SPEECH_RMS
    idx = np.flatnonzero(loud)
    return (n - 1 - int(idx[-1])) * 0.02 if idx.size else n * 0.02


class _Listener:
    """Finds bot turns in the growing recording of the call."""

    def __init__(self, call: Any, quiet: float):
        self.call = call
        self.quiet = quiet
        self.rate = call.rate
        self.frame = self.rate // 50

    def audio(self) -> np.ndarray:
        return pcm16_to_float32(self.call.recording())

    def loud(self, since: int) -> np.ndarray:
        """Per 20 ms frame from sample `since`: is the bot speaking."""
        x = self.audio()
        n = max(0, (len(x) - since) // self.frame)
        frames = x[since : since + n * self.frame].reshape(n, self.frame)
        return np.asarray(np.sqrt(np.mean(frames**2, axis=1)) > SPEECH_RMS)

    def wait_start(self, since: int, timeout: float) -> int | None:
        """The sample where the bot next starts speaking after `since`, or None."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and self.call.ended is None:
            idx = np.flatnonzero(self.loud(since))
            if idx.size:
                return since + int(idx[0]) * self.frame
            time.sleep(0.02)
        return None

    def wait_until(self, sample: int, timeout: float) -> None:
        """Until the recording reaches `sample` (or the call ends)."""
        deadline = time.monotonic() + timeout
        while len(self.call.recording()) // 2 < sample and self.call.ended is None:
            if time.monotonic() > deadline:
                return
            time.sleep(0.01)

    def wait_turn(self, since: int, timeout: float) -> tuple[int, int] | None:
        """(start, end) sample of the bot's next turn after sample `since`, or None."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            x = self.audio()
            n = (len(x) - since) // self.frame
            if n > 0:
                frames = x[since : since + n * self.frame].reshape(n, self.frame)
                loud = np.sqrt(np.mean(frames**2, axis=1)) > SPEECH_RMS
                idx = np.flatnonzero(loud)
                if idx.size:
                    first, last = int(idx[0]), int(idx[-1])
                    if (n - 1 - last) * 0.02 >= self.quiet or self.call.ended is not None:
                        return since + first * self.frame, since + (last + 1) * self.frame
            if self.call.ended is not None and n <= 0:
                return None
            time.sleep(0.05)
        return None


class _Transcript:
    """The call's lines in order, printed as soon as every line before them is known: bot turns
    are transcribed in the background, so that a slow recogniser (Mandarin on base) never
    keeps the caller silent long enough for the bot's no-input timeout."""

    def __init__(self, transcribe: Callable[[np.ndarray], str], show: Callable[[str], None]):
        self.pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="transcribe")
        self.transcribe, self.show = transcribe, show
        self.lines: list[Future[str] | str] = []
        self.turns: list[Future[BotTurn]] = []

    def bot(
        self,
        audio: np.ndarray,
        start: float,
        end: float,
        latency: float | None,
        barge: tuple[bool, float | None] = (False, None),
    ) -> None:
        def heard() -> BotTurn:
            return BotTurn(self.transcribe(audio), start, end, latency, *barge)

        turn = self.pool.submit(heard)
        lat = f"{latency * 1000:5.0f} ms" if latency is not None else "   first"
        self.turns.append(turn)
        self.lines.append(self.pool.submit(lambda: f"bot     [{lat}] {turn.result().text}"))
        self.flush()

    def say(self, line: str) -> None:
        self.lines.append(line)
        self.flush()

    def flush(self, wait: bool = False) -> None:
        while self.lines:
            first = self.lines[0]
            if isinstance(first, Future):
                if not (wait or first.done()):
                    return
                first = first.result()
            self.show(first)
            self.lines.pop(0)

    def close(self) -> list[BotTurn]:
        self.flush(wait=True)
        self.pool.shutdown()
        return [turn.result() for turn in self.turns]


def run_script(
    call: Any,
    script: list[tuple[str, str]],
    transcribe: Callable[[np.ndarray], str],
    synth: Callable[[str, int], bytes],
    *,
    quiet: float,
    turn_timeout: float,
    show: Callable[[str], None] = print,
) -> list[BotTurn]:
    listener = _Listener(call, quiet)
    out = _Transcript(transcribe, show)
    mark = 0  # sample index where the caller's last item ended
    for item in [*script, ("end", "")]:
        if item[0] == "barge":
            if call.ended is not None:
                break
            mark = _talk_over(call, listener, out, synth, item[1], mark, turn_timeout)
            continue
        span = listener.wait_turn(mark, turn_timeout)
        if span is not None:
            start, end = span
            audio = listener.audio()[start:end]
            latency = (start - mark) / listener.rate if out.turns or mark else None
            out.bot(audio, start / listener.rate, end / listener.rate, latency)
        elif call.ended is None:
            out.say("bot     (no answer within the turn timeout)")
        kind, value = item
        if kind == "end" or call.ended is not None:
            break
        tail = 0.0  # silence at the end of what we sent: the caller had stopped speaking
        if kind in ("say", "wav"):
            if kind == "say":
                out.say(f"caller  {value}")
                pcm, rate = synth(value, call.rate), call.rate
            else:
                out.say(f"caller  <{value}>")
                pcm, rate = read_wav(value, call.rate)
            tail = trailing_silence(pcm, rate)
            call.play_pcm(pcm, rate, wait=True)
        elif kind == "dtmf":
            out.say(f"keys    {value}")
            call.send_dtmf(value)
            time.sleep(0.12 * len(value))
        mark = max(0, len(call.recording()) // 2 - int(tail * listener.rate))
    return out.close()


def _talk_over(
    call: Any,
    listener: _Listener,
    out: _Transcript,
    synth: Callable[[str, int], bytes],
    barge: str,
    mark: int,
    turn_timeout: float,
) -> int:
    """One --barge item: speak over the bot's next turn; returns the new mark."""
    text, _, secs = barge.rpartition("@")
    rate = listener.rate
    start = listener.wait_start(mark, turn_timeout)
    if start is None:
        out.say("bot     (no turn to talk over within the turn timeout)")
        return mark
    begin = start + int(float(secs) * rate)  # the caller starts speaking here
    listener.wait_until(begin, turn_timeout)
    pcm = read_wav(text, rate)[0] if text.endswith(".wav") else synth(text, rate)
    tail = trailing_silence(pcm, rate)
    call.play_pcm(pcm, rate, wait=True)
    said = len(call.recording()) // 2
    listener.wait_until(said + int((STOP_GRACE + STOP_SILENCE) * rate) + listener.frame, 5.0)
    loud = listener.loud(begin)
    quiet_for = int(STOP_SILENCE / 0.02)
    stop = None  # the first frame from `begin` that starts STOP_SILENCE of quiet
    for i in range(len(loud) - quiet_for + 1):
        if not loud[i : i + quiet_for].any():
            stop = i
            break
    # stopped: fell silent (for STOP_SILENCE) before the caller finished or just after
    stopped = stop is not None and begin + stop * listener.frame <= said + STOP_GRACE * rate
    stopped_after = stop * 0.02 if stopped and stop is not None else None
    went_on = None  # seconds from falling silent to going on with the same prompt
    if stopped and stop is not None:
        silent = begin + stop * listener.frame  # the first sample of the silence
        listener.wait_until(silent + int(RESUME_WITHIN * rate), RESUME_WITHIN + 1.0)
        after = listener.loud(silent)
        loud_again = np.flatnonzero(after)
        if loud_again.size:
            at = silent + int(loud_again[0]) * listener.frame
            x = listener.audio()
            before = x[max(0, silent - rate) : silent + listener.frame]
            length = int(REPLAYED * rate)
            pieces = [x[at + int(t * rate) : at + int(t * rate) + length] for t in REPLAYED_FROM]
            if any(replayed(before, piece) for piece in pieces):
                went_on = (at - silent) / rate
    latency = (start - mark) / rate if out.turns or mark else None
    end = begin + stop * listener.frame if stopped and stop is not None else begin
    out.bot(listener.audio()[start:end], start / rate, end / rate, latency, (True, stopped_after))
    out.say(f"caller  (over the bot, {float(secs):g} s into its turn) {text}")
    if stopped_after is not None and went_on is not None:
        out.say(
            f"barge   bot paused {stopped_after * 1000:.0f} ms after the caller began, "
            f"went on {went_on * 1000:.0f} ms later"
        )
    elif stopped_after is not None:
        out.say(f"barge   bot stopped {stopped_after * 1000:.0f} ms after the caller began")
    else:
        out.say("barge   bot kept talking")
    return max(0, said - int(tail * rate))


def run(args: argparse.Namespace) -> int:
    from voicebot.cli.transcribe import recognizer_for
    from voicebot.dialog.expectation import Expectation
    from voicebot.sip.config import SipConfig
    from voicebot.sip.softphone import Softphone
    from voicebot.speech.recognizer import to_model_audio
    from voicebot.speech.synthesizer import EspeakSynthesizer, Voice

    recognizer = recognizer_for(args.language)
    heard = Expectation(kind="text", modes=("speech",), language=args.language)
    synthesizer = EspeakSynthesizer(Voice(args.voice, 160))

    def transcribe(audio: np.ndarray) -> str:
        pcm = (np.clip(audio, -1, 1) * 32767).astype("<i2").tobytes()
        return recognizer.final(to_model_audio(pcm, call.rate), heard).text

    with Softphone(SipConfig(port=args.port, rtp_port=6000, user=args.from_user)) as phone:
        call = phone.dial(args.uri)
        if not call.wait_answered(15) or not call.wait_media(5):
            ended = call.ended
            why = f"{ended.status_code} {ended.reason}" if ended else "no answer"
            print(f"call failed: {why}")
            return 1
        print(f"connected to {args.uri} ({call.codec})")
        turns = run_script(
            call,
            getattr(args, "script", None) or [],
            transcribe,
            lambda text, rate: synthesizer.synthesize(text, rate),
            quiet=args.quiet,
            turn_timeout=args.turn_timeout,
        )
        if call.ended is None:
            call.hangup()
            call.wait_ended(5)
            print("caller hung up")
        else:
            print(f"bot hung up ({call.ended.reason})")
        if args.record:
            call.save_recording(Path(args.record))
            print(f"recording saved to {args.record}")
    measured = [t.latency for t in turns if t.latency is not None]
    if measured:
        ms = sorted(x * 1000 for x in measured)
        print(
            f"turn latency: median {ms[len(ms) // 2]:.0f} ms, max {ms[-1]:.0f} ms "
            f"over {len(ms)} turn(s)"
        )
    return 0
