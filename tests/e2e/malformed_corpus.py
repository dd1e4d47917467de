"""A corpus of malformed SIP requests and undecodable datagrams, with the answer each one deserves.

Each ``Case`` starts from a well-formed REGISTER (or the method it names) and breaks exactly one
thing.  ``expected`` is the status the PBX must answer with; when ``auth_first`` is set the
defect is one a registrar may only notice after authenticating the request (a bad Contact, a
negative Expires), so the test may answer a 401 with valid credentials before judging.

``GARBAGE`` are datagrams that cannot be answered (no start line, no Via): the PBX must stay
silent and keep serving.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .sipmsg import new_branch, new_call_id, new_tag


@dataclass(frozen=True)
class Target:
    """Where the corpus is sent from and to: fills the addresses into each message."""

    local: str  # "127.0.0.1:PORT" of the sending socket
    server: str  # "127.0.0.1:PORT" of the PBX
    user: str = "1001"


@dataclass(frozen=True)
class Case:
    name: str
    expected: int
    method: str = "REGISTER"
    request_uri: str | None = None  # default sip:SERVER (REGISTER) / sip:1002@SERVER (others)
    version: str = "SIP/2.0"
    start_line: str | None = None  # replaces the whole request line
    drop: tuple[str, ...] = ()
    replace: dict[str, str] = field(default_factory=dict)
    extra_lines: tuple[str, ...] = ()  # raw lines appended after the headers, as written
    body: bytes = b""
    content_length: str | None = None  # raw Content-Length value; default len(body)
    auth_first: bool = False
    why: str = ""

    def build(self, target: Target, ids: dict[str, str], cseq: int = 1, authorization: str | None = None) -> bytes:
        """The request bytes; ``ids`` keeps Call-ID and tags stable across an auth round."""
        uri = self.request_uri or (f"sip:{target.server}" if self.method == "REGISTER" else f"sip:1002@{target.server}")
        uri = uri.format(server=target.server, local=target.local)
        start = (
            self.start_line.format(server=target.server) if self.start_line else f"{self.method} {uri} {self.version}"
        )
        headers = {
            "Via": f"SIP/2.0/UDP {target.local};branch={ids['branch']}{cseq};rport",
            "Max-Forwards": "70",
            "From": f"<sip:{target.user}@127.0.0.1>;tag={ids['tag']}",
            "To": f"<sip:{target.user if self.method == 'REGISTER' else '1002'}@127.0.0.1>",
            "Call-ID": ids["call_id"],
            "CSeq": f"{cseq} {self.method}",
            "Contact": f"<sip:{target.user}@{target.local}>",
            "User-Agent": f"e2e-malformed/{self.name}",
        }
        if self.method == "REGISTER":
            headers["Expires"] = "3600"
        for name in self.drop:
            headers.pop(name)
        for name, value in self.replace.items():
            headers[name] = value.format(server=target.server, local=target.local, cseq=cseq)
        lines = [start] + [f"{name}: {value}" for name, value in headers.items()]
        lines += list(self.extra_lines)
        if authorization:
            lines.append(f"Authorization: {authorization}")
        content_length = self.content_length if self.content_length is not None else str(len(self.body))
        lines.append(f"Content-Length: {content_length}")
        return ("\r\n".join(lines) + "\r\n\r\n").encode() + self.body

    @staticmethod
    def new_ids() -> dict[str, str]:
        return {"branch": new_branch(), "tag": new_tag(), "call_id": new_call_id()}


SDP = b"v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0\r\n"

CASES: list[Case] = [
    Case("missing-via", 400, drop=("Via",), why="RFC 3261 8.1.1: Via is mandatory; answer to the source address"),
    Case("missing-call-id", 400, drop=("Call-ID",)),
    Case("missing-cseq", 400, drop=("CSeq",)),
    Case("missing-from", 400, drop=("From",)),
    Case("missing-to", 400, drop=("To",)),
    Case("cseq-method-mismatch", 400, replace={"CSeq": "{cseq} INVITE"}, why="RFC 3261 8.1.1.5: method must match"),
    Case("cseq-not-a-number", 400, replace={"CSeq": "one REGISTER"}),
    Case("cseq-out-of-range", 400, replace={"CSeq": "4294967296 REGISTER"}, why="RFC 3261 8.1.1.5: CSeq < 2**31"),
    Case("content-length-beyond-body", 400, method="OPTIONS", body=SDP, content_length="400",
         replace={"Content-Type": "application/sdp"}, why="RFC 3261 18.3: UDP body shorter than Content-Length"),
    Case("content-length-not-a-number", 400, method="OPTIONS", body=SDP, content_length="many",
         replace={"Content-Type": "application/sdp"}),
    Case("content-length-negative", 400, content_length="-5"),
    Case("request-uri-bad-port", 400, request_uri="sip:127.0.0.1:notaport"),
    Case("request-uri-missing", 400, start_line="REGISTER  SIP/2.0"),
    Case("request-line-extra-token", 400, start_line="REGISTER sip:{server} SIP/2.0 trailing-junk"),
    Case("max-forwards-not-a-number", 400, replace={"Max-Forwards": "lots"}),
    Case("max-forwards-zero-invite", 483, method="INVITE", body=SDP, auth_first=True,
         replace={"Max-Forwards": "0", "Content-Type": "application/sdp"},
         why="RFC 3261 16.3 step 3: a request that would be forwarded gets 483"),
    Case("sip-version-3", 505, version="SIP/3.0",
         why="RFC 3261 8.2.1 and 21.5.6: 505 Version Not Supported"),
    Case("header-without-colon", 400, extra_lines=("This line has no colon",)),
    Case("duplicate-call-id", 400, extra_lines=("Call-ID: a-second-call-id@e2e.test",),
         why="Call-ID is single-valued (RFC 3261 20.8)"),
    Case("via-unparseable-sent-by", 400, replace={"Via": "SIP/2.0/UDP :::;branch=z9hG4bKbadsentby{cseq}"}),
    Case("via-missing-transport", 400, replace={"Via": "SIP/2.0 {local};branch=z9hG4bKnotransport{cseq}"}),
    Case("register-contact-bad-uri", 400, replace={"Contact": "<this is not a uri>"}, auth_first=True),
    Case("register-contact-unclosed", 400, replace={"Contact": "<sip:1001@{local}"}, auth_first=True),
    Case("register-negative-expires", 400, replace={"Expires": "-1"}, auth_first=True),
    Case("register-star-with-expires", 400, replace={"Contact": "*"}, auth_first=True,
         why="RFC 3261 10.3 step 6: Contact: * only with Expires: 0"),
]  # fmt: skip


def unanswerable_response(target: Target) -> bytes:
    """A 200 OK for a transaction the PBX never started: it must be dropped silently."""
    return (
        "SIP/2.0 200 OK\r\n"
        f"Via: SIP/2.0/UDP {target.server};branch=z9hG4bKnosuchtransaction\r\n"
        f"From: <sip:1001@127.0.0.1>;tag={new_tag()}\r\n"
        f"To: <sip:1002@127.0.0.1>;tag={new_tag()}\r\n"
        f"Call-ID: {new_call_id()}\r\n"
        "CSeq: 1 INVITE\r\n"
        "Content-Length: 0\r\n\r\n"
    ).encode()


GARBAGE: list[tuple[str, bytes]] = [
    ("nul-bytes", b"\x00" * 64),
    ("all-byte-values", bytes(range(256))),
    ("crlf-crlf", b"\r\n\r\n"),
    ("plain-text", b"hello, is this the PBX?"),
    ("lone-method", b"INVITE"),
    ("lone-version", b"SIP/2.0"),
    ("invalid-utf8", b"\xff\xfe\xfd" * 100),
    ("tls-client-hello", b"\x16\x03\x01\x00\xa5\x01\x00\x00\xa1\x03\x03" + bytes(32)),
    ("huge-datagram", b"A" * 60000),
    ("status-line-garbage", b"SIP/2.0 999999 Whatever\r\n\r\n"),
    ("headers-only-no-start-line", b"Via: SIP/2.0/UDP 127.0.0.1:9;branch=z9hG4bKx\r\nCall-ID: x\r\n\r\n"),
]
