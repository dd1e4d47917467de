"""The anchored-media relay: one RTP/RTCP socket pair per call leg, packets copied between linked legs.

The B2BUA rewrites SDP so each phone sends to a port of ours (`open_endpoint`
gives the pair to advertise). `link` joins two legs: what phone A sends to
A's endpoint leaves B's endpoint towards B, byte for byte, and back; RTCP
goes the same way on the ports above (RFC 3550 11), or on the RTP port when
a leg multiplexes (RFC 5761). Packets go to where the phone really sends
from (symmetric RTP, RFC 4961), decided by a `Latch` per socket.

The API is synchronous so the call layer can use it from plain functions:
sockets are bound at once and each wakeup drains what a socket holds. On
Linux every socket of the relay is registered in one epoll set of its own,
and only that set is the event loop's reader: a socket costs the loop nothing
(no poll handle per socket, one `epoll_ctl` to add and one to remove), which
is most of what a held call's media used to cost in memory (issue 16).
Elsewhere each socket is a `loop.add_reader` of its own. The media engine listens to a leg with
`add_tap` and plays into it with `send`; a mixer that sends the peer its own
mix of a leg's audio (supervisor whisper and barge) first stops the relay of
that audio with `withhold`.

A leg that negotiated SRTP (SDES, RFC 4568) is given its keys with `secure`:
what arrives is unprotected before the latch, the taps and the peer see it,
and what leaves is protected last, so everything in between (taps, the media
engine, the other leg) deals in plain RTP. Packets that fail authentication
or the replay check are dropped and counted (RFC 3711 3.3).

It does not transcode, reorder, buffer, or look past the fixed RTP header;
it does not resolve host names (give it IP addresses).
"""

from __future__ import annotations

import asyncio
import errno
import ipaddress
import logging
import select
import socket
from collections import deque
from collections.abc import Callable
from contextlib import suppress
from dataclasses import dataclass
from functools import partial

from .latching import Address, Latch
from .ports import PortPool, PortsExhausted
from .rtp_header import is_rtcp, is_valid_rtcp, peek
from .srtp import SrtpContext

log = logging.getLogger("pbx.media.relay")

MAX_DATAGRAM = 8192
# A bound on one wakeup, so a flooded socket cannot starve the others; the
# readers are level-triggered, so what is left is read on the next turn.
PACKETS_PER_WAKEUP = 256
MAX_SSRCS_REMEMBERED = 64
# RFC 4594 2.3 and RFC 3246: telephony media is marked Expedited Forwarding.
DSCP_EXPEDITED_FORWARDING = 46 << 2
BUSY_ERRNOS = {errno.EADDRINUSE, errno.EACCES}
# A closed leg's two sockets stay bound, parked, and the next leg takes them once they have
# rested this long: binding and closing a pair is 12 system calls, about a tenth of a call's
# CPU at 500 calls/s (issue 16). What reaches a parked pair is read and dropped, as the closed
# port would have refused it, and what is left is drained before the pair is handed on.
PARK_SECONDS = 1.0
PARKED_AT_MOST = 1024  # pairs (two descriptors each); past it, a closed leg's sockets close

Tap = Callable[[bytes, float], None]


class EndpointClosed(RuntimeError):
    """Our misuse: the endpoint (or the relay) was used after it was closed."""


@dataclass(slots=True)
class EndpointStats:
    """Counters of one endpoint. ``packets_in`` counts every datagram that arrived, RTP and RTCP."""

    packets_in: int = 0
    packets_out: int = 0
    bytes_in: int = 0
    bytes_out: int = 0
    rtcp_in: int = 0
    rtcp_out: int = 0
    malformed: int = 0  # too short, or not RTP/RTCP version 2
    unlatched: int = 0  # from a source the latch refused
    unrouted: int = 0  # accepted, but no linked peer with a known destination and no tap
    send_errors: int = 0  # could not be sent: no destination yet, or the OS refused
    unauthenticated: int = 0  # SRTP/SRTCP that failed authentication or the replay check
    ssrcs_seen: tuple[int, ...] = ()  # a tuple: nearly always one SSRC, and an empty set is 216 bytes
    last_source: Address | None = None

    @property
    def dropped(self) -> int:
        return self.malformed + self.unlatched + self.unrouted + self.unauthenticated


