"""A tiny hand-rolled SIP client for the end-to-end tests: raw bytes out, parsed responses in.

It exists so the tests can send exactly the bytes they mean (malformed requests included) and
do a digest REGISTER without any peer installed.  It is deliberately independent of ``pbx/``:
an end-to-end test must not share the parser it is testing.  It is not a SIP stack: no
transactions, no retransmissions, no dialogs.
"""

from __future__ import annotations

import hashlib
import re
import secrets
import socket
import time
from dataclasses import dataclass, field
from typing import Self

# RFC 3261 7.3.3: compact header forms
COMPACT_FORMS = {
    "i": "call-id", "m": "contact", "e": "content-encoding", "l": "content-length",
    "c": "content-type", "f": "from", "s": "subject", "k": "supported", "t": "to", "v": "via",
}  # fmt: skip


@dataclass(frozen=True)
class SipResponse:
    """A parsed SIP response: status line, headers in order (names lower-cased), body."""

    version: str
    status: int
    reason: str
    headers: list[tuple[str, str]]
    body: bytes
    raw: bytes

    @classmethod
    def parse(cls, data: bytes) -> SipResponse:
        head, _, body = data.partition(b"\r\n\r\n")
        lines = head.decode("utf-8", errors="replace").split("\r\n")
        match = re.fullmatch(r"(SIP/\d+\.\d+) (\d{3}) ?(.*)", lines[0])
        if match is None:
            raise ValueError(f"not a SIP response: {lines[0]!r}")
        headers: list[tuple[str, str]] = []
        for line in lines[1:]:
            if line[:1] in (" ", "\t") and headers:
                # RFC 3261 7.3.1: header field folding
                name, value = headers[-1]
                headers[-1] = (name, value + " " + line.strip())
                continue
            name, _, value = line.partition(":")
            name = name.strip().lower()
            headers.append((COMPACT_FORMS.get(name, name), value.strip()))
        return cls(match[1], int(match[2]), match[3], headers, body, data)

    def header(self, name: str) -> str | None:
        values = self.header_values(name)
        return values[0] if values else None

    def header_values(self, name: str) -> list[str]:
        name = name.lower()
        return [value for key, value in self.headers if key == name]

    def status_line(self) -> str:
        return f"{self.version} {self.status} {self.reason}"

    def __str__(self) -> str:
        return self.raw.decode("utf-8", errors="replace")


# --------------------------------------------------------------------------------------------
# building requests


def new_branch() -> str:
    return "z9hG4bK" + secrets.token_hex(8)


def new_tag() -> str:
    return secrets.token_hex(6)


def new_call_id() -> str:
    return secrets.token_hex(12) + "@e2e.test"


def build_request(
    start_line: str, headers: list[tuple[str, str]], body: bytes = b"", content_length: bool = True
) -> bytes:
    """Serialize a request; appends ``Content-Length`` unless ``content_length`` is False."""
    lines = [start_line] + [f"{name}: {value}" for name, value in headers]
    if content_length:
        lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


@dataclass
class Dialogish:
    """The identifiers one REGISTER/OPTIONS exchange keeps across its requests (RFC 3261 10.2)."""

    local_host: str
    local_port: int
    user: str
    domain: str
    call_id: str = field(default_factory=new_call_id)
    from_tag: str = field(default_factory=new_tag)
    cseq: int = 0

    def headers(self, method: str, *, transport: str = "UDP", to_user: str | None = None) -> list[tuple[str, str]]:
        self.cseq += 1
        return [
            ("Via", f"SIP/2.0/{transport} {self.local_host}:{self.local_port};branch={new_branch()};rport"),
            ("Max-Forwards", "70"),
            ("From", f"<sip:{self.user}@{self.domain}>;tag={self.from_tag}"),
            ("To", f"<sip:{to_user or self.user}@{self.domain}>"),
            ("Call-ID", self.call_id),
            ("CSeq", f"{self.cseq} {method}"),
        ]


# --------------------------------------------------------------------------------------------
# digest (RFC 2617, RFC 7616, RFC 8760)

_DIGEST_PARAM = re.compile(r'\s*([A-Za-z0-9_-]+)\s*=\s*("(?:[^"\\]|\\.)*"|[^\s,]+)\s*,?')
_HASHES = {"MD5": hashlib.md5, "SHA-256": hashlib.sha256}


