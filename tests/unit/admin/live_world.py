"""A PBX on a clock the test moves, real SIP phones on 127.0.0.1, and its admin API on aiohttp's
test server: what the live API tests act on.

`LiveWorld` builds the PBX with its composition root (pbx.app.Pbx: the call manager, the ACD
service, recordings, the state store, all wired as in production) listening for SIP on a free
UDP port, and mounts the admin app on the same objects. `Phone` is enough of a SIP phone over
UDP to register, call, answer and hang up (digest auth with the sipkit helpers); it answers the
PBX's BYE and CANCEL as a phone does and keeps every message the PBX sent it. `BusEvents`
waits for bus events without sleeping.
"""

from __future__ import annotations

import asyncio
import itertools
from pathlib import Path
from typing import Any

from aiohttp.test_utils import TestClient, TestServer

from pbx.admin import AdminContext, AuditLog, Tokens, make_admin_app
from pbx.app import Pbx
from pbx.config import parse_config
from pbx.sip.message import Request, Response, parse_message
from sdk.events import Event
from tests.unit.sipkit import authorization, challenge_params, register, wire

START = 1_800_000_000.0
WAIT = 3.0  # seconds a test waits for a message or an event before failing

CONFIG = """
realm: pbx.test
data_dir: {tmp}/data
sip: {{listen: [{{transport: udp, host: 127.0.0.1, port: 0}}]}}
admin: {{listen: null}}
media: {{rtp_ports: {{low: 41000, high: 41999}}, prompts: {tmp}/prompts, inactivity_timeout: 0}}  # phones send no RTP
recording: {{directory: {tmp}/recordings}}
ivr: {{scenarios: {tmp}/scenarios, prompts: {tmp}/prompts, tts_cache: {tmp}/tts}}
extensions:
  "1001": {{password: secret1001, name: Alice}}
  "1002": {{password: secret1002, name: Bob}}
  "1004": {{password: secret1004, name: Carol Customer}}
  "1005": {{password: secret1005, name: Dave}}
agents:
  alice: {{extension: "1001", login: dynamic}}
  bob: {{extension: "1002", login: dynamic}}
queues:
  support: {{strategy: linear, ring_timeout: 600, members: [{{agent: alice}}, {{agent: bob}}]}}
  sales: {{strategy: linear, ring_timeout: 600, members: [{{agent: bob}}]}}
routes:
  - {{match: "700", queue: support}}
  - {{match: "710", queue: sales}}
  - {{match: "800", scenario: line}}
"""

# Route 800: a scenario that answers, waits, then rings 1005.
LINE = """scenario "Line"
end
block start
  answer
  pause 5s
  dial "1005"
end
"""


class Clock:
    """The PBX's clock: still until the test moves it."""

    def __init__(self) -> None:
        self.now = START

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


class BusEvents:
    def __init__(self, bus: Any) -> None:
        self.events: list[Event] = []
        self._arrived = asyncio.Event()
        bus.subscribe(Event, self._on_event)

    def _on_event(self, event: Event) -> None:
        self.events.append(event)
        self._arrived.set()

    def of(self, kind: type, **fields: Any) -> list[Any]:
        return [event for event in self.events
                if isinstance(event, kind) and all(getattr(event, name) == value for name, value in fields.items())]

    async def wait(self, kind: type, **fields: Any) -> Any:
        """The first event of `kind` with these fields, once published."""
        async with asyncio.timeout(WAIT):
            while not (found := self.of(kind, **fields)):
                self._arrived.clear()
                await self._arrived.wait()
        return found[0]


class Dialog:
    """What a phone knows of one of its calls."""

    def __init__(self, call_id: str, local: str, remote: str, target: str) -> None:
        self.call_id = call_id
        self.local = local  # our From (or To) header, with our tag
        self.remote = remote  # theirs, with their tag
        self.target = target  # where in-dialog requests go (their Contact)
        self.cseq = 10


