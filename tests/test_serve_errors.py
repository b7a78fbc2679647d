"""Over real SIP: a call whose backend refuses or never answers hears the flow's error prompt
within the request's timeout + 1 s (the issue's target), measured on the caller's recording of
the call and on the bot's call record; the incident is in the record.

The bot is `voicebot serve` with the real model and espeak-ng; the caller is `voicebot call`
(see test_serve.py). Before: the I/O pool only logged a failure, and nothing timed a request
from the session's side.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pytest
from test_serve import bot_lines, call, heard, start_bot, stop_bot

from voicebot.audio.wav import read_wav
from voicebot.cli.call import SPEECH_RMS

pytestmark = [pytest.mark.sip, pytest.mark.slow]

TIMEOUT = 2.0
FLOW = f"""
version: 1
name: backend_down
start: lookup
steps:
  lookup:
    http: {{url: "{{{{ env.API }}}}/accounts/1", timeout: {TIMEOUT}s}}
    on: {{ok: found, error: sorry, timeout: sorry}}
  found: {{say: "I found your account.", next: end}}
  sorry: {{say: "Sorry, our system is down. Please call again later.", next: end}}
  end: {{hangup: {{}}}}
"""


class _Sleeps(BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
        time.sleep(30)  # accepts the request, never answers

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def sleeping_api() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Sleeps)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


def refusing_api() -> str:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()  # nothing listens: connection refused
    return f"http://127.0.0.1:{port}"


def first_sound(wav: Path) -> float:
    pcm, rate = read_wav(wav)
    x = np.frombuffer(pcm, "<i2").astype(np.float32) / 32768
    frame = rate // 50
    n = len(x) // frame
    loud = np.sqrt(np.mean(x[: n * frame].reshape(n, frame) ** 2, axis=1)) > SPEECH_RMS
    idx = np.flatnonzero(loud)
    assert idx.size, "the caller heard nothing"
    return float(idx[0]) * 0.02


@pytest.mark.parametrize("backend", ["refuses", "never answers"])
def test_a_backend_down_gets_the_error_prompt_within_its_timeout(
    tmp_path: Path, sleeping_api: str, backend: str
):
    flow = tmp_path / "flow.yaml"
    flow.write_text(FLOW)
    api = refusing_api() if backend == "refuses" else sleeping_api
    bot = start_bot(tmp_path, "--flow", str(flow), "--port", "0", "--env", f"API={api}")
    try:
        wav = tmp_path / "heard.wav"
        out = call(bot.uri, "--record", str(wav), timeout=60)
    finally:
        stop_bot(bot)
    lines = bot_lines(out)
    assert lines and heard(lines[0], "our system is down"), out
    onset = first_sound(wav)  # from the caller's media start to the first sound of the bot
    store = bot.records()
    record = store.get(store.list()[0].id)
    assert record is not None
    said = [t for t in record.turns if t["who"] == "bot"]
    assert [t["text"] for t in said] == ["Sorry, our system is down. Please call again later."]
    answered = datetime.fromisoformat(record.answered_at or "")
    to_prompt = (datetime.fromisoformat(said[0]["at"]) - answered).total_seconds()
    print(
        f"{backend}: error prompt heard {onset:.2f} s after media start, {to_prompt:.2f} s after answer"
    )
    assert onset <= TIMEOUT + 1.0
    assert to_prompt <= TIMEOUT + 1.0
    kind = "error" if backend == "refuses" else "timeout"
    assert record.incidents and record.incidents[0].split(": ")[1] == f"http:1 {kind}"
    assert record.outcome == "completed"


def test_the_watchdog_ends_a_silence_longer_than_its_seconds(tmp_path: Path, sleeping_api: str):
    # the step waits 10 s for its backend; the watchdog (3 s here) does not let the caller wait
    flow = tmp_path / "flow.yaml"
    flow.write_text(FLOW.replace(f"timeout: {TIMEOUT}s", "timeout: 10s"))
    bot = start_bot(
        tmp_path,
        "--flow",
        str(flow),
        "--port",
        "0",
        "--env",
        f"API={sleeping_api}",
        env={"VOICEBOT_SIP__WATCHDOG_SECONDS": "3"},
    )
    try:
        wav = tmp_path / "heard.wav"
        out = call(bot.uri, "--record", str(wav), timeout=60)
    finally:
        stop_bot(bot)
    assert heard(bot_lines(out)[0], "our system is down"), out
    onset = first_sound(wav)
    print(f"watchdog: error prompt heard {onset:.2f} s after media start")
    assert 3.0 <= onset + 0.1 and onset <= 3.0 + 1.0
    store = bot.records()
    record = store.get(store.list()[0].id)
    assert record is not None
    assert record.incidents[0].split(": ")[1] == "watchdog timeout"
    assert any("neither playing nor listening" in i for i in record.incidents)
