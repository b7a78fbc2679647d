"""Whatever `flow check` accepts runs: every bounded value of the flow schema, at its bounds.

The bounded fields are read from the schema itself (numeric `ge`/`le`/`gt`/`lt` constraints and
durations, which are >= 0); each has a placement below that builds a flow using the value and
runs it through the text simulator (and, for voice rates, the real synthesiser). A bounded field
added to the schema without a placement here fails `test_every_bounded_field_has_a_placement`.
"""

from __future__ import annotations

import datetime as dt
import typing
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import annotated_types
import pytest
import yaml
from pydantic import BaseModel

from voicebot.dialog.meaning import Meaning
from voicebot.flow import schema
from voicebot.flow.backend import CannedReply, HttpxBackend, mock_transport
from voicebot.flow.completions import ScriptedModel, ScriptedReply
from voicebot.flow.loader import load_flow
from voicebot.flow.simulator import TextCall
from voicebot.testing.embeddings import FakeEmbedder

CLOCK = dt.datetime(2026, 11, 24, 10, 0, tzinfo=dt.UTC)
LARGE = {"int": 10_000, "duration": 86_400.0}  # stands for "no upper bound"


def _models(annotation: Any) -> Iterator[type[BaseModel]]:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        yield annotation
    for arg in typing.get_args(annotation):
        yield from _models(arg)


def bounded_fields() -> dict[tuple[str, str], tuple[float | None, float | None, str]]:
    """(model, field) -> (lowest, highest, kind) for every bounded number in the flow schema."""
    found: dict[tuple[str, str], tuple[float | None, float | None, str]] = {}
    seen: set[type[BaseModel]] = set()

    def walk(model: type[BaseModel]) -> None:
        if model in seen:
            return
        seen.add(model)
        for name, f in model.model_fields.items():
            lo = hi = None
            for m in f.metadata:
                if isinstance(m, annotated_types.Ge):
                    lo = m.ge
                elif isinstance(m, annotated_types.Gt):
                    lo = m.gt + 1
                elif isinstance(m, annotated_types.Le):
                    hi = m.le
                elif isinstance(m, annotated_types.Lt):
                    hi = m.lt - 1
            if "parse_duration" in repr(f.metadata) + repr(f.annotation):
                found[(model.__name__, name)] = (0.0, None, "duration")
            elif lo is not None or hi is not None:
                found[(model.__name__, name)] = (lo, hi, "int")  # type: ignore[assignment]
            for sub in _models(f.annotation):
                walk(sub)

    walk(schema.Flow)
    return found


def values(lo: float | None, hi: float | None, kind: str) -> list[float]:
    out = [lo if lo is not None else 0, hi if hi is not None else LARGE[kind]]
    return [int(v) if kind == "int" else float(v) for v in out]


# -- running a flow that uses a value --------------------------------------------------------
def run(tmp: Path, flow: dict[str, Any], script: Callable[[TextCall], None], **kw: Any) -> TextCall:
    base = {"version": 1, "name": "ranges", **flow}
    path = tmp / "flow.yaml"
    path.write_text(yaml.safe_dump(base))
    call = TextCall(load_flow(path), clock=CLOCK, **kw)
    call.start()
    script(call)
    return call


def ask(slot: dict[str, Any], **ask_keys: Any) -> dict[str, Any]:
    return {
        "start": "q",
        "steps": {
            "q": {"ask": {"slot": slot, "prompt": "Your answer?", **ask_keys}, "next": "bye"},
            "bye": {"say": "Bye.", "next": "end"},
            "end": {"hangup": {}},
        },
    }


def until_over(call: TextCall) -> None:
    for _ in range(40):
        if call.ended:
            return
        call.silence()


def place_voice_rate(tmp: Path, v: float) -> None:
    from voicebot.speech.synthesizer import EspeakSynthesizer, Voice

    call = run(tmp, {"voice": {"rate": v}, **ask({"name": "x", "type": "text"})}, until_over)
    assert call.ended
    assert EspeakSynthesizer().synthesize("Your answer?", 8000, Voice("en-us", int(v)))


