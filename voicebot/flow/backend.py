"""The flow's HTTP backend: how an `http:` step's request is performed, wherever the flow runs.

    backend = HttpxBackend(HttpLimits(connect_timeout=2.0, max_reply_bytes=1_000_000))
    result = backend.fetch(HttpRequest("GET", "https://api.example.com/accounts/1", timeout=3.0))

One protocol, `HttpBackend`, for live calls (on the worker's I/O pool), `flow chat` and
`flow test`. `fetch` never raises: every request comes back as an `HttpResult`, a status with
its reply, or `error="timeout"` / `error="error"` with the reason in `text`. The flow step's
`timeout` bounds the whole request (connect, send, every read, and the reply as a whole);
`connect_timeout` bounds the connection alone; a reply longer than `max_reply_bytes` is an error.

Flow tests and `flow chat --http-fixtures` answer from a test file's `http:` list through
httpx's `MockTransport` (`mock_transport`), so they run the same code as a live call.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Protocol

import httpx

from voicebot.dialog.actions import HttpRequest
from voicebot.dialog.events import HttpResult

log = logging.getLogger(__name__)


class HttpBackend(Protocol):
    def fetch(self, request: HttpRequest) -> HttpResult: ...


@dataclass(frozen=True)
class HttpLimits:
    connect_timeout: float = 2.0  # seconds; never more than the step's own timeout
    max_reply_bytes: int = 1_000_000


class HttpxBackend:
    """`HttpBackend` over an `httpx.Client` (thread-safe: one per worker, shared by its calls)."""

    def __init__(
        self, limits: HttpLimits = HttpLimits(), transport: httpx.BaseTransport | None = None
    ):
        self.limits = limits
        self.client = httpx.Client(transport=transport, follow_redirects=False)

    def close(self) -> None:
        self.client.close()

    def fetch(self, request: HttpRequest) -> HttpResult:
        began = time.monotonic()
        deadline = max(request.timeout, 0.001)
        timeout = httpx.Timeout(
            deadline, connect=min(self.limits.connect_timeout, deadline), pool=deadline
        )
        headers = {"Accept": "application/json", **request.headers}
        if request.body is not None:
            headers.setdefault("Content-Type", "application/json")
        try:
            with self.client.stream(
                request.method,
                request.url,
                headers=headers,
                content=request.body,
                timeout=timeout,
            ) as reply:
                body = self._read(reply, began, deadline)
                if isinstance(body, HttpResult):
                    return body
                return _result(reply.status_code, body)
        except httpx.TimeoutException:
            return HttpResult(error="timeout", text=f"no reply within {request.timeout:g} s")
        except (httpx.HTTPError, httpx.InvalidURL, ValueError) as exc:
            # connection refused, DNS, a URL that rendered empty or without a scheme, ...
            return HttpResult(error="error", text=f"{type(exc).__name__}: {exc}")

    def _read(self, reply: httpx.Response, began: float, deadline: float) -> bytes | HttpResult:
        cap = self.limits.max_reply_bytes
        declared = reply.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > cap:
            return HttpResult(error="error", text=f"reply of {declared} bytes is over {cap}")
        chunks: list[bytes] = []
        size = 0
        for chunk in reply.iter_bytes():
            size += len(chunk)
            if size > cap:
                return HttpResult(error="error", text=f"reply is over {cap} bytes")
            if time.monotonic() - began > deadline:  # a server that trickles its reply
                return HttpResult(error="timeout", text=f"reply not complete in {deadline:g} s")
            chunks.append(chunk)
        return b"".join(chunks)


def _result(status: int, body: bytes) -> HttpResult:
    text = body.decode("utf-8", "replace")
    try:
        payload = json.loads(text) if text else None
    except ValueError:
        payload = None
    return HttpResult(status=status, json=payload, text=text)


@dataclass(frozen=True)
class CannedReply:
    """One answer of a mock backend (a flow test's `http:` entry)."""

    url: str
    method: str = "GET"
    status: int = 200
    json_body: Any = None
    text: str = ""
    timeout: bool = False
    error: bool = False


def mock_transport(
    replies: Iterable[CannedReply], unmatched: list[str] | None = None
) -> httpx.MockTransport:
    """A transport answering from `replies` (first match on method and URL). A request with no
    reply is a connection error, noted in `unmatched`."""
    table = list(replies)

    def handler(request: httpx.Request) -> httpx.Response:
        url = str(request.url)
        for r in table:
            if _same_url(r.url, url) and r.method.upper() == request.method:
                if r.timeout:
                    raise httpx.ReadTimeout("mocked timeout", request=request)
                if r.error:
                    raise httpx.ConnectError("mocked connection error", request=request)
                if r.json_body is not None:
                    return httpx.Response(r.status, json=r.json_body)
                return httpx.Response(r.status, text=r.text)
        if unmatched is not None:
            unmatched.append(f"{request.method} {url}")
        raise httpx.ConnectError("no mock for this request", request=request)

    return httpx.MockTransport(handler)


def _same_url(written: str, sent: str) -> bool:
    """httpx normalises URLs (`http://h` -> `http://h/`, spaces quoted): compare both ways."""
    if written == sent:
        return True
    try:
        return str(httpx.URL(written)) == sent
    except (httpx.InvalidURL, ValueError):
        return False
