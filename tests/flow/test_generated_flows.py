"""Property: any flow `flow check` accepts, driven by any caller through the text simulator,
raises nothing and hits no internal error (the engine's catch-all would hide a bug as the error
route; `internal:` in the trace is that bug).

Flows are generated from the step kinds of the schema with random routes, slots, prompts with
templates, globals and defaults; callers say words from the flow's own grammar and others, key
digits, stay silent; the backend answers each request with a random status, reply, timeout or
connection error; transfers and recordings get random outcomes.
"""

from __future__ import annotations

import datetime as dt
import tempfile
from pathlib import Path
from typing import Any

import httpx
import yaml
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from voicebot.errors import FlowError
from voicebot.flow.backend import HttpxBackend
from voicebot.flow.loader import OUTCOMES, load_flow
from voicebot.flow.simulator import TextCall

WORDS = ["yes", "no", "balance", "billing", "agent", "repeat", "one two three", "four", "twelve"]
WORDS += ["five dollars", "tomorrow", "purple elephant", "", "help", "eight seven six five"]
SUBFLOW = {
    "version": 1,
    "name": "sub",
    "start": "s",
    "steps": {
        "s": {
            "ask": {"slot": {"name": "sub_ok", "type": "yes_no"}, "prompt": "Sure?"},
            "next": "r",
        },
        "r": {"return": None},
    },
}
TEXTS = st.sampled_from(
    [
        "Hello.",
        "You said {{ slots.a }}.",
        "{{ vars.name }} has {{ vars.balance | money }}.",
        "{{ slots.missing.deeper }}",
        "{{ 1 / 0 }}",
        "Code {{ slots.d | spell }}.",
        "{{ turn.text }}",
        ["First.", "Second."],
        {"audio": "missing.wav", "text": "Fallback."},
    ]
)


@st.composite
def slots(draw: st.DrawFn) -> dict[str, Any]:
    kind = draw(st.sampled_from(["yes_no", "digits", "number", "choice", "date", "money", "text"]))
    slot: dict[str, Any] = {"name": draw(st.sampled_from(["a", "d", "n"])), "type": kind}
    if kind == "digits" and draw(st.booleans()):
        lo = draw(st.integers(1, 6))
        slot.update(min=lo, max=draw(st.integers(lo, 8)))
    if kind == "choice":
        slot["options"] = draw(
            st.sampled_from([["red", "blue"], {"r": ["red", "crimson"], "b": ["blue"]}])
        )
    return slot


@st.composite
def steps(draw: st.DrawFn, ids: list[str]) -> dict[str, Any]:
    target = st.sampled_from(ids)
    kind = draw(
        st.sampled_from(
            ["say", "ask", "menu", "set", "hours", "http", "transfer", "record", "call", "hangup"]
        )
    )
    step: dict[str, Any]
    if kind == "say":
        step = {"say": draw(TEXTS)}
    elif kind == "ask":
        ask: dict[str, Any] = {"slot": draw(slots()), "prompt": draw(TEXTS)}
        if draw(st.booleans()):
            ask["no_match"] = draw(TEXTS)
        if draw(st.booleans()):
            ask["confirm"] = {"when": draw(st.sampled_from(["true", "turn.confidence < 0.6"])),
                              "prompt": "Right?"}  # fmt: skip
        if draw(st.booleans()):
            ask["input"] = {"modes": draw(st.sampled_from([["dtmf"], ["speech"]]))}
        step = {"ask": ask}
    elif kind == "menu":
        options = {
            "balance": {"dtmf": "1", "say": ["balance"], "goto": draw(target)},
            "billing": {"dtmf": "2", "say": ["billing"]},
        }
        step = {"menu": {"prompt": draw(TEXTS), "options": options}}
    elif kind == "set":
        step = {"set": {"vars.name": "Ann", "vars.balance": draw(st.sampled_from(
            [1.5, "{{ slots.n }}", "{{ slots.a | int }}"]))}}  # fmt: skip
    elif kind == "hours":
        open_ = draw(st.sampled_from(["00:00-24:00", "08:00-17:00", "22:00-02:00"]))
        step = {"hours": {"timezone": "America/New_York", "open": {"mon-fri": open_}}}
    elif kind == "http":
        step = {
            "http": {
                "url": draw(st.sampled_from(["http://api.test/a", "{{ env.API }}", "/relative"])),
                "timeout": 1,
                "save": draw(st.sampled_from([{}, {"balance": "balance"}, {"name": "owner.0"}])),
            }
        }
    elif kind == "transfer":
        step = {"transfer": {"to": "sip:agent@pbx.test", "context": {"a": "{{ slots.a }}"}}}
    elif kind == "record":
        step = {"record": {"max": 5, "silence": 1, "save": "message"}}
    elif kind == "call":
        step = {"call": "sub.yaml"}
    else:
        step = {"hangup": {}}
    if kind != "hangup":
        if draw(st.booleans()):
            step["next"] = draw(target)
        else:
            step["next"] = [{"when": "slots.a", "goto": draw(target)}, {"goto": draw(target)}]
        outcomes = [*OUTCOMES[kind], "error"] + (["404", "2xx", "5xx"] if kind == "http" else [])
        on = draw(st.dictionaries(st.sampled_from(outcomes), target, max_size=3))
        if on:
            step["on"] = on
    return step


