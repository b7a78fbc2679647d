"""The language model of an `llm` step: any endpoint speaking OpenAI's chat-completions protocol.

    client = OpenAIClient(Endpoint("http://127.0.0.1:11434/v1", "qwen2.5:7b"))
    for at, event in client.stream(Complete(messages, tools)):
        ...   # CompletionText pieces as they arrive, then exactly one CompletionEnded

One protocol, `CompletionClient`, for live calls (on the worker's I/O pool), `flow chat` and
`flow test`. `stream` never raises: an HTTP status other than 200, a malformed stream, a
refused connection or a missing endpoint end in `CompletionEnded(error="error")`, a reply not
complete within `Endpoint.timeout` (connection included) in `error="timeout"`. `at` is the
seconds since the request: the simulator replays a reply on its own clock with it.

The request is `POST {base_url}/chat/completions` with `model`, `messages`, `tools` and
`stream: true`; the reply is server-sent events (`data: {json}` lines, `data: [DONE]` at the
end) whose `choices[0].delta` carries `content` and `tool_calls` (a call's `arguments` may
come split over many events: they are joined by the call's `index`). The API key is read at
each request from the environment variable that `Endpoint.api_key_env` names (never from a
file or the settings), and sent as `Authorization: Bearer`.

`ScriptedReply` and `ScriptedModel` script a model for flow tests (`model:` in a test file),
through the same stream parser; `sse_lines` writes a scripted reply as the protocol's events
(voicebot/testing/openai_server.py serves them over real HTTP).
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any, Protocol

import httpx

from voicebot.dialog.actions import Complete
from voicebot.dialog.events import CompletionEnded, CompletionText, ToolCall

ModelEvent = CompletionText | CompletionEnded
NO_ENDPOINT = "no language model endpoint is configured (settings llm.base_url)"


class CompletionClient(Protocol):
    def stream(self, request: Complete) -> Iterator[tuple[float, ModelEvent]]: ...


@dataclass(frozen=True)
class Endpoint:
    """Settings `llm.*`: where the model is and how long a reply may take."""

    base_url: str = ""  # e.g. http://127.0.0.1:8000/v1 (vLLM); "" = none configured
    model: str = ""
    api_key_env: str = ""  # the name of the environment variable holding the key
    timeout: float = 10.0  # seconds for the whole reply, connecting included

    @property
    def configured(self) -> bool:
        return bool(self.base_url.strip())

    @property
    def url(self) -> str:
        return self.base_url.rstrip("/") + "/chat/completions"


class OpenAIClient:
    """`CompletionClient` over httpx (thread-safe: one per worker, shared by its calls)."""

    def __init__(self, endpoint: Endpoint, transport: httpx.BaseTransport | None = None):
        self.endpoint = endpoint
        self.client = httpx.Client(transport=transport, follow_redirects=False)

    def close(self) -> None:
        self.client.close()

    def stream(self, request: Complete) -> Iterator[tuple[float, ModelEvent]]:
        began = time.monotonic()
        ep = self.endpoint
        if not ep.configured:
            yield 0.0, CompletionEnded(error="error", detail=NO_ENDPOINT)
            return
        body: dict[str, Any] = {
            "model": ep.model,
            "messages": list(request.messages),
            "stream": True,
        }
        if request.tools:
            body["tools"] = list(request.tools)
        headers = {"Accept": "text/event-stream"}
        key = os.environ.get(ep.api_key_env, "") if ep.api_key_env else ""
        if key:
            headers["Authorization"] = f"Bearer {key}"
        timeout = httpx.Timeout(ep.timeout, connect=min(2.0, ep.timeout))
        try:
            with self.client.stream(
                "POST", ep.url, json=body, headers=headers, timeout=timeout
            ) as reply:
                if reply.status_code != 200:
                    text = reply.read().decode("utf-8", "replace")[:200]
                    at = time.monotonic() - began
                    yield (
                        at,
                        CompletionEnded(error="error", detail=f"HTTP {reply.status_code}: {text}"),
                    )
                    return
                for at, event in parse_stream(reply.iter_lines(), began):
                    if at > ep.timeout:  # a server that trickles its reply
                        detail = f"reply not complete in {ep.timeout:g} s"
                        yield at, CompletionEnded(error="timeout", detail=detail)
                        return
                    yield at, event
        except httpx.TimeoutException:
            detail = f"no reply within {ep.timeout:g} s"
            yield time.monotonic() - began, CompletionEnded(error="timeout", detail=detail)
        except (httpx.HTTPError, httpx.InvalidURL, ValueError) as exc:
            detail = f"{type(exc).__name__}: {exc}"
            yield time.monotonic() - began, CompletionEnded(error="error", detail=detail)


def parse_stream(
    lines: Iterable[str], began: float | None = None
) -> Iterator[tuple[float, ModelEvent]]:
    """The events of a chat-completions event stream (its lines), ending with one
    `CompletionEnded`; `at` is measured from `began` (monotonic), 0.0 when it is None."""

    def now() -> float:
        return time.monotonic() - began if began is not None else 0.0

    calls: dict[int, dict[str, str]] = {}
    finished = False
    for raw in lines:
        line = raw.strip()
        if not line.startswith("data:"):
            continue  # comments (": keep-alive"), event names, blank separators
        data = line[len("data:") :].strip()
        if data == "[DONE]":
            yield now(), _ended(calls)
            return
        try:
            chunk = json.loads(data)
        except ValueError:
            yield now(), CompletionEnded(error="error", detail=f"malformed event: {data[:80]!r}")
            return
        if not isinstance(chunk, dict) or "error" in chunk:
            detail = str(chunk.get("error") if isinstance(chunk, dict) else chunk)[:200]
            yield now(), CompletionEnded(error="error", detail=f"the model failed: {detail}")
            return
        for choice in chunk.get("choices") or []:
            delta = choice.get("delta") or {}
            if delta.get("content"):
                yield now(), CompletionText(str(delta["content"]))
            for piece in delta.get("tool_calls") or []:
                call = calls.setdefault(int(piece.get("index", len(calls))), {})
                function = piece.get("function") or {}
                for key, value in (("id", piece.get("id")), ("name", function.get("name"))):
                    if value:
                        call[key] = str(value)
                call["arguments"] = call.get("arguments", "") + str(function.get("arguments") or "")
            finished = finished or bool(choice.get("finish_reason"))
    if finished:  # some servers end without [DONE]
        yield now(), _ended(calls)
    else:
        yield now(), CompletionEnded(error="error", detail="the stream ended before the reply")


def _ended(calls: dict[int, dict[str, str]]) -> CompletionEnded:
    found = tuple(
        ToolCall(c.get("id") or f"call_{i}", c.get("name", ""), c.get("arguments", ""))
        for i, c in sorted(calls.items())
    )
    return CompletionEnded(tool_calls=found)


# -- scripted models (flow tests, the test server) -------------------------------------------
@dataclass(frozen=True)
class ScriptedReply:
    """One reply of a scripted model: text (streamed a few words at a time), tool calls
    (name, JSON arguments; the arguments are split over several events), a delay before the
    first event, or a failure (an HTTP status, a malformed event, no reply in time)."""

    say: str = ""
    tools: tuple[tuple[str, str], ...] = ()
    delay: float = 0.0  # seconds before the first event
    pause: float = 0.0  # seconds between events
    status: int = 200
    malformed: bool = False
    timeout: bool = False  # never answers (the client's timeout ends it)
    words_per_event: int = 2


def sse_lines(reply: ScriptedReply, model: str = "scripted") -> list[str]:
    """`reply` as the data lines of a chat-completions stream, `data: [DONE]` last."""

    def event(delta: dict[str, Any], finish: str | None = None) -> str:
        choice = {"index": 0, "delta": delta, "finish_reason": finish}
        chunk = {"object": "chat.completion.chunk", "model": model, "choices": [choice]}
        return "data: " + json.dumps(chunk, ensure_ascii=False)

    lines = [event({"role": "assistant", "content": ""})]
    words = reply.say.split(" ") if " " in reply.say else list(_pieces(reply.say, 4))
    n = max(1, reply.words_per_event)
    for i in range(0, len(words), n):
        joiner = " " if " " in reply.say else ""
        text = joiner.join(words[i : i + n]) + (joiner if i + n < len(words) else "")
        lines.append(event({"content": text}))
    if reply.malformed:
        lines.append('data: {"choices": [{"delta": {"content": "unfinished')
    for index, (name, arguments) in enumerate(reply.tools):
        half = len(arguments) // 2
        first = {"index": index, "id": f"call_{index}", "type": "function"}
        lines.append(
            event({"tool_calls": [{**first, "function": {"name": name, "arguments": ""}}]})
        )
        for part in (arguments[:half], arguments[half:]):
            lines.append(event({"tool_calls": [{"index": index, "function": {"arguments": part}}]}))
    lines.append(event({}, "tool_calls" if reply.tools else "stop"))
    lines.append("data: [DONE]")
    return lines


def _pieces(text: str, size: int) -> Iterator[str]:
    for i in range(0, len(text), size):
        yield text[i : i + size]


@dataclass
class ScriptedModel:
    """A `CompletionClient` answering from a list of replies, in order, on its own clock
    (flow tests: the script's `delay` is the time of the first event). Every request is kept
    in `requests`; a request with no reply left ends in an error."""

    replies: list[ScriptedReply]
    timeout: float = 10.0
    requests: list[Complete] = field(default_factory=list)

    def stream(self, request: Complete) -> Iterator[tuple[float, ModelEvent]]:
        self.requests.append(request)
        if not self.replies:
            yield 0.0, CompletionEnded(error="error", detail="the script has no reply left")
            return
        reply = self.replies.pop(0)
        if reply.timeout or reply.delay >= self.timeout:
            detail = f"no reply within {self.timeout:g} s"
            yield self.timeout, CompletionEnded(error="timeout", detail=detail)
            return
        if reply.status != 200:
            yield reply.delay, CompletionEnded(error="error", detail=f"HTTP {reply.status}")
            return
        for i, (_, event) in enumerate(parse_stream(sse_lines(reply))):
            yield reply.delay + i * reply.pause, event
