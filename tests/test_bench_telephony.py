"""The telephony benchmark's analysis on plain data: the callers' script, the capture's SIP,
what the flow took from each answer, and the section it writes into BENCHMARKS.md."""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench import telephony_bench as bench  # noqa: E402 (after the path set-up)
from bench import telephony_caller as caller  # noqa: E402
from bench import telephony_report as report  # noqa: E402
from bench import telephony_wire as wire  # noqa: E402

WORDS = {w: str(i) for i, w in enumerate(caller.DIGIT_WORDS)} | {"oh": "0"}


def test_script_asks_every_kind_each_round_and_says_the_digits_it_expects() -> None:
    answers = caller.script(16, index=5)
    assert [a.kind for a in answers] == list(caller.KINDS) * 4
    for a in answers:
        if a.kind == "digits":
            said = a.say.replace(",", "").split()
            assert "".join(WORDS[w] for w in said) == a.expect and len(a.expect) == 8
            assert "," in a.say  # grouped, one utterance
    assert {a.expect for a in answers if a.kind == "yes_no"} == {"yes", "no"}
    assert len({a.say for a in answers if a.kind == "text"}) == 4
    assert caller.script(16, index=5) == answers  # the same every run


def test_spoken_digits_groups_as_people_say_numbers() -> None:
    assert caller.spoken_digits("41555512", (4, 4), oh=True) == (
        "four one five five, five five one two"
    )
    assert caller.spoken_digits("07200000", (3, 3, 2), oh=False).startswith("zero seven two,")


def test_bot_ports_ties_the_dialled_user_to_the_bots_rtp_port() -> None:
    invite = (
        b"INVITE sip:bench-3@127.0.0.1:5060 SIP/2.0\r\nCall-ID: abc@x\r\n"
        b"To: <sip:bench-3@127.0.0.1:5060>\r\nCSeq: 1 INVITE\r\n\r\nv=0\r\nm=audio 52000 RTP/AVP 0\r\n"
    )
    ok = (
        b"SIP/2.0 200 OK\r\nCall-ID: abc@x\r\nTo: <sip:bench-3@127.0.0.1:5060>;tag=1\r\n"
        b"CSeq: 1 INVITE\r\n\r\nv=0\r\nm=audio 41002 RTP/AVP 0\r\n"
    )
    bye_ok = b"SIP/2.0 200 OK\r\nCall-ID: abc@x\r\nCSeq: 2 BYE\r\n\r\n"
    a, b = ("127.0.0.1", 5070), ("127.0.0.1", 5060)
    packets = [wire.Packet(1.0, a, b, invite), wire.Packet(1.1, b, a, ok)]
    packets.append(wire.Packet(9.0, b, a, bye_ok))
    assert wire.bot_ports(packets) == {"bench-3": 41002}


def test_turns_time_each_answer_from_its_last_loud_packet() -> None:
    call = wire.RtpCall(41000, 52000)
    call.caller = [(1.0, 1, True), (1.02, 2, True), (1.04, 3, False)]
    call.bot = [(1.2, 1, False), (1.5, 2, True), (1.52, 3, True)]
    assert wire.turns(call) == [wire.Turn(1.02, 1.5 - 1.02)]


def test_heard_reads_what_the_flow_took_from_the_next_prompt() -> None:
    assert bench.heard("menu", "account", "support. Your eight digit account number.") == "support"
    assert bench.heard("menu", "missed_menu", "Sorry, next question.") is None
    assert bench.heard("digits", "reason", "Account 4 1 5 5 5 5 1 2. Why?") == "41555512"
    said = "You said: my last bill looks too high. Is that right?"
    assert bench.heard("text", "check", said) == "my last bill looks too high"
    assert bench.heard("yes_no", "menu", "Sales, support or billing?") == "yes"
    assert bench.heard("yes_no", "again", "Sorry. Let's start again.") == "no"
    assert bench.heard("yes_no", "missed_check", "Sorry, next question.") is None


def test_word_errors() -> None:
    assert bench.word_errors("my last bill looks too high", "my last meal looks too high") == (1, 6)
    assert bench.word_errors("a b c", None) == (3, 3)
    assert bench.word_errors("a b c", "a b c d") == (1, 3)


def test_write_section_replaces_only_its_own_part(tmp_path: Path) -> None:
    doc = tmp_path / "BENCHMARKS.md"
    doc.write_text("# B\n\n## ASR\n\nasr\n\n## Telephony\n\nhand-edited table\n\n## Later\n\nz\n")
    report.write_section(doc, "table 1\n")
    first = doc.read_text()
    assert "hand-edited" not in first and "table 1" in first
    assert first.startswith("# B\n\n## ASR\n\nasr\n\n## Telephony\n\n" + report.BEGIN)
    assert first.endswith(report.END + "\n\n## Later\n\nz\n")
    report.write_section(doc, "table 1\n")
    assert doc.read_text() == first
    doc.write_text(first.replace("## Telephony\n\n", "## Telephony\n\nHow it measures.\n\n"))
    report.write_section(doc, "table 2\n")
    assert "How it measures.\n\n" + report.BEGIN + "\n\ntable 2\n" in doc.read_text()
    empty = tmp_path / "new.md"
    report.write_section(empty, "t\n")
    assert empty.read_text() == f"## Telephony\n\n{report.BEGIN}\n\nt\n\n{report.END}\n"


def test_sync_spread_compares_the_same_free_text_question_of_each_call() -> None:
    def answers(*ends: float | None) -> list[dict[str, object]]:
        out: list[dict[str, object]] = []
        for end in ends:
            a: dict[str, object] = {"kind": "text", "synced": end is not None}
            if end is not None:
                a["wire_end"] = end
            out += [{"kind": "menu"}, a]
        return out

    rows = [{"answers": answers(10.0, 40.0)}, {"answers": answers(None, 40.03)}]
    assert [round(x, 3) for x in bench.sync_spread(rows)] == [0.03]
