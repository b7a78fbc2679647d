"""The recognition queue with plain data, and its scheduler with a recogniser that records."""

from __future__ import annotations

import threading
import time

from voicebot.dialog.expectation import FREE_TEXT, Expectation
from voicebot.speech.recognizer import Recognition
from voicebot.speech.scheduler import RecognitionJob, RecognitionQueue, RecognitionScheduler

DIGITS = Expectation(kind="digits", min_digits=4, max_digits=4)


def job(call: str, final: bool, turn: int = 1, end: float | None = None) -> RecognitionJob:
    return RecognitionJob(call, turn, b"\0\0" * 160, 8000, FREE_TEXT, final, end)


def drain(q: RecognitionQueue) -> list[tuple[str, bool]]:
    order = []
    while (j := q.next()) is not None:
        order.append((j.call, j.final))
        q.done(j)
    return order


def test_finals_go_before_partials_queued_earlier_by_other_calls():
    q = RecognitionQueue()
    for call in ("a", "b", "c"):
        q.submit(job(call, final=False))
    q.submit(job("d", final=True))
    assert drain(q) == [("d", True), ("a", False), ("b", False), ("c", False)]


def test_a_call_has_one_partial_waiting_and_the_newest_wins():
    q = RecognitionQueue()
    first = job("a", final=False, end=1.0)
    assert q.submit(first) == []
    assert q.submit(job("a", final=False, end=1.5)) == [first]
    assert len(q) == 1
    got = q.next()
    assert got is not None and got.audio_end == 1.5


def test_at_most_one_partial_in_flight_per_call():
    q = RecognitionQueue()
    q.submit(job("a", final=False))
    running = q.next()
    assert running is not None
    q.submit(job("a", final=False))
    q.submit(job("b", final=False))
    nxt = q.next()
    assert nxt is not None and nxt.call == "b"  # a's second partial waits for its first
    assert q.next() is None
    q.done(running)
    again = q.next()
    assert again is not None and again.call == "a"


def test_a_final_drops_its_calls_waiting_partial_and_forget_drops_everything():
    q = RecognitionQueue()
    partial = job("a", final=False)
    q.submit(partial)
    assert q.submit(job("a", final=True)) == [partial]
    q.submit(job("b", final=False))
    q.submit(job("b", final=True))
    assert [j.call for j in q.forget("b")] == ["b"]
    assert drain(q) == [("a", True)]


class Recording:
    """A recogniser that remembers what it was asked, in order, and which stream asked."""

    def __init__(self, gate: threading.Event | None = None) -> None:
        self.calls: list[tuple[str, bool]] = []
        self.gate = gate

    def _run(self, final: bool, stream: str) -> Recognition:
        if self.gate is not None:
            self.gate.wait(5)
        self.calls.append((stream, final))
        return Recognition(f"{stream}-{'final' if final else 'partial'}", 0.9, final, "free")

    def final(self, audio, expect, stream=""):
        return self._run(True, stream)

    def partial(self, audio, expect, stream=""):
        return self._run(False, stream)


def test_the_scheduler_runs_a_short_final_before_other_callers_partials():
    gate = threading.Event()
    rec = Recording(gate)
    sched = RecognitionScheduler(rec)
    results: list[tuple[str, str, float | None]] = []
    done = threading.Event()

    def on_result(j: RecognitionJob, r: Recognition) -> None:
        results.append((j.call, r.text, j.audio_end))
        if len(results) == 5:
            done.set()

    sched.submit(job("a", final=False, end=0.5), on_result)  # runs first, held by the gate
    time.sleep(0.05)
    for call in ("b", "c", "d"):
        sched.submit(job(call, final=False, end=1.0), on_result)
    sched.submit(job("e", final=True), on_result)
    gate.set()
    assert done.wait(5)
    sched.close()
    assert [c for c, _, _ in results] == ["a", "e", "b", "c", "d"]
    assert results[0] == ("a", "a-partial", 0.5)  # the audio end comes back with the result
    assert rec.calls[1] == ("e", True)  # each decode names its call


def test_a_failing_decode_comes_back_as_an_empty_result():
    class Broken(Recording):
        def final(self, audio, expect, stream=""):
            raise RuntimeError("boom")

    sched = RecognitionScheduler(Broken())
    got: list[Recognition] = []
    ready = threading.Event()
    sched.submit(job("a", final=True), lambda j, r: (got.append(r), ready.set()))
    assert ready.wait(5)
    sched.close()
    assert got[0].text == "" and got[0].rejected == "error" and got[0].final
