"""Cost of the pjsua2 media callbacks: copying one 20 ms frame in and out, alone and on a call.

    .venv/bin/python bench/sip_media_bench.py [--seconds 5] [--pairs 1|2]

1. Micro: ByteVector -> bytes (`bytes(vec)` vs the ctypes read in voicebot.sip.media), bytes ->
   frame buffer (a fresh ByteVector vs one built ahead by `CallMedia.play`), and the two
   `MediaPort` callbacks called straight from Python, at 8 and 16 kHz.
2. Live: one endpoint calls itself on loopback (`--pairs` calls of two legs each: 2 or 4
   of the 4 calls a process may have; two callbacks per leg every 20 ms),
   the callbacks timed from inside on PJSIP's clock thread, and the spacing between successive
   `onFrameRequested` calls; then again while another Python thread keeps the GIL busy (the
   situation of a recogniser running pure-Python code), with the default and a 1 ms
   `sys.setswitchinterval`. Before that, barge-in: how long after `stop_playback()` on one
   leg the other leg receives its first silent frame (jitter buffers of both sides included).
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import queue
import sys
import threading
import time
import timeit

import numpy as np
import pjsua2 as pj

from voicebot.audio.frames import bytes_per_frame
from voicebot.sip import calls as sip_calls
from voicebot.sip import events as ev
from voicebot.sip.config import SipConfig
from voicebot.sip.endpoint import SipEndpoint
from voicebot.sip.media import (
    CallMedia,
    MediaPort,
    _read_slow,
    _write_slow,
    give_frame,
    read_frame,
)


def us(fn, number: int = 20000) -> float:
    return timeit.timeit(fn, number=number) / number * 1e6


def micro(rate: int) -> None:
    size = bytes_per_frame(rate)
    data = os.urandom(size)
    frame = pj.MediaFrame()
    frame.buf = pj.ByteVector(data)
    frame.type = pj.PJMEDIA_FRAME_TYPE_AUDIO
    prebuilt = pj.ByteVector(data)
    spares = iter([pj.ByteVector(data) for _ in range(20000)])
    rows = [
        ("read, SWIG: bytes(frame.buf)", lambda: _read_slow(frame), 2000),
        ("read, ctypes: read_frame(frame)", lambda: read_frame(frame), 20000),
        (
            "write, SWIG: frame.buf = ByteVector(pcm)",
            lambda: _write_slow(frame, pj.ByteVector(data)),
            20000,
        ),  # noqa: E501
        ("write, prebuilt vector, SWIG type", lambda: _write_slow(frame, prebuilt), 20000),
        ("write, prebuilt vector, ctypes swap", lambda: give_frame(frame, next(spares)), 20000),
    ]
    print(f"  {rate} Hz, {size} bytes per frame")
    for label, fn, number in rows:
        print(f"    {label:42s} {us(fn, number):7.1f} us")


def callbacks(rate: int) -> None:
    media = CallMedia("bench", rate, max_frames=10**9)
    port = MediaPort(media)
    size = bytes_per_frame(rate)
    inbound = pj.MediaFrame()
    inbound.type = pj.PJMEDIA_FRAME_TYPE_AUDIO
    inbound.buf = pj.ByteVector(os.urandom(size))
    outbound = pj.MediaFrame()
    media.play(os.urandom(size * 40000))
    rx = us(lambda: port.onFrameReceived(inbound))
    tx = us(lambda: port.onFrameRequested(outbound))
    media.stop_playback()
    media._refill(20001)  # the endpoint thread keeps silent frames ready
    idle = us(lambda: port.onFrameRequested(outbound))
    play = timeit.timeit(lambda: media.play(bytes(size * 50)), number=50) / 50 * 1e3
    print(
        f"  {rate} Hz: onFrameReceived {rx:.1f} us, onFrameRequested {tx:.1f} us "
        f"(silence {idle:.1f} us); play() of 1 s of audio {play:.2f} ms (on the caller's thread)"
    )


class TimedPort(MediaPort):
    """MediaPort that records how long each callback took and when it was called."""

    samples: dict[str, list[int]] = {"rx": [], "tx": []}
    ports: list[TimedPort] = []

    def __init__(self, media: CallMedia) -> None:
        super().__init__(media)
        self.tx_at: list[int] = []
        self.ports.append(self)

    def onFrameReceived(self, frame: pj.MediaFrame) -> None:
        t = time.perf_counter_ns()
        super().onFrameReceived(frame)
        self.samples["rx"].append(time.perf_counter_ns() - t)

    def onFrameRequested(self, frame: pj.MediaFrame) -> None:
        t = time.perf_counter_ns()
        super().onFrameRequested(frame)
        self.samples["tx"].append(time.perf_counter_ns() - t)
        self.tx_at.append(t)


def busy(stop: threading.Event) -> None:
    x = 0
    while not stop.is_set():
        for i in range(1000):
            x += i * i


def pct(values: list[float], p: float) -> float:
    return float(np.percentile(values, p)) if len(values) else float("nan")


def barge_in(medias: list[CallMedia], tone: bytes, rounds: int = 10) -> None:
    """stop_playback() on one leg -> the first silent frame the other leg receives."""

    def rms(frame) -> float:
        return float(np.sqrt(np.mean(frame.samples.astype(np.float64) ** 2)))

    delays = []
    for _ in range(rounds):
        medias[0].play(tone)
        end = time.monotonic() + 0.6
        loudness = dict.fromkeys(range(1, len(medias)), 0.0)
        while time.monotonic() < end:
            for i, m in enumerate(medias):
                for f in m.read_frames(timeout=0.01):
                    if i:
                        loudness[i] = max(loudness[i], rms(f))
        partner = medias[max(loudness, key=loudness.__getitem__)]  # the leg that hears it
        stopped = time.monotonic()
        medias[0].stop_playback()
        frames: list = []
        end = stopped + 0.4
        while time.monotonic() < end:
            for m in medias:
                got = m.read_frames(timeout=0.01)
                if m is partner:
                    frames += got
        quiet = [f.timestamp - stopped for f in frames if f.timestamp > stopped and rms(f) < 100]
        delays.append(min(quiet) * 1000)
    print(
        f"  stop_playback() -> first silent frame at the far end: p50 {pct(delays, 50):.0f} ms,"
        f" max {max(delays):.0f} ms ({rounds} rounds)"
    )


def live(seconds: float, pairs: int) -> None:
    sip_calls.MediaPort = TimedPort  # the endpoint builds our timed ports
    endpoint = SipEndpoint(SipConfig(port=0, pjsip_log_level=1, switch_interval=0))
    endpoint.start()
    events = endpoint.events()
    for _ in range(pairs):
        endpoint.make_call(f"sip:bench@127.0.0.1:{endpoint.port}")
    medias: list[CallMedia] = []
    deadline = time.monotonic() + 10
    while len(medias) < 2 * pairs and time.monotonic() < deadline:
        try:
            event = events.get(timeout=0.1)
        except queue.Empty:
            continue
        if isinstance(event, ev.IncomingCall):
            endpoint.answer(event.call_id)
        elif isinstance(event, ev.MediaReady):
            medias.append(event.media)
    tone = (np.sin(np.arange(16000 * 60) * 0.1) * 8000).astype("<i2").tobytes()
    barge_in(medias, tone)
    for m in medias:
        m.play(tone)

    def run(label: str) -> None:
        for v in TimedPort.samples.values():
            v.clear()
        for port in TimedPort.ports:
            port.tx_at.clear()
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            for m in medias:
                m.read_frames(timeout=0.02)
        s = TimedPort.samples
        rx = [v / 1000 for v in s["rx"]]
        tx = [v / 1000 for v in s["tx"]]
        gaps = [g / 1e6 for p in TimedPort.ports for g in np.diff(p.tx_at)]
        print(
            f"  {label:32s} rx p50 {pct(rx, 50):5.1f} p99 {pct(rx, 99):6.1f} max {max(rx):7.1f} us"
            f" | tx p50 {pct(tx, 50):5.1f} p99 {pct(tx, 99):6.1f} max {max(tx):7.1f} us"
            f" | tx spacing p50 {pct(gaps, 50):4.1f} p99 {pct(gaps, 99):5.1f}"
            f" max {max(gaps):5.1f} ms"
        )

    run("idle process")
    stop = threading.Event()
    spinner = threading.Thread(target=busy, args=(stop,), daemon=True)
    spinner.start()
    sys.setswitchinterval(0.005)
    run("GIL-busy thread, switch 5 ms")
    sys.setswitchinterval(0.001)
    run("GIL-busy thread, switch 1 ms")
    stop.set()
    spinner.join()
    TimedPort.ports.clear()  # ports must go before pjsua2 does
    endpoint.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=5.0, help="per live measurement")
    parser.add_argument(
        "--pairs", type=int, default=1, choices=(1, 2), help="loopback calls (2 legs each)"
    )
    args = parser.parse_args()
    print("micro (one frame, this thread):")
    for rate in (8000, 16000):
        micro(rate)
    print("MediaPort callbacks called from Python (no pjsua2 in the loop):")
    ep = pj.Endpoint()
    ep.libCreate()
    cfg = pj.EpConfig()
    cfg.logConfig.level = cfg.logConfig.consoleLevel = 0
    ep.libInit(cfg)
    ep.audDevManager().setNullDev()
    ep.libStart()
    for rate in (8000, 16000):
        callbacks(rate)
    ep.libDestroy()
    legs = 2 * args.pairs
    print(f"live loopback calls, 16 kHz G.722, {legs} legs, {args.seconds:.0f} s per row:")
    # pjsua2 allows one Endpoint per process (a second libCreate after libDestroy aborts)
    spawn = multiprocessing.get_context("spawn")
    child = spawn.Process(target=live, args=(args.seconds, args.pairs))
    child.start()
    child.join(args.seconds * 4 + 30)
    if child.is_alive():
        child.kill()


if __name__ == "__main__":
    main()
