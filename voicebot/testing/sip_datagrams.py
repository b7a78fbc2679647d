"""Raw SIP over UDP from a chosen source address: attack and torture traffic for the tests.

API::

    invite(target_host, port, source_host, source_port, *, sdp=True, extra="", call_id="")
        -> str                                  # an INVITE as text
    cancel(invite_text) -> str                  # the CANCEL of that INVITE
    send(message, port, source=("127.0.0.1", 0), *, host="127.0.0.1", wait=1.0)
        -> list[str]                            # the status lines of every answer within `wait`
    Burst(source)                               # INVITEs that are never ACKed, kept open
        .invite(port, sdp=True) / .answers() / .close()
    torture(host, port) -> dict[str, str]       # RFC 4475 style messages, by the RFC's names

Loopback has the whole 127.0.0.0/8, so a test can come from an address inside a worker's
`allow_from` (127.0.0.2, say) and from one outside it (127.0.0.1) on the same machine.
"""

from __future__ import annotations

import os
import socket
import time

SDP = (
    "v=0\r\no=- 1 1 IN IP4 {host}\r\ns=-\r\nc=IN IP4 {host}\r\nt=0 0\r\n"
    "m=audio {rtp} RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n"
)


def invite(
    target_host: str,
    port: int,
    source_host: str,
    source_port: int,
    *,
    sdp: bool = True,
    extra: str = "",
    call_id: str = "",
) -> str:
    """An INVITE from source to target; `extra` is inserted as header lines (each ending CRLF)."""
    cid = call_id or os.urandom(8).hex()
    body = SDP.format(host=source_host, rtp=40000 + int(cid[:3], 16) * 2) if sdp else ""
    return (
        f"INVITE sip:bot@{target_host}:{port} SIP/2.0\r\n"
        f"Via: SIP/2.0/UDP {source_host}:{source_port};branch=z9hG4bK{cid};rport\r\n"
        f"From: <sip:attacker@{source_host}>;tag={cid[:8]}\r\n"
        f"To: <sip:bot@{target_host}:{port}>\r\n"
        f"Call-ID: {cid}@{source_host}\r\nCSeq: 1 INVITE\r\n"
        f"Contact: <sip:attacker@{source_host}:{source_port}>\r\nMax-Forwards: 70\r\n"
        f"{extra}"
        + ("Content-Type: application/sdp\r\n" if sdp else "")
        + f"Content-Length: {len(body)}\r\n\r\n{body}"
    )


def cancel(invite_text: str) -> str:
    """The CANCEL of an INVITE made by `invite` (same branch, Call-ID, From tag and CSeq)."""
    request, *headers = invite_text.split("\r\n\r\n", 1)[0].split("\r\n")
    kept = [
        h.replace("CSeq: 1 INVITE", "CSeq: 1 CANCEL")
        for h in headers
        if not h.startswith(("Content-", "Contact:"))
    ]
    return "\r\n".join([request.replace("INVITE", "CANCEL", 1), *kept, "Content-Length: 0", "", ""])


def _status_lines(sock: socket.socket, wait: float) -> list[str]:
    out: list[str] = []
    deadline = time.monotonic() + wait
    while (left := deadline - time.monotonic()) > 0:
        sock.settimeout(left)
        try:
            data = sock.recv(65535)
        except OSError:
            break
        out.append(data.split(b"\r\n", 1)[0].decode("latin-1"))
    return out


def send(
    message: str | bytes,
    port: int,
    source: tuple[str, int] = ("127.0.0.1", 0),
    *,
    host: str = "127.0.0.1",
    wait: float = 1.0,
) -> list[str]:
    """Send one datagram and return the status lines of what came back within `wait` s."""
    data = message.encode("latin-1") if isinstance(message, str) else message
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 1 << 17)
        sock.bind(source)
        sock.sendto(data, (host, port))
        return _status_lines(sock, wait)


