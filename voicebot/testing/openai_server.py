"""A real HTTP server speaking OpenAI's streaming chat-completions protocol, with scripted replies.

    with OpenAIServer([ScriptedReply(say="Hello there. How can I help?"),
                       ScriptedReply(tools=(("check_bill", "{}"),), delay=1.5)]) as server:
        server.base_url          # http://127.0.0.1:PORT/v1, for settings llm.base_url
        ...
        server.requests          # the JSON bodies received, in order
        server.headers           # their headers

No model can be fetched on our machines, so tests of the `llm` step talk to this: a
`ThreadingHTTPServer` on loopback that answers `POST /v1/chat/completions` with the next
scripted reply as server-sent events (flow/completions.py `sse_lines`: text a few words per
event, tool-call arguments split over events), after its `delay`, `pause` seconds between
events; a reply with `status` 500 is an HTTP error, `malformed` breaks the stream with bad
JSON, `timeout` never answers. With no reply left it answers 500.
"""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from voicebot.flow.completions import ScriptedReply, sse_lines


class OpenAIServer:
    def __init__(self, replies: list[ScriptedReply] | None = None):
        self.replies = list(replies or [])
        self.requests: list[dict[str, Any]] = []
        self.headers: list[dict[str, str]] = []
        self.lock = threading.Lock()
        self.stopping = threading.Event()
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"

    def add(self, *replies: ScriptedReply) -> None:
        with self.lock:
            self.replies.extend(replies)

    def next_reply(self, body: dict[str, Any], headers: dict[str, str]) -> ScriptedReply | None:
        with self.lock:
            self.requests.append(body)
            self.headers.append(headers)
            return self.replies.pop(0) if self.replies else None

    def __enter__(self) -> OpenAIServer:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stopping.set()
        self.httpd.shutdown()
        self.httpd.server_close()


def _handler(server: OpenAIServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
            length = int(self.headers.get("Content-Length") or 0)
            try:
                body = json.loads(self.rfile.read(length) or b"{}")
            except ValueError:
                body = {}
            if not self.path.endswith("/chat/completions"):
                self._error(404, f"no such path {self.path}")
                return
            reply = server.next_reply(body, dict(self.headers))
            if reply is None:
                self._error(500, "the test server has no scripted reply left")
                return
            if reply.timeout:
                server.stopping.wait(60)  # until the client gives up or the server stops
                return
            if reply.status != 200:
                time.sleep(reply.delay)
                self._error(reply.status, "scripted failure")
                return
            self.send_response(200)
            self.send_header("Content-Type", "text/event-stream")
            self.send_header("Cache-Control", "no-cache")
            self.end_headers()
            time.sleep(reply.delay)
            try:
                for i, line in enumerate(sse_lines(reply, str(body.get("model", "")))):
                    if i and reply.pause:
                        time.sleep(reply.pause)
                    self.wfile.write(line.encode() + b"\n\n")
                    self.wfile.flush()
            except (BrokenPipeError, ConnectionResetError):
                pass  # the client gave up (its timeout)

        def _error(self, status: int, message: str) -> None:
            data = json.dumps({"error": {"message": message, "type": "server_error"}}).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args: object) -> None:
            pass

    return Handler
