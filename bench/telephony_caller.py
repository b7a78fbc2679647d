"""One caller process of the telephony benchmark: up to 4 concurrent scripted calls.

    .venv/bin/python bench/telephony_caller.py URI --calls 4 --turns 8 --out calls.json

pjsua2 allows one endpoint per process and 4 calls per endpoint, so the benchmark starts one
of these per 4 calls. Each call (a thread) starts `--stagger` seconds after the previous one,
dials `URI` (a worker, or Kamailio in front of the workers), then answers the benchmark flow's
questions in turn with espeak-ng speech rendered once at start, waiting before each answer for
the bot to finish speaking (`--quiet` seconds of silence), exactly as `voicebot call` does
(`voicebot.caller.run_script`, without transcribing). It offers only G.711 (`--codec`), so the
benchmark can decode both directions from a packet capture. It writes, per call, what the
softphone itself measured: dial, answer and end times, and the caller-side turn latencies.
"""

from __future__ import annotations

import argparse
import json
import sys
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from voicebot.caller import run_script  # noqa: E402 (after the path set-up)
from voicebot.sip.config import SipConfig  # noqa: E402
from voicebot.sip.softphone import Softphone, SoftphoneCall  # noqa: E402
from voicebot.speech.synthesizer import EspeakSynthesizer, Voice  # noqa: E402

COLOURS = ("red", "green", "blue")


def script(turns: int, offset: int) -> list[tuple[str, str]]:
    """The answers to the flow's loop: a colour, then yes to the confirmation, and so on."""
    out = []
    for i in range(turns):
        word = COLOURS[(offset + i // 2) % 3] if i % 2 == 0 else "yes"
        out.append(("say", word))
    return out


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
    results: list[dict[str, Any]],
) -> None:
    row: dict[str, Any] = {"index": index, "uri": uri, "error": ""}
    results.append(row)
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
        turns = run_script(
            call,
            script(args.turns, index),
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


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("uri")
    p.add_argument("--calls", type=int, default=1, help="concurrent calls (at most 4)")
    p.add_argument("--first", type=int, default=0, help="index of this process's first call")
    p.add_argument("--turns", type=int, default=8, help="caller answers per call")
    p.add_argument("--stagger", type=float, default=0.0, help="seconds between call starts")
    p.add_argument("--delay", type=float, default=0.0, help="seconds before the first call")
    p.add_argument("--quiet", type=float, default=1.0, help="silence that ends a bot turn (s)")
    p.add_argument("--turn-timeout", type=float, default=20.0)
    p.add_argument("--codec", default="PCMU/8000", choices=["PCMU/8000", "PCMA/8000"])
    p.add_argument("--rtp-port", type=int, default=50000)
    p.add_argument("--out", required=True)
    args = p.parse_args()
    if not 1 <= args.calls <= 4:
        p.error("--calls: one process places 1 to 4 calls")

    synth = EspeakSynthesizer(Voice("en-us", 160))
    speech = {w: synth.synthesize(w, 8000) for w in (*COLOURS, "yes")}
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
                args=(phone, args.uri, args.first + k, args, speech, results),
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