@st.composite
def flows(draw: st.DrawFn) -> dict[str, Any]:
    ids = [f"s{i}" for i in range(draw(st.integers(1, 7)))]
    flow: dict[str, Any] = {
        "version": 1,
        "name": "generated",
        "start": ids[0],
        "steps": {i: draw(steps(ids)) for i in ids},
        "defaults": {
            "retries": {"no_input": draw(st.integers(1, 3)), "no_match": draw(st.integers(1, 3))}
        },
    }
    if draw(st.booleans()):
        flow["defaults"]["on_error"] = draw(st.sampled_from(ids))
    if draw(st.booleans()):
        flow["globals"] = {
            "operator": {"dtmf": "0", "say": ["agent"], "goto": draw(st.sampled_from(ids))},
            "repeat": {"dtmf": "*", "say": ["repeat"], "action": "repeat"},
            "help": {"say": ["help"], "action": "help"},
        }
    if draw(st.booleans()):
        flow["on_answer"] = {"machine": draw(st.sampled_from(ids))}
    return flow


REPLIES = st.sampled_from(
    [
        (200, {"balance": 12.5, "owner": ["Ann"]}),
        (200, {}),
        (200, None),
        (404, None),
        (500, {"error": "x"}),
        ("timeout", None),
        ("refused", None),
    ]
)

CALLER = st.lists(
    st.one_of(
        st.tuples(st.just("say"), st.sampled_from(WORDS)),
        st.tuples(st.just("press"), st.sampled_from(["1", "2", "0", "*", "#", "123", "12345678#"])),
        st.tuples(st.just("silence"), st.just("")),
    ),
    max_size=12,
)

_DIR = Path(tempfile.mkdtemp(prefix="voicebot-generated-"))
(_DIR / "sub.yaml").write_text(yaml.safe_dump(SUBFLOW))


def backend(replies: list[tuple[Any, Any]]) -> HttpxBackend:
    answers = iter(replies)

    def handler(request: httpx.Request) -> httpx.Response:
        status, body = next(answers, (200, {}))
        if status == "timeout":
            raise httpx.ReadTimeout("generated", request=request)
        if status == "refused":
            raise httpx.ConnectError("generated", request=request)
        if body is None:
            return httpx.Response(status, text="not json")
        return httpx.Response(status, json=body)

    return HttpxBackend(transport=httpx.MockTransport(handler))


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    flow=flows(),
    script=CALLER,
    replies=st.lists(REPLIES, max_size=6),
    direction=st.sampled_from(["inbound", "outbound"]),
    answer=st.sampled_from(["human", "machine"]),
    transfer=st.sampled_from(["ok", "failed", "busy", "no_answer"]),
    record_seconds=st.sampled_from([0.0, 3.0]),
    hour=st.integers(0, 23),
)
def test_generated_flows_run_without_an_exception(
    flow, script, replies, direction, answer, transfer, record_seconds, hour
):
    path = _DIR / "flow.yaml"
    path.write_text(yaml.safe_dump(flow))
    try:
        loaded = load_flow(path)
    except FlowError:
        assume(False)  # not a flow `flow check` accepts
        return
    call = TextCall(
        loaded,
        http=backend(replies),
        clock=dt.datetime(2026, 11, 24, hour, 30, tzinfo=dt.UTC),
        env={"API": "http://api.test/env"},
        direction=direction,
        answered_by=answer,
        transfer_outcome=transfer,
        record_seconds=record_seconds,
    )
    call.start()
    for kind, value in script:
        if call.ended:
            break
        if kind == "say":
            call.say(value, confidence=0.5)
        elif kind == "press":
            call.press(value)
        else:
            call.silence()
    internal = [e for e in call.engine.trace.errors if e.startswith("internal:")]
    assert not internal, internal


