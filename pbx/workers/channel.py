"""The datagrams workers send each other on 127.0.0.1: SIP they own, the registrar's news, counts.

Each worker reads one UDP socket on the loopback (the supervisor binds them all and hands each
worker its own). Three kinds of datagram travel on it:

- `S<host> <port>\\n<SIP message>`: a message the kernel gave to this worker and the dispatcher
  (dispatch.py) gives to another. The owner handles it as if it had read it itself, from the
  phone's address; it answers from its own socket on the shared SIP port, so the phone sees
  the address it wrote to (a NAT's pinhole stays right).
- `B<msgpack [aor, [binding rows]]>`: an address of record's bindings after a REGISTER in the
  sending worker. Every worker rings every phone, whichever worker registered it. Worker 0
  publishes what changed on its bus, so the ACD (static agents log in with their phone) and
  the admin API see every registration.
- `T<msgpack Tally>`: a worker's counts (tally.py), from every worker k > 0 to worker 0 about
  once a second, so worker 0's GET /api/status counts the whole PBX. Bad bytes are logged and
  dropped, as is a tally naming another worker than the one that sent it.

Datagrams from anyone but the workers' own ports are dropped: the channel must not become a
way to forge a phone's address. A full receive buffer drops a forwarded message as the
network could; the SIP retransmission timers cover it (RFC 3261 17.1.1.2).
"""

from __future__ import annotations

import asyncio
import logging
import socket
from collections.abc import Callable

import msgspec

from sdk.events import Event, RegistrationAdded, RegistrationRefreshed, RegistrationRemoved

from ..sip.registrar import Registrar
from ..sip.transaction import Peer
from ..sip.transport import SipTransport
from ..store.state import binding_from_row, binding_row
from .dispatch import Dispatcher
from .place import WorkerPlace
from .tally import BadTally, Tallies, Tally, decode_tally, encode_tally

log = logging.getLogger("pbx.workers")

LOOPBACK = "127.0.0.1"
_SIP = b"S"
_BINDINGS = b"B"
_TALLY = b"T"
TALLY_INTERVAL = 1.0  # seconds between a worker's tallies to worker 0