class Burst:
    """INVITEs from one socket that are answered but never ACKed (the slot-holding attack)."""

    def __init__(self, source: str, host: str = "127.0.0.1") -> None:
        self.host = host
        self.source = source
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind((source, 0))
        self.port = self.sock.getsockname()[1]

    def invite(self, port: int, sdp: bool = True) -> None:
        msg = invite(self.host, port, self.source, self.port, sdp=sdp)
        self.sock.sendto(msg.encode(), (self.host, port))

    def answers(self, wait: float) -> list[str]:
        return _status_lines(self.sock, wait)

    def close(self) -> None:
        self.sock.close()


def torture(host: str, port: int) -> dict[str, str]:
    """Messages in the manner of RFC 4475 (SIP torture tests), named as there.

    Valid but tortuous (3.1.1) and invalid (3.1.2, 3.3) requests, addressed to host:port; each
    must be answered sensibly or dropped, never crash the receiver."""
    to = f"sip:bot@{host}:{port}"
    via = "SIP/2.0/UDP 192.0.2.2;branch=z9hG4bK"
    sdp = SDP.format(host="192.0.2.2", rtp=49170)
    clen = len(sdp)
    m: dict[str, str] = {}
    m["wsinv"] = (
        f"INVITE {to};unknownparam SIP/2.0\r\nTO :\r\n {to} ;   tag    = 1918181833n\r\n"
        'from   : "J Rosenberg \\\\\\"" <sip:jdrosen@example.com>\r\n  ;\r\n  tag = 98asjd8\r\n'
        "MaX-fOrWaRdS: 0068\r\nCall-ID: wsinv.ndaksdj@192.0.2.1\r\nContent-Length   : "
        f"{clen}\r\ncseq: 0009\r\n  INVITE\r\nVia  : SIP  /   2.0\r\n /UDP\r\n    192.0.2.2;"
        "branch=390skdjuw\r\ns :\r\nNewFangledHeader:   newfangled value\r\n continued "
        "newfangled value\r\nUnknownHeaderWithUnusualValue: ;;,,;;,;\r\n"
        "Content-Type: application/sdp\r\nRoute:\r\n <sip:services.example.com;lr;unknownwith="
        "value;unknown-no-value>\r\nv:  SIP  / 2.0  / TCP     spindle.example.com   ;\r\n"
        "  branch  =   z9hG4bK9ikj8  ,\r\n SIP  /    2.0   / UDP  192.168.255.111   ; branch=\r\n"
        ' z9hG4bK30239\r\nm:"Quoted string \\"\\"" <sip:jdrosen@example.com> ; newparam =\r\n'
        "      newvalue ;\r\n  secondparam ; q = 0.33\r\n\r\n" + sdp
    )
    m["intmeth"] = (
        f"!interesting-Method0123456789_*+`.%indeed'~ {to};lr SIP/2.0\r\n"
        f"Via: {via}intmeth\r\nTo: <{to}>\r\nFrom: <sip:caller@example.com>;tag=3234233\r\n"
        "Call-ID: intmeth.word%ZK-!.*_+'@word`~)(><:\\/\"][?}{\r\n"
        "CSeq: 139122385 !interesting-Method0123456789_*+`.%indeed'~\r\nMax-Forwards: 255\r\n"
        "extensionHeader-!.%*+_`'~:\xef\xbb\xbf\xe5\xa4\xa7\xe5\x81\x9c\xe9\x9b\xbb\r\n"
        "Content-Length: 0\r\n\r\n"
    )
    m["escnull"] = (
        f"REGISTER sip:{host}:{port} SIP/2.0\r\nTo: sip:null-%00-null@example.com\r\n"
        "From: sip:null-%00-null@example.com;tag=839923423\r\nMax-Forwards: 70\r\n"
        "Call-ID: escnull.39203ndfvkjdasfkq3w4otrq0adsfdfnavd\r\nCSeq: 14398234 REGISTER\r\n"
        f"Via: {via}kdjuw\r\nContact: <sip:%00@host5.example.com>\r\n"
        "Contact: <sip:%00%00@host5.example.com>\r\nL:0\r\n\r\n"
    )
    m["longreq"] = (
        f'INVITE {to} SIP/2.0\r\nTo: "I have a user name of {"extreme" * 40} proportion"'
        f"<{to}:6000;unknownparam1=very{'long' * 60}value;longparamname{'x' * 200}=shortvalue>\r\n"
        f"x-Extremely{'Long' * 80}HeaderName: {'extremely long value ' * 30}\r\n"
        f"From: sip:amazinglylongcallername{'x' * 300}@example.net;tag=12{'9' * 200}\r\n"
        f"Call-ID: longreq.one{'really' * 80}longcallid\r\nCSeq: 3882340 INVITE\r\n"
        + "".join(f"Via: SIP/2.0/TCP sip{i}.example.com;branch=z9hG4bK{i}x\r\n" for i in range(40))
        + f"Max-Forwards: 70\r\nContact: <sip:amazinglylongcallername{'y' * 300}@host5.example.net>\r\n"
        f"Content-Type: application/sdp\r\nl: {clen}\r\n\r\n" + sdp
    )
    m["dblreq"] = (
        f"REGISTER sip:{host} SIP/2.0\r\nTo: sip:j.user@example.com\r\n"
        "From: sip:j.user@example.com;tag=43251j3j324\r\nMax-Forwards: 8\r\nI: dblreq.0ha0isndaksdj99sdfafnl3lk233412\r\n"
        f"Contact: sip:j.user@host.example.com\r\nCSeq: 8 REGISTER\r\nVia: {via}dblreq\r\n"
        f"Content-Length: 0\r\n\r\nINVITE {to} SIP/2.0\r\nTo: {to}\r\n"
        "From: sip:caller@example.net;tag=8814\r\nMax-Forwards: 70\r\n"
        f"Call-ID: dblreq.0ha0isnda977644900765@192.0.2.15\r\nCSeq: 8 INVITE\r\nVia: {via}380Gr\r\n"
        f"Content-Type: application/sdp\r\nContent-Length: {clen}\r\n\r\n" + sdp
    )
    m["badinv01"] = (
        f"INVITE {to} SIP/2.0\r\nTo: {to}\r\nFrom: sip:caller@example.net;tag=134161461246\r\n"
        f"Max-Forwards: 7\r\nCall-ID: badinv01.0ha0isndaksdjasdf3234nas\r\nCSeq: 8 INVITE\r\n"
        f"Via: {via}kdjuw23492\r\nContent-Type: application/sdp\r\nl: 152\r\n\r\n"
        "v=0\r\no=mhandley 29739 7272939 IN IP4 192.0.2.15\r\ns=-\r\nc=IN ADDR 192.0.2.15\r\n"
        "t=0 0\r\nm=audio 49217 RTP/AVP 0 12\r\nm =video 3227 RTP/AVP 31\r\n"
    )
    m["clerr"] = (
        f"INVITE {to} SIP/2.0\r\nMax-Forwards: 80\r\nTo: {to}\r\n"
        "From: sip:caller@example.net;tag=93942939o2\r\nContact: <sip:caller@hungry.example.net>\r\n"
        f"Call-ID: clerr.0ha0isndaksdjweiafasdk3\r\nCSeq: 8 INVITE\r\nVia: {via}-39234-23523\r\n"
        "Content-Type: application/sdp\r\nContent-Length: 9999\r\n\r\n" + sdp
    )
    m["ncl"] = m["clerr"].replace("Content-Length: 9999", "Content-Length: -999")
    m["scalar02"] = (
        f"REGISTER sip:{host} SIP/2.0\r\nVia: {via}saQ\r\nMax-Forwards: 300\r\n"
        "From: sip:user@example.com;tag=8y6t\r\nTo: sip:user@example.com\r\n"
        "Call-ID: scalar02.23o0pd9vanlq3wnrlnewofjas9ui32\r\nCSeq: 36893488147419103232 REGISTER\r\n"
        "Contact: <sip:user@host129.example.com>;expires=280297596632815\r\nl: 0\r\n\r\n"
    )
    m["quotbal"] = (
        f'INVITE {to} SIP/2.0\r\nTo: "Mr. J. User <{to}>\r\n'
        "From: sip:caller@example.net;tag=93334\r\nMax-Forwards: 10\r\n"
        f"Call-ID: quotbal.aksdj\r\nContact: <sip:caller@host59.example.net>\r\nCSeq: 0 INVITE\r\n"
        f"Via: {via}kdjuw\r\nContent-Type: application/sdp\r\nContent-Length: {clen}\r\n\r\n" + sdp
    )
    m["ltgtruri"] = m["quotbal"].replace(f"INVITE {to} SIP/2.0", f"INVITE <{to}> SIP/2.0", 1)
    m["lwsruri"] = m["quotbal"].replace(f"INVITE {to} SIP/2.0", f"INVITE {to}; lr SIP/2.0", 1)
    m["lwsstart"] = m["quotbal"].replace(f"INVITE {to} SIP/2.0", f"INVITE  {to}  SIP/2.0", 1)
    m["trws"] = m["quotbal"].replace(f"INVITE {to} SIP/2.0", f"INVITE {to} SIP/2.0 ", 1)
    m["badvers"] = m["quotbal"].replace(f"INVITE {to} SIP/2.0", f"INVITE {to} SIP/7.0", 1)
    m["mismatch01"] = m["quotbal"].replace("CSeq: 0 INVITE", "CSeq: 0 OPTIONS", 1)
    m["bigcode"] = (
        f"SIP/2.0 4294967301 better not break the receiver\r\nVia: {via}ba2\r\n"
        "Call-ID: bigcode.asdof3uj203asdnf3429uasdhfas3ehjasdfas9i\r\nCSeq: 353494 INVITE\r\n"
        f"From: <sip:user@example.com>;tag=39ansfi3\r\nTo: <{to}>;tag=902jndnke3\r\n"
        "Content-Length: 0\r\nContact: <sip:user@host10.example.com>\r\n\r\n"
    )
    m["unkscm"] = (
        f"OPTIONS nobodyKnowsThisScheme:totallyopaquecontent SIP/2.0\r\nTo: <{to}>\r\n"
        "From: sip:caller@example.net;tag=384\r\nMax-Forwards: 3\r\nCall-ID: unkscm.nasdfasser0q239nwsdfasdkl34\r\n"
        f"CSeq: 3923423 OPTIONS\r\nVia: {via}kdjuw\r\nContent-Length: 0\r\n\r\n"
    )
    m["escruri"] = (
        f"INVITE sip:user@{host}?Route=%3Csip:example.com%3E SIP/2.0\r\nTo: <{to}>\r\n"
        "From: sip:caller@example.net;tag=341518\r\nMax-Forwards: 7\r\n"
        "Contact: <sip:caller@host39923.example.net>\r\nCall-ID: escruri.23940-asdfhj-aje3br-234q098w-fawerh3q-h4n\r\n"
        f"CSeq: 8 INVITE\r\nVia: {via}kdjuw\r\nl: 0\r\n\r\n"
    )
    m["baddn"] = m["escruri"].replace(
        "From: sip:caller@example.net;tag=341518",
        "From: Bell, Alexander <sip:a.g.bell@example.com>;tag=43",
        1,
    )
    m["cparam01"] = (
        f"REGISTER sip:{host} SIP/2.0\r\nVia: {via}-c87542-1\r\nMax-Forwards: 70\r\n"
        "From: sip:user@example.com;tag=81x2\r\nTo: sip:user@example.com\r\n"
        "Call-ID: cparam01.70710@saturn.example.com\r\nCSeq: 1 REGISTER\r\n"
        "Contact: sip:+19725552222@gw1.example.net;unknownparam\r\nl: 0\r\n\r\n"
    )
    m["mpart01"] = (
        f"MESSAGE {to} SIP/2.0\r\nVia: {via}ya\r\nMax-Forwards: 70\r\nTo: <{to}>\r\n"
        "From: <sip:caller@example.com>;tag=32394234\r\nCall-ID: mpart01.0ha0isndaksdj\r\n"
        "CSeq: 1 MESSAGE\r\nContent-Type: multipart/mixed;boundary=7a9cbec02ceef655\r\n"
        "Content-Length: 9\r\n\r\n--7a9cbec\r\n"
    )
    m["zeroes"] = "\x00" * 1500
    m["binary"] = bytes(range(256)).decode("latin-1") * 8
    m["crlf_only"] = "\r\n\r\n\r\n\r\n"
    m["header_only"] = f"INVITE {to} SIP/2.0\r\n"
    return m