class Phone(asyncio.DatagramProtocol):
    def __init__(self, number: str, server: tuple[str, int]) -> None:
        self.number = number
        self.server = server
        self.received: list[Request | Response] = []
        self._taken: set[int] = set()
        self._arrived = asyncio.Event()
        self._branches = (f"z9hG4bK-{number}-{n}" for n in itertools.count(1))
        self._calls = itertools.count(1)
        self.transport: Any = None
        self.port = 0

    @classmethod
    async def open(cls, number: str, server: tuple[str, int]) -> Phone:
        _, phone = await asyncio.get_running_loop().create_datagram_endpoint(
            lambda: cls(number, server), local_addr=("127.0.0.1", 0))
        return phone

    def connection_made(self, transport: Any) -> None:
        self.transport = transport
        self.port = transport.get_extra_info("sockname")[1]

    def close(self) -> None:
        self.transport.close()

    # Receiving ------------------------------------------------------------------------------------

    def datagram_received(self, data: bytes, address: Any) -> None:
        message = parse_message(data)
        self.received.append(message)
        if isinstance(message, Request) and message.method in ("BYE", "NOTIFY"):
            self.reply(message, 200, "OK")
        elif isinstance(message, Request) and message.method == "CANCEL":
            self.reply(message, 200, "OK")
            invite = next(m for m in self.received if isinstance(m, Request) and m.method == "INVITE"
                          and m.call_id == message.call_id)
            self.reply(invite, 487, "Request Terminated")
        self._arrived.set()

    async def expect(self, what: str | int, call_id: str | None = None) -> Any:
        """The next message not taken yet: a request by method, or a response by status."""
        def matches(message: Request | Response) -> bool:
            return _kind(message) == what and (call_id is None or message.call_id == call_id)

        async with asyncio.timeout(WAIT):
            while True:
                for index, message in enumerate(self.received):
                    if index not in self._taken and matches(message):
                        self._taken.add(index)
                        return message
                self._arrived.clear()
                await self._arrived.wait()

    def got(self, what: str | int, call_id: str | None = None) -> list[Any]:
        return [message for message in self.received if _kind(message) == what
                and (call_id is None or message.call_id == call_id)]

    # Sending --------------------------------------------------------------------------------------

    def send(self, text: str, body: str = "") -> None:
        self.transport.sendto(wire(text, body), self.server)

    def via(self) -> str:
        return f"Via: SIP/2.0/UDP 127.0.0.1:{self.port};branch={next(self._branches)};rport"

    def sdp(self) -> str:
        return (f"v=0\r\no={self.number} 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
                f"m=audio 9 RTP/AVP 0 101\r\na=rtpmap:101 telephone-event/8000\r\na=sendrecv\r\n")

    def reply(self, request: Request, status: int, reason: str, body: str = "") -> None:
        to = request.headers.get("To") or ""
        if status > 100 and ";tag=" not in to:
            to += f";tag=phone{self.number}"
        lines = [f"SIP/2.0 {status} {reason}", *(f"Via: {via}" for via in request.headers.lines("Via")),
                 f"From: {request.headers.get('From')}", f"To: {to}", f"Call-ID: {request.call_id}",
                 f"CSeq: {request.headers.get('CSeq')}", f"Contact: <sip:{self.number}@127.0.0.1:{self.port}>"]
        if body:
            lines.append("Content-Type: application/sdp")
        self.send("\n".join(lines), body)

    async def register(self) -> None:
        contact = f"<sip:{self.number}@127.0.0.1:{self.port}>"
        call_id = f"reg-{self.number}"
        self.send(register(self.number, contact=contact, call_id=call_id, branch=next(self._branches)))
        challenge = await self.expect(401)
        extra = authorization(challenge_params(challenge), self.number, f"secret{self.number}")
        self.send(register(self.number, cseq=2, contact=contact, call_id=call_id, extra=extra,
                           branch=next(self._branches)))
        await self.expect(200)

    async def invite(self, number: str, call_id: str) -> tuple[str, str]:
        """INVITE `number`, answer the PBX's 407 with credentials; returns (Call-ID, our From)."""
        local = f"<sip:{self.number}@pbx.test>;tag=from{self.number}"

        def invite(cseq: int, extra: str = "") -> str:
            return "\n".join(line for line in [
                f"INVITE sip:{number}@pbx.test SIP/2.0", self.via(), "Max-Forwards: 70", f"From: {local}",
                f"To: <sip:{number}@pbx.test>", f"Call-ID: {call_id}", f"CSeq: {cseq} INVITE",
                f"Contact: <sip:{self.number}@127.0.0.1:{self.port}>", "Content-Type: application/sdp", extra] if line)

        self.send(invite(1), self.sdp())
        challenge = await self.expect(407, call_id)
        credentials = authorization(challenge_params(challenge, "Proxy-Authenticate"), self.number,
                                    f"secret{self.number}", method="INVITE", uri=f"sip:{number}@pbx.test")
        self.send(invite(2, credentials.replace("Authorization", "Proxy-Authorization", 1)), self.sdp())
        return call_id, local

    async def dial(self, number: str) -> Dialog:
        """An answered call to `number` (the PBX's 407 answered with credentials), ACKed."""
        call_id, local = await self.invite(number, f"call-{self.number}-{next(self._calls)}")
        answer = await self.expect(200, call_id)
        dialog = Dialog(call_id, local, answer.headers.get("To"), _contact(answer))
        self.send("\n".join([f"ACK {dialog.target} SIP/2.0", self.via(), "Max-Forwards: 70", f"From: {local}",
                             f"To: {dialog.remote}", f"Call-ID: {call_id}", "CSeq: 2 ACK"]))
        return dialog

    async def answer(self) -> Dialog:
        """Answer the next INVITE the PBX sends (180, then 200 with our SDP) and wait for its ACK."""
        invite = await self.expect("INVITE")
        self.reply(invite, 180, "Ringing")
        self.reply(invite, 200, "OK", self.sdp())
        await self.expect("ACK", invite.call_id)
        return Dialog(invite.call_id, f"{invite.headers.get('To')};tag=phone{self.number}",
                      invite.headers.get("From"), _contact(invite))


