"""What the telephony benchmark reads off the wire: a pcap of loopback SIP and RTP, analysed.

Pure functions over a capture file (written by `dumpcap -P`, kernel timestamps), no live I/O:

    read_pcap(path) -> list[Packet]           # UDP/IPv4 datagrams with their capture time
    rtp_calls(packets, bot_ports) -> dict[int, RtpCall]
        # one call per bot RTP port: the packets the bot sent (bot -> caller) and received
    turns(call) -> list[Turn]
        # last loud caller packet -> first loud bot packet after it, per caller turn (s)
    turn_latencies(call) -> list[float]       # the same, latencies only
    playback_gaps(call) -> (gaps_during_playback, all_inter_arrivals_during_playback)
    invite_to_ok(packets) -> dict[call_id, (seconds, hop)]
        # the caller's INVITE to the 200 OK it gets back; also each proxy-to-worker hop
    bot_ports(packets) -> dict[to_user, bot_rtp_port]
        # whom each call dialled (the INVITE's To user) and the RTP port the bot answered with

A packet is "loud" (speech, not silence) when its G.711 payload, decoded, has an RMS above
`LOUD_RMS`, -50 dBFS. Silence on this line is digital zero (both sides send zeros between
prompts), so any such level is speech; -50 dBFS keeps the soft ends of words, like the /s/ of
"yes" at -42 to -46 dBFS, which the -40 dBFS of `voicebot call` would cut (that threshold
would add their length, ~100 ms, to the latency). The bot sends RTP all the time (no
silence suppression), so the bot's playback of a turn is the span from its first loud packet
to its last loud packet before the caller speaks again; every inter-arrival gap between two
of its packets inside that span counts.
"""

from __future__ import annotations

import re
import struct
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from voicebot.audio.g711 import ALAW_TO_LINEAR, ULAW_TO_LINEAR

LOUD_RMS = 10 ** (-50 / 20)  # full scale 1.0
GAP = 0.040  # an outbound inter-arrival gap above this, during playback, is a glitch
_LINK_HEADER = {1: 14, 113: 16, 276: 20, 0: 4, 101: 0}  # Ethernet, SLL, SLL2, null, raw
_PCMU, _PCMA = 0, 8


@dataclass(frozen=True)
class Packet:
    t: float
    src: tuple[str, int]
    dst: tuple[str, int]
    payload: bytes


@dataclass
class RtpCall:
    bot_port: int
    caller_port: int = 0
    bot: list[tuple[float, int, bool]] = field(default_factory=list)  # (time, seq, loud)
    caller: list[tuple[float, int, bool]] = field(default_factory=list)


def read_pcap(path: Path) -> list[Packet]:
    data = path.read_bytes()
    if len(data) < 24:
        return []
    magic = data[:4]
    if magic in (b"\xd4\xc3\xb2\xa1", b"\x4d\x3c\xb2\xa1"):
        endian = "<"
    elif magic in (b"\xa1\xb2\xc3\xd4", b"\xa1\xb2\x3c\x4d"):
        endian = ">"
    else:
        raise ValueError(f"{path}: not a pcap file (write it with dumpcap -P)")
    nano = magic in (b"\x4d\x3c\xb2\xa1", b"\xa1\xb2\x3c\x4d")
    link = struct.unpack(endian + "I", data[20:24])[0]
    skip = _LINK_HEADER.get(link)
    if skip is None:
        raise ValueError(f"{path}: link type {link} not handled")
    scale = 1e-9 if nano else 1e-6
    out: list[Packet] = []
    pos = 24
    record = struct.Struct(endian + "IIII")
    while pos + 16 <= len(data):
        sec, frac, incl, _orig = record.unpack_from(data, pos)
        pos += 16
        frame = data[pos : pos + incl]
        pos += incl
        ip = frame[skip:]
        if len(ip) < 28 or ip[0] >> 4 != 4 or ip[9] != 17:  # IPv4 UDP only
            continue
        ihl = (ip[0] & 0x0F) * 4
        src_ip = ".".join(map(str, ip[12:16]))
        dst_ip = ".".join(map(str, ip[16:20]))
        sport, dport, length = struct.unpack_from("!HHH", ip, ihl)
        payload = ip[ihl + 8 : ihl + length]
        out.append(Packet(sec + frac * scale, (src_ip, sport), (dst_ip, dport), payload))
    return out


