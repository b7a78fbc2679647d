"""Real SIP calls on loopback between pjsua2 endpoints in separate processes.

Each test uses its own SIP and RTP ports. The answering side is `SipEndpoint` driven by a tiny
server loop, the calling side is `Softphone` (tests/sip/sip_peers.py).
"""

from __future__ import annotations

import numpy as np
import pytest
from sip_peers import RATE, Peer, answering_server, scripted_caller

from voicebot.audio.resample import resample
from voicebot.audio.wav import read_wav, write_wav

pytestmark = pytest.mark.sip


def chirp(seconds: float, f0: float, f1: float, seed: int) -> bytes:
    """A sweep plus a little noise: no two lags of it look alike, so correlation finds one."""
    t = np.arange(int(seconds * RATE)) / RATE
    phase = 2 * np.pi * (f0 * t + (f1 - f0) * t**2 / (2 * seconds))
    noise = np.random.default_rng(seed).normal(0, 0.05, t.size)
    return ((np.sin(phase) * 0.3 + noise) * 32767).astype("<i2").tobytes()


def best_match(sent: bytes, received: bytes) -> tuple[float, float]:
    """(normalised correlation, level ratio in dB) of `sent` at its best lag in `received`."""
    s = np.frombuffer(sent, "<i2").astype(np.float64)
    r = np.frombuffer(received, "<i2").astype(np.float64)
    assert r.size > s.size, f"received {r.size} samples, sent {s.size}"
    n = 1 << int(np.ceil(np.log2(r.size + s.size)))
    corr = np.fft.irfft(np.fft.rfft(r, n) * np.conj(np.fft.rfft(s, n)), n)[: r.size - s.size]
    lag = int(np.argmax(corr))
    seg = r[lag : lag + s.size]
    score = float(seg @ s / (np.linalg.norm(seg) * np.linalg.norm(s) + 1e-9))
    ratio = 20 * np.log10((np.linalg.norm(seg) + 1e-9) / np.linalg.norm(s))
    return score, float(ratio)


def arrived(sent: bytes, received: bytes, parts: int = 10) -> list[tuple[float, float]]:
    """`best_match` of each of `parts` pieces of `sent`, each at its own lag: a frame that the
    jitter buffer dropped or repeated (it happens on a loaded machine) shifts one piece only."""
    size = len(sent) // parts // 2 * 2
    return [best_match(sent[i * size : (i + 1) * size], received) for i in range(parts)]


def uri(port: int, transport: str = "") -> str:
    return f"sip:bot@127.0.0.1:{port}" + (f";transport={transport}" if transport else "")


def test_audio_both_ways_dtmf_in_order_and_caller_hangup():
    bot_audio = chirp(1.5, 300, 3000, seed=1)
    caller_audio = chirp(1.5, 2500, 400, seed=2)
    with Peer(answering_server, port=0, rtp_port=31000, play=bot_audio) as bot:
        script = [
            ("dial", uri(bot.port)),
            ("wait_answered",),
            ("play", caller_audio, RATE),
            ("sleep", 0.3),
            ("dtmf", "159#*"),
            ("sleep", 1.5),
            ("hangup",),
            ("wait_ended",),
        ]
        with Peer(scripted_caller, rtp_port=31100, script=script) as caller:
            (call,) = caller.result()
        incoming = bot.event("IncomingCall")
        assert incoming["source"].startswith("127.0.0.1:")
        assert bot.event("MediaReady")["codec"] == "G722/16000"  # G.722 preferred
        names = [m[1] for m in bot.messages if m[0] == "event"]
        assert names.index("CallAnswered") < names.index("MediaReady")
        bot.event("CallEnded", by="remote", status_code=200)
        digits = bot.events("DtmfReceived")
        assert "".join(d["digit"] for d in digits) == "159#*"
        assert {d["method"] for d in digits} == {"rfc4733"}
        received = bot.audio(incoming["call_id"])

    assert call["answered"] and call["codec"] == "G722/16000"
    assert call["ended"]["by"] == "local"
    for sent, got in ((caller_audio, received), (bot_audio, call["recording"])):
        pieces = arrived(sent, got)
        good = [score > 0.9 and abs(level) < 3 for score, level in pieces]
        assert sum(good) >= 7, pieces  # (idle: all 10 at > 0.99; a loaded machine slips)


