"""The HTTP backend of flows: every request comes back as an HttpResult, within its deadline."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from voicebot.dialog.actions import HttpRequest
from voicebot.flow.backend import CannedReply, HttpLimits, HttpxBackend, mock_transport


class _Slow(BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
        if self.path == "/sleep":
            time.sleep(5)  # accepts the request and never answers in time
        body = b"x" * (2000 if self.path.startswith("/big") else 10)
        if self.path == "/trickle":
            self.send_response(200)
            self.send_header("Content-Length", "20")
            self.end_headers()
            for _ in range(20):
                self.wfile.write(b"x")
                self.wfile.flush()
                time.sleep(0.1)
            return
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        if self.path != "/big-chunked":
            self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    srv = ThreadingHTTPServer(("127.0.0.1", 0), _Slow)
    srv.daemon_threads = True
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{srv.server_address[1]}"
    srv.shutdown()


def closed_port() -> int:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def test_a_refused_connection_is_an_error_at_once():
    began = time.monotonic()
    result = HttpxBackend().fetch(HttpRequest("GET", f"http://127.0.0.1:{closed_port()}/x", 2.0))
    assert result.status is None and result.error == "error"
    assert "ConnectError" in result.text
    assert time.monotonic() - began < 1.0


def test_a_server_that_never_answers_times_out_at_the_step_timeout(server: str):
    began = time.monotonic()
    result = HttpxBackend().fetch(HttpRequest("GET", f"{server}/sleep", 0.5))
    took = time.monotonic() - began
    assert result.error == "timeout"
    assert 0.45 < took < 1.0


def test_a_reply_that_trickles_in_is_timed_as_a_whole(server: str):
    began = time.monotonic()
    result = HttpxBackend().fetch(HttpRequest("GET", f"{server}/trickle", 0.5))
    assert result.error == "timeout"
    assert time.monotonic() - began < 1.0  # each read is quick; the whole is not


def test_a_reply_over_the_cap_is_an_error(server: str):
    backend = HttpxBackend(HttpLimits(max_reply_bytes=1000))
    declared = backend.fetch(HttpRequest("GET", f"{server}/big", 2.0))
    assert declared.error == "error" and "1000" in declared.text
    chunked = backend.fetch(HttpRequest("GET", f"{server}/big-chunked", 2.0))
    assert chunked.error == "error" and "1000" in chunked.text
    assert backend.fetch(HttpRequest("GET", f"{server}/small", 2.0)).status == 200


@pytest.mark.parametrize("url", ["", "/accounts/1", "not a url", "ftp://example.com/x"])
def test_a_url_that_rendered_wrong_is_an_error_not_an_exception(url: str):
    result = HttpxBackend().fetch(HttpRequest("GET", url, 1.0))
    assert result.status is None and result.error == "error" and result.text


def test_the_mock_transport_answers_like_a_server():
    unmatched: list[str] = []
    replies = [
        CannedReply("http://api.test/a", json_body={"balance": 5}),
        CannedReply("http://api.test/slow", timeout=True),
        CannedReply("http://api.test/down", error=True),
        CannedReply("http://api.test/gone", status=404, text="no"),
        CannedReply("http://api.test/post", method="POST", status=201),
    ]
    backend = HttpxBackend(transport=mock_transport(replies, unmatched))
    ok = backend.fetch(HttpRequest("GET", "http://api.test/a"))
    assert ok.status == 200 and ok.json == {"balance": 5}
    assert backend.fetch(HttpRequest("GET", "http://api.test/slow")).error == "timeout"
    assert backend.fetch(HttpRequest("GET", "http://api.test/down")).error == "error"
    gone = backend.fetch(HttpRequest("GET", "http://api.test/gone"))
    assert gone.status == 404 and gone.text == "no"
    assert backend.fetch(HttpRequest("POST", "http://api.test/post", body="{}")).status == 201
    assert backend.fetch(HttpRequest("GET", "http://api.test/other")).error == "error"
    assert unmatched == ["GET http://api.test/other"]