def place_retries(field: str) -> Callable[[Path, float], None]:
    def place(tmp: Path, v: float) -> None:
        flow = {"defaults": {"retries": {field: v}}, **ask({"name": "n", "type": "yes_no"})}

        def script(call: TextCall) -> None:
            for _ in range(int(v) + 2):
                if call.ended:
                    break
                call.silence() if field == "no_input" else call.say("purple elephant")

        assert run(tmp, flow, script).ended

    return place


def place_slot_length(field: str) -> Callable[[Path, float], None]:
    def place(tmp: Path, v: float) -> None:
        n = int(v)
        slot = {"name": "d", "type": "digits", "min": n, "max": n}
        call = run(tmp, ask(slot), lambda c: c.press("1" * n))
        assert call.engine.slots["d"] == "1" * n and call.ended

    return place


def place_input(field: str, override: bool) -> Callable[[Path, float], None]:
    def place(tmp: Path, v: float) -> None:
        slot = {"name": "d", "type": "digits", "min": 2, "max": 4}
        if override:
            flow = ask(slot, input={field: v})
        else:
            flow = {"defaults": {"input": {field: v}}, **ask(slot)}
        call = run(tmp, flow, lambda c: (c.press("12"), until_over(c)))
        assert call.ended

    return place


def place_http_timeout(tmp: Path, v: float) -> None:
    flow = {
        "start": "get",
        "steps": {
            "get": {"http": {"url": "http://api.test/x", "timeout": v}, "on": {"ok": "yes"}},
            "yes": {"say": "Got it.", "next": "end"},
            "end": {"hangup": {}},
        },
    }
    http = HttpxBackend(transport=mock_transport([CannedReply("http://api.test/x")]))
    call = run(tmp, flow, lambda c: None, http=http)
    assert call.ended


def place_record(field: str) -> Callable[[Path, float], None]:
    def place(tmp: Path, v: float) -> None:
        flow = {
            "start": "rec",
            "steps": {
                "rec": {"record": {field: v}, "next": "end"},
                "end": {"hangup": {}},
            },
        }
        assert run(tmp, flow, lambda c: None).ended

    return place


def place_transfer_timeout(tmp: Path, v: float) -> None:
    flow = {
        "start": "agent",
        "steps": {
            "agent": {
                "transfer": {"to": "sip:a@x", "mode": "warm", "timeout": v},
                "on": {"no_answer": "end"},
            },
            "end": {"hangup": {}},
        },
    }
    call = run(tmp, flow, lambda c: None)
    assert call.transfer_actions[-1].warm.timeout == v and call.ended


def place_llm_max_turns(tmp: Path, v: float) -> None:
    """The model replies `v` times; after its last reply the call takes the `max_turns` route."""
    flow = {
        "start": "chat",
        "steps": {
            "chat": {
                "llm": {"instructions": "You help.", "prompt": "Hello.", "max_turns": v},
                "on": {"max_turns": "end", "error": "end"},
            },
            "end": {"say": "Goodbye.", "next": "bye"},
            "bye": {"hangup": {}},
        },
    }
    model = ScriptedModel([ScriptedReply(say="Sure.") for _ in range(int(v))])
    call = run(tmp, flow, lambda c: None, model=model, meaning=Meaning(FakeEmbedder()))
    for _ in range(int(v) - 1):
        call.say("tell me more")
        assert call.said_since_input == ["Sure."] and not call.ended
    call.say("and more")
    assert call.said_since_input == ["Sure.", "Goodbye."] and call.ended


def place_frustrated_above(tmp: Path, v: float) -> None:
    """An angry first answer hands over when its estimate is above `v` (never at 1)."""
    flow = {
        "escalation": {"frustrated": {"above": v, "goto": "agent"}},
        "start": "m",
        "steps": {
            "m": {
                "menu": {"prompt": "Balance or billing?", "options": {"b": {"say": ["balance"]}}},
                "next": "end",
            },
            "agent": {"say": "An agent.", "next": "end"},
            "end": {"hangup": {}},
        },
    }
    call = run(tmp, flow, lambda c: c.say("this is useless, damn it"))
    escalated = bool(call.engine.trace.escalations)
    assert escalated == (call.engine.call["frustration"] > v) and escalated == (v < 1)


