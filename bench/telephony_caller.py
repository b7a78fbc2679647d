"""One caller process of the telephony benchmark: up to 4 concurrent scripted calls.

    .venv/bin/python bench/telephony_caller.py URI --calls 4 --turns 8 --out calls.json

pjsua2 allows one endpoint per process and 4 calls per endpoint, so the benchmark starts one
of these per 4 calls. Each call (a thread) starts `--stagger` seconds after the previous one,
dials `URI` with its own user part (`sip:bench-INDEX@host:port`, so the call records and the
capture tell the calls apart), then answers the benchmark flow's questions in turn with
espeak-ng speech rendered once at start, waiting before each answer for the bot to finish
speaking (`--quiet` seconds of silence), exactly as `voicebot call` does
(`voicebot.cli.call.run_script`, without transcribing). Each round of the flow it says a menu
word, an 8-digit account number as people say one ("four one five five, five five one two",
one utterance, grouped), a short reason for calling (free text) and yes or no (`script`).

With `--sync-text` the calls of this process answer each free-text question together: each
waits until all have heard the question, then starts so that all their answers end at the same
moment (`EndTogether`). It offers only G.711 (`--codec`), so the benchmark can decode both
directions from a packet capture. It writes, per call, what the softphone itself measured:
dial, answer and end times, when each answer was played (wall clock, as the capture's
timestamps), and the caller-side turn latencies.
"""

from __future__ import annotations

import argparse
import json
import random
import re
import sys
import threading
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402

from bench.telephony_wire import LOUD_RMS  # noqa: E402 (after the path set-up)
from voicebot.audio.frames import pcm16_to_float32  # noqa: E402
from voicebot.cli.call import run_script  # noqa: E402
from voicebot.sip.config import SipConfig  # noqa: E402
from voicebot.sip.softphone import Softphone, SoftphoneCall  # noqa: E402
from voicebot.speech.synthesizer import EspeakSynthesizer, Voice  # noqa: E402

KINDS = ("menu", "digits", "text", "yes_no")  # one round of bench/telephony_flow.yaml
MENU = ("sales", "support", "billing")
REASONS = (
    "I want to change the address on my account.",
    "My last bill looks too high.",
    "I'd like to cancel my subscription.",
    "The internet keeps dropping every evening.",
    "I need a copy of my last invoice.",
    "I was charged twice this month.",
)
GROUPINGS = ((4, 4), (3, 3, 2), (2, 2, 2, 2))  # how an 8-digit number is said
DIGIT_WORDS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")
SYNC_LEAD = 0.3  # s between the last call reaching a free-text question and the first start


@dataclass(frozen=True)
class Answer:
    kind: str  # one of KINDS
    say: str  # what espeak-ng says
    expect: str  # the value the flow should take from it: option, digits, words, "yes"/"no"


def normalise(text: str) -> str:
    """Words as the flow keeps free text: lower case, no punctuation but apostrophes."""
    return " ".join(re.sub(r"[^a-z0-9' ]+", " ", text.lower()).split())


def spoken_digits(digits: str, grouping: tuple[int, ...], oh: bool) -> str:
    """'41555512', (4, 4) -> 'four one five five, five five one two' (0 as 'oh' or 'zero')."""
    words = [("oh" if oh else "zero") if d == "0" else DIGIT_WORDS[int(d)] for d in digits]
    groups, at = [], 0
    for size in grouping:
        groups.append(" ".join(words[at : at + size]))
        at += size
    return ", ".join(groups)


