"""`voicebot serve` on real SIP telephony: barge-in, transfer, hold, workers behind Kamailio.

One `voicebot serve --workers 2` (the real model, espeak-ng, pjsua2) runs a small flow written
for these tests; callers are scripted `Softphone`s, each in a spawned process of its own
(pjsua2: one endpoint per process), that record every frame they receive so the tests can time
the bot's audio as the caller heard it. Transfer targets are sipp on loopback; the concurrency
test puts real Kamailio in front of the two workers and places calls with sipp. The last test
kills a worker with SIGKILL mid-call and watches the supervisor restart it.
"""

from __future__ import annotations

import multiprocessing
import os
import queue
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from test_kamailio import Processes, assert_all_passed, place_calls, settings_for, start_kamailio

from voicebot.call.records import CallStore

pytestmark = [pytest.mark.sip, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[1]
HOST = "127.0.0.1"
RATE = 16000  # the softphone's audio rate
FRAME = RATE // 50
LOUD = 0.01  # RMS (full scale 1.0) of a frame the bot speaks in; as `voicebot call` uses
_ctx = multiprocessing.get_context("spawn")

# Prompts are run-on sentences on purpose: espeak-ng pauses at punctuation, and a pause in the
# bot's speech must not pass for the bot having stopped.
FLOW = """\
version: 1
name: telephony
defaults:
  input: {modes: [speech, dtmf], timeout: 8s}
start: menu
steps:
  menu:
    menu:
      prompt: >-
        Welcome to the telephony test line where you can hear the weather forecast for the
        whole week ahead or talk to one of our friendly agents who will gladly help you with
        anything at all so please say weather or press one for the forecast and say agent or
        press two to reach an agent and press three for the busy line whenever you are ready
      options:
        weather: {dtmf: "1", say: [weather, the weather, forecast], goto: weather}
        agent: {dtmf: "2", say: [agent], goto: putting_through}
        busy: {dtmf: "3", say: [busy line], goto: busy}
        news: {dtmf: "4", say: [news], goto: news}
        dest: {dtmf: "5", goto: dest}
  news:
    menu:
      prompt: >-
        Here is the news for today where nothing much happened at all in the town or in the
        country or anywhere else in the world that we know of so say weather for the forecast
        or say agent to talk to one of our friendly agents whenever you are ready to go on
      options:
        weather: {dtmf: "1", say: [weather, the weather, forecast], goto: weather}
        agent: {dtmf: "2", say: [agent], goto: putting_through}
  weather:
    barge_in: false
    menu:
      prompt: >-
        The forecast for the whole week ahead is sunny and warm with a light breeze from the
        west in the mornings and clear skies in the evenings all the way through to the
        weekend so press nine to hang up or press one to hear the forecast once again
      options:
        again: {dtmf: "1", goto: weather}
        goodbye: {dtmf: "9", say: [goodbye], goto: goodbye}
  putting_through: {say: "Putting you through.", next: agent}
  agent:
    transfer: {to: "{{ env.AGENT }}", context: {case: "42", call: "{{ call.id }}"}}
    on: {failed: sorry}
  busy:
    transfer: {to: "{{ env.BUSY }}", context: {case: "43"}}
    on: {failed: sorry}
  dest:
    ask:
      slot: {name: dest, type: digits, sensitive: true}
      prompt: Key the number you want to be put through to and then press the hash key
    on: {exhausted: sorry}
    next: put_through
  put_through:
    transfer: {to: "sip:{{ slots.dest }}@127.0.0.1:{{ env.PREMIUM_PORT }}"}
    on: {failed: sorry}
  sorry: {say: "Sorry, nobody can take your call right now.", next: goodbye}
  goodbye: {say: "Goodbye.", next: end}
  end: {hangup: {}}
"""


# -- processes and ports ----------------------------------------------------------------------
def _free(port: int) -> bool:
    for kind in (socket.SOCK_DGRAM, socket.SOCK_STREAM):
        with socket.socket(socket.AF_INET, kind) as s:
            try:
                s.bind((HOST, port))
            except OSError:
                return False
    return True


def free_ports(count: int) -> int:
    """The first of `count` consecutive ports free for UDP and TCP (workers use port+i)."""
    rng = np.random.default_rng()
    for _ in range(200):
        base = int(rng.integers(20000, 30000))
        if all(_free(base + i) for i in range(count)):
            return base
    raise RuntimeError("no free ports")


def _sipp() -> str:
    path = shutil.which("sipp")
    assert path, "sipp is missing: `make setup` installs it (Debian sip-tester)"
    return path


class Serve:
    """`voicebot serve --workers 2` in its own process group; its output collected as it comes."""

    def __init__(
        self,
        tmp: Path,
        flow: Path,
        port: int,
        env: dict[str, str],
        settings: dict[str, str] | None = None,
    ) -> None:
        self.db = tmp / "calls.db"
        self.port = port
        environ = {
            **os.environ,
            "VOICEBOT_DATA_DIR": str(tmp),
            "VOICEBOT_CALL_RECORDS": str(self.db),
            "VOICEBOT_LOG_LEVEL": "INFO",  # the supervisor names each worker's pid
            "VOICEBOT_SIP__DRAIN_SECONDS": "2",
            **(settings or {}),
        }
        args = [sys.executable, "-m", "voicebot", "serve", "--flow", str(flow)]
        args += ["--port", str(port), "--workers", "2"]
        for name, value in env.items():
            args += ["--env", f"{name}={value}"]
        self.proc = subprocess.Popen(
            args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=environ,
            cwd=ROOT, start_new_session=True,
        )  # fmt: skip
        self.lines: list[str] = []
        self._cond = threading.Condition()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            with self._cond:
                self.lines.append(line)
                self._cond.notify_all()

    def wait_line(self, pattern: str, after: int = 0, timeout: float = 60.0) -> re.Match[str]:
        """The first output line from index `after` on matching `pattern`."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                for line in self.lines[after:]:
                    m = re.search(pattern, line)
                    if m:
                        return m
                left = deadline - time.monotonic()
                crashing = any("keeps dying" in line for line in self.lines[after:])
                assert left > 0 and self.proc.poll() is None and not crashing, (
                    f"no {pattern!r} from voicebot serve:\n{''.join(self.lines[-60:])}"
                )
                self._cond.wait(min(left, 0.5))

    def output(self) -> tuple[str, int]:
        """Everything printed so far, and how many lines that is."""
        with self._cond:
            return "".join(self.lines), len(self.lines)

    def uri(self, worker: int) -> str:
        return f"sip:bot@{HOST}:{self.port + worker - 1}"

    def records(self) -> CallStore:
        return CallStore(self.db)

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
        try:
            self.proc.wait(20)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(5)


@pytest.fixture(scope="module")
def module_procs() -> Iterator[Processes]:
    ps = Processes()
    try:
        yield ps
    finally:
        ps.stop_all()


@pytest.fixture(scope="module")
def tmp(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("telephony")


class Target:
    """A sipp UAS on loopback that a transfer points at; its message trace shows the INVITE."""

    def __init__(self, procs: Processes, tmp: Path, name: str, *scenario: str) -> None:
        self.port = free_ports(1)
        self.uri = f"sip:{name}@{HOST}:{self.port}"
        self.trace = tmp / f"{name}_messages.log"
        args = [_sipp(), *scenario, "-i", HOST, "-p", str(self.port)]
        args += ["-mp", str(free_ports(1)), "-nostdin", "-trace_msg", "-message_file"]
        args += [str(self.trace), "-m", "1"]
        self.proc = procs.start(args, tmp / f"{name}_sipp.out")


@pytest.fixture(scope="module")
def targets(module_procs: Processes, tmp: Path) -> dict[str, Target]:
    busy = str(ROOT / "tests" / "data" / "kamailio" / "worker_reject.xml")
    return {
        "agent": Target(module_procs, tmp, "agent", "-sn", "uas"),
        "busy": Target(module_procs, tmp, "busy", "-sf", busy),
        "premium": Target(module_procs, tmp, "premium", "-sn", "uas"),
    }


@pytest.fixture(scope="module")
def serve(tmp: Path, targets: dict[str, Target]) -> Iterator[Serve]:
    flow = tmp / "telephony.yaml"
    flow.write_text(FLOW)
    env = {"AGENT": targets["agent"].uri, "BUSY": targets["busy"].uri}
    env["PREMIUM_PORT"] = str(targets["premium"].port)
    s = Serve(tmp, flow, free_ports(2), env)
    try:
        for worker in ("w1", "w2"):
            s.wait_line(rf"voicebot {worker} answering at sip:\S+:{s.port + int(worker[1]) - 1}")
        yield s
    finally:
        s.stop()
    output, _ = s.output()
    assert s.proc.returncode == 0, output[-3000:]  # drained and stopped cleanly
    assert "Traceback" not in output, output


# -- the scripted caller (runs in a spawned process) ------------------------------------------
def _loud(pcm: bytes) -> np.ndarray:
    """Per 20 ms frame: is the audio above the speech threshold?"""
    x = np.frombuffer(pcm[: len(pcm) // (2 * FRAME) * 2 * FRAME], "<i2").astype(np.float32)
    frames = x.reshape(-1, FRAME) / 32768.0
    return np.sqrt(np.mean(frames**2, axis=1)) > LOUD


def _caller(report: Any, stop: Any, script: list[tuple[Any, ...]]) -> None:
    """Run `script` on a Softphone; report ("result", dict) at the end, ("at", name) on cue.

    Steps act on the latest call: ("dial", uri) ("answered",) ("mark", name) -- the number of
    samples received so far; ("speech", timeout) -- until the bot is heard after the last
    mark; ("quiet", seconds, timeout) -- until the bot, heard after the last mark, has been
    quiet that long; ("sleep", s) ("play", pcm, rate, wait) ("dtmf", keys) ("hold",)
    ("unhold",) ("transferred", timeout) -- follow the REFER: the new call becomes the latest;
    ("ended", timeout[, index]) ("hangup"[, index]) ("report", name) ("until_stopped", timeout).
    """
    import logging

    from voicebot.sip.config import SipConfig
    from voicebot.sip.softphone import Softphone

    logging.basicConfig(level=logging.WARNING)
    rtp = 2 * int(np.random.default_rng().integers(15000, 20000))  # apart from the bot's
    phone = Softphone(SipConfig(port=0, rtp_port=rtp, user="caller")).start()
    calls: list[Any] = []
    marks: dict[str, int] = {}
    holds: list[str] = []
    last_mark = 0
    failure = ""
    began = time.monotonic()
    times: list[tuple[str, float]] = []

    def heard_since(since: int) -> np.ndarray:
        return _loud(calls[-1].recording()[since * 2 :])

    try:
        for step in script:
            op, args = step[0], step[1:]
            times.append((op, round(time.monotonic() - began, 2)))
            if op == "dial":
                calls.append(phone.dial(args[0]))
            elif op == "answered":
                if not (calls[-1].wait_answered(15) and calls[-1].wait_media(5)):
                    raise RuntimeError(f"not answered: {calls[-1].ended}")
            elif op == "mark":
                last_mark = marks[args[0]] = len(calls[-1].recording()) // 2
            elif op == "speech":
                deadline = time.monotonic() + args[0]
                while not heard_since(last_mark).any():
                    if time.monotonic() > deadline or calls[-1].ended:
                        raise RuntimeError(f"no speech from the bot after mark {last_mark}")
                    time.sleep(0.02)
            elif op == "quiet":
                need, deadline = int(args[0] * 50), time.monotonic() + args[1]
                while True:
                    loud = heard_since(last_mark)
                    idx = np.flatnonzero(loud)
                    if idx.size and len(loud) - 1 - idx[-1] >= need:
                        break
                    if time.monotonic() > deadline or calls[-1].ended:
                        raise RuntimeError(f"the bot did not finish a turn after {last_mark}")
                    time.sleep(0.05)
            elif op == "sleep":
                time.sleep(args[0])
            elif op == "play":
                calls[-1].play_pcm(args[0], args[1], wait=args[2], timeout=20)
            elif op == "dtmf":
                calls[-1].send_dtmf(args[0])
            elif op in ("hold", "unhold"):
                c, on = calls[-1], op == "hold"
                c.hold() if on else c.unhold()
                deadline = time.monotonic() + 5  # the answer to the re-INVITE
                while c.held != on and not c.ended and time.monotonic() < deadline:
                    time.sleep(0.02)
                holds.append("held" if c.held else "resumed")
            elif op == "transferred":
                new = calls[-1].wait_transferred(args[0])
                if new is None:
                    raise RuntimeError("no REFER within the timeout")
                calls.append(new)
            elif op == "ended":
                calls[args[1] if len(args) > 1 else -1].wait_ended(args[0])
            elif op == "hangup":
                calls[args[0] if args else -1].hangup()
            elif op == "report":
                report.put(("at", args[0]))
            elif op == "until_stopped":
                stop.wait(args[0])
            else:
                raise ValueError(f"unknown step {op!r}")
    except Exception as exc:
        failure = f"{type(exc).__name__}: {exc}"
    try:
        report.put(
            (
                "result",
                {
                    "failure": failure,
                    "marks": marks,
                    "holds": holds,
                    "times": times,
                    "calls": [
                        {
                            "answered": c.answered,
                            "ended": (c.ended.by, c.ended.status_code) if c.ended else None,
                            "recording": c.recording(),
                        }
                        for c in calls
                    ],
                },
            )
        )
    finally:
        for c in calls:
            c.hangup()
        phone.stop()


class Caller:
    """A `_caller` process; `result()` waits for its report, `close()` ends it for sure."""

    def __init__(self, script: list[tuple[Any, ...]]) -> None:
        self.report = _ctx.Queue()
        self.stop_event = _ctx.Event()
        self.process = _ctx.Process(
            target=_caller, args=(self.report, self.stop_event, script), daemon=True
        )
        self.process.start()
        self._result: dict[str, Any] | None = None

    def wait(self, kind: str, name: str = "", timeout: float = 60.0) -> Any:
        deadline = time.monotonic() + timeout
        while True:
            try:
                msg = self.report.get(timeout=max(0.01, deadline - time.monotonic()))
            except queue.Empty:
                raise TimeoutError(f"caller sent no {kind} {name} in {timeout} s") from None
            if msg[0] == kind and (not name or msg[1] == name):
                return msg[1]
            if msg[0] == "result":
                self._result = msg[1]
                raise AssertionError(f"caller finished before {kind} {name}: {msg[1]['failure']}")

    def result(self, timeout: float = 60.0) -> dict[str, Any]:
        if self._result is None:
            self._result = self.wait("result", timeout=timeout)
        failure, steps = self._result["failure"], self._result["times"]
        assert not failure, f"{failure}; steps run (op, seconds into the script): {steps}"
        return self._result

    def finish(self, timeout: float = 30.0) -> dict[str, Any]:
        """Let an `until_stopped` step end, and wait for the result."""
        self.stop_event.set()
        return self.result(timeout)

    def close(self) -> None:
        self.stop_event.set()
        deadline = time.monotonic() + 10
        while self.process.is_alive() and time.monotonic() < deadline:
            try:  # a child cannot exit with unread reports in its queue
                self.report.get(timeout=0.1)
            except queue.Empty:
                pass
        if self.process.is_alive():
            self.process.kill()
        self.process.join(5)


@pytest.fixture
def call() -> Iterator[Any]:
    """`call(script)` starts a caller process; every one is ended when the test ends."""
    made: list[Caller] = []

    def start(script: list[tuple[Any, ...]]) -> Caller:
        made.append(Caller(script))
        return made[-1]

    try:
        yield start
    finally:
        for c in made:
            c.close()


def speech(text: str) -> bytes:
    from voicebot.speech.synthesizer import EspeakSynthesizer, Voice

    return EspeakSynthesizer(Voice("en-us", 160)).synthesize(text, RATE)


def onset(pcm: bytes) -> int:
    """Samples of silence before the first loud frame of `pcm`."""
    return int(np.flatnonzero(_loud(pcm))[0]) * FRAME


def silence_start(loud: np.ndarray, start: int, frames: int) -> int | None:
    """The first frame at or after `start` that begins `frames` quiet frames in a row."""
    for i in range(start, len(loud) - frames + 1):
        if not loud[i : i + frames].any():
            return i
    return None


def known(serve: Serve) -> set[str]:
    return {r.id for r in serve.records().list(limit=1000)}


def finished_call(serve: Serve, before: set[str], timeout: float = 15.0) -> Any:
    """The one call record made since `before`, once it has ended."""
    store = serve.records()
    deadline = time.monotonic() + timeout
    while True:
        new = [r for r in store.list(limit=1000) if r.id not in before]
        assert len(new) <= 1, [(r.id, r.worker) for r in new]
        if new and new[0].ended_at is not None:
            return store.get(new[0].id)
        assert time.monotonic() < deadline, f"no finished call record: {new}"
        time.sleep(0.1)


def fraction_loud(loud: np.ndarray, start: int, end: int) -> float:
    window = loud[start // FRAME : end // FRAME]
    return float(window.mean()) if window.size else 0.0


# -- the tests --------------------------------------------------------------------------------
def test_barge_in_stops_the_prompt_and_acts_on_the_words(serve: Serve, call: Any) -> None:
    """Speech during a barge-in prompt silences the bot within 0.5 s and picks the option;
    speech during a `barge_in: false` prompt neither stops it nor counts as an answer.

    The bound: the listener needs 0.2 s of speech (`barge_in_min_speech`), the VAD declares
    speech a frame or two after it starts, the bot's stop takes effect on its next 20 ms frame,
    and each way the audio crosses an encoder, the loopback and a jitter buffer (~40 ms each):
    about 0.35 s in all. 0.5 s leaves room for a loaded 2-core CI machine, and is still far
    below what a prompt that ignored the caller would give (it plays on for seconds).
    """
    weather, goodbye = speech("weather"), speech("goodbye")
    before = known(serve)
    caller = call(
        [
            ("dial", serve.uri(1)),
            ("answered",),
            ("mark", "answered"),
            ("speech", 15),
            ("sleep", 1.5),
            ("mark", "barge"),
            ("play", weather, RATE, True),
            ("mark", "said"),
            ("speech", 15),  # the weather prompt (barge_in: false) begins
            ("sleep", 1.0),
            ("mark", "talk"),
            ("play", goodbye, RATE, True),  # an option of the weather menu, said too soon
            ("mark", "talked"),
            ("sleep", 1.0),
            ("hangup",),
            ("ended", 5),
        ]
    )
    result = caller.result(90)
    marks, (heard,) = result["marks"], result["calls"]
    loud = _loud(heard["recording"])
    record = finished_call(serve, before)

    start = (marks["barge"] + onset(weather)) // FRAME  # the caller's speech begins
    assert loud[start - 25 : start].mean() > 0.5, "the bot was not speaking when barged in on"
    stopped = silence_start(loud, start, 15)  # 0.3 s of silence
    assert stopped is not None
    assert (stopped - start) * 0.02 <= 0.5, f"bot went on {(stopped - start) * 0.02:.2f} s"
    assert record.steps[:2] == ["menu", "weather"]  # the words were acted on
    caller_turns = [t for t in record.turns if t["who"] == "caller"]
    assert "weather" in caller_turns[0]["text"].lower()

    start = (marks["talk"] + onset(goodbye)) // FRAME
    talked = marks["talked"] // FRAME
    assert loud[start - 25 : start].mean() > 0.5, "the weather prompt was not playing"
    gap = silence_start(loud, start, 15)
    assert gap is None or gap > talked + 25, "a barge_in: false prompt was interrupted"
    assert loud[talked : talked + 25].mean() > 0.5  # it still plays after the caller stopped
    assert len(caller_turns) == 1 and record.steps == ["menu", "weather"]  # no "goodbye"
    assert record.outcome == "caller_hangup"


def test_barge_in_works_on_a_prompt_that_a_key_started(serve: Serve, call: Any) -> None:
    """A key stops the prompt and starts the next one at once; the stopped prompt's end,
    reported afterwards, must not pass for the end of the new one (which would leave the
    caller unable to barge in on it, and start its no-input timer while it still plays)."""
    weather = speech("weather")
    before = known(serve)
    caller = call(
        [
            ("dial", serve.uri(1)),
            ("answered",),
            ("mark", "answered"),
            ("speech", 15),
            ("dtmf", "4"),  # the news
            ("sleep", 2.0),
            ("mark", "barge"),
            ("play", weather, RATE, True),
            ("mark", "said"),
            ("sleep", 2.0),
            ("hangup",),
            ("ended", 5),
        ]
    )
    result = caller.result(60)
    loud = _loud(result["calls"][0]["recording"])
    record = finished_call(serve, before)

    start = (result["marks"]["barge"] + onset(weather)) // FRAME
    assert loud[start - 25 : start].mean() > 0.5, "the news prompt was not playing"
    stopped = silence_start(loud, start, 15)
    assert stopped is not None and (stopped - start) * 0.02 <= 0.5, "no barge-in"
    assert record.steps == ["menu", "news", "weather"]


def test_transfer_sends_refer_with_context_and_the_bots_leg_ends(
    serve: Serve, call: Any, targets: dict[str, Target]
) -> None:
    """Blind transfer: REFER to the flow's target with its context as X- headers (seen in the
    INVITE that reaches the sipp target), the caller follows, the bot hangs up its leg."""
    agent = targets["agent"]
    before = known(serve)
    caller = call(
        [
            ("dial", serve.uri(1)),
            ("answered",),
            ("mark", "answered"),
            ("speech", 15),
            ("dtmf", "2"),
            ("transferred", 20),
            ("answered",),  # the target took the call the caller placed on the REFER
            ("ended", 10, 0),  # the bot's leg
            ("sleep", 0.5),
            ("hangup",),
            ("ended", 5),
        ]
    )
    original, transferred = caller.result(60)["calls"]
    record = finished_call(serve, before)

    assert original["ended"][0] == "remote"  # the bot hung up its leg
    assert transferred["answered"] and transferred["ended"][0] == "local"
    assert record.outcome == "transferred"
    assert record.transfer_target == agent.uri
    assert record.steps == ["menu", "putting_through", "agent"]
    trace = agent.trace.read_text()
    invite = trace[trace.index(f"INVITE {agent.uri}") :]
    invite = invite[: invite.index("\n\n")]
    assert "X-Voicebot-Case: 42" in invite
    assert f"X-Voicebot-Call: {record.id}" in invite  # {{ call.id }}: the bot's own call id


def test_a_rejected_transfer_takes_the_failed_route(
    serve: Serve, call: Any, targets: dict[str, Target]
) -> None:
    """The target answers 486: the transfer fails, the call stays up, and the flow's
    `on: {failed: ...}` route plays its prompt (busy counts as failed)."""
    busy = targets["busy"]
    before = known(serve)
    caller = call(
        [
            ("dial", serve.uri(1)),
            ("answered",),
            ("mark", "answered"),
            ("speech", 15),
            ("dtmf", "3"),
            ("mark", "refer"),
            ("ended", 30, 0),
        ]
    )
    result = caller.result(60)
    record = finished_call(serve, before)
    heard = result["calls"][0]

    assert record.steps == ["menu", "busy", "sorry", "goodbye", "end"]
    said = [t["text"] for t in record.turns if t["who"] == "bot"]
    assert "Sorry, nobody can take your call right now." in said
    assert record.outcome == "completed" and record.transfer_target is None
    assert heard["ended"][0] == "remote"  # the bot hung up after its fallback prompt
    after = _loud(heard["recording"][result["marks"]["refer"] * 2 :])
    assert after.sum() > 50, "the caller did not hear the fallback prompt"
    assert "X-Voicebot-Case: 43" in busy.trace.read_text()
    assert "486 Busy Here" in busy.trace.read_text()


def test_a_keyed_number_in_a_templated_target_is_refused_and_masked(
    serve: Serve, call: Any, targets: dict[str, Target]
) -> None:
    """Issue 15: the caller keys 19005551234# into a `sensitive: true` slot that a transfer
    target is built from (`sip:{{ slots.dest }}@...`). The target is not in the flow nor in
    `transfers.allow` (and is premium-rate): no REFER, the `failed` route plays its prompt, and
    neither the call record nor the service's log holds the keyed number."""
    premium = targets["premium"]
    before = known(serve)
    caller = call(
        [
            ("dial", serve.uri(1)),
            ("answered",),
            ("mark", "answered"),
            ("speech", 15),
            ("dtmf", "5"),
            ("sleep", 1.5),  # the ask's prompt starts; keys barge in on it
            ("mark", "keyed"),
            ("dtmf", "19005551234#"),
            ("ended", 40, 0),
        ]
    )
    result = caller.result(60)
    record = finished_call(serve, before)
    heard = result["calls"]

    assert len(heard) == 1 and heard[0]["ended"][0] == "remote"  # no REFER to follow
    assert record.steps == ["menu", "dest", "put_through", "sorry", "goodbye", "end"]
    assert record.outcome == "completed" and record.transfer_target is None
    said = [t["text"] for t in record.turns if t["who"] == "bot"]
    assert "Sorry, nobody can take your call right now." in said
    after = _loud(heard[0]["recording"][result["marks"]["keyed"] * 2 :])
    assert after.sum() > 50, "the caller did not hear the fallback prompt"
    assert not premium.trace.exists() or "INVITE" not in premium.trace.read_text()
    # masked: the slot, the keys collected for it, and the log line about the refusal
    assert record.slots == {"dest": "[masked]"}
    assert record.dtmf == "5[masked]"
    keyed = [t["dtmf"] for t in record.turns if t["who"] == "caller"]
    assert keyed[0] == "5" and set(keyed[1:]) == {"[masked]"}
    output, _ = serve.output()
    refused = f"transfer to 'sip:[masked]@127.0.0.1:{premium.port}' refused"
    assert refused in output
    assert "19005551234" not in output
    assert "19005551234" not in repr(record)
    shown = subprocess.run(
        [sys.executable, "-m", "voicebot", "calls", "show", record.id, "--db", str(serve.db)],
        capture_output=True, text=True, timeout=60, cwd=ROOT,
    )  # fmt: skip
    assert shown.returncode == 0, shown.stderr
    assert 'slots {"dest": "[masked]"}' in shown.stdout and "[keys [masked]]" in shown.stdout
    assert "19005551234" not in shown.stdout


