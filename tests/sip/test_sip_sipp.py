"""Interop with a SIP stack that is not pjsip: sipp (Debian sip-tester) calls the bot."""

from __future__ import annotations

import shutil
import socket
import subprocess
from pathlib import Path

import numpy as np
import pytest
from sip_peers import Peer, answering_server

pytestmark = pytest.mark.sip

SCENARIO = Path(__file__).with_name("sipp_uac_dtmf.xml")


def free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_sipp_caller_pcma_rfc2833_keys_and_speech(tmp_path):
    assert shutil.which("sipp"), "sipp missing: `make setup` installs Debian's sip-tester"
    with Peer(answering_server, port=0, rtp_port=33200) as bot:
        run = subprocess.run(
            [
                "sipp",
                f"127.0.0.1:{bot.port}",
                "-sf",
                str(SCENARIO),
                "-s",
                "bot",
                "-i",
                "127.0.0.1",
                "-mi",
                "127.0.0.1",
                "-p",
                str(free_udp_port()),
                "-mp",
                str(free_udp_port()),
                "-m",
                "1",
                "-l",
                "1",
                "-timeout",
                "20s",
                "-timeout_error",
                "-nostdin",
                "-trace_err",
            ],
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=30,
        )
        incoming = bot.event("IncomingCall")
        ready = bot.event("MediaReady")
        bot.event("CallEnded", by="remote", status_code=200)
        digits = "".join(d["digit"] for d in bot.events("DtmfReceived"))
        audio = np.frombuffer(bot.audio(incoming["call_id"]), "<i2").astype(np.float64)
    errors = "".join(p.read_text() for p in tmp_path.glob("*errors.log"))
    assert run.returncode == 0, (run.stdout[-2000:], errors)
    assert ready["codec"] == "PCMA/8000"
    assert incoming["headers"] == {"X-Campaign": "sipp-interop"}
    assert digits == "15#"
    speech = audio[-16000:]  # the last second at 16 kHz: the A-law speech pcap
    assert np.sqrt(np.mean(speech**2)) > 300