def dominant_hz(pcm: bytes, rate: int) -> float:
    samples = np.frombuffer(pcm, "<i2").astype(np.float64)
    return float(np.argmax(np.abs(np.fft.rfft(samples))) * rate / samples.size)


def test_wav_in_recording_out_sip_info_dtmf_over_tcp_and_bot_hangs_up(tmp_path):
    t = np.arange(int(0.6 * 22050)) / 22050  # a 22.05 kHz WAV: the softphone resamples it
    write_wav(
        tmp_path / "say.wav", (np.sin(2 * np.pi * 1000 * t) * 9000).astype("<i2").tobytes(), 22050
    )
    tone = (np.sin(2 * np.pi * 600 * np.arange(RATE) / RATE) * 9000).astype("<i2").tobytes()
    with Peer(answering_server, port=0, rtp_port=31200, play=tone, hangup_after=2.0) as bot:
        script = [
            ("dial", uri(bot.port, "tcp")),
            ("wait_answered",),
            ("wav", str(tmp_path / "say.wav")),
            ("dtmf", "42", "info"),
            ("wait_ended",),
            ("save", str(tmp_path / "heard.wav")),
        ]
        with Peer(scripted_caller, rtp_port=31300, script=script) as caller:
            (call,) = caller.result()
        incoming = bot.event("IncomingCall")
        bot.event("CallEnded", by="local")
        digits = bot.events("DtmfReceived")
        received = bot.audio(incoming["call_id"])
    assert [(d["digit"], d["method"]) for d in digits] == [("4", "info"), ("2", "info")]
    assert call["answered"]
    assert call["ended"]["by"] == "remote" and call["ended"]["status_code"] == 200
    assert abs(dominant_hz(received, RATE) - 1000) < 10
    heard, rate = read_wav(tmp_path / "heard.wav")
    assert rate == RATE and heard == call["recording"]
    assert abs(dominant_hz(heard, RATE) - 600) < 10


def test_cancel_before_answer():
    with Peer(answering_server, port=0, rtp_port=31400, answer=False) as bot:
        script = [("dial", uri(bot.port)), ("sleep", 0.5), ("hangup",), ("wait_ended",)]
        with Peer(scripted_caller, rtp_port=31500, script=script) as caller:
            (call,) = caller.result()
        bot.event("IncomingCall")
        ended = bot.event("CallEnded")
    assert call["progress"] == [180] and not call["answered"]
    assert call["ended"]["status_code"] == 487
    assert ended["status_code"] == 487 and ended["by"] == "remote"
    assert not bot.events("CallAnswered")


def test_caller_outside_allow_list_gets_403():
    with Peer(answering_server, port=0, rtp_port=31600, allow_from=("192.0.2.0/24",)) as bot:
        script = [("dial", uri(bot.port)), ("wait_ended",)]
        with Peer(scripted_caller, rtp_port=31700, script=script) as caller:
            (call,) = caller.result()
        refused = bot.event("CallRefused")
    assert call["ended"]["status_code"] == 403 and not call["answered"]
    assert refused["source"].startswith("127.0.0.1:") and refused["status_code"] == 403
    assert not bot.events("IncomingCall")