def script(turns: int, index: int) -> list[Answer]:
    """The answers of call `index` to the flow's rounds, `turns` of them; the same every run."""
    out: list[Answer] = []
    for r in range((turns + len(KINDS) - 1) // len(KINDS)):
        k = index + r
        rng = random.Random(1000 * index + r)
        digits = "".join(rng.choice("0123456789") for _ in range(8))
        yes = k % 4 != 3  # one round in four the caller says no (the flow starts over)
        reason = REASONS[k % len(REASONS)]
        menu = MENU[k % len(MENU)]
        out += [
            Answer("menu", menu, menu),
            Answer("digits", spoken_digits(digits, GROUPINGS[k % 3], oh=k % 2 == 0), digits),
            Answer("text", reason, normalise(reason)),
            Answer("yes_no", "yes" if yes else "no", "yes" if yes else "no"),
        ]
    return out[:turns]


def speech_length(pcm: bytes, rate: int) -> float:
    """Seconds to the end of the last 20 ms frame that the capture counts as loud (LOUD_RMS,
    -50 dBFS): where the benchmark sees this answer end on the wire."""
    x = pcm16_to_float32(pcm)
    frame = rate // 50
    n = len(x) // frame
    rms = np.sqrt(np.mean(x[: n * frame].reshape(n, frame) ** 2, axis=1)) if n else np.zeros(0)
    idx = np.flatnonzero(rms > LOUD_RMS)
    return (int(idx[-1]) + 1) * frame / rate if idx.size else 0.0


class EndTogether:
    """Holds each free-text answer of this process's calls until all have reached it, then
    lets each start at the moment that makes all of them end together (their speech, without
    the trailing silence). A call that ends or stalls breaks the barrier: the rest go unheld."""

    def __init__(self, parties: int, timeout: float = 8.0):
        self._lock = threading.Lock()
        self._lengths: dict[int, float] = {}
        self._end = 0.0
        self._barrier = threading.Barrier(parties, action=self._plan, timeout=timeout)

    def _plan(self) -> None:
        self._end = time.time() + SYNC_LEAD + max(self._lengths.values())

    def hold(self, length: float) -> bool:
        with self._lock:
            self._lengths[threading.get_ident()] = length
        try:
            self._barrier.wait()
        except threading.BrokenBarrierError:
            return False
        time.sleep(max(0.0, self._end - length - time.time()))
        return True

    def leave(self) -> None:
        self._barrier.abort()


class TimedCall:
    """The softphone call as `run_script` sees it: notes when each answer is played (and, for
    free text with `sync`, holds it back first)."""

    def __init__(self, call: SoftphoneCall, answers: list[Answer], sync: EndTogether | None):
        self._call = call
        self._answers = iter(answers)
        self._sync = sync
        self.played: list[dict[str, Any]] = []

    def __getattr__(self, name: str) -> Any:
        return getattr(self._call, name)

    def play_pcm(self, pcm: bytes, rate: int, wait: bool = True) -> None:
        answer = next(self._answers)
        speech = speech_length(pcm, rate)
        held = None
        if answer.kind == "text" and self._sync is not None:
            held = self._sync.hold(speech)
        start = time.time()
        self._call.play_pcm(pcm, rate, wait=wait)
        self.played.append(
            {**asdict(answer), "start": start, "speech_end": start + speech,
             "returned": time.time(), "synced": held}
        )  # fmt: skip


def jitter_buffer(phone: Softphone, call_id: str) -> dict[str, float]:
    """This softphone's jitter buffer on the bot's stream (pjsua2 defaults, as the bot's own
    buffer on ours): the delay it added, ms. For the profile, so read through private parts."""

    def read() -> dict[str, float]:
        jb = phone.endpoint._registry.calls[call_id].getStreamStat(0).jbuf
        return {
            "avg_ms": jb.avgDelayMsec,
            "min_ms": jb.minDelayMsec,
            "max_ms": jb.maxDelayMsec,
            "prefetch_frames": jb.prefetch,
        }

    try:
        return phone.endpoint._submit(read, "stream stats")
    except Exception as exc:  # the call ended meanwhile: no figures, no failure
        return {"error": str(exc)}  # type: ignore[dict-item]


def one_call(
    phone: Softphone,
    uri: str,
    index: int,
    args: argparse.Namespace,
    speech: dict[str, bytes],
    sync: EndTogether | None,
    results: list[dict[str, Any]],
) -> None:
    uri = re.sub(r"^sip:([^@]*@)?", f"sip:bench-{index}@", uri)
    row: dict[str, Any] = {"index": index, "uri": uri, "error": ""}
    results.append(row)
    answers = script(args.turns, index)
    timed: TimedCall | None = None
    try:
        row["dialled"] = time.time()
        call: SoftphoneCall = phone.dial(uri)
        row["call_id"] = call.call_id
        if not call.wait_answered(15) or not call.wait_media(5):
            ended = call.ended
            row["error"] = f"{ended.status_code} {ended.reason}" if ended else "no answer"
            return
        row["answered"] = time.time()
        row["codec"] = call.codec
        timed = TimedCall(call, answers, sync)
        turns = run_script(
            timed,
            [("say", a.say) for a in answers],
            lambda audio: "",
            lambda text, rate: speech[text],
            quiet=args.quiet,
            turn_timeout=args.turn_timeout,
            show=lambda line: None,
        )
        row["latencies"] = [t.latency for t in turns if t.latency is not None]
        row["bot_turns"] = len(turns)
        row["jitter_buffer"] = jitter_buffer(phone, call.call_id)
        if call.ended is None:
            call.hangup()
            call.wait_ended(5)
        else:
            row["error"] = f"bot hung up: {call.ended.reason}"
        row["ended"] = time.time()
    except Exception as exc:  # one failed call must not lose the others' figures
        row["error"] = f"{type(exc).__name__}: {exc}"
    finally:
        if sync is not None:
            sync.leave()  # the others stop waiting for this call
        row["answers"] = timed.played if timed is not None else []


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("uri", help="sip:HOST:PORT to call (the user part is set per call)")
    p.add_argument("--calls", type=int, default=1, help="concurrent calls (at most 4)")
    p.add_argument("--first", type=int, default=0, help="index of this process's first call")
    p.add_argument("--turns", type=int, default=8, help="caller answers per call")
    p.add_argument("--stagger", type=float, default=0.0, help="seconds between call starts")
    p.add_argument("--delay", type=float, default=0.0, help="seconds before the first call")
    p.add_argument("--quiet", type=float, default=1.0, help="silence that ends a bot turn (s)")
    p.add_argument("--turn-timeout", type=float, default=20.0)
    p.add_argument(
        "--sync-text", action="store_true", help="the calls' free-text answers end together"
    )
    p.add_argument("--codec", default="PCMU/8000", choices=["PCMU/8000", "PCMA/8000"])
    p.add_argument("--rtp-port", type=int, default=50000)
    p.add_argument("--out", required=True)
    args = p.parse_args()
    if not 1 <= args.calls <= 4:
        p.error("--calls: one process places 1 to 4 calls")

    synth = EspeakSynthesizer(Voice("en-us", 160))
    says = {a.say for k in range(args.calls) for a in script(args.turns, args.first + k)}
    speech = {text: synth.synthesize(text, 8000) for text in sorted(says)}
    sync = EndTogether(args.calls) if args.sync_text else None
    config = SipConfig(
        port=0, user="bench", rtp_port=args.rtp_port, codecs=(args.codec,), audio_rate=8000
    )
    results: list[dict[str, Any]] = []
    with Softphone(config) as phone:
        print("caller ready", flush=True)
        time.sleep(args.delay)
        threads = []
        for k in range(args.calls):
            t = threading.Thread(
                target=one_call,
                args=(phone, args.uri, args.first + k, args, speech, sync, results),
                daemon=True,
            )
            t.start()
            threads.append(t)
            time.sleep(args.stagger)
        limit = time.monotonic() + args.turns * (args.turn_timeout + 10) + 30
        for t in threads:
            t.join(max(0.1, limit - time.monotonic()))
    Path(args.out).write_text(json.dumps(results, indent=1))
    return 0 if all(not r["error"] for r in results) else 1


if __name__ == "__main__":
    raise SystemExit(main())
