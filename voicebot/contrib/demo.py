"""`make demo`: a real phone call to the default flow on loopback, printed as it happens.

Starts a tiny accounts API and `voicebot serve` (the support-line flow, its clock fixed to a
weekday morning so the line is open), calls it with `voicebot call` speaking and keying as a
caller would, prints what each side said with the bot's turn latency, shows the call record,
and stops the server with SIGTERM (it drains).
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = [
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


class _Accounts(BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # noqa: N802
        found = self.path == "/accounts/12345678"
        body = json.dumps({"balance": 42.17, "owner": {"first_name": "Ann"}} if found else {})
        self.send_response(200 if found else 404)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(body.encode())

    def log_message(self, *args: object) -> None:
        pass


def main() -> int:
    api = ThreadingHTTPServer(("127.0.0.1", 0), _Accounts)
    threading.Thread(target=api.serve_forever, daemon=True).start()
    work = Path(tempfile.mkdtemp(prefix="voicebot-demo-"))
    env = {
        **os.environ,
        "VOICEBOT_DATA_DIR": str(work),
        "VOICEBOT_CALL_RECORDS": str(work / "calls.db"),
    }
    vb = [sys.executable, "-m", "voicebot"]
    print("starting voicebot serve (support_line.yaml) ...", flush=True)
    server = subprocess.Popen(
        [
            *vb,
            "serve",
            "--port",
            "0",
            "--clock",
            "2026-11-24T10:00:00-05:00",
            "--env",
            f"ACCOUNTS_API=http://127.0.0.1:{api.server_address[1]}",
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
            m = re.search(r"answering at (sip:\S+)", line)
            if m:
                uri = m.group(1)
                break
        if uri is None:
            print("voicebot serve did not start", file=sys.stderr)
            return 1
        print(f"calling {uri} with a scripted caller\n", flush=True)
        code = subprocess.call([*vb, "call", uri, *SCRIPT], env=env, cwd=ROOT)
        print("\nthe call record:", flush=True)
        subprocess.call([*vb, "calls", "list"], env=env, cwd=ROOT)
        return code
    finally:
        server.send_signal(signal.SIGTERM)
        try:
            server.wait(30)
        except subprocess.TimeoutExpired:
            server.kill()
        api.shutdown()
        print("voicebot serve stopped")


if __name__ == "__main__":
    raise SystemExit(main())
