"""`make demo`: a real phone call to the default flow on loopback, printed as it happens.

Starts a tiny accounts API and `voicebot serve` (the support-line flow, its clock fixed to a
weekday morning so the line is open), calls it with `voicebot call` speaking and keying as a
caller would, prints what each side said with the bot's turn latency, shows the call record,
and stops the server with SIGTERM (it drains). The server's operators' console (dashboard, API,
/metrics) listens on 127.0.0.1:8080, or a free port when 8080 is taken; its address and a
viewer token are printed first, and from a terminal the demo waits for Enter before it stops,
so the call can be looked at in a browser.

`make demo-zh` (`python -m voicebot.contrib.demo zh`) does the same in Mandarin: the
星河通信 support line (dialog_flows/zh_support_line.yaml) at a Beijing morning, a caller who
says 话费, keys the account number and says 不用了, transcribed with the Mandarin model.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
ENGLISH = [
    "--say",
    "my balance please",
    "--say",
    "one two three four five six seven eight",
    "--say",
    "yes",
    "--dtmf",
    "2",
    "--say",
    "how do I pay",
    "--say",
    "no thanks",
]
MANDARIN = ["--say", "话费", "--dtmf", "12345678#", "--say", "不用了"]
DEMOS = {  # name: (flow, clock, the caller's language, script)
    "en": ("support_line.yaml", "2026-11-24T10:00:00-05:00", "en", ENGLISH),
    "zh": ("zh_support_line.yaml", "2026-11-24T10:00:00+08:00", "zh-CN", MANDARIN),
}


CONSOLE_PORT = 8080  # settings http.port


def console_port() -> int:
    """8080 if it is free, else any free port (another console or service has 8080)."""
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", CONSOLE_PORT))
        except OSError:
            s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class _Accounts(BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # noqa: N802
        found = self.path == "/accounts/12345678"
        balance = 58.3 if self.server.mandarin else 42.17  # type: ignore[attr-defined]
        body = json.dumps({"balance": balance, "owner": {"first_name": "Ann"}} if found else {})
        self.send_response(200 if found else 404)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(body.encode())

    def log_message(self, *args: object) -> None:
        pass


def main(argv: list[str] | None = None) -> int:
    name = (argv if argv is not None else sys.argv[1:] or ["en"])[0]
    if name not in DEMOS:
        print(f"no demo {name!r}: choose one of {', '.join(DEMOS)}", file=sys.stderr)
        return 2
    flow, clock, language, script = DEMOS[name]
    api = ThreadingHTTPServer(("127.0.0.1", 0), _Accounts)
    api.mandarin = name == "zh"  # type: ignore[attr-defined]
    threading.Thread(target=api.serve_forever, daemon=True).start()
    work = Path(tempfile.mkdtemp(prefix="voicebot-demo-"))
    env = {
        **os.environ,
        "VOICEBOT_DATA_DIR": str(work),
        "VOICEBOT_CALL_RECORDS": str(work / "calls.db"),
        "VOICEBOT_CAMPAIGN__DATABASE": str(work / "campaigns.db"),  # the console's tokens too
    }
    vb = [sys.executable, "-m", "voicebot"]
    made = subprocess.run(
        [*vb, "token", "create", "--role", "viewer", "--name", "demo"],
        env=env, cwd=ROOT, capture_output=True, text=True, check=True,
    )  # fmt: skip
    token = made.stdout.strip().splitlines()[-1]
    print(f"starting voicebot serve ({flow}) ...", flush=True)
    server = subprocess.Popen(
        [
            *vb,
            "serve",
            "--flow",
            str(ROOT / "dialog_flows" / flow),
            "--port",
            "0",
            "--clock",
            clock,
            "--env",
            f"ACCOUNTS_API=http://127.0.0.1:{api.server_address[1]}",
            "--http-port",
            str(console_port()),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env=env,
        cwd=ROOT,
    )
    try:
        uri = None
        assert server.stdout is not None
        for line in server.stdout:
            console = re.search(r"console at (http://\S+)", line)
            if console:
                print(f"the console: {console.group(1)}  (sign in with {token})", flush=True)
            m = re.search(r"answering at (sip:\S+)", line)
            if m:
                uri = m.group(1)
                break
        if uri is None:
            print("voicebot serve did not start", file=sys.stderr)
            return 1
        print(f"calling {uri} with a scripted caller\n", flush=True)
        caller = [*vb, "call", uri, "--language", language, *script]
        code = subprocess.call(caller, env=env, cwd=ROOT)
        print("\nthe call record:", flush=True)
        subprocess.call([*vb, "calls", "list"], env=env, cwd=ROOT)
        if sys.stdin.isatty():
            input("\nthe console shows the call (Calls): press Enter to stop the server ")
        return code
    finally:
        server.send_signal(signal.SIGTERM)
        try:
            server.wait(30)
        except subprocess.TimeoutExpired:
            server.kill()
        api.shutdown()
        shutil.rmtree(work, ignore_errors=True)  # its call records and, for zh, a 145 MB model
        print("voicebot serve stopped")


if __name__ == "__main__":
    raise SystemExit(main())
