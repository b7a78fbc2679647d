"""The OpenAI streaming client (flow/completions.py) against a real HTTP server speaking the
protocol (voicebot/testing/openai_server.py), and the `llm` step run on it end to end in the text
simulator: answers in sentences, intents, slots, invalid tools, timeouts, the filler, max_turns."""

from __future__ import annotations

import datetime as dt
import json
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from voicebot.dialog.actions import Complete
from voicebot.dialog.events import CompletionEnded, CompletionText, ToolCall
from voicebot.dialog.meaning import Meaning
from voicebot.flow.completions import Endpoint, OpenAIClient, ScriptedReply, parse_stream
from voicebot.flow.loader import load_flow
from voicebot.flow.simulator import TextCall
from voicebot.testing.embeddings import FakeEmbedder
from voicebot.testing.openai_server import OpenAIServer

ROOT = Path(__file__).resolve().parents[2]
FLOW = ROOT / "tests" / "data" / "llm" / "assistant_line.yaml"
CLOCK = dt.datetime(2026, 11, 24, 10, 0, tzinfo=dt.UTC)
ASK = Complete(({"role": "user", "content": "hi"},))


@pytest.fixture
def server() -> Iterator[OpenAIServer]:
    with OpenAIServer() as s:
        yield s


def client(server: OpenAIServer, timeout: float = 5.0, key_env: str = "") -> OpenAIClient:
    return OpenAIClient(Endpoint(server.base_url, "qwen2.5-7b", key_env, timeout))


def test_text_streams_in_pieces_then_ends(server, monkeypatch):
    monkeypatch.setenv("TEST_LLM_KEY", "sk-test-123")
    server.add(ScriptedReply(say="Hello there. How can I help you today?"))
    tools = ({"type": "function", "function": {"name": "agent", "parameters": {}}},)
    events = [
        e for _, e in client(server, key_env="TEST_LLM_KEY").stream(Complete(ASK.messages, tools))
    ]
    texts = [e.text for e in events if isinstance(e, CompletionText)]
    assert len(texts) >= 3 and "".join(texts) == "Hello there. How can I help you today?"
    assert events[-1] == CompletionEnded()
    [body] = server.requests
    assert body["model"] == "qwen2.5-7b" and body["stream"] is True
    assert body["messages"] == [{"role": "user", "content": "hi"}] and body["tools"] == list(tools)
    assert server.headers[0]["Authorization"] == "Bearer sk-test-123"


def test_no_key_no_authorization_header(server):
    server.add(ScriptedReply(say="Hi."))
    list(client(server).stream(ASK))
    assert "Authorization" not in server.headers[0]


def test_tool_call_arguments_split_over_events_are_joined(server):
    arguments = json.dumps({"phone": "13800138000"})
    server.add(
        ScriptedReply(say="Thanks.", tools=(("fill_slots", arguments), ("check_bill", "{}")))
    )
    *_, (_, ended) = client(server).stream(ASK)
    assert ended == CompletionEnded(
        tool_calls=(
            ToolCall("call_0", "fill_slots", arguments),
            ToolCall("call_1", "check_bill", "{}"),
        )
    )


@pytest.mark.parametrize(
    ("reply", "error", "detail"),
    [
        (ScriptedReply(status=500), "error", "HTTP 500"),
        (ScriptedReply(say="I was about", malformed=True), "error", "malformed event"),
        (ScriptedReply(timeout=True), "timeout", "no reply within 0.5 s"),
    ],
    ids=["http-500", "malformed", "timeout"],
)
def test_failures_end_the_stream_with_an_error(server, reply, error, detail):
    server.add(reply)
    *_, (at, ended) = client(server, timeout=0.5).stream(ASK)
    assert isinstance(ended, CompletionEnded) and ended.error == error
    assert detail in ended.detail
    assert at < 3.0