def _rtp(payload: bytes) -> tuple[int, int, bytes] | None:
    """(payload type, sequence number, audio) of an RTP packet, None for anything else."""
    if len(payload) < 12 or payload[0] >> 6 != 2:
        return None
    pt = payload[1] & 0x7F
    if 72 <= pt <= 76:  # RTCP
        return None
    cc = payload[0] & 0x0F
    start = 12 + 4 * cc
    if payload[0] & 0x10 and len(payload) >= start + 4:  # header extension
        start += 4 + 4 * struct.unpack_from("!H", payload, start + 2)[0]
    end = len(payload)
    if payload[0] & 0x20:  # padding
        end -= payload[-1]
    seq = struct.unpack_from("!H", payload, 2)[0]
    return pt, seq, payload[start:end]


def loud(pt: int, audio: bytes) -> bool:
    if pt == _PCMU:
        table = ULAW_TO_LINEAR
    elif pt == _PCMA:
        table = ALAW_TO_LINEAR
    else:
        return False  # DTMF events, comfort noise; other codecs are not decoded
    x = table[np.frombuffer(audio, dtype=np.uint8)].astype(np.float64) / 32768.0
    return bool(x.size) and float(np.sqrt(np.mean(x * x))) > LOUD_RMS


def rtp_calls(packets: list[Packet], bot_ports: range | set[int]) -> dict[int, RtpCall]:
    calls: dict[int, RtpCall] = {}
    for p in packets:
        if p.src[1] in bot_ports:
            side, port, other = "bot", p.src[1], p.dst[1]
        elif p.dst[1] in bot_ports:
            side, port, other = "caller", p.dst[1], p.src[1]
        else:
            continue
        rtp = _rtp(p.payload)
        if rtp is None:
            continue
        pt, seq, audio = rtp
        call = calls.setdefault(port, RtpCall(port, other))
        getattr(call, side).append((p.t, seq, loud(pt, audio)))
    return calls


def stream_gaps(packets: list[tuple[float, int, bool]]) -> list[float]:
    """Every inter-arrival gap over GAP in one direction of a call, playback or not (s)."""
    times = np.array([t for t, _, _ in packets])
    d = np.diff(times) if times.size > 1 else np.zeros(0)
    return [float(x) for x in d[d > GAP]]


def _merged(call: RtpCall) -> list[tuple[float, str]]:
    events = [(t, "b") for t, _, is_loud in call.bot if is_loud]
    events += [(t, "c") for t, _, is_loud in call.caller if is_loud]
    events.sort()
    return events


@dataclass(frozen=True)
class Turn:
    caller_end: float  # the caller's last loud packet of the utterance (capture time)
    latency: float  # from it to the bot's first loud packet after it (s)


def turns(call: RtpCall) -> list[Turn]:
    """For each caller utterance: its last loud packet to the bot's next loud packet."""
    out: list[Turn] = []
    last_caller: float | None = None
    for t, who in _merged(call):
        if who == "c":
            last_caller = t
        elif last_caller is not None:
            out.append(Turn(last_caller, t - last_caller))
            last_caller = None
    return out


def turn_latencies(call: RtpCall) -> list[float]:
    return [t.latency for t in turns(call)]


def playback_spans(call: RtpCall) -> list[tuple[float, float]]:
    """(first, last) loud bot packet of each bot turn: a turn ends when the caller speaks."""
    spans: list[tuple[float, float]] = []
    start = end = None
    for t, who in _merged(call):
        if who == "b":
            if start is None:
                start = t
            end = t
        elif start is not None:
            assert end is not None
            spans.append((start, end))
            start = end = None
    if start is not None and end is not None:
        spans.append((start, end))
    return spans


@dataclass(frozen=True)
class Gaps:
    over: list[float]  # inter-arrival gaps above GAP during playback (s)
    intervals: int  # inter-arrival intervals looked at during playback
    longest: float  # longest interval during playback (s)
    p99: float  # 99th percentile interval during playback (s)
    lost: int  # sequence numbers skipped during playback
    longest_anywhere: float  # longest interval of the bot's stream, playback or not
    at: list[float]  # when each gap over GAP ended (capture time, s since the epoch)