# -- the same flows on a call session, with a runner that fails, hangs or answers ------------
def _silent(s: Any) -> bool:
    """Neither playing nor listening nor recording nor transferring: what the caller hears as
    dead air."""
    return not (
        s.playing > 0
        or (s.expect is not None and not s.awaiting_final)
        or s.recording is not None
        or s.amd_started is not None
        or any(k.startswith("transfer:") for k in s.pending)
        or s.engine.ended
    )


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    flow=flows(),
    fates=st.lists(st.sampled_from(["answer", "fail", "never"]), min_size=1, max_size=12),
    keys=st.lists(st.sampled_from(["1", "2", "0", "12345678#", "", ""]), max_size=8),
    direction=st.sampled_from(["inbound", "outbound"]),
)
def test_a_session_is_never_silent_longer_than_the_watchdog(flow, fates, keys, direction):
    """Whatever the runner does with the session's requests (answers, fails, never answers),
    the caller never hears more than the watchdog's seconds of dead air."""
    from voicebot.call.session import (
        CallSession,
        KeyIn,
        Perform,
        Play,
        PlaybackFinished,
        Recognize,
        Recognized,
        Reply,
        RequestFailed,
        Saved,
        SaveRecording,
        Tick,
    )
    from voicebot.dialog import actions as act
    from voicebot.dialog import events as ev
    from voicebot.dialog.engine import DialogEngine
    from voicebot.speech.listener import Listener

    path = _DIR / "flow.yaml"
    path.write_text(yaml.safe_dump(flow))
    try:
        loaded = load_flow(path)
    except FlowError:
        assume(False)
        return
    s = CallSession(
        DialogEngine(loaded, env={"API": "http://api.test/env"}),
        Listener(rate=8000),
        wall_clock_origin=dt.datetime(2026, 11, 24, 10, 30, tzinfo=dt.UTC),
    )
    later: list[tuple[float, Any]] = []  # (when, input) the runner will post
    fate = iter(fates * 20)
    key_presses = iter(keys)

    def perform(outputs: list[Any], now: float) -> None:
        for o in outputs:
            f = next(fate, "answer")
            if isinstance(o, Play):
                later.append((now + 1.0, PlaybackFinished()))
            elif isinstance(o, Perform) and isinstance(o.action, act.HangUp):
                pass
            elif isinstance(o, Recognize | Perform | SaveRecording) and f != "never":
                if f == "fail":
                    later.append((now + 0.5, RequestFailed(o.key, "error", "generated")))
                elif isinstance(o, Recognize):
                    later.append((now + 0.5, Recognized(o.turn, "yes", 0.9, o.final)))
                elif isinstance(o, SaveRecording):
                    later.append((now + 0.5, Saved("/r.wav", 1.0)))
                elif isinstance(o.action, act.HttpRequest):
                    later.append((now + 0.5, Reply(o.request, ev.HttpResult(200, {}))))
                else:
                    later.append((now + 2.0, ev.TransferResult("failed")))

    now, quiet_since, longest = 0.0, None, 0.0
    perform(s.start(ev.CallStarted("c1", direction=direction), now), now)
    while now < 120.0 and not s.ended:
        now = round(now + 0.2, 1)
        due = [item for when, item in later if when <= now]
        later[:] = [(w, i) for w, i in later if w > now]
        for item in due:
            perform(s.handle(item, now), now)
        if s.expect is not None and not s.playing and not s.awaiting_final:
            press = next(key_presses, None)
            if press:
                perform(s.handle(KeyIn(press), now), now)
        perform(s.handle(Tick(), now), now)
        if _silent(s) and not s.ended:
            quiet_since = now if quiet_since is None else quiet_since
            longest = max(longest, now - quiet_since)
        else:
            quiet_since = None
    assert longest <= s.deadlines.watchdog + 0.2 + 1e-9, (longest, s.incidents)
    internal = [e for e in s.engine.trace.errors if e.startswith("internal:")]
    assert not internal, internal
