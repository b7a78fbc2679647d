"""The `llm` step's core (dialog/assistant.py) driven through the text simulator with a scripted
model and the fake embedder: what the model is asked, what the caller hears, where the call goes.
The same behaviour against a real streaming HTTP server is tests/flow/test_completions.py."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest

from voicebot.dialog.assistant import LlmOptions, judge, sentences
from voicebot.dialog.events import ToolCall
from voicebot.dialog.meaning import Meaning
from voicebot.flow.completions import ScriptedModel, ScriptedReply
from voicebot.flow.loader import load_flow
from voicebot.flow.simulator import TextCall
from voicebot.testing.embeddings import FakeEmbedder

ROOT = Path(__file__).resolve().parents[2]
FLOW = ROOT / "tests" / "data" / "llm" / "assistant_line.yaml"
CLOCK = dt.datetime(2026, 11, 24, 10, 0, tzinfo=dt.UTC)


def start(*replies: ScriptedReply, flow: Path = FLOW, **kw) -> tuple[TextCall, ScriptedModel]:
    model = ScriptedModel(list(replies))
    call = TextCall(
        load_flow(flow), model=model, meaning=Meaning(FakeEmbedder()), clock=CLOCK, **kw
    )
    call.start()
    return call, model


def tool(name: str, arguments: object = None) -> tuple[str, str]:
    return (name, json.dumps(arguments or {}))


def test_sentences_are_cut_where_they_end():
    assert sentences("Yes, we do. Roaming costs 3.5 dollars a day! And") == (
        ["Yes, we do.", "Roaming costs 3.5 dollars a day!"],
        "And",
    )
    assert sentences("好的。您的话费是五十八元三角。请问") == (
        ["好的。", "您的话费是五十八元三角。"],
        "请问",
    )
    assert sentences("**Sure**, it is on.\n- Next") == (["Sure , it is on."], "- Next")


def test_the_answer_is_grounded_and_said_sentence_by_sentence():
    reply = ScriptedReply(say="Yes, roaming works in Japan. Text ROAM to 10086 to turn it on.")
    call, model = start(reply)
    assert call.said_since_input == ["Welcome to Acme.", "How can I help you?"]
    call.say("do you have roaming in Japan")
    assert call.said_since_input == [
        "Yes, roaming works in Japan.",
        "Text ROAM to 10086 to turn it on.",
    ]
    assert call.step == "assistant" and call.engine.waiting == "input"
    [request] = model.requests
    system, grounding, user = request.messages
    assert system["role"] == "system" and "Acme's phone assistant" in system["content"]
    assert grounding["role"] == "system"
    first_fact = grounding["content"].split("- Q:")[1]
    assert "Text ROAM to 10086" in first_fact  # the closest entry comes first
    assert user == {"role": "user", "content": "do you have roaming in Japan"}
    # its tools are the step's ways out and its slots: nothing to transfer or hang up with
    assert [t["function"]["name"] for t in request.tools] == ["check_bill", "agent", "fill_slots"]


def test_an_intent_tool_is_the_way_out():
    call, _ = start(ScriptedReply(say="Let me get your bill.", tools=(tool("check_bill"),)))
    call.say("what do I owe")
    assert call.said_since_input[0] == "Let me get your bill."
    assert call.said_since_input[1].startswith("Your bill for your line is ready")
    assert call.engine.turn["intent"] == "check_bill" and call.hung_up


def test_a_slot_value_is_checked_and_a_refused_one_is_told_to_the_model():
    call, model = start(
        ScriptedReply(tools=(tool("fill_slots", {"phone": "123"}),)),
        ScriptedReply(say="That number seems short. Please say all eleven digits."),
        ScriptedReply(tools=(tool("fill_slots", {"phone": "138 0013 8000"}),)),
        ScriptedReply(say="Thanks.", tools=(tool("check_bill"),)),
    )
    call.say("my number is one two three")
    assert "phone" not in call.engine.slots
    told = model.requests[1].messages[-1]
    assert (
        told["role"] == "tool" and "refused" in told["content"] and "11 digits" in told["content"]
    )
    assert call.said_since_input == ["That number seems short.", "Please say all eleven digits."]
    call.say("one three eight zero zero one three eight zero zero zero")
    assert call.engine.slots["phone"] == "13800138000"
    assert model.requests[3].messages[-1]["content"] == "phone: kept"
    assert "Your bill for 13800138000 is ready." in call.said_since_input


@pytest.mark.parametrize(
    "reply",
    [
        ScriptedReply(tools=(tool("transfer", {"to": "sip:anyone@evil.example"}),)),
        ScriptedReply(tools=(("fill_slots", '{"phone": "13800'),)),  # arguments cut short
        ScriptedReply(tools=(("fill_slots", '["13800138000"]'),)),
        ScriptedReply(status=500),
        ScriptedReply(timeout=True),
        ScriptedReply(say="I was about to", malformed=True),
        ScriptedReply(),  # said nothing, called nothing
    ],
    ids=["unknown-tool", "bad-json", "not-an-object", "http-500", "timeout", "malformed", "empty"],
)
def test_what_goes_wrong_takes_the_error_route(reply):
    call, _ = start(reply)
    call.say("hello")
    assert call.step == "end" and call.transfers == []
    assert "Sorry, something went wrong. Goodbye." in call.said_since_input
    assert any(e.startswith("assistant: ") for e in call.engine.trace.errors)


def test_no_endpoint_is_the_error_route_too():
    call = TextCall(load_flow(FLOW), meaning=Meaning(FakeEmbedder()), clock=CLOCK)
    call.start()
    call.say("hello")
    assert call.step == "end"
    assert "no language model endpoint" in call.engine.trace.errors[0]


def test_a_slow_first_sentence_brings_the_filler_once():
    call, _ = start(
        ScriptedReply(say="We are open from eight to eight.", delay=1.5),
        ScriptedReply(say="Anything else?", delay=0.3),
    )
    call.say("when are you open")
    assert call.said_since_input == ["One moment.", "We are open from eight to eight."]
    call.say("thanks")
    assert call.said_since_input == ["Anything else?"]  # within the budget: no filler


def test_the_filler_and_its_budget_come_from_the_options():
    options = LlmOptions(first_sentence=2.0, fillers={"en": "Just a second."})
    call, _ = start(
        ScriptedReply(say="Yes.", delay=1.5), ScriptedReply(say="Ok.", delay=2.5), llm=options
    )
    call.say("hello")
    assert call.said_since_input == ["Yes."]
    call.say("hello again")
    assert call.said_since_input == ["Just a second.", "Ok."]


def test_after_max_turns_replies_the_step_moves_on():
    call, model = start(*(ScriptedReply(say=f"Reply {i}.") for i in range(3)))
    for i in range(2):
        call.say(f"question {i}")
        assert call.step == "assistant"
    call.say("question 2")
    assert call.said_since_input[0] == "Reply 2." and call.transfers == [
        "sip:queue@pbx.example.com"
    ]
    assert len(model.requests) == 3
    assert [m["role"] for m in model.requests[2].messages[-4:]] == [
        "user",
        "assistant",
        "system",
        "user",
    ]


def test_a_global_said_clearly_wins_without_asking_the_model():
    call, model = start()
    call.say("operator")
    assert call.transfers == ["sip:queue@pbx.example.com"] and model.requests == []


def test_silence_reprompts_then_goes_to_exhausted():
    call, _ = start()
    call.silence()
    assert call.said_since_input == ["Sorry, I didn't hear anything.", "How can I help you?"]
    call.silence(2)
    assert call.transfers == ["sip:queue@pbx.example.com"]


def test_without_a_prompt_the_model_opens(tmp_path):
    text = FLOW.read_text().replace(
        '      prompt: {en: "How can I help you?", zh-CN: "请问有什么可以帮您？"}\n', ""
    )
    (tmp_path / "assistant_line.yaml").write_text(text)
    (tmp_path / "assistant_line.faq.yaml").write_text(
        (FLOW.parent / "assistant_line.faq.yaml").read_text()
    )
    call, model = start(
        ScriptedReply(say="Hi, I'm Acme's assistant. What can I do for you?"),
        flow=tmp_path / "assistant_line.yaml",
    )
    assert call.said_since_input[1:] == ["Hi, I'm Acme's assistant.", "What can I do for you?"]
    assert [m["role"] for m in model.requests[0].messages] == ["system"]


def test_a_mandarin_call_hears_the_mandarin_filler_and_prompt():
    call, model = start(ScriptedReply(say="您好。发送短信KTMY到10086即可开通国际漫游。", delay=1.0))
    call.engine.call["language"] = "zh-CN"
    call.silence()
    assert call.said_since_input[-1] == "请问有什么可以帮您？"
    call.say("国际漫游怎么开通")
    assert call.said_since_input == ["请稍等。", "您好。", "发送短信KTMY到10086即可开通国际漫游。"]
    assert "KTMY" in model.requests[0].messages[1]["content"]


def test_judge_keeps_valid_values_and_names_the_refused():
    spec = load_flow(FLOW).flow.steps["assistant"].llm
    verdict = judge(
        spec,
        (ToolCall("a", "fill_slots", '{"phone": "13800138000", "pin": "1234"}'),),
        "en",
    )
    assert verdict.filled == {"phone": "13800138000"} and verdict.intent is None
    assert verdict.results[0]["content"] == (
        "phone: kept; pin: refused, there is no such slot (phone)"
    )
