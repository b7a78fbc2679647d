"""Is a SIP peer up? One OPTIONS over UDP, for tests and benchmarks waiting on Kamailio/workers."""

from __future__ import annotations

import socket
import time


def options_ok(host: str, port: int, timeout: float = 0.2) -> bool:
    """Does something on host:port answer an OPTIONS with 200?"""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind((host, 0))
        s.settimeout(timeout)
        me = s.getsockname()[1]
        msg = (
            f"OPTIONS sip:{host}:{port} SIP/2.0\r\n"
            f"Via: SIP/2.0/UDP {host}:{me};branch=z9hG4bK{time.monotonic_ns()}\r\n"
            f"From: <sip:probe@{host}>;tag=1\r\nTo: <sip:{host}:{port}>\r\n"
            f"Call-ID: probe-{time.monotonic_ns()}\r\nCSeq: 1 OPTIONS\r\n"
            "Max-Forwards: 70\r\nContent-Length: 0\r\n\r\n"
        )
        s.sendto(msg.encode(), (host, port))
        try:
            return s.recv(4096).startswith(b"SIP/2.0 200")
        except OSError:
            return False
