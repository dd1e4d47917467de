"""An asyncio SIP caller that holds many calls at once, each with its SDP pointing where we say.

Enough of RFC 3261 for the PBX's own extensions over UDP: INVITE with an SDP offer, a 401 or
407 digest challenge answered once (ACK to the challenge, a new INVITE with credentials),
the 2xx ACKed (again for every retransmitted 2xx, 13.2.2.4), BYE; requests from the PBX
are answered 200. INVITE and BYE are resent on Timer A/E (T1 = 500 ms doubling) until a
response arrives. It sends no RTP: the PBX sends to the SDP address until something latches.

Built on ``tests/e2e/sipmsg.py`` (message building, response parsing, digest), so it shares
no code with the PBX it tests. It is not a SIP stack: no forking, no re-INVITEs, no TCP.
"""

from __future__ import annotations

import asyncio
import re
import secrets
import time
from dataclasses import dataclass, field

from ..sipmsg import (
    SipResponse,
    build_request,
    digest_authorization,
    new_branch,
    new_call_id,
    new_tag,
    pick_challenge,
)

T1 = 0.5


@dataclass
class CallResult:
    """One call: how it went, and when (CLOCK_REALTIME ns, comparable with kernel RTP stamps)."""

    number: str
    rtp_port: int
    call_id: str = field(default_factory=new_call_id)
    from_tag: str = field(default_factory=new_tag)
    to_tag: str | None = None
    remote_target: str | None = None
    status: int | None = None  # final status of the (last) INVITE
    answered_ns: int | None = None
    ended_ns: int | None = None
    bye_status: int | None = None
    challenges: int = 0
    error: str | None = None
    cseq: int = 0
    responses: asyncio.Queue = field(default_factory=asyncio.Queue)
    ack: bytes | None = None

    @property
    def answered(self) -> bool:
        return self.answered_ns is not None


class _Protocol(asyncio.DatagramProtocol):
    def __init__(self, uac: Uac) -> None:
        self.uac = uac

    def datagram_received(self, data: bytes, address) -> None:
        self.uac._received(data, address)


_HEADER = re.compile(rb"^([A-Za-z-]+)\s*:\s*(.*)$", re.MULTILINE)
_CONTACT_URI = re.compile(r"<([^>]+)>|^\s*([^;\s]+)")


