"""The supervisor with real worker processes: restarts, back-off, drain and kill."""

from __future__ import annotations

import time

import pytest

from voicebot.server.supervisor import Supervisor, specs
from voicebot.testing import workers as bodies


@pytest.fixture
def logdir(tmp_path, monkeypatch):
    monkeypatch.setenv(bodies.LOG_DIR_ENV, str(tmp_path))
    return tmp_path


def lines(logdir, name):
    path = logdir / f"{name}.log"
    return path.read_text().split("\n")[:-1] if path.exists() else []


def wait_for(predicate, timeout=20.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return False


def test_workers_start_on_their_ports_and_drain_on_request(logdir):
    sup = Supervisor(specs(2, 5071), bodies.drains_on_term, drain_deadline=10)
    sup.step()
    assert wait_for(lambda: lines(logdir, "w1") and lines(logdir, "w2"))
    assert lines(logdir, "w2")[0].endswith(" 5072")
    started = time.monotonic()
    sup.drain()
    assert time.monotonic() - started < 5
    for name in ("w1", "w2"):
        assert [line.split()[0] for line in lines(logdir, name)] == ["start", "drained"]
    assert sup.alive() == []


def test_a_dead_worker_is_reported_and_restarted_with_backoff(logdir):
    exits = []
    sup = Supervisor(
        specs(2, 5071),
        bodies.crashes,
        on_exit=lambda s, c: exits.append((s.name, c)),
        drain_deadline=10,
    )
    t = time.monotonic()
    sup.step(t)
    assert wait_for(lambda: len(lines(logdir, "w1")) >= 1)
    assert wait_for(lambda: not sup.slots[0].process.is_alive())
    sup.step(t + 0.5)  # reaped: quick death -> back-off 1 s
    assert exits == [("w1", 3)] and sup.slots[0].process is None
    sup.step(t + 1.0)
    assert sup.slots[0].process is None  # still backing off
    sup.step(t + 1.6)
    assert sup.slots[0].process is not None  # restarted
    assert wait_for(lambda: len(lines(logdir, "w1")) >= 2)
    assert wait_for(lambda: not sup.slots[0].process.is_alive())
    sup.step(t + 2.0)
    assert sup.slots[0].not_before == pytest.approx(t + 4.0)  # second quick death: 2 s
    assert sup.slots[1].process.is_alive() and sup.slots[1].restarts == 0
    sup.drain()


def test_a_worker_that_ignores_sigterm_is_killed_at_the_deadline(logdir):
    exits = []
    sup = Supervisor(
        specs(1, 5071),
        bodies.ignores_term,
        drain_deadline=1.0,
        on_exit=lambda s, c: exits.append(c),
    )
    sup.step()
    assert wait_for(lambda: lines(logdir, "w1"))
    started = time.monotonic()
    sup.drain()
    assert 0.9 < time.monotonic() - started < 6
    assert exits == [-9] and sup.alive() == []