def test_fifth_concurrent_call_gets_486():
    with Peer(answering_server, port=0, rtp_port=31800) as bot:
        four = [step for _ in range(4) for step in (("dial", uri(bot.port)), ("wait_answered",))]
        four += [("sleep", 3.0)] + [("hangup", i) for i in range(4)]
        with Peer(scripted_caller, rtp_port=32000, script=four) as first:
            bot.wait_count("CallAnswered", 4, timeout=15)
            fifth = [("dial", uri(bot.port)), ("wait_ended",)]
            with Peer(scripted_caller, rtp_port=32200, script=fifth) as second:
                (call,) = second.result()
            calls = first.result()
    assert all(c["answered"] for c in calls)
    assert call["ended"]["status_code"] == 486 and not call["answered"]
    assert len(bot.events("IncomingCall")) == 4


def test_stopping_the_endpoint_hangs_up_its_calls():
    with Peer(answering_server, port=0, rtp_port=32300, max_seconds=2.0) as bot:
        script = [("dial", uri(bot.port)), ("wait_answered",), ("wait_ended",)]
        with Peer(scripted_caller, rtp_port=32350, script=script) as caller:
            (call,) = caller.result(timeout=15)
        bot.wait_for(lambda m: m[0] == "stopped", 10)
        ended = bot.event("CallEnded")
    assert call["answered"] and call["ended"]["by"] == "remote"
    assert ended["by"] == "local"


def test_hold_and_resume_by_reinvite():
    with Peer(answering_server, port=0, rtp_port=32400, play=chirp(4.0, 300, 3000, 3)) as bot:
        script = [
            ("dial", uri(bot.port)),
            ("wait_answered",),
            ("sleep", 0.5),
            ("hold",),
            ("sleep", 0.8),
            ("unhold",),
            ("sleep", 0.8),
            ("hangup",),
            ("wait_ended",),
        ]
        with Peer(scripted_caller, rtp_port=32450, script=script) as caller:
            (call,) = caller.result()
        bot.event("CallEnded", by="remote")
        holds = bot.events("CallHeld")
    assert [(h["held"], h["by"]) for h in holds] == [(True, "remote"), (False, "remote")]
    heard = np.frombuffer(call["recording"], "<i2").astype(np.float64)
    assert np.sqrt(np.mean(heard[-RATE // 2 :] ** 2)) > 1000  # the bot is heard again after


def test_g711_only_peer_at_8_khz():
    caller_audio = chirp(1.5, 300, 3000, seed=4)  # within the telephone band
    g711 = {"codecs": ("PCMU/8000",), "audio_rate": 8000}
    with Peer(answering_server, port=0, rtp_port=32500, **g711) as bot:
        script = [
            ("dial", uri(bot.port)),
            ("wait_answered",),
            ("play", caller_audio, RATE),
            ("hangup",),
            ("wait_ended",),
        ]
        with Peer(scripted_caller, rtp_port=32550, script=script) as caller:
            (call,) = caller.result()
        incoming = bot.event("IncomingCall")
        assert bot.event("MediaReady")["codec"] == "PCMU/8000"
        received = bot.audio(incoming["call_id"])
    assert call["codec"] == "PCMU/8000"
    pieces = arrived(resample(caller_audio, RATE, 8000), received)
    good = [score > 0.9 and abs(level) < 3 for score, level in pieces]
    assert sum(good) >= 7, pieces


def test_the_endpoint_ends_a_call_over_its_maximum_duration_by_itself():
    """However a call started and whatever runs it, the endpoint hangs it up past
    `max_call_seconds` (issue 15: calls a REFER spawned ran with no limit for minutes)."""
    with Peer(answering_server, port=0, rtp_port=33300, max_call_seconds=1.5) as bot:
        script = [("dial", uri(bot.port)), ("wait_answered",), ("wait_ended",)]
        with Peer(scripted_caller, rtp_port=33400, script=script) as caller:
            (call,) = caller.result()
        ended = bot.event("CallEnded")
    assert call["answered"] and call["ended"]["by"] == "remote"
    assert ended["by"] == "local"
    assert 1.5 <= ended["at"] - bot.event("CallAnswered")["at"] <= 3.5
