"""A running console for real-SIP tests and benchmarks: `voicebot serve` with its HTTP console
on a free loopback port, the simulated callees (`voicebot.testing.callees`) as the campaign
trunk, and API tokens made with `voicebot token create` (the token is its last line).

    with console_site(tmp, [flow, rules], extra_env) as site:
        with site.client("operator") as c: ...

`extra_env` overrides the settings the site gives itself (e.g. `VOICEBOT_CALL_RECORDS` and
`VOICEBOT_CAMPAIGN__DATABASE` for a database filled beforehand). `serve` is stopped with SIGTERM
at the end and must exit 0.
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
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def stop_group(proc: subprocess.Popen[str], sig: int = signal.SIGTERM) -> None:
    """Stop the process (and its group, started with start_new_session) we started."""
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
        [sys.executable, "-m", "voicebot", "token", "create", "--role", role,
         "--name", f"t-{role}"],
        cwd=tmp, env=env, capture_output=True, text=True, timeout=60, check=True,
    ).stdout  # fmt: skip
    return out.strip().splitlines()[-1]


@contextmanager
def console_site(
    tmp: Path, flow_files: list[Path], extra_env: dict[str, str] | None = None
) -> Iterator[Running]:
    """`serve` answering with the first of `flow_files` (all copied into tmp/flows)."""
    (tmp / "flows").mkdir(exist_ok=True)
    for f in flow_files:
        shutil.copy(f, tmp / "flows" / f.name)
    flow = tmp / "flows" / flow_files[0].name
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
        env.update(extra_env or {})
        tokens = {role: token(env, tmp, role) for role in ("viewer", "operator", "admin")}
        http = free_port()
        serve = subprocess.Popen(
            [sys.executable, "-m", "voicebot", "serve", "--flow", str(flow),
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
        stop_group(serve)
        assert serve.returncode == 0, site.output()
    finally:
        if serve is not None:
            stop_group(serve, signal.SIGKILL)
        stop_group(callees)


def contacts_csv(rows: list[tuple[str, str]], extra: str = "") -> bytes:
    """A contacts CSV: `phone,name` and the `extra` columns' header ("appointment,clinic"), each
    row's extra cells in its name after a comma ("Pat,2026-12-03,Main St")."""
    head = "phone,name" + (f",{extra}" if extra else "")
    return (head + "\n" + "".join(f"{phone},{name}\n" for phone, name in rows)).encode()


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
