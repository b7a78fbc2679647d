"""What became of each soak call, read off the capture and the workers' log (no live I/O).

    sip_messages(packets) -> list[SipMessage]        # every SIP request/response in the capture
    calls(messages, caller, workers) -> dict[call_id, Call]
        # the caller's leg (sipp <-> Kamailio) of each call, and which worker answered or refused
    hear(call, rtp) -> None                           # sets the call's media figures (Call.media)
    failure(call) -> str                              # "" for a whole conversation, else why not
    up_at(calls, t), in_progress_at(calls, t)         # answered, not ended / holding a slot
    worker_slots(log_lines, names) -> dict[worker, [(t, calls)]]
        # each worker's own count of its calls, from its INFO log ("incoming call", "ended by")
    asr_ms(log_text) -> list[float]                    # each recognition's compute time

A call is a whole conversation when the caller got a 200 to its INVITE, the bot's prompt was on
the wire before the caller's answer (RTP louder than -50 dBFS, bench/telephony_wire.py), the
caller's answer went out, the bot's reply came after it (a new loud stretch of the bot's RTP,
after at least `REPLY_GAP` of its silence, starting after the answer ended), and the bot hung up
(its BYE reached the caller). The reply latency is the answer's last loud packet to the reply's
first one; the setup time the caller's INVITE to the 200 it received.
"""

from __future__ import annotations

import bisect
import re
from dataclasses import dataclass, field
from datetime import datetime

from bench.telephony_wire import Packet, RtpCall

REPLY_GAP = 0.2  # s of bot silence that separates its reply from what it said before
_CALL_ID = re.compile(rb"^(?:Call-ID|i)\s*:\s*(\S+)", re.I | re.M)
_CSEQ = re.compile(rb"^CSeq\s*:\s*\d+\s+(\w+)", re.I | re.M)
_TO = re.compile(rb"^(?:To|t)\s*:[^\r\n]*?sip:([^@;>\s]+)@", re.I | re.M)
_AUDIO_PORT = re.compile(rb"^m=audio (\d+) ", re.M)


@dataclass(frozen=True)
class SipMessage:
    t: float
    src: int  # UDP ports (everything is on 127.0.0.1)
    dst: int
    method: str  # the request's method, or "" for a response
    code: int  # the response's status, or 0 for a request
    cseq: str  # the CSeq method
    call_id: str
    to_user: str
    sdp_port: int  # m=audio port of its SDP, 0 without


def sip_messages(packets: list[Packet]) -> list[SipMessage]:
    out = []
    for p in packets:
        body = p.payload
        if body.startswith(b"SIP/2.0 "):
            method, code = "", int(body[8:11])
        elif re.match(rb"^[A-Z]+ sip:", body):
            method, code = body.split(b" ", 1)[0].decode(), 0
        else:
            continue
        cid, cseq, to = _CALL_ID.search(body), _CSEQ.search(body), _TO.search(body)
        port = _AUDIO_PORT.search(body)
        out.append(
            SipMessage(
                p.t, p.src[1], p.dst[1], method, code,
                cseq.group(1).decode() if cseq else "",
                cid.group(1).decode() if cid else "",
                to.group(1).decode() if to else "",
                int(port.group(1)) if port else 0,
            )
        )  # fmt: skip
    return out


@dataclass
class Media:
    prompt_start: float | None = None  # the bot's first loud packet
    answer_start: float | None = None  # the caller's first loud packet
    answer_end: float | None = None  # ... and last
    prompt_before_answer: bool = False  # the bot was loud before the caller spoke
    overlapped: bool = False  # the caller began while the prompt still played (barge-in)
    reply_start: float | None = None  # first loud bot packet of the reply
    bot_packets: int = 0
    caller_packets: int = 0


@dataclass
class Call:
    call_id: str
    user: str  # whom it dialled: soak-N, N = sipp's call number
    invite_at: float
    final_code: int = 0  # the final response the caller got (0: none)
    final_at: float | None = None
    bot_port: int = 0  # the bot's RTP port, from the 200's SDP
    ended_at: float | None = None  # the BYE (either side) seen on the caller's leg
    released_at: float | None = None  # the 200 to that BYE on the worker's leg: slot free
    bye_by: str = ""  # "bot" or "caller"
    worker: int = 0  # SIP port of the worker that answered
    refusals: list[tuple[float, int, int]] = field(default_factory=list)  # (t, worker, code)
    media: Media = field(default_factory=Media)

    @property
    def setup(self) -> float | None:
        return self.final_at - self.invite_at if self.final_code == 200 and self.final_at else None

    @property
    def reply_latency(self) -> float | None:
        m = self.media
        if m.reply_start is None or m.answer_end is None:
            return None
        return m.reply_start - m.answer_end