def _kind(message: Request | Response) -> str | int:
    return message.method if isinstance(message, Request) else message.status


def _contact(message: Request | Response) -> str:
    return (message.headers.get("Contact") or "").strip().lstrip("<").split(">")[0]


class LiveWorld:
    """The PBX, its admin API client, the bus events, phones and tokens of one test."""

    def __init__(self, pbx: Pbx, context: AdminContext, clock: Clock, client: TestClient, tokens: Tokens,
                 audit: AuditLog) -> None:
        self.pbx = pbx
        self.context = context
        self.clock = clock
        self.client = client
        self.tokens = tokens
        self.audit = audit
        self.events = BusEvents(pbx.bus)
        self.phones: list[Phone] = []

    @property
    def sip_address(self) -> tuple[str, int]:
        return next((host, port) for kind, host, port in self.pbx.transport.bound if kind == "udp")

    def token(self, role: str, agent: str | None = None) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens.issue(f'{role}-{agent or 1}', role, agent)}"}

    async def phone(self, number: str, *, registered: bool = True) -> Phone:
        phone = await Phone.open(number, self.sip_address)
        self.phones.append(phone)
        if registered:
            await phone.register()
        return phone

    async def call(self, method: str, path: str, headers: dict[str, str], body: Any = None) -> tuple[int, Any]:
        """One admin API request: (status, decoded JSON body)."""
        response = await self.client.request(method, path, headers=headers, json=body)
        return response.status, await response.json()


async def live_world(tmp_path: Path, config: str = CONFIG):
    """An async generator for a fixture: the world, then everything stopped."""
    clock = Clock()
    (tmp_path / "scenarios").mkdir(exist_ok=True)
    (tmp_path / "scenarios" / "line.ivr").write_text(LINE)
    pbx = Pbx(parse_config(config.format(tmp=tmp_path)), clock=clock, entry_points=False)
    await pbx.start()
    tokens, audit = Tokens(), AuditLog()
    context = AdminContext(clock=pbx.clock, status=pbx.status, registrar=pbx.registrar, calls=pbx.calls,
                           recordings=pbx.recordings, queues=pbx.queues, reload_scenarios=pbx.reload_scenarios,
                           app=pbx)
    try:
        async with TestClient(TestServer(make_admin_app(context, tokens=tokens, audit=audit))) as client:
            world = LiveWorld(pbx, context, clock, client, tokens, audit)
            yield world
            for phone in world.phones:
                phone.close()
    finally:
        await pbx.stop()