def test_a_refused_connection_and_no_endpoint_are_errors():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    [(_, ended)] = OpenAIClient(Endpoint(f"http://127.0.0.1:{port}/v1", "m")).stream(ASK)
    assert isinstance(ended, CompletionEnded) and ended.error == "error"
    [(_, ended)] = OpenAIClient(Endpoint()).stream(ASK)
    assert isinstance(ended, CompletionEnded) and "llm.base_url" in ended.detail


def test_a_slow_first_token_arrives_late(server):
    server.add(ScriptedReply(say="Sure.", delay=0.6))
    timed = list(client(server).stream(ASK))
    assert timed[0][0] >= 0.5 and isinstance(timed[-1][1], CompletionEnded)


def test_a_stream_ending_without_done_after_finish_is_complete():
    lines = ['data: {"choices": [{"delta": {"content": "Hi."}, "finish_reason": "stop"}]}']
    assert [e for _, e in parse_stream(lines)] == [CompletionText("Hi."), CompletionEnded()]
    [(_, cut)] = parse_stream(['data: {"choices": [{"delta": {}}]}'])
    assert isinstance(cut, CompletionEnded) and cut.error == "error"


# -- the llm step over real HTTP --------------------------------------------------------------
def call_on(server: OpenAIServer, timeout: float = 5.0) -> TextCall:
    call = TextCall(
        load_flow(FLOW), model=client(server, timeout), meaning=Meaning(FakeEmbedder()), clock=CLOCK
    )
    call.start()
    return call


def test_a_conversation_over_http(server):
    server.add(
        ScriptedReply(say="Yes, roaming works in Japan. Text ROAM to 10086 to turn it on."),
        ScriptedReply(tools=(("fill_slots", '{"phone": "555"}'),)),
        ScriptedReply(say="I need all eleven digits, please."),
        ScriptedReply(tools=(("fill_slots", '{"phone": "13800138000"}'),)),
        ScriptedReply(say="Thank you.", tools=(("check_bill", "{}"),)),
    )
    call = call_on(server)
    call.say("do you have roaming in Japan")
    assert call.said_since_input == [
        "Yes, roaming works in Japan.",
        "Text ROAM to 10086 to turn it on.",
    ]
    assert "Text ROAM" in server.requests[0]["messages"][1]["content"]  # grounded
    call.say("it is five five five")
    assert call.said_since_input == ["I need all eleven digits, please."]
    assert "refused" in server.requests[2]["messages"][-1]["content"]
    call.say("one three eight zero zero one three eight zero zero zero")
    assert call.engine.slots == {"phone": "13800138000"}
    assert call.said_since_input == ["Thank you.", "Your bill for 13800138000 is ready."]
    assert call.engine.turn["intent"] == "check_bill" and call.hung_up


def test_an_invalid_tool_over_http_is_the_error_route(server):
    server.add(ScriptedReply(tools=(("hang_up", "{}"),)))
    call = call_on(server)
    call.say("bye")
    assert call.said_since_input[-1] == "Sorry, something went wrong. Goodbye."
    assert "unknown tool 'hang_up'" in call.engine.trace.errors[0]


def test_a_timeout_over_http_is_the_error_route(server):
    server.add(ScriptedReply(timeout=True))
    call = call_on(server, timeout=1.0)  # over the first sentence's budget: the filler first
    call.say("hello")
    assert call.said_since_input == ["One moment.", "Sorry, something went wrong. Goodbye."]
    assert "model timeout: no reply within 1 s" in call.engine.trace.errors[0]


def test_the_filler_plays_when_the_model_is_slow(server):
    server.add(ScriptedReply(say="We are open from eight to eight.", delay=1.2))
    call = call_on(server)
    call.say("when are you open")
    assert call.said_since_input == ["One moment.", "We are open from eight to eight."]


def test_max_turns_over_http(server):
    server.add(*(ScriptedReply(say=f"Answer number {i}.") for i in range(3)))
    call = call_on(server)
    for i in range(3):
        call.say(f"question {i}")
    assert call.said_since_input[0] == "Answer number 2."
    assert call.transfers == ["sip:queue@pbx.example.com"] and len(server.requests) == 3