def calls(messages: list[SipMessage], caller: int, workers: set[int]) -> dict[str, Call]:
    """The calls that `caller` (sipp's SIP port) placed, by Call-ID, in capture order."""
    out: dict[str, Call] = {}
    for m in messages:
        if m.method == "INVITE" and m.src == caller and m.call_id not in out:
            out[m.call_id] = Call(m.call_id, m.to_user, m.t)
            continue
        c = out.get(m.call_id)
        if c is None:
            continue
        if m.code >= 200 and m.cseq == "INVITE" and m.dst == caller and not c.final_code:
            c.final_code, c.final_at = m.code, m.t
            if m.code == 200:
                c.bot_port = m.sdp_port
        elif m.code >= 200 and m.cseq == "INVITE" and m.src in workers:
            if m.code == 200:
                c.worker = m.src
            elif m.code != 200:
                c.refusals.append((m.t, m.src, m.code))
        elif m.code == 200 and m.cseq == "BYE" and (m.src in workers or m.dst in workers):
            c.released_at = c.released_at or m.t
        elif m.method == "BYE" and c.ended_at is None and caller in (m.src, m.dst):
            c.ended_at = m.t
            c.bye_by = "bot" if m.dst == caller else "caller"
    return out


def _window(
    side: list[tuple[float, int, bool]], start: float, end: float
) -> list[tuple[float, bool]]:
    times = [t for t, _, _ in side]
    i, j = bisect.bisect_left(times, start), bisect.bisect_right(times, end)
    return [(t, loud) for t, _, loud in side[i:j]]


def hear(call: Call, rtp: RtpCall | None) -> None:
    """Fills `call.media` from the RTP of the call's bot port while it was up."""
    if rtp is None or call.final_at is None:
        return
    end = (call.ended_at or call.final_at + 30) + 0.5
    bot = _window(rtp.bot, call.final_at, end)
    caller = _window(rtp.caller, call.final_at, end)
    m = call.media
    m.bot_packets, m.caller_packets = len(bot), len(caller)
    said = [t for t, loud in caller if loud]
    if said:
        m.answer_start, m.answer_end = said[0], said[-1]
    loud = [t for t, is_loud in bot if is_loud]
    if loud:
        m.prompt_start = loud[0]
    if m.answer_start is None or m.answer_end is None:
        return
    m.prompt_before_answer = bool(loud) and loud[0] < m.answer_start
    m.overlapped = any(m.answer_start <= t <= m.answer_end for t in loud)
    quiet_since: float | None = None
    for t, is_loud in bot:
        if not is_loud:
            quiet_since = t if quiet_since is None else quiet_since
            continue
        if t > m.answer_end and quiet_since is not None and t - quiet_since >= REPLY_GAP:
            m.reply_start = t
            return
        quiet_since = None


def failure(call: Call) -> str:
    """Why `call` was not a whole conversation ("" when it was)."""
    m = call.media
    if call.final_code != 200:
        return f"refused {call.final_code}" if call.final_code else "no final response"
    if not m.bot_packets:
        return "no RTP from the bot"
    if not m.prompt_before_answer:
        return "no prompt before the answer"
    if m.answer_end is None:
        return "the caller's answer not on the wire"
    if m.reply_start is None:
        return "no reply after the answer"
    if call.bye_by != "bot":
        return "the bot did not hang up" if call.ended_at is None else "no BYE from the bot"
    return ""


def up_at(all_calls: list[Call], t: float) -> int:
    """Calls answered (200 to the caller) by `t` and not yet ended."""
    return sum(
        c.final_code == 200
        and c.final_at is not None
        and c.final_at <= t
        and (c.ended_at is None or c.ended_at > t)
        for c in all_calls
    )


def in_progress_at(all_calls: list[Call], t: float) -> int:
    """Calls holding or taking a worker's slot at `t`: the INVITE went out by then, and neither
    a refusal reached the caller nor the worker's BYE transaction was over (its 200)."""
    n = 0
    for c in all_calls:
        if c.invite_at > t:
            continue
        if c.final_code and c.final_code != 200 and c.final_at is not None and c.final_at <= t:
            continue
        end = c.released_at or c.ended_at
        if end is not None and end <= t:
            continue
        n += 1
    return n


_LOG = re.compile(
    r"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3}) (w\d+) INFO voicebot\.sip\.calls: "
    r"(?:(incoming) call|call \S+ (ended) by)"
)


def worker_slots(lines: list[str], names: list[str]) -> dict[str, list[tuple[float, int]]]:
    """Per worker, (time, calls it holds) after each of its "incoming call" / "ended by" log
    lines: its own count of the slots in use (pjsua's, refused calls aside: those never log)."""
    out: dict[str, list[tuple[float, int]]] = {n: [(0.0, 0)] for n in names}
    for line in lines:
        m = _LOG.match(line)
        if not m or m[2] not in out:
            continue
        t = datetime.strptime(m[1], "%Y-%m-%d %H:%M:%S,%f").timestamp()
        series = out[m[2]]
        series.append((t, series[-1][1] + (1 if m[3] else -1)))
    return out


def held_at(series: list[tuple[float, int]], t: float) -> int:
    """The count of `worker_slots` at time `t`."""
    i = bisect.bisect_right([x for x, _ in series], t) - 1
    return series[max(0, i)][1]


_ASR = re.compile(r"(?:partial|final) \w+ [\d.]+s audio, [\d.]+s window, (\d+) ms")


def asr_ms(text: str) -> list[float]:
    return [float(x) for x in _ASR.findall(text)]
