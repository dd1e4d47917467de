"""The asyncio adapter around the sans-IO SIP endpoint: UDP, TCP and TLS sockets and one timer.

Datagrams and framed stream messages go to `SipEndpoint.receive`; the
actions it returns are carried out here (bytes written to the right socket,
events published on the bus, drops logged). One `call_at` handle tracks the
endpoint's earliest deadline, rounded up to a 20 ms tick, so a thousand
transactions cost one timer and timers due together cost one wakeup.

TCP connections are reused in both directions (RFC 3261 18.2.2: responses
go back on the connection the request came in on) and keyed by the peer's
address; a connection whose framing breaks is closed.

TLS (RFC 3261 26.2.1, RFC 5630) is the same stream connection with asyncio's
TLS layer under it and the transport name "tls" in its `Peer`, so Via says
SIP/2.0/TLS and a phone registered over TLS is reached on the connection it
registered on. A handshake that fails (a plain-TCP client on the TLS port, a
certificate we do not trust) closes that socket and nothing else.
"""

from __future__ import annotations

import asyncio
import logging
import math
import socket
import ssl
from collections.abc import Callable
from functools import partial

from pbx.bus import EventBus

from .endpoint import Action, Dropped, Publish, SipEndpoint
from .errors import RemoteProtocolError
from .framing import KeepAlive, StreamFramer
from .transaction import Peer, Transmit

log = logging.getLogger("pbx.sip")
# The endpoint's timers are served on a grid of this many seconds (see _schedule_timer).
TIMER_TICK = 0.02
# A peer that connects and never finishes its handshake holds a socket this long at most.
TLS_HANDSHAKE_TIMEOUT = 10.0
trace_log = logging.getLogger("pbx.sip.trace")


