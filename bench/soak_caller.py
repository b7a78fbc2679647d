"""The soak's callers: sipp placing calls that say a recorded digit, and what they play.

    answer_pcaps(recordings, out, lead, tail) -> list[Path]   # one RTP capture per recording
    scenario(pcaps, bye_timeout_ms) -> str                      # sipp's XML for those captures

Each caller answer is an RTP stream in a pcap file that sipp replays (`play_pcap_audio`, in
its own timing) right after its ACK: `lead` seconds of digital silence while the bot says its
prompt, the recording (a spoken FSDD digit, 8 kHz, G.711 u-law, 20 ms packets), then `tail`
seconds of silence while the bot listens, recognises and replies, as a phone sends RTP all
through a call. sipp rewrites the addresses to the call's media (from the 200's SDP). Its
replay does not stop at a BYE: a tail that outlasts the call sends RTP to a closed port (the
soak's default ends about when the bot hangs up).

The scenario: INVITE offering PCMU only; a 486/480/408/5xx is ACKed and the call ends there;
after the 200 and ACK, one of the pcaps, picked at random per call (`<sample>`, uniform), is
played and logged (`-trace_logs`: "CALL-ID plays NAME"); then the caller waits for the bot's BYE
(the flow hangs up after its reply) and answers it. No BYE within `bye_timeout_ms` of the ACK:
the caller logs it and hangs up itself.
"""

from __future__ import annotations

import struct
import wave
from pathlib import Path

import numpy as np

from voicebot.audio.g711 import ulaw_encode

RATE = 8000
FRAME = 160  # samples per 20 ms packet
_ETH_IP = bytes(12) + b"\x08\x00"  # Ethernet: no MACs, IPv4


def read_recording(path: Path) -> bytes:
    """PCM16 at 8 kHz mono from a WAV file (FSDD's format); anything else is an error."""
    with wave.open(str(path)) as w:
        if (w.getframerate(), w.getnchannels(), w.getsampwidth()) != (RATE, 1, 2):
            raise ValueError(f"{path}: need 8 kHz mono 16-bit PCM")
        return w.readframes(w.getnframes())


def _udp_frame(payload: bytes, sport: int, dport: int) -> bytes:
    ip_len = 20 + 8 + len(payload)
    loop = bytes([127, 0, 0, 1])
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, ip_len, 0, 0x4000, 64, 17, 0, loop, loop)
    udp = struct.pack("!HHHH", sport, dport, 8 + len(payload), 0)
    return _ETH_IP + ip + udp + payload