@dataclass(frozen=True)
class DigestChallenge:
    scheme: str
    params: dict[str, str]

    @classmethod
    def parse(cls, value: str) -> DigestChallenge:
        scheme, _, rest = value.strip().partition(" ")
        params = {}
        for match in _DIGEST_PARAM.finditer(rest):
            raw = match[2]
            params[match[1].lower()] = raw[1:-1].replace('\\"', '"') if raw.startswith('"') else raw
        return cls(scheme, params)

    @property
    def algorithm(self) -> str:
        return self.params.get("algorithm", "MD5").upper()

    @property
    def qop_options(self) -> list[str]:
        return [option.strip() for option in self.params.get("qop", "").split(",") if option.strip()]


def challenges(response: SipResponse) -> list[DigestChallenge]:
    header = "www-authenticate" if response.status == 401 else "proxy-authenticate"
    return [DigestChallenge.parse(value) for value in response.header_values(header)]


def pick_challenge(response: SipResponse, algorithm: str = "MD5") -> DigestChallenge:
    offered = challenges(response)
    for challenge in offered:
        if challenge.scheme.lower() == "digest" and challenge.algorithm == algorithm:
            return challenge
    raise AssertionError(f"no Digest {algorithm} challenge in {[c.params for c in offered]}\n{response}")


def digest_authorization(
    challenge: DigestChallenge,
    *,
    username: str,
    password: str,
    method: str,
    uri: str,
    use_qop: bool = True,
    nc: int = 1,
    cnonce: str | None = None,
) -> str:
    """An ``Authorization`` value answering ``challenge``; ``use_qop=False`` answers RFC 2069 style."""
    hash_function = _HASHES[challenge.algorithm]

    def h(text: str) -> str:
        return hash_function(text.encode()).hexdigest()

    realm, nonce = challenge.params["realm"], challenge.params["nonce"]
    ha1 = h(f"{username}:{realm}:{password}")
    ha2 = h(f"{method}:{uri}")
    fields = [
        f'username="{username}"', f'realm="{realm}"', f'nonce="{nonce}"', f'uri="{uri}"',
        f"algorithm={challenge.algorithm}",
    ]  # fmt: skip
    if use_qop and "auth" in challenge.qop_options:
        cnonce = cnonce or secrets.token_hex(8)
        nc_text = f"{nc:08x}"
        response = h(f"{ha1}:{nonce}:{nc_text}:{cnonce}:auth:{ha2}")
        fields += ["qop=auth", f"nc={nc_text}", f'cnonce="{cnonce}"']
    else:
        response = h(f"{ha1}:{nonce}:{ha2}")
    fields.append(f'response="{response}"')
    if "opaque" in challenge.params:
        fields.append(f'opaque="{challenge.params["opaque"]}"')
    return "Digest " + ", ".join(fields)


# --------------------------------------------------------------------------------------------
# clients


class _Client:
    """What the UDP and TCP clients share: a digest REGISTER built on their ``request``."""

    transport = "UDP"
    server: tuple[str, int]
    local_host: str
    local_port: int

    def request(self, data: bytes) -> SipResponse | None:
        raise NotImplementedError

    def register(
        self,
        user: str,
        password: str,
        *,
        domain: str = "127.0.0.1",
        expires: int | None = 3600,
        contact: str | None = None,
        extra_headers: list[tuple[str, str]] = (),
        algorithm: str = "MD5",
        use_qop: bool = True,
    ) -> tuple[SipResponse | None, SipResponse | None]:
        """REGISTER, answer a 401 with digest credentials; returns (first response, final response)."""
        exchange = Dialogish(self.local_host, self.local_port, user, domain)
        request_uri = f"sip:{self.server[0]}:{self.server[1]}"
        uri_params = ";transport=tcp" if self.transport == "TCP" else ""
        contact = contact or f"<sip:{user}@{self.local_host}:{self.local_port}{uri_params}>"

        def build(authorization: str | None) -> bytes:
            headers = exchange.headers("REGISTER", transport=self.transport) + [("Contact", contact)]
            if expires is not None:
                headers.append(("Expires", str(expires)))
            if authorization:
                headers.append(("Authorization", authorization))
            return build_request(f"REGISTER {request_uri} SIP/2.0", headers + list(extra_headers))

        first = self.request(build(None))
        if first is None or first.status != 401:
            return first, first
        credentials = digest_authorization(
            pick_challenge(first, algorithm),
            username=user, password=password, method="REGISTER", uri=request_uri, use_qop=use_qop,
        )  # fmt: skip
        return first, self.request(build(credentials))