class Uac:
    """``uac = await Uac.open(server, "1001", "secret1001")``; ``await uac.call("601", port, rtcp)``."""

    def __init__(self, server: tuple[str, int], user: str, password: str) -> None:
        self.server = server
        self.user = user
        self.password = password
        self.domain = server[0]
        self.calls: dict[str, CallResult] = {}
        self.transport: asyncio.DatagramTransport | None = None
        self.local: tuple[str, int] = ("127.0.0.1", 0)
        self.requests_answered = 0

    @classmethod
    async def open(cls, server: tuple[str, int], user: str, password: str) -> Uac:
        uac = cls(server, user, password)
        loop = asyncio.get_running_loop()
        uac.transport, _ = await loop.create_datagram_endpoint(lambda: _Protocol(uac), local_addr=("127.0.0.1", 0))
        uac.local = uac.transport.get_extra_info("sockname")[:2]
        return uac

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()

    # ---------------------------------------------------------------------------------------
    # calls

    async def call(self, number: str, rtp_port: int, rtcp_port: int | None = None, *,
                   timeout: float = 15.0) -> CallResult:
        """Place a call and return once it is answered or has failed (``error`` says why)."""
        call = CallResult(number, rtp_port)
        self.calls[call.call_id] = call
        try:
            await asyncio.wait_for(self._invite(call, rtcp_port), timeout)
        except TimeoutError:
            call.error = f"no final answer within {timeout:.0f}s (last status {call.status})"
        return call

    async def hangup(self, call: CallResult, *, timeout: float = 8.0) -> None:
        if not call.answered or call.ended_ns is not None:
            return
        call.cseq += 1
        request = build_request(f"BYE {call.remote_target} SIP/2.0", self._headers(call, "BYE", new_branch()))
        response = await self._transact(call, request, "BYE", timeout)
        call.bye_status = response.status if response else None
        call.ended_ns = time.time_ns()

    async def _invite(self, call: CallResult, rtcp_port: int | None) -> None:
        request_uri = f"sip:{call.number}@{self.server[0]}:{self.server[1]}"
        body = self._offer(call.rtp_port, rtcp_port)
        authorization: tuple[str, str] | None = None
        for _attempt in range(2):
            call.cseq += 1
            branch = new_branch()
            headers = self._headers(call, "INVITE", branch) + [
                ("Contact", f"<sip:{self.user}@{self.local[0]}:{self.local[1]}>"),
                ("Content-Type", "application/sdp"),
            ]
            if authorization:
                headers.append(authorization)
            response = await self._transact(call, build_request(f"INVITE {request_uri} SIP/2.0", headers, body),
                                            "INVITE", timeout=32 * T1)
            if response is None:
                call.error = "no response to INVITE"
                return
            call.status = response.status
            if response.status in (401, 407):
                # RFC 3261 17.1.1.3: the ACK to a non-2xx uses the INVITE's branch and CSeq number
                self._send(self._ack(call, request_uri, branch, response))
                if authorization is not None:
                    call.error = f"credentials refused ({response.status})"
                    return
                call.challenges += 1
                challenge = pick_challenge(response)
                credentials = digest_authorization(challenge, username=self.user, password=self.password,
                                                   method="INVITE", uri=request_uri)
                name = "Authorization" if response.status == 401 else "Proxy-Authorization"
                authorization = (name, credentials)
                continue
            if 200 <= response.status < 300:
                call.answered_ns = time.time_ns()
                call.to_tag = _tag(response.header("to") or "")
                call.remote_target = _contact_uri(response.header("contact")) or request_uri
                call.ack = self._ack(call, call.remote_target, new_branch(), response)
                self._send(call.ack)
                return
            self._send(self._ack(call, request_uri, branch, response))
            call.error = f"INVITE answered {response.status} {response.reason}"
            return

    async def _transact(self, call: CallResult, request: bytes, method: str, timeout: float) -> SipResponse | None:
        """Send and resend (Timer A/E) until a response to this CSeq; then wait for the final one."""
        cseq = call.cseq
        deadline = time.monotonic() + timeout
        interval, provisional = T1, False
        self._send(request)
        next_resend = time.monotonic() + interval
        while (now := time.monotonic()) < deadline:
            # RFC 3261 17.1.1.2: a provisional response stops the retransmissions
            wake = deadline if provisional else min(deadline, next_resend)
            try:
                response: SipResponse = await asyncio.wait_for(call.responses.get(), max(wake - now, 0.001))
            except TimeoutError:
                if not provisional and time.monotonic() >= next_resend:
                    self._send(request)
                    interval = min(2 * interval, 4.0)  # T2
                    next_resend = time.monotonic() + interval
                continue
            number, _, answered_method = (response.header("cseq") or "").partition(" ")
            if answered_method.strip() != method or not number.isdigit() or int(number) != cseq:
                continue  # a late retransmission of an earlier response
            if response.status < 200:
                provisional = True
                continue
            return response
        return None

    # ---------------------------------------------------------------------------------------
    # messages

    def _headers(self, call: CallResult, method: str, branch: str) -> list[tuple[str, str]]:
        to = f"<sip:{call.number}@{self.domain}>" + (f";tag={call.to_tag}" if call.to_tag else "")
        return [
            ("Via", f"SIP/2.0/UDP {self.local[0]}:{self.local[1]};branch={branch};rport"),
            ("Max-Forwards", "70"),
            ("From", f"<sip:{self.user}@{self.domain}>;tag={call.from_tag}"),
            ("To", to),
            ("Call-ID", call.call_id),
            ("CSeq", f"{call.cseq} {method}"),
        ]

    def _ack(self, call: CallResult, uri: str, branch: str, response: SipResponse) -> bytes:
        headers = self._headers(call, "ACK", branch)
        headers[3] = ("To", response.header("to") or headers[3][1])
        return build_request(f"ACK {uri} SIP/2.0", headers)

    def _offer(self, rtp_port: int, rtcp_port: int | None) -> bytes:
        session = secrets.randbelow(2**31)
        lines = [
            "v=0", f"o=- {session} 1 IN IP4 {self.local[0]}", "s=-", f"c=IN IP4 {self.local[0]}", "t=0 0",
            f"m=audio {rtp_port} RTP/AVP 0 101", "a=rtpmap:0 PCMU/8000", "a=rtpmap:101 telephone-event/8000",
            "a=fmtp:101 0-16", "a=ptime:20", "a=sendrecv",
        ]  # fmt: skip
        if rtcp_port is not None:
            lines.insert(-1, f"a=rtcp:{rtcp_port}")  # RFC 3605
        return ("\r\n".join(lines) + "\r\n").encode()

    def _send(self, data: bytes) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.sendto(data, self.server)

    def _received(self, data: bytes, address) -> None:
        if data.startswith(b"SIP/2.0 "):
            try:
                response = SipResponse.parse(data)
            except ValueError:
                return
            call = self.calls.get(response.header("call-id") or "")
            if call is None:
                return
            if call.ack is not None and 200 <= response.status < 300 and "INVITE" in (response.header("cseq") or ""):
                self._send(call.ack)  # RFC 3261 13.2.2.4: ACK every retransmitted 2xx
                return
            call.responses.put_nowait(response)
        elif data.strip():
            self._answer_request(data, address)

    def _answer_request(self, data: bytes, address) -> None:
        """200 OK to whatever the PBX asks (BYE, OPTIONS, ...); nothing to an ACK."""
        head = data.split(b"\r\n\r\n", 1)[0]
        if head.startswith(b"ACK "):
            return
        copied = [(name.decode(), value.decode().strip()) for name, value in _HEADER.findall(head)
                  if name.lower() in (b"via", b"v", b"from", b"f", b"to", b"t", b"call-id", b"i", b"cseq")]
        self.requests_answered += 1
        if head.startswith(b"BYE "):
            call_id = next((value for name, value in copied if name.lower() in ("call-id", "i")), "")
            call = self.calls.get(call_id)
            if call is not None and call.ended_ns is None:
                call.ended_ns = time.time_ns()
        lines = ["SIP/2.0 200 OK", *(f"{name}: {value}" for name, value in copied), "Content-Length: 0"]
        self.transport.sendto(("\r\n".join(lines) + "\r\n\r\n").encode(), address)


def _tag(value: str) -> str | None:
    match = re.search(r";\s*tag=([^;>\s]+)", value)
    return match[1] if match else None


def _contact_uri(value: str | None) -> str | None:
    if not value:
        return None
    match = _CONTACT_URI.search(value)
    return (match[1] or match[2]) if match else None