class RelayEndpoint:
    """One call leg's RTP and RTCP sockets; made by `MediaRelay.open_endpoint`."""

    __slots__ = ("label", "host", "port", "rtcp_port", "rtcp_mux", "stats", "_relay", "_clock", "_rtp_socket",
                 "_rtcp_socket", "_rtp_fd", "_rtp_latch", "_rtcp_latch", "_peer", "_taps", "_rtcp_taps", "_withholding", "_srtp",
                 "closed", "__weakref__")

    def __init__(
        self, relay: MediaRelay, label: str, rtp_socket: socket.socket, rtcp_socket: socket.socket, port: int
    ) -> None:
        self.label = label
        self.host: str = relay.bound_host or rtp_socket.getsockname()[0]
        self.port: int = port
        self.rtcp_port: int = port + 1
        self.rtcp_mux = False
        self.stats = EndpointStats()
        self._relay = relay
        self._clock = relay.clock
        self._rtp_socket = rtp_socket
        self._rtcp_socket = rtcp_socket
        self._rtp_fd = rtp_socket.fileno()  # which of the two an epoll event names (MediaRelay._ready)
        self._rtp_latch = Latch()
        self._rtcp_latch = Latch()
        self._peer: RelayEndpoint | None = None
        self._taps: tuple[Tap, ...] = ()
        self._rtcp_taps: tuple[Tap, ...] = ()
        self._withholding = False
        self._srtp: SrtpContext | None = None
        self.closed = False

    def __repr__(self) -> str:
        return f"<RelayEndpoint {self.label or '-'} {self.host}:{self.port}>"

    @property
    def peer(self) -> RelayEndpoint | None:
        return self._peer

    @property
    def destination(self) -> Address | None:
        """Where this leg's RTP goes: the latched source, else the SDP address."""
        return self._rtp_latch.destination

    @property
    def rtcp_destination(self) -> Address | None:
        return self._rtp_latch.destination if self.rtcp_mux else self._rtcp_latch.destination

    def expect(
        self,
        host: str,
        port: int,
        rtcp_port: int | None = None,
        *,
        rtcp_host: str | None = None,
        rtcp_mux: bool = False,
    ) -> None:
        """The remote address from the peer's SDP: c= and m= lines; RFC 3605 a=rtcp gives
        ``rtcp_port`` (and maybe ``rtcp_host``), else RTCP is port + 1 (RFC 3550 11);
        ``rtcp_mux`` when a=rtcp-mux was agreed (RFC 5761 5.1.1). Call it again for every new
        offer or answer: it opens the latches' learning window."""
        self._check_open()
        for address in (host, rtcp_host or host):
            if not _is_ip_address(address):
                raise ValueError(f"{self!r}: expects an IP address, not {address!r}; resolve it first")
        if rtcp_port is None:
            rtcp_port = port + 1
        for number in (port, rtcp_port):
            if not 0 < number <= 65535:
                raise ValueError(f"{self!r}: port {number} out of range")
        now = self._clock()
        self.rtcp_mux = rtcp_mux
        self._rtp_latch.expect(host, port, now)
        if not rtcp_mux:
            self._rtcp_latch.expect(rtcp_host or host, rtcp_port, now)

    def secure(self, srtp: SrtpContext | None) -> None:
        """Use SRTP/SRTCP with this leg's phone from now on (None: plain RTP again). Call it
        again when a new offer/answer changes the keys (RFC 4568 7.1.4)."""
        self._check_open()
        self._srtp = srtp

    @property
    def is_secure(self) -> bool:
        return self._srtp is not None

    def add_tap(self, callback: Tap, *, rtcp: bool = False) -> Callable[[], None]:
        """Hand every accepted RTP packet of this leg to ``callback(data, now)``; with ``rtcp``,
        every accepted RTCP packet instead (still relayed to the peer, if linked).

        Returns the function that removes the tap (or call `remove_tap`). A tap that raises is
        removed and logged.
        """
        self._check_open()
        if rtcp:
            self._rtcp_taps = (*self._rtcp_taps, callback)
        else:
            self._taps = (*self._taps, callback)
        return partial(self.remove_tap, callback)

    def remove_tap(self, callback: Tap) -> None:
        """Stop handing packets to ``callback`` (compared with ==, so a bound method given again
        matches the one added). Nothing happens when it is not a tap."""
        self._taps = tuple(tap for tap in self._taps if tap != callback)
        self._rtcp_taps = tuple(tap for tap in self._rtcp_taps if tap != callback)

    def withhold(self, withholding: bool) -> None:
        """Stop (True) or resume (False) relaying this leg's RTP to the peer; the taps still get
        every packet, and RTCP is still relayed. A mixer withholds a leg's stream while it sends
        the peer its own mix of it (supervisor whisper and barge)."""
        self._check_open()
        self._withholding = withholding

    @property
    def withholding(self) -> bool:
        return self._withholding

    def send_rtcp(self, data: bytes) -> None:
        """Send an RTCP packet of our own (a report from the PBX as an RTP end system)."""
        self._check_open()
        destination = self.rtcp_destination
        if destination is None:
            self.stats.send_errors += 1
            return
        self._transmit(self._rtp_socket if self.rtcp_mux else self._rtcp_socket, data, destination, True)

    def send(self, data: bytes) -> None:
        """Send an RTP packet (e.g. a prompt) from this leg's RTP port to the phone."""
        self._check_open()
        destination = self._rtp_latch.destination
        if destination is None:
            self.stats.send_errors += 1
            return
        self._transmit(self._rtp_socket, data, destination, False)

    def close(self) -> None:
        """Unlink, stop reading, close both sockets and give the ports back. Idempotent."""
        if not self.closed:
            self._relay._close_endpoint(self)

    # Receiving --------------------------------------------------------------------------------

    def _drain(self, sock: socket.socket, latch: Latch, on_rtcp_port: bool) -> None:
        stats = self.stats
        clock = self._clock
        for _ in range(PACKETS_PER_WAKEUP):
            try:
                data, source = sock.recvfrom(MAX_DATAGRAM)
            except (BlockingIOError, InterruptedError):
                return
            except OSError:
                if self.closed:  # a tap closed this leg
                    return
                # An ICMP error queued on the socket (e.g. port unreachable), not a packet.
                continue
            now = clock()
            stats.packets_in += 1
            stats.bytes_in += len(data)
            rtcp = on_rtcp_port or is_rtcp(data)
            if self._srtp is not None and (rtcp or peek(data) is not None):
                plain = self._srtp.unprotect(data, rtcp=rtcp)
                if plain is None:
                    stats.unauthenticated += 1
                    continue
                data = plain
            header = None if rtcp else peek(data)
            if (rtcp and not is_valid_rtcp(data)) or (not rtcp and header is None):
                stats.malformed += 1
                continue
            source = source[:2]  # an IPv6 address comes with flowinfo and scope id
            if not latch.accept(source, now):
                stats.unlatched += 1
                continue
            if not on_rtcp_port and source != stats.last_source:
                self._source_changed(source)
            if rtcp:
                stats.rtcp_in += 1
                if self._rtcp_taps:
                    self._run_taps(data, now, rtcp=True)
                if not self._forward(data, True) and not self._rtcp_taps:
                    stats.unrouted += 1
                continue
            seen = stats.ssrcs_seen
            if header.ssrc not in seen and len(seen) < MAX_SSRCS_REMEMBERED:
                stats.ssrcs_seen = (*seen, header.ssrc)
            if self._taps:
                self._run_taps(data, now)
            if self._withholding:
                continue
            if not self._forward(data, False) and not self._taps:
                stats.unrouted += 1

    def _forward(self, data: bytes, rtcp: bool) -> bool:
        peer = self._peer
        if peer is None:
            return False
        if rtcp and not peer.rtcp_mux:
            sock, destination = peer._rtcp_socket, peer._rtcp_latch.destination
        else:
            sock, destination = peer._rtp_socket, peer._rtp_latch.destination
        if destination is None:
            return False
        peer._transmit(sock, data, destination, rtcp)
        return True

    def _transmit(self, sock: socket.socket, data: bytes, destination: Address, rtcp: bool) -> None:
        if self._srtp is not None:
            protected = self._srtp.protect(data, rtcp=rtcp)
            if protected is None:
                self.stats.send_errors += 1
                return
            data = protected
        try:
            sock.sendto(data, destination)
        except OSError:
            # A full send buffer or an ICMP error from an earlier packet: media is lossy, go on.
            self.stats.send_errors += 1
            return
        stats = self.stats
        stats.packets_out += 1
        stats.bytes_out += len(data)
        if rtcp:
            stats.rtcp_out += 1

    def _run_taps(self, data: bytes, now: float, *, rtcp: bool = False) -> None:
        for tap in self._rtcp_taps if rtcp else self._taps:
            try:
                tap(data, now)
            except Exception:
                log.exception("%r: tap %r raised; removing it", self, tap)
                self._taps = tuple(other for other in self._taps if other is not tap)
                self._rtcp_taps = tuple(other for other in self._rtcp_taps if other is not tap)

    def _source_changed(self, source: Address) -> None:
        if self.stats.last_source is None:
            log.debug("%r: latched to %s:%d (SDP said %s)", self, *source, self._rtp_latch.expected)
        else:
            log.info("%r: media moved from %s:%d to %s:%d", self, *self.stats.last_source, *source)
        self.stats.last_source = source

    def _check_open(self) -> None:
        if self.closed:
            raise EndpointClosed(f"{self!r} is closed")