class UdpSipClient(_Client):
    """One UDP socket on 127.0.0.1 talking to the PBX."""

    def __init__(self, server: tuple[str, int]) -> None:
        self.server = server
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.local_host, self.local_port = self.sock.getsockname()

    def close(self) -> None:
        self.sock.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    def send(self, data: bytes) -> None:
        self.sock.sendto(data, self.server)

    def receive(self, timeout: float) -> SipResponse | None:
        """The next response within ``timeout`` seconds, skipping provisional ones; None if silent."""
        deadline = time.monotonic() + timeout
        while (remaining := deadline - time.monotonic()) > 0:
            self.sock.settimeout(remaining)
            try:
                data, _ = self.sock.recvfrom(65535)
            except TimeoutError:
                return None
            response = SipResponse.parse(data)
            if response.status >= 200:
                return response
        return None

    def receive_raw(self, timeout: float) -> list[bytes]:
        """Every datagram that arrives within ``timeout`` seconds."""
        datagrams = []
        deadline = time.monotonic() + timeout
        while (remaining := deadline - time.monotonic()) > 0:
            self.sock.settimeout(remaining)
            try:
                data, _ = self.sock.recvfrom(65535)
            except TimeoutError:
                break
            datagrams.append(data)
        return datagrams

    def request(self, data: bytes, timeout: float = 2.0, retransmit: float = 0.5) -> SipResponse | None:
        """Send ``data`` and wait for a final response, resending every ``retransmit`` s (Timer E-ish)."""
        deadline = time.monotonic() + timeout
        while (remaining := deadline - time.monotonic()) > 0:
            self.send(data)
            response = self.receive(min(retransmit, remaining))
            if response is not None:
                return response
        return None


class TcpSipClient(_Client):
    """One TCP connection to the PBX; responses are framed by Content-Length (RFC 3261 18.3)."""

    transport = "TCP"

    def __init__(self, server: tuple[str, int], timeout: float = 5.0) -> None:
        self.server = server
        self.sock = socket.create_connection(server, timeout=timeout)
        self.local_host, self.local_port = self.sock.getsockname()
        self._buffer = b""
        self.closed = False

    def close(self) -> None:
        self.sock.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def receive(self, timeout: float) -> SipResponse | None:
        """The next final response within ``timeout``; None on silence or when the PBX closed."""
        deadline = time.monotonic() + timeout
        while True:
            response = self._take_message()
            if response is not None and response.status >= 200:
                return response
            if response is not None:
                continue
            remaining = deadline - time.monotonic()
            if remaining <= 0 or self.closed:
                return None
            self.sock.settimeout(remaining)
            try:
                chunk = self.sock.recv(65535)
            except TimeoutError:
                return None
            except ConnectionResetError:
                chunk = b""
            if not chunk:
                self.closed = True
            self._buffer += chunk

    def wait_closed(self, timeout: float) -> bool:
        """True when the PBX closes the connection within ``timeout`` (data that arrives is kept)."""
        deadline = time.monotonic() + timeout
        while not self.closed and (remaining := deadline - time.monotonic()) > 0:
            self.sock.settimeout(remaining)
            try:
                chunk = self.sock.recv(65535)
            except TimeoutError:
                break
            except ConnectionResetError:
                chunk = b""
            if not chunk:
                self.closed = True
            self._buffer += chunk
        return self.closed

    def request(self, data: bytes, timeout: float = 2.0) -> SipResponse | None:
        self.send(data)
        return self.receive(timeout)

    def _take_message(self) -> SipResponse | None:
        while self._buffer.startswith(b"\r\n"):
            self._buffer = self._buffer[2:]  # RFC 5626 3.5.1 keep-alive CRLFs
        head_end = self._buffer.find(b"\r\n\r\n")
        if head_end < 0:
            return None
        head = self._buffer[:head_end].decode("utf-8", errors="replace")
        match = re.search(r"(?im)^(?:content-length|l)\s*:\s*(\d+)\s*$", head)
        length = int(match[1]) if match else 0
        end = head_end + 4 + length
        if len(self._buffer) < end:
            return None
        data, self._buffer = self._buffer[:end], self._buffer[end:]
        return SipResponse.parse(data)