PLACEMENTS: dict[tuple[str, str], Callable[[Path, float], None]] = {
    ("Voice", "rate"): place_voice_rate,
    ("Retries", "no_input"): place_retries("no_input"),
    ("Retries", "no_match"): place_retries("no_match"),
    ("Slot", "min"): place_slot_length("min"),
    ("Slot", "max"): place_slot_length("max"),
    ("InputSettings", "timeout"): place_input("timeout", False),
    ("InputSettings", "interdigit"): place_input("interdigit", False),
    ("InputOverride", "timeout"): place_input("timeout", True),
    ("InputOverride", "interdigit"): place_input("interdigit", True),
    ("Http", "timeout"): place_http_timeout,
    ("TransferTo", "timeout"): place_transfer_timeout,
    ("RecordSpec", "max"): place_record("max"),
    ("RecordSpec", "silence"): place_record("silence"),
    ("Llm", "max_turns"): place_llm_max_turns,
    ("Frustrated", "above"): place_frustrated_above,
}


def test_every_bounded_field_has_a_placement():
    assert set(bounded_fields()) == set(PLACEMENTS)


@pytest.mark.parametrize(
    ("where", "value"),
    [(k, v) for k, bounds in sorted(bounded_fields().items()) for v in values(*bounds)],
    ids=lambda x: ".".join(x) if isinstance(x, tuple) else str(x),
)
def test_the_bounds_the_schema_admits_run(tmp_path: Path, where: tuple[str, str], value: float):
    PLACEMENTS[where](tmp_path, value)


def test_voice_rates_the_synthesiser_refuses_are_refused_by_the_schema():
    # Found: the schema allowed 50-79 words/minute, which espeak-ng (and so every prompt) refuses
    from pydantic import ValidationError

    for rate in (50, 79):
        with pytest.raises(ValidationError):
            schema.Voice(rate=rate)


@pytest.mark.parametrize("ranges", ["00:00-24:00", "22:00-24:00", "00:00-00:00", "9:00-17:30"])
def test_time_ranges_the_schema_admits_run(tmp_path: Path, ranges: str):
    flow = {
        "start": "h",
        "steps": {
            "h": {"hours": {"timezone": "UTC", "open": {"mon-sun": ranges}}, "next": "end"},
            "end": {"hangup": {}},
        },
    }
    for hour in range(24):
        call = TextCall(_load(tmp_path, flow), clock=CLOCK.replace(hour=hour, minute=59))
        call.start()
        assert call.ended


@pytest.mark.parametrize("ranges", ["08:00-24:30", "25:00-26:00", "08:60-09:00", "99:99-00:00"])
def test_times_of_day_that_do_not_exist_are_refused(ranges: str):
    from pydantic import ValidationError

    with pytest.raises(ValidationError, match="not a time of day"):
        schema.Hours(timezone="UTC", open={"mon": ranges})


def _load(tmp: Path, flow: dict[str, Any]) -> Any:
    path = tmp / "flow.yaml"
    path.write_text(yaml.safe_dump({"version": 1, "name": "h", **flow}))
    return load_flow(path)


def test_a_voice_espeak_ng_does_not_have_is_an_error_of_flow_check(tmp_path: Path):
    # Found (beside the rates): any voice name passed `flow check`; espeak-ng refused it when
    # the worker rendered the flow's prompts, so the worker did not start
    from voicebot.cli import main

    path = tmp_path / "flow.yaml"
    flow = {"version": 1, "name": "v", "voice": {"name": "en-uss"}, "start": "a",
            "steps": {"a": {"say": "Hi.", "next": "b"}, "b": {"hangup": {}}}}  # fmt: skip
    path.write_text(yaml.safe_dump(flow))
    assert main(["flow", "check", str(path)]) == 1
    flow["voice"] = {"name": "en-gb"}
    path.write_text(yaml.safe_dump(flow))
    assert main(["flow", "check", str(path)]) == 0