class MediaRelay:
    """All relay endpoints on one local address, with ports from ``low..high``."""

    def __init__(
        self,
        host: str,
        low: int,
        high: int,
        *,
        clock: Callable[[], float],
        loop: asyncio.AbstractEventLoop | None = None,
    ) -> None:
        if not _is_ip_address(host):
            raise ValueError(f"the media relay binds an IP address, not {host!r}")
        self.host = host
        self.clock = clock
        self._family = socket.AF_INET6 if ipaddress.ip_address(host).version == 6 else socket.AF_INET
        self._pool = PortPool(low, high)
        self._loop = loop
        self._endpoint_count = 0
        self._closed = False
        # Linux: one epoll set holds every socket; the event loop watches the set alone.
        self._poller = select.epoll() if hasattr(select, "epoll") else None
        self._polled = False  # the set is a reader of the loop
        # By descriptor: the endpoint reading it (its RTP or its RTCP socket), a parked socket, or
        # None. A list, since descriptors are small and dense: 8 bytes a socket, where a dict's
        # entry and int key took about 50 (issue 16: 4 sockets per held call).
        self._readers: list[RelayEndpoint | socket.socket | None] = []
        self._parked: deque[tuple[float, int, socket.socket, socket.socket]] = deque()  # (ready at, port, RTP, RTCP)
        self.bound_host: str | None = None  # our address as the sockets name it (getsockname)

    @property
    def ports_in_use(self) -> int:
        """UDP ports bound (RTP and RTCP)."""
        return 2 * self._endpoint_count

    @property
    def endpoint_count(self) -> int:
        return self._endpoint_count

    def open_endpoint(self, label: str = "") -> RelayEndpoint:
        """Bind the next free RTP/RTCP pair; pairs another program holds are skipped.

        Raises `PortsExhausted` when no pair in the range can be had.
        """
        if self._closed:
            raise EndpointClosed("the media relay is closed")
        loop = self._loop = self._loop or asyncio.get_running_loop()
        parked = self._parked
        if parked and (parked[0][0] <= self.clock() or not self._pool.free):
            return self._unpark(label)
        attempts = max(self._pool.free, 1)  # each free pair once; with none, allocate() explains
        for _ in range(attempts):
            port = self._pool.allocate()
            sockets = self._bind_pair(port)
            if sockets is None:
                self._pool.skip(port)
                continue
            rtp_socket, rtcp_socket = sockets
            if self.bound_host is None:
                self.bound_host = rtp_socket.getsockname()[0]
            endpoint = RelayEndpoint(self, label, rtp_socket, rtcp_socket, port)
            self._watch(loop, endpoint, rtp_socket, endpoint._rtp_latch, False)
            self._watch(loop, endpoint, rtcp_socket, endpoint._rtcp_latch, True)
            self._endpoint_count += 1
            return endpoint
        if parked:  # every other pair is held by other programs: a pair still resting will do
            return self._unpark(label)
        raise PortsExhausted(
            f"no RTP/RTCP port pair could be bound in {self._pool.low}-{self._pool.high}: "
            f"{self._pool.in_use} in use by this relay, {self._pool.free} held by other programs on the host"
        )

    def _unpark(self, label: str) -> RelayEndpoint:
        _, port, rtp_socket, rtcp_socket = self._parked.popleft()
        for sock in (rtp_socket, rtcp_socket):
            _discard_waiting(sock)
        endpoint = RelayEndpoint(self, label, rtp_socket, rtcp_socket, port)
        self._read_by(endpoint._rtp_fd, endpoint)
        self._read_by(rtcp_socket.fileno(), endpoint)
        self._endpoint_count += 1
        return endpoint

    def link(self, a: RelayEndpoint, b: RelayEndpoint) -> None:
        """Relay between two legs; each leaves any previous link first."""
        for endpoint in (a, b):
            self._check_mine(endpoint)
        if a is b:
            raise ValueError(f"cannot link {a!r} to itself")
        for endpoint, other in ((a, b), (b, a)):
            if endpoint._peer not in (None, other):
                self.unlink(endpoint)
        a._peer, b._peer = b, a

    def unlink(self, endpoint: RelayEndpoint) -> None:
        """Stop relaying between ``endpoint`` and its peer; no-op if it has none."""
        peer = endpoint._peer
        if peer is not None:
            peer._peer = None
        endpoint._peer = None

    def close(self) -> None:
        """Close every endpoint; the relay cannot be used afterwards."""
        self._closed = True
        for endpoint in dict.fromkeys(reader for reader in self._readers if reader.__class__ is RelayEndpoint):
            endpoint.close()
        while self._parked:
            _, port, rtp_socket, rtcp_socket = self._parked.popleft()
            self._close_pair(port, rtp_socket, rtcp_socket)
        if self._poller is not None:
            if self._polled:
                with suppress(RuntimeError):  # a loop already closed at shutdown
                    self._loop.remove_reader(self._poller.fileno())
                self._polled = False
            self._poller.close()

    # Reading ----------------------------------------------------------------------------------

    def _watch(self, loop: asyncio.AbstractEventLoop, endpoint: RelayEndpoint, sock: socket.socket, latch: Latch,
               on_rtcp_port: bool) -> None:
        fd = endpoint._rtp_fd if sock is endpoint._rtp_socket else sock.fileno()
        self._read_by(fd, endpoint)
        if self._poller is None:
            loop.add_reader(fd, endpoint._drain, sock, latch, on_rtcp_port)
            return
        if not self._polled:
            loop.add_reader(self._poller.fileno(), self._ready)
            self._polled = True
        self._poller.register(fd, select.EPOLLIN)

    def _read_by(self, fd: int, reader: RelayEndpoint | socket.socket) -> None:
        readers = self._readers
        if fd >= len(readers):
            readers.extend([None] * max(fd + 1 - len(readers), len(readers)))  # doubling: amortised O(1)
        readers[fd] = reader

    def _unwatch(self, sock: socket.socket) -> None:
        fd = sock.fileno()
        readers = self._readers
        watched = fd < len(readers) and readers[fd] is not None
        if watched:
            readers[fd] = None
        if self._poller is None:
            with suppress(RuntimeError):  # a loop already closed at shutdown has no readers left
                self._loop.remove_reader(fd)
        elif watched:
            with suppress(OSError):
                self._poller.unregister(fd)

    def _ready(self) -> None:
        """The epoll set is readable: drain each ready socket (level-triggered, so a socket left
        with packets after PACKETS_PER_WAKEUP is reported again on the next turn)."""
        readers = self._readers
        for fd, _ in self._poller.poll(0, 512):
            reader = readers[fd]
            if reader is None:  # closed by a tap earlier in this turn
                continue
            if reader.__class__ is not RelayEndpoint:  # a parked socket: what a closed leg's phone still sends
                _discard_waiting(reader)
                continue
            if fd == reader._rtp_fd:
                reader._drain(reader._rtp_socket, reader._rtp_latch, False)
            else:
                reader._drain(reader._rtcp_socket, reader._rtcp_latch, True)

    # Internals --------------------------------------------------------------------------------

    def _bind_pair(self, port: int) -> tuple[socket.socket, socket.socket] | None:
        """Both sockets, or None when either port is busy; other errors (a bad host) propagate."""
        bound: list[socket.socket] = []
        try:
            for number in (port, port + 1):
                bound.append(self._bind(number))
        except OSError as error:
            for sock in bound:
                sock.close()
            if error.errno in BUSY_ERRNOS:
                log.debug("media port %d busy on the host, skipped", port)
                return None
            self._pool.release(port)
            raise
        return bound[0], bound[1]

    def _bind(self, port: int) -> socket.socket:
        sock = socket.socket(self._family, socket.SOCK_DGRAM)
        try:
            sock.setblocking(False)
            with suppress(OSError, AttributeError):
                if self._family == socket.AF_INET6:
                    sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_TCLASS, DSCP_EXPEDITED_FORWARDING)
                else:
                    sock.setsockopt(socket.IPPROTO_IP, socket.IP_TOS, DSCP_EXPEDITED_FORWARDING)
            sock.bind((self.host, port))
        except OSError:
            sock.close()
            raise
        return sock

    def _close_endpoint(self, endpoint: RelayEndpoint) -> None:
        self.unlink(endpoint)
        endpoint.closed = True
        endpoint._taps = ()
        endpoint._rtcp_taps = ()
        self._endpoint_count -= 1
        rtp_socket, rtcp_socket = endpoint._rtp_socket, endpoint._rtcp_socket
        if self._poller is not None and not self._closed and len(self._parked) < PARKED_AT_MOST:
            self._read_by(rtp_socket.fileno(), rtp_socket)
            self._read_by(rtcp_socket.fileno(), rtcp_socket)
            self._parked.append((self.clock() + PARK_SECONDS, endpoint.port, rtp_socket, rtcp_socket))
            return
        self._close_pair(endpoint.port, rtp_socket, rtcp_socket)

    def _close_pair(self, port: int, rtp_socket: socket.socket, rtcp_socket: socket.socket) -> None:
        for sock in (rtp_socket, rtcp_socket):
            self._unwatch(sock)
            sock.close()
        self._pool.release(port)

    def _check_mine(self, endpoint: RelayEndpoint) -> None:
        if endpoint._relay is not self:
            raise ValueError(f"{endpoint!r} belongs to another media relay")
        endpoint._check_open()


def _is_ip_address(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


def _discard_waiting(sock: socket.socket) -> None:
    """Read and drop what waits on a parked socket (a closed leg's last packets)."""
    for _ in range(PACKETS_PER_WAKEUP):
        try:
            sock.recv(MAX_DATAGRAM)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            continue  # a queued ICMP error