def playback_gaps(call: RtpCall) -> Gaps:
    times = np.array([t for t, _, _ in call.bot])
    seqs = [s for _, s, _ in call.bot]
    if times.size < 2:
        return Gaps([], 0, 0.0, 0.0, 0, 0.0, [])
    diffs = np.diff(times)
    inside = np.zeros(diffs.size, dtype=bool)
    lost = 0
    for start, end in playback_spans(call):
        i = int(np.searchsorted(times, start, "left"))
        j = int(np.searchsorted(times, end, "right")) - 1  # last packet of the span
        inside[i:j] = True
        for k in range(i, j):
            lost += (seqs[k + 1] - seqs[k] - 1) % 65536
    d = diffs[inside]
    if not d.size:
        return Gaps([], 0, 0.0, 0.0, lost, float(diffs.max()), [])
    return Gaps(
        [float(x) for x in d[d > GAP]],
        int(d.size),
        float(d.max()),
        float(np.percentile(d, 99)),
        lost,
        float(diffs.max()),
        [float(x) for x in times[1:][inside & (diffs > GAP)]],
    )


_CALL_ID = re.compile(rb"^(?:Call-ID|i)\s*:\s*(\S+)", re.I | re.M)
_CSEQ = re.compile(rb"^CSeq\s*:\s*\d+\s+(\w+)", re.I | re.M)


@dataclass(frozen=True)
class SetupTime:
    invite_to_ok: float  # the caller's INVITE to the 200 OK it received (s)
    worker: float | None  # the last hop's INVITE to its 200 (the worker alone), via a proxy


def invite_to_ok(packets: list[Packet]) -> dict[str, SetupTime]:
    """Per Call-ID: first INVITE (from the caller) to the first 200 OK (CSeq INVITE) sent back
    to the caller's address; and, when a proxy relayed it, the relayed hop's INVITE to 200."""
    invites: dict[str, list[Packet]] = {}
    oks: dict[str, list[Packet]] = {}
    for p in packets:
        body = p.payload
        if body.startswith(b"INVITE "):
            if b";tag=" in _header(body, b"To"):
                continue  # re-INVITE
            into = invites
        elif body.startswith(b"SIP/2.0 200"):
            m = _CSEQ.search(body)
            if not m or m.group(1) != b"INVITE":
                continue
            into = oks
        else:
            continue
        m = _CALL_ID.search(body)
        if m:
            into.setdefault(m.group(1).decode(), []).append(p)
    out: dict[str, SetupTime] = {}
    for cid, sent in invites.items():
        first = sent[0]
        back = [p for p in oks.get(cid, []) if p.dst == first.src]
        if not back:
            continue
        hop = None
        relayed = [p for p in sent if p.src != first.src]
        if relayed:
            r = relayed[0]
            answers = [p for p in oks.get(cid, []) if p.dst == r.src and p.t >= r.t]
            if answers:
                hop = answers[0].t - r.t
        out[cid] = SetupTime(back[0].t - first.t, hop)
    return out


_TO_USER = re.compile(rb"sip:([^@;>\s]+)@")
_AUDIO_PORT = re.compile(rb"^m=audio (\d+) ", re.M)


def bot_ports(packets: list[Packet]) -> dict[str, int]:
    """Per call, the user part of the caller's INVITE's To (whom it dialled) -> the RTP port in
    the SDP of the 200 OK that answered it (the bot's side of the call's media)."""
    dialled: dict[str, str] = {}  # Call-ID -> To user
    answered: dict[str, int] = {}  # Call-ID -> bot RTP port
    for p in packets:
        body = p.payload
        m = _CALL_ID.search(body)
        if not m:
            continue
        cid = m.group(1).decode()
        if body.startswith(b"INVITE ") and cid not in dialled:
            user = _TO_USER.search(_header(body, b"To") or _header(body, b"t"))
            if user:
                dialled[cid] = user.group(1).decode()
        elif body.startswith(b"SIP/2.0 200") and cid not in answered:
            cseq = _CSEQ.search(body)
            port = _AUDIO_PORT.search(body)
            if cseq and cseq.group(1) == b"INVITE" and port:
                answered[cid] = int(port.group(1))
    return {user: answered[cid] for cid, user in dialled.items() if cid in answered}


def _header(message: bytes, name: bytes) -> bytes:
    m = re.search(rb"^" + name + rb"\s*:(.*)$", message, re.I | re.M)
    return m.group(1) if m else b""


def percentile(values: list[float], q: float) -> float:
    return float(np.percentile(np.array(values), q)) if values else float("nan")
