"""A running console for the real-SIP tests: `voicebot serve` with its HTTP console on a free
port, the simulated callees (`voicebot.testing.callees`) as the campaign trunk, and tokens
made with `voicebot token create` (the token is its last line). A module's fixture:

    from console_site import running  # noqa: F401 (the fixture)
"""

from __future__ import annotations

import json
import os
import random
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

ROOT = Path(__file__).resolve().parents[2]
FLOW = Path(__file__).parent / "data" / "leave_message.yaml"
RULES = FLOW.with_suffix(".qa.yaml")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _stop(proc: subprocess.Popen[str], sig: int = signal.SIGTERM) -> None:
    if proc.poll() is None:
        try:
            os.killpg(proc.pid, sig)
            proc.wait(40)
        except (ProcessLookupError, subprocess.TimeoutExpired):
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(5)


@dataclass
class Running:
    tmp: Path
    env: dict[str, str]
    url: str
    tokens: dict[str, str]
    log: list[str] = field(default_factory=list)

    def client(self, role: str = "operator") -> httpx.Client:
        headers = {"Authorization": f"Bearer {self.tokens[role]}"}
        return httpx.Client(base_url=self.url, headers=headers, timeout=30)

    def output(self) -> str:
        return "".join(self.log[-200:])


def token(env: dict[str, str], tmp: Path, role: str) -> str:
    out = subprocess.run(
        [sys.executable, "-m", "voicebot", "token", "create", "--role", role, "--name", f"t-{role}"],
        cwd=tmp, env=env, capture_output=True, text=True, timeout=60, check=True,
    ).stdout  # fmt: skip
    return out.strip().splitlines()[-1]


@pytest.fixture(scope="module")
def running(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Running]:
    tmp = tmp_path_factory.mktemp("console")
    (tmp / "flows").mkdir()
    shutil.copy(FLOW, tmp / "flows" / FLOW.name)
    shutil.copy(RULES, tmp / "flows" / RULES.name)  # every call is scored when it ends
    env = {k: v for k, v in os.environ.items() if not k.startswith("VOICEBOT_")}
    env["PYTHONPATH"] = str(ROOT)
    log = tmp / "callees.jsonl"
    callees = subprocess.Popen(
        [sys.executable, "-m", "voicebot.testing.callees", "--port", "0", "--log", str(log),
         "--max-ring", "6", "--quiet-timeout", "12", "--max-call", "60"],
        cwd=tmp, env=env, stdout=subprocess.DEVNULL, text=True,
        stderr=(tmp / "callees.err").open("w"), start_new_session=True,
    )  # fmt: skip
    serve: subprocess.Popen[str] | None = None
    try:
        deadline = time.monotonic() + 30
        while not (log.exists() and log.read_text().strip()):
            assert callees.poll() is None, (tmp / "callees.err").read_text()
            assert time.monotonic() < deadline, "callees did not start within 30 s"
            time.sleep(0.1)
        port = json.loads(log.read_text().splitlines()[0])["port"]
        env.update(
            VOICEBOT_FLOWS_DIR=str(tmp / "flows"),
            VOICEBOT_DATA_DIR=str(tmp / "var"),
            VOICEBOT_CALL_RECORDS=str(tmp / "calls.db"),
            VOICEBOT_CAMPAIGN__DATABASE=str(tmp / "campaigns.db"),
            VOICEBOT_CAMPAIGN__TRUNK=f"sip:{{number}}@127.0.0.1:{port}",
            VOICEBOT_CAMPAIGN__RING_SECONDS="3",
            VOICEBOT_CAMPAIGN__WINDOW="00:00-23:59",
            VOICEBOT_SIP__RTP_PORT=str(random.randrange(20000, 40000, 2)),
        )
        tokens = {role: token(env, tmp, role) for role in ("viewer", "operator", "admin")}
        http = free_port()
        serve = subprocess.Popen(
            [sys.executable, "-m", "voicebot", "serve", "--flow", str(tmp / "flows" / FLOW.name),
             "--port", "0", "--http-port", str(http)],
            cwd=tmp, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
            start_new_session=True,
        )  # fmt: skip
        site = Running(tmp, env, f"http://127.0.0.1:{http}", tokens)
        assert serve.stdout is not None
        ready = {"console": False, "worker": False}
        for line in serve.stdout:
            site.log.append(line)
            if re.search(r"console at http://127\.0\.0\.1:\d+/", line):
                ready["console"] = True
            if "answering at sip:" in line:
                ready["worker"] = True
            if all(ready.values()):
                break
        assert all(ready.values()), site.output()
        threading.Thread(target=lambda: site.log.extend(serve.stdout or []), daemon=True).start()
        yield site
        _stop(serve)
        assert serve.returncode == 0, site.output()
    finally:
        if serve is not None:
            _stop(serve, signal.SIGKILL)
        _stop(callees)


def contacts_csv(rows: list[tuple[str, str]]) -> bytes:
    return ("phone,name\n" + "".join(f"{phone},{name}\n" for phone, name in rows)).encode()


def wait_finished(client: httpx.Client, name: str, timeout: float, site: Running) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        progress = client.get(f"/api/v1/campaigns/{name}").json()
        if progress["state"] == "finished":
            return progress
        time.sleep(0.5)
    raise AssertionError(
        f"campaign {name} not finished in {timeout} s: {progress}\n{site.output()}"
    )