class WorkerChannel:
    def __init__(self, place: WorkerPlace, dispatcher: Dispatcher, transport: SipTransport, registrar: Registrar,
                 publish: Callable[[Event], None], clock: Callable[[], float],
                 tally: Callable[[], Tally] | None = None) -> None:
        self.place = place
        self.dispatcher = dispatcher
        self.transport = transport
        self.registrar = registrar
        self.publish = publish
        self.clock = clock
        self.tally = tally  # this worker's counts now (app.py); sent to worker 0 when we are not it
        self.tallies = Tallies(place.count) if place.is_first else None  # worker 0's: the others' latest
        self._addresses = [(LOOPBACK, port) for port in place.channel_ports]
        self._workers = {address: index for index, address in enumerate(self._addresses)}
        self._sending_tallies: asyncio.Task | None = None
        self._socket: asyncio.DatagramTransport | None = None
        self._adopted: dict[str, list[tuple]] = {}  # what we took from others, not to send back
        self.forwarded = 0
        self.received = 0

    async def open(self) -> None:
        """Start reading our channel socket; the transport then hands on what others own."""
        sock = socket.socket(fileno=self.place.channel_fd)
        sock.setblocking(False)
        self._socket, _ = await asyncio.get_running_loop().create_datagram_endpoint(
            lambda: _ChannelProtocol(self), sock=sock)
        self.transport.route_elsewhere = self.route_elsewhere
        if not self.place.is_first and self.tally is not None:
            self._sending_tallies = asyncio.create_task(self._send_tallies())

    def close(self) -> None:
        self.transport.route_elsewhere = None
        if self._sending_tallies is not None:
            self._sending_tallies.cancel()
        if self._socket is not None:
            self._socket.close()

    # Outgoing -----------------------------------------------------------------------------------

    def route_elsewhere(self, data: bytes, address: tuple) -> bool:
        """True when another worker owns `data` and it has gone there."""
        owner = self.dispatcher.owner(data)
        if owner is None or owner == self.place.index or self._socket is None:
            return False
        self._socket.sendto(b"%s%s %d\n%s" % (_SIP, address[0].encode(), address[1], data), self._addresses[owner])
        self.forwarded += 1
        return True

    def on_registration(self, event: Event) -> None:
        """A REGISTER here changed `event.aor`: every other worker gets its bindings."""
        rows = [binding_row(binding) for binding in self.registrar.bindings_of(event.aor)]
        if self._adopted.get(event.aor) == rows or self._socket is None:
            return  # the echo of what another worker sent us
        payload = _BINDINGS + msgspec.msgpack.encode([event.aor, rows])
        for index, address in enumerate(self._addresses):
            if index != self.place.index:
                self._socket.sendto(payload, address)

    async def _send_tallies(self) -> None:
        """Our counts to worker 0 now, then every TALLY_INTERVAL seconds while we run."""
        while True:
            self.send_tally()
            await asyncio.sleep(TALLY_INTERVAL)

    def send_tally(self) -> None:
        if self._socket is None or self.tally is None:
            return
        try:
            self._socket.sendto(_TALLY + encode_tally(self.tally()), self._addresses[0])
        except Exception:  # counts that cannot be read now: logged, and the next send tries again
            log.exception("event=channel_tally_failed")

    # Incoming -----------------------------------------------------------------------------------

    def on_datagram(self, data: bytes, address: tuple) -> None:
        sender = self._workers.get(address[:2])
        if sender is None:
            log.warning("event=channel_stranger address=%s:%s", address[0], address[1])
            return
        kind = data[:1]
        if kind == _TALLY:  # not counted in `received`: that counts what was handed over
            self._take_tally(data[1:], sender)
            return
        self.received += 1
        if kind == _SIP:
            header, _, message = data.partition(b"\n")
            host, _, port = header[1:].decode().rpartition(" ")
            self.transport.received(message, Peer("udp", host, int(port)))
        elif kind == _BINDINGS:
            self._adopt(data[1:])
        else:
            log.error("event=channel_unknown_kind worker=%d kind=%r", sender, kind)

    def _adopt(self, payload: bytes) -> None:
        try:
            aor, rows = msgspec.msgpack.decode(payload)
            bindings = [binding_from_row(row) for row in rows]
        except Exception as error:  # a worker of another version: say so, keep going
            log.error("event=channel_bad_bindings reason=%r", str(error))
            return
        self._adopted[aor] = [binding_row(binding) for binding in bindings]
        events = self.registrar.adopt(aor, bindings, self.clock())
        if self.place.is_first:
            for event in events:
                self.publish(event)

    def _take_tally(self, payload: bytes, sender: int) -> None:
        if self.tallies is None:
            log.error("event=channel_tally_not_first worker=%d", sender)
            return
        try:
            tally = decode_tally(payload)
        except BadTally as error:  # a worker of another version: say so, keep going
            log.error("event=channel_bad_tally worker=%d reason=%r", sender, str(error))
            return
        if tally.worker != sender:
            log.error("event=channel_bad_tally worker=%d reason='names worker %d'", sender, tally.worker)
            return
        self.tallies.received(tally, self.clock())


SHARED_EVENTS = (RegistrationAdded, RegistrationRefreshed, RegistrationRemoved)


class _ChannelProtocol(asyncio.DatagramProtocol):
    def __init__(self, channel: WorkerChannel) -> None:
        self.channel = channel

    def datagram_received(self, data: bytes, addr: tuple) -> None:
        try:
            self.channel.on_datagram(data, addr)
        except Exception:
            log.exception("event=channel_receive_failed")

    def error_received(self, exc: Exception) -> None:
        log.debug("event=channel_error error=%r", exc)
