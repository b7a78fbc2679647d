"""The `llm` step over real SIP on loopback: `voicebot serve` runs tests/data/llm/assistant_line.yaml
with its settings pointing at a real HTTP server speaking OpenAI's streaming protocol (started
here, scripted replies); the caller is `voicebot call`, which speaks with espeak-ng and
transcribes what the bot says with the Whisper model. The bot's spoken reply (the filler, then
the model's streamed sentences) is checked in the caller's transcript, fuzzily, and exactly in
the call record; what the model was asked is checked at the server."""

from __future__ import annotations

from pathlib import Path

import pytest
from rapidfuzz import fuzz
from test_serve import ROOT, bot_lines, call, heard, start_bot, stop_bot

from voicebot.flow.completions import ScriptedReply
from voicebot.testing.openai_server import OpenAIServer

pytestmark = [pytest.mark.sip, pytest.mark.slow]

FLOW = ROOT / "tests" / "data" / "llm" / "assistant_line.yaml"
ANSWER = "Yes, roaming works in Japan. Text ROAM to 10086 to turn it on."


def test_the_models_streamed_answer_is_spoken_and_its_intent_routes_the_call(tmp_path: Path):
    replies = [
        ScriptedReply(say=ANSWER, delay=1.2, pause=0.05),  # late: the filler plays first
        ScriptedReply(say="Let me check that for you.", tools=(("check_bill", "{}"),)),
    ]
    with OpenAIServer(replies) as server:
        env = {
            "VOICEBOT_LLM__BASE_URL": server.base_url,
            "VOICEBOT_LLM__MODEL": "scripted-7b",
            "VOICEBOT_LLM__API_KEY_ENV": "ACME_LLM_KEY",
            "ACME_LLM_KEY": "sk-loopback",
        }
        bot = start_bot(tmp_path, "--flow", str(FLOW), "--port", "0", env=env)
        try:
            out = call(
                bot.uri,
                "--quiet",
                "2",
                "--say",
                "do you have roaming in Japan",
                "--say",
                "what do I owe",
            )
        finally:
            stop_bot(bot)
        assert bot.proc.returncode == 0, "".join(bot.log)
    spoken = " ".join(bot_lines(out))
    assert heard(spoken, "how can I help you"), out
    assert heard(spoken, "one moment"), out
    assert heard(spoken, "roaming works in Japan"), out
    assert heard(spoken, "your bill for your line is ready"), out
    assert "bot hung up" in out
    # the model heard the caller's words as the bot recognised them, grounded in the FAQ
    first, second = server.requests
    assert first["model"] == "scripted-7b" and first["stream"] is True
    assert server.headers[0]["Authorization"] == "Bearer sk-loopback"
    assert "Text ROAM to 10086" in first["messages"][1]["content"]
    assert fuzz.partial_ratio("roaming in japan", first["messages"][-1]["content"].lower()) >= 75
    assert fuzz.partial_ratio("what do i owe", second["messages"][-1]["content"].lower()) >= 75
    record = bot.records().get(bot.records().list()[0].id)
    assert record is not None and record.outcome == "completed"
    assert record.steps == ["welcome", "assistant", "bill", "end"]
    said = [t["text"] for t in record.turns if t["who"] == "bot" and t["step"] == "assistant"]
    assert said == [
        "How can I help you?",
        "One moment.",
        "Yes, roaming works in Japan.",
        "Text ROAM to 10086 to turn it on.",
        "Let me check that for you.",
    ]
