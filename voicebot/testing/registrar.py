"""A minimal UDP registrar on loopback (RFC 3261 REGISTER + RFC 2617 digest), for tests.

It challenges every REGISTER without credentials (401), checks the digest against its one
user and password, and answers 200 (or 403); `log` keeps (Expires asked, status answered),
`authorizations` every digest response it was sent.
"""

from __future__ import annotations

import hashlib
import re
import socket
import threading


def md5(text: str) -> str:
    return hashlib.md5(text.encode()).hexdigest()


class Registrar(threading.Thread):
    def __init__(
        self, user: str, password: str, port: int = 0, realm: str = "voicebot.test"
    ) -> None:
        super().__init__(daemon=True)
        self.user, self.password, self.realm, self.nonce = user, password, realm, "4f2a9c0d"
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", port))
        self.port: int = self.sock.getsockname()[1]
        self.sock.settimeout(0.2)
        self.log: list[tuple[str, int]] = []  # (expires asked, status answered)
        self.authorizations: list[str] = []  # every Authorization header received
        self.stopped = threading.Event()

    def run(self) -> None:
        while not self.stopped.is_set():
            try:
                data, addr = self.sock.recvfrom(65535)
            except TimeoutError:
                continue
            self.sock.sendto(self.answer(data.decode()).encode(), addr)

    def stop(self) -> None:
        self.stopped.set()
        self.join(2)
        self.sock.close()

    def answer(self, request: str) -> str:
        head = request.split("\r\n\r\n", 1)[0].split("\r\n")
        method, ruri = head[0].split()[:2]
        headers = [line.split(":", 1) for line in head[1:] if ":" in line]

        def get(name: str) -> str:
            return next((v.strip() for k, v in headers if k.lower() == name), "")

        found = re.search(r"expires=(\d+)", get("contact"))
        expires = get("expires") or (found.group(1) if found else "")
        auth = get("authorization")
        if auth:
            self.authorizations.append(auth)
        if not auth:
            status = 401
            extra = [f'WWW-Authenticate: Digest realm="{self.realm}", nonce="{self.nonce}"']
        else:
            fields = dict(re.findall(r'(\w+)="?([^",]+)"?', auth))
            ha1 = md5(f"{self.user}:{self.realm}:{self.password}")
            ha2 = md5(f"{method}:{fields['uri']}")
            good = fields["username"] == self.user and fields["response"] == md5(
                f"{ha1}:{self.nonce}:{ha2}"
            )
            status, extra = (200, [f"Contact: {get('contact')}"]) if good else (403, [])
        self.log.append((expires, status))
        reason = {200: "OK", 401: "Unauthorized", 403: "Forbidden"}[status]
        copied = [f"{k}:{v}" for k, v in headers if k.lower() in ("via", "from", "call-id", "cseq")]
        lines = [f"SIP/2.0 {status} {reason}", *copied, f"To: {get('to')};tag=reg1"]
        lines += [*extra, f"Expires: {expires}", "Content-Length: 0"]
        assert method == "REGISTER" and ruri.startswith("sip:")
        return "\r\n".join(lines) + "\r\n\r\n"