def test_hold_and_resume_by_reinvite_keeps_the_session(serve: Serve, call: Any) -> None:
    """The caller holds (re-INVITE sendonly) and resumes mid-prompt: the bot's audio stops and
    comes back, the same session goes on, and a key then picks an option as usual."""
    before = known(serve)
    caller = call(
        [
            ("dial", serve.uri(1)),
            ("answered",),
            ("mark", "answered"),
            ("speech", 15),
            ("sleep", 1.0),
            ("mark", "hold"),
            ("hold",),
            ("sleep", 1.5),
            ("mark", "unhold"),
            ("unhold",),
            ("sleep", 1.0),
            ("mark", "resumed"),
            ("dtmf", "1"),  # the dialog goes on: the weather option
            ("mark", "chose"),
            ("sleep", 1.5),
            ("hangup",),
            ("ended", 5),
        ]
    )
    result = caller.result(60)
    marks, heard = result["marks"], result["calls"][0]
    loud = _loud(heard["recording"])
    record = finished_call(serve, before)

    assert result["holds"] == ["held", "resumed"]
    output, _ = serve.output()  # the bot's side saw both re-INVITEs on the same call
    assert f"call {record.id} held by remote" in output
    assert f"call {record.id} resumed by remote" in output
    assert fraction_loud(loud, marks["hold"] - RATE, marks["hold"]) > 0.5
    # on hold the bot sends nothing (it answered the sendonly offer recvonly)
    assert fraction_loud(loud, marks["hold"] + RATE // 2, marks["unhold"]) < 0.2
    assert fraction_loud(loud, marks["unhold"] + RATE // 2, marks["resumed"]) > 0.5
    chose = marks["chose"]
    assert fraction_loud(loud, chose + 3 * RATE // 5, chose + 7 * RATE // 5) > 0.5  # weather
    assert record.steps == ["menu", "weather"]
    assert record.dtmf == "1"
    bot_said = [t["text"] for t in record.turns if t["who"] == "bot"]
    assert bot_said[-1].startswith("The forecast for the whole week")
    assert record.outcome == "caller_hangup"


def test_six_concurrent_calls_through_kamailio_are_spread_over_two_workers(
    serve: Serve, tmp_path: Path
) -> None:
    """Six calls at once: more than the 4 one pjsua2 process can take, so only the two workers
    together answer them all; Kamailio's dispatcher puts one address in front of both."""
    workers = [f"sip:{HOST}:{serve.port}", f"sip:{HOST}:{serve.port + 1}"]
    port = free_ports(1)
    procs = Processes()
    try:
        start_kamailio(procs, tmp_path, settings_for(port, workers))
        before = known(serve)
        # sipp: 6 calls within 0.2 s, each held 4 s by the caller, then a BYE
        done = place_calls(tmp_path, port, 6, rate=30, length_ms=4000, limit=6)
        assert_all_passed(tmp_path, done)  # every call answered (and hung up) through Kamailio
    finally:
        procs.stop_all()

    store = serve.records()
    deadline = time.monotonic() + 10
    while True:
        new = [r for r in store.list(limit=1000) if r.id not in before]
        if len(new) == 6 and all(r.ended_at for r in new):
            break
        assert time.monotonic() < deadline, [(r.worker, r.outcome) for r in new]
        time.sleep(0.1)
    per_worker = {w: sum(r.worker == w for r in new) for w in ("w1", "w2")}
    assert all(r.answered_at for r in new)
    assert all(r.outcome == "caller_hangup" for r in new), [r.outcome for r in new]
    assert 2 <= per_worker["w1"] <= 4 and 2 <= per_worker["w2"] <= 4, per_worker
    # all six were up at the same time: the last answered before the first ended
    assert max(r.answered_at for r in new) < min(r.ended_at for r in new)


def test_through_kamailio_a_caller_hears_busy_only_from_full_workers(
    serve: Serve, tmp_path: Path
) -> None:
    """Ten calls at once into two workers of 4 slots: eight are answered, and the two refused
    hear the workers' own 486 (each tried on both workers), never one Kamailio made up."""
    workers = [f"sip:{HOST}:{serve.port}", f"sip:{HOST}:{serve.port + 1}"]
    port = free_ports(1)
    procs = Processes()
    try:
        log = start_kamailio(procs, tmp_path, settings_for(port, workers))
        before = known(serve)
        done = place_calls(tmp_path, port, 10, rate=50, length_ms=4000, limit=10)
    finally:
        procs.stop_all()

    assert done.returncode != 0
    errors = (tmp_path / "caller_errors.log").read_text()
    assert len(re.findall(r"SIP/2.0 486 ", errors)) == 2, errors[-3000:]
    text = log.read_text()
    assert "All Workers Busy" not in errors and "asking them in turn" in text
    assert text.count("worker replied 486, trying") == 2  # each refused call tried on both
    store = serve.records()
    deadline = time.monotonic() + 10
    while True:
        new = [r for r in store.list(limit=1000) if r.id not in before and r.answered_at]
        if len(new) == 8 and all(r.ended_at for r in new):
            break
        assert time.monotonic() < deadline, [(r.worker, r.outcome) for r in new]
        time.sleep(0.1)
    assert sorted(r.worker for r in new) == ["w1"] * 4 + ["w2"] * 4


def test_a_worker_killed_mid_call_is_restarted_and_its_call_recorded_failed(
    serve: Serve, call: Any
) -> None:
    """SIGKILL to worker w2 during a call: the supervisor records the call failed and starts
    w2 again on the same port, where a new call is answered and runs the flow."""
    before = known(serve)
    talking = call(
        [
            ("dial", serve.uri(2)),
            ("answered",),
            ("mark", "answered"),
            ("speech", 15),
            ("report", "talking"),
            ("until_stopped", 90),
        ]
    )
    talking.wait("at", "talking", timeout=30)
    output, seen = serve.output()
    pid = int(re.findall(r"worker w2 started \(pid (\d+)", output)[-1])
    os.kill(pid, signal.SIGKILL)

    serve.wait_line(rf"voicebot w2 answering at sip:\S+:{serve.port + 1}", after=seen, timeout=90)
    killed = finished_call(serve, before)
    assert killed.worker == "w2" and killed.answered_at
    assert killed.outcome == "failed"
    assert killed.reason == "worker exited (-9)"
    talking.close()

    before = known(serve)
    again = call(
        [
            ("dial", serve.uri(2)),
            ("answered",),
            ("mark", "answered"),
            ("speech", 15),  # the restarted worker runs the flow
            ("hangup",),
            ("ended", 5),
        ]
    )
    (heard,) = again.result(60)["calls"]
    record = finished_call(serve, before)
    assert heard["answered"]
    assert record.worker == "w2" and record.outcome == "caller_hangup"
    assert record.steps == ["menu"]