def rtp_pcap(pcm: bytes, path: Path, ssrc: int) -> None:
    """`pcm` (PCM16, 8 kHz) as PCMU RTP packets every 20 ms, in a pcap file (Ethernet)."""
    x = np.frombuffer(pcm, dtype=np.int16)
    x = np.concatenate([x, np.zeros(-len(x) % FRAME, dtype=np.int16)])
    ulaw = ulaw_encode(x)
    out = [struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1)]
    for k in range(len(x) // FRAME):
        rtp = struct.pack("!BBHII", 0x80, 0, k, k * FRAME, ssrc) + ulaw[k * FRAME : (k + 1) * FRAME]
        frame = _udp_frame(rtp, 6000, 6002)
        usec = k * 20_000
        out.append(
            struct.pack("<IIII", usec // 1_000_000, usec % 1_000_000, len(frame), len(frame))
        )
        out.append(frame)
    path.write_bytes(b"".join(out))


def answer_pcaps(recordings: list[Path], out: Path, lead: float, tail: float) -> list[Path]:
    """One pcap per recording in `out`: `lead` s of silence, the recording, `tail` s more."""
    out.mkdir(parents=True, exist_ok=True)
    made = []
    for i, rec in enumerate(recordings):
        pcm = b"\0\0" * int(lead * RATE) + read_recording(rec) + b"\0\0" * int(tail * RATE)
        path = out / f"{rec.stem}.pcap"
        rtp_pcap(pcm, path, ssrc=0x50AC0000 + i)
        made.append(path)
    return made


_INVITE = """\
  <send retrans="500">
    <![CDATA[
      INVITE sip:soak-[call_number]@[remote_ip]:[remote_port] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      From: soak <sip:soak@[local_ip]:[local_port]>;tag=[pid]SoakTag[call_number]
      To: <sip:soak-[call_number]@[remote_ip]:[remote_port]>
      Call-ID: [call_id]
      CSeq: 1 INVITE
      Contact: sip:soak@[local_ip]:[local_port]
      Max-Forwards: 70
      Content-Type: application/sdp
      Content-Length: [len]

      v=0
      o=soak 1 1 IN IP[local_ip_type] [local_ip]
      s=-
      c=IN IP[media_ip_type] [media_ip]
      t=0 0
      m=audio [media_port] RTP/AVP 0
      a=rtpmap:0 PCMU/8000
      a=sendrecv
    ]]>
  </send>
  <recv response="100" optional="true"/>
  <recv response="180" optional="true"/>
  <recv response="183" optional="true"/>
"""


def _in_dialog(method: str, cseq: int, retrans: str = "") -> str:
    """A request inside the call (ACK of the 200, BYE), along the 200's Record-Route set."""
    return f"""\
  <send{retrans}>
    <![CDATA[
      {method} [next_url] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      [routes]
      From: soak <sip:soak@[local_ip]:[local_port]>;tag=[pid]SoakTag[call_number]
      To: <sip:soak-[call_number]@[remote_ip]:[remote_port]>[peer_tag_param]
      Call-ID: [call_id]
      CSeq: {cseq} {method}
      Max-Forwards: 70
      Content-Length: 0
    ]]>
  </send>
"""


_REFUSED = """\
  <label id="refused"/>
  <send>
    <![CDATA[
      ACK sip:soak-[call_number]@[remote_ip]:[remote_port] SIP/2.0
      [last_Via:]
      From: soak <sip:soak@[local_ip]:[local_port]>;tag=[pid]SoakTag[call_number]
      [last_To:]
      Call-ID: [call_id]
      CSeq: 1 ACK
      Max-Forwards: 70
      Content-Length: 0
    ]]>
  </send>
  <nop><action><log message="[call_id] refused"/></action></nop>
  <nop next="end"/>
"""

_BYE = """\
  <label id="played"/>
  <recv request="BYE" timeout="{timeout}" ontimeout="nobye"/>
  <send>
    <![CDATA[
      SIP/2.0 200 OK
      [last_Via:]
      [last_From:]
      [last_To:]
      [last_Call-ID:]
      [last_CSeq:]
      Content-Length: 0
    ]]>
  </send>
  <nop next="end"/>
  <label id="nobye"/>
  <nop><action><log message="[call_id] no BYE from the bot"/></action></nop>
{bye}  <recv response="200"/>
  <label id="end"/>
"""


def scenario(pcaps: list[Path], bye_timeout_ms: int) -> str:
    """sipp's scenario (see the module's docstring) playing one of `pcaps` per call."""
    parts = [
        '<?xml version="1.0" encoding="ISO-8859-1" ?>',
        '<!DOCTYPE scenario SYSTEM "sipp.dtd">',
        "<!-- Written by bench/soak_caller.py for bench/soak_bench.py: regenerated each run. -->",
        '<scenario name="soak caller">',
        _INVITE,
    ]
    for code in (486, 480, 408, 500, 503):
        parts.append(f'  <recv response="{code}" optional="true" next="refused"/>')
    parts += ['  <recv response="200" rrs="true" rtd="true"/>', _in_dialog("ACK", 1)]
    n = len(pcaps)
    tests = "".join(
        f'<test assign_to="t{i}" variable="pick" compare="less_than" value="{i + 1}"/>'
        for i in range(n - 1)
    )
    parts.append(
        f'  <nop><action><sample assign_to="pick" distribution="uniform" min="0" max="{n}"/>'
        f"{tests}</action></nop>"
    )
    parts += [f'  <nop test="t{i}" next="p{i}"/>' for i in range(n - 1)]
    parts.append(f'  <nop next="p{n - 1}"/>')
    for i, pcap in enumerate(pcaps):
        parts.append(
            f'  <label id="p{i}"/><nop><action><exec play_pcap_audio="{pcap}"/>'
            f'<log message="[call_id] plays {pcap.stem}"/></action></nop><nop next="played"/>'
        )
    parts += [
        _REFUSED,
        _BYE.format(timeout=bye_timeout_ms, bye=_in_dialog("BYE", 2, ' retrans="500"')),
        "</scenario>",
        "",
    ]
    return "\n".join(parts)