class SipTransport:
    def __init__(
        self, endpoint: SipEndpoint, bus: EventBus, clock: Callable[[], float], *, trace: bool = False
    ) -> None:
        self.endpoint = endpoint
        self.bus = bus
        self.clock = clock
        self.trace = trace
        self._udp: list[asyncio.DatagramTransport] = []
        self._udp_by_family: dict[int, asyncio.DatagramTransport] = {}
        self._servers: list[asyncio.base_events.Server] = []
        self._connections: dict[Peer, _StreamConnection] = {}
        self._timer: asyncio.TimerHandle | None = None
        self._timer_deadline: float | None = None
        self.bound: list[tuple[str, str, int]] = []
        # How we connect out over TLS (a trunk, a phone whose connection is gone): the system's
        # authorities, or the `ca` of a tls listener (set_client_authorities).
        self.client_tls = ssl.create_default_context()
        # Several worker processes (pbx/workers/): every one binds the SIP port, and a datagram
        # another worker owns is handed on by this callable (True: it has gone).
        self.reuse_port = False
        self.route_elsewhere: Callable[[bytes, tuple], bool] | None = None

    async def listen_udp(self, host: str, port: int) -> tuple[str, int]:
        loop = asyncio.get_running_loop()
        try:
            transport, _ = await loop.create_datagram_endpoint(
                lambda: _DatagramProtocol(self), local_addr=(host, port), reuse_port=self.reuse_port
            )
        except OSError as error:
            # uvloop's reuse_port bind keeps the errno's text in the args, not in strerror.
            reason = f"SIP over UDP on {host}:{port}: {error.strerror or error}"
            raise (OSError(error.errno, reason) if error.errno else OSError(reason)) from None
        sock = transport.get_extra_info("socket")
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 * 1024 * 1024)
        self._udp.append(transport)
        # The first socket of each family sends (uvloop's get_extra_info("socket") builds a new
        # object at every call: not something to do per message).
        self._udp_by_family.setdefault(sock.family, transport)
        bound = transport.get_extra_info("sockname")[:2]
        self.bound.append(("udp", bound[0], bound[1]))
        return bound

    async def listen_tcp(self, host: str, port: int) -> tuple[str, int]:
        return await self._listen_stream("tcp", host, port, None)

    async def listen_tls(self, host: str, port: int, context: ssl.SSLContext) -> tuple[str, int]:
        """SIP over TLS (RFC 3261 26.2.1); `context` is a server context (tls_server_context)."""
        return await self._listen_stream("tls", host, port, context)

    async def _listen_stream(self, kind: str, host: str, port: int, context: ssl.SSLContext | None) -> tuple[str, int]:
        handshake = {"ssl": context, "ssl_handshake_timeout": TLS_HANDSHAKE_TIMEOUT} if context else {}
        try:
            server = await asyncio.start_server(partial(self._accept, kind), host, port, reuse_address=True,
                                                **handshake)
        except OSError as error:
            raise OSError(error.errno, f"SIP over {kind.upper()} on {host}:{port}: {error.strerror}") from None
        self._servers.append(server)
        bound = server.sockets[0].getsockname()[:2]
        self.bound.append((kind, bound[0], bound[1]))
        return bound

    def set_client_authorities(self, ca: str) -> None:
        """Trust the authorities in the PEM file `ca` (as well as the system's) when connecting out over TLS."""
        self.client_tls.load_verify_locations(cafile=ca)

    async def close(self) -> None:
        if self._timer:
            self._timer.cancel()
        for transport in self._udp:
            transport.close()
        for server in self._servers:
            server.close()
        for connection in list(self._connections.values()):
            connection.close()
        for server in self._servers:
            await server.wait_closed()

    # Input ------------------------------------------------------------------------------------

    def received(self, data: bytes, peer: Peer) -> None:
        if self.trace:
            trace_log.info("event=sip_received peer=%s:%s/%s bytes=%d\n%s", peer.host, peer.port, peer.transport,
                           len(data), data.decode("utf-8", "replace"))
        try:
            actions = self.endpoint.receive(data, peer, self.clock())
        except Exception:
            # A bug of ours must not take the PBX down with it: log it, drop the message.
            log.exception("event=receive_failed peer=%s:%s", peer.host, peer.port)
            return
        self.execute(actions)

    async def _accept(self, kind: str, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        host, port = writer.get_extra_info("peername")[:2]
        connection = _StreamConnection(self, Peer(kind, host, port), reader, writer)
        await connection.run()

    # Output -----------------------------------------------------------------------------------

    def execute(self, actions: list[Action]) -> None:
        for action in actions:
            if isinstance(action, Transmit):
                self.send(action.data, action.peer, action.message)
            elif isinstance(action, Publish):
                self.bus.publish(action.event)
            elif isinstance(action, Dropped):
                log.info("event=sip_dropped peer=%s:%s reason=%r", action.peer.host, action.peer.port, action.reason)
        self._schedule_timer()

    def send(self, data: bytes, peer: Peer, message=None) -> None:
        if self.trace:
            trace_log.info("event=sip_sent peer=%s:%s/%s bytes=%d\n%s", peer.host, peer.port, peer.transport,
                           len(data), data.decode("utf-8", "replace"))
        if peer.transport == "udp":
            sender = self._udp_for(peer.host)
            if sender is not None:
                sender.sendto(data, (peer.host, peer.port))
            return
        connection = self._connections.get(peer)
        if connection is not None:
            connection.write(data)
        else:
            asyncio.get_running_loop().create_task(self._connect_and_send(data, peer))

    def _udp_for(self, host: str) -> asyncio.DatagramTransport | None:
        """The UDP socket of the peer's address family (IPv6 hosts contain a colon)."""
        return self._udp_by_family.get(socket.AF_INET6 if ":" in host else socket.AF_INET)

    async def _connect_and_send(self, data: bytes, peer: Peer) -> None:
        # RFC 3261 26.3.1: over TLS the server's certificate must match the host we meant to reach.
        secure = {"ssl": self.client_tls, "server_hostname": peer.host} if peer.transport == "tls" else {}
        try:
            reader, writer = await asyncio.wait_for(asyncio.open_connection(peer.host, peer.port, **secure), 5)
        except (OSError, asyncio.TimeoutError) as error:
            log.info("event=%s_connect_failed peer=%s:%s error=%r", peer.transport, peer.host, peer.port, error)
            return
        connection = _StreamConnection(self, peer, reader, writer)
        connection.write(data)
        await connection.run()

    # The one timer ------------------------------------------------------------------------------

    def _schedule_timer(self) -> None:
        armed = self._timer_deadline
        if armed is not None and armed <= self.clock() + TIMER_TICK:
            # The wakeup comes within a tick, and every deadline is rounded up to the grid: none
            # can be due before it. Under load this spares asking every timer source after
            # every message.
            return
        deadline = self.endpoint.next_deadline()
        if deadline is None:
            return
        # Wake on a TIMER_TICK grid: timers falling due in the same tick are handled in one
        # wakeup (under load a call's dozen timers cost one wakeup each otherwise). RFC 3261's
        # timers are multiples of T1 (500 ms); none needs finer than a tick.
        deadline = math.ceil(deadline / TIMER_TICK) * TIMER_TICK
        if self._timer_deadline is not None and self._timer_deadline <= deadline:
            return
        if self._timer:
            self._timer.cancel()
        loop = asyncio.get_running_loop()
        delay = max(0.0, deadline - self.clock())
        self._timer_deadline = deadline
        self._timer = loop.call_later(delay, self._on_timer)

    def _on_timer(self) -> None:
        self._timer = None
        self._timer_deadline = None
        try:
            actions = self.endpoint.handle_timer(self.clock())
        except Exception:
            log.exception("event=timer_failed")
            actions = []
        self.execute(actions)

    @property
    def connection_count(self) -> int:
        return len(self._connections)


class _DatagramProtocol(asyncio.DatagramProtocol):
    def __init__(self, transport: SipTransport) -> None:
        self.owner = transport

    def datagram_received(self, data: bytes, addr: tuple) -> None:
        if len(data) < 4 or not data.strip(b"\r\n\x00 "):
            return  # keep-alives (RFC 5626 4.4.2 uses STUN; phones also send bare CRLF)
        route_elsewhere = self.owner.route_elsewhere
        if route_elsewhere is not None and route_elsewhere(data, addr):
            return
        self.owner.received(data, Peer("udp", addr[0], addr[1]))

    def error_received(self, exc: Exception) -> None:
        log.debug("event=udp_error error=%r", exc)


class _StreamConnection:
    def __init__(self, owner: SipTransport, peer: Peer, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.owner = owner
        self.peer = peer
        self.reader = reader
        self.writer = writer
        self.framer = StreamFramer()

    async def run(self) -> None:
        self.owner._connections[self.peer] = self
        try:
            while True:
                data = await self.reader.read(65536)
                if not data:
                    break
                try:
                    frames = self.framer.feed(data)
                except RemoteProtocolError as error:
                    log.info("event=stream_framing_error transport=%s peer=%s:%s reason=%r",
                             self.peer.transport, self.peer.host, self.peer.port, error.reason)
                    break
                for frame in frames:
                    if isinstance(frame, KeepAlive):
                        self.write(KeepAlive.PONG)
                    else:
                        self.owner.received(frame, self.peer)
        except (ConnectionError, OSError):
            pass
        finally:
            self.close()

    def write(self, data: bytes) -> None:
        if not self.writer.is_closing():
            self.writer.write(data)

    def close(self) -> None:
        if self.owner._connections.get(self.peer) is self:
            del self.owner._connections[self.peer]
        self.writer.close()


def tls_server_context(certificate: str, private_key: str, ca: str | None = None,
                       verify_clients: bool = False) -> ssl.SSLContext:
    """A TLS server context from PEM files (RFC 3261 26.2.1 asks for TLS 1.2 or later today).

    With `verify_clients` a peer must show a certificate issued by `ca` (mutual TLS);
    without it, phones prove who they are with digest, as over UDP and TCP.
    """
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(certificate, private_key)
    if ca:
        context.load_verify_locations(cafile=ca)
    if verify_clients:
        context.verify_mode = ssl.CERT_REQUIRED
    return context
