"""The media relay on real UDP sockets on 127.0.0.1, with plain sockets as the phones.

Each test runs once on the default asyncio loop and once on uvloop, in a
loop of its own (`asyncio.Runner`). The relay gets a random port range in
30000-39000 (it skips ports another program holds) and, where timing
matters to the latch, a fake clock the test moves by hand, so the learning
window and the silence rule are exact rather than raced.
"""

from __future__ import annotations

import asyncio
import random
import socket
import struct
from collections.abc import Callable, Iterator

import pytest

from pbx.media import EndpointClosed, MediaRelay, PortsExhausted, RelayEndpoint

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(20)]

LOOPBACK = "127.0.0.1"
Address = tuple[str, int]
RECEIVER_REPORT = bytes.fromhex("80c90001") + struct.pack("!I", 0xCAFE)


def rtp(sequence: int, ssrc: int = 0x1234, payload: bytes = b"\xd5" * 160, payload_type: int = 0) -> bytes:
    """An RTP packet (RFC 3550 5.1): 20 ms of G.711 by default, 172 bytes."""
    return struct.pack("!BBHII", 0x80, payload_type, sequence & 0xFFFF, sequence * 160, ssrc) + payload


class FakeClock:
    def __init__(self, now: float = 1000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


class Phone:
    """One UDP socket of a phone; what it receives is queued with the sender's address."""

    def __init__(self, transport: asyncio.DatagramTransport, queue: asyncio.Queue) -> None:
        self._transport = transport
        self._queue = queue
        self.address: Address = transport.get_extra_info("sockname")[:2]

    @classmethod
    async def open(cls, port: int = 0) -> Phone:
        queue: asyncio.Queue = asyncio.Queue()

        class Received(asyncio.DatagramProtocol):
            def datagram_received(self, data: bytes, source: Address) -> None:
                queue.put_nowait((data, source[:2]))

        transport, _ = await asyncio.get_running_loop().create_datagram_endpoint(
            Received, local_addr=(LOOPBACK, port)
        )
        return cls(transport, queue)

    @property
    def port(self) -> int:
        return self.address[1]

    def send(self, data: bytes, to: tuple[str, int]) -> None:
        self._transport.sendto(data, to)

    async def receive(self, timeout: float = 2.0) -> tuple[bytes, Address]:
        return await asyncio.wait_for(self._queue.get(), timeout)

    async def receive_many(self, count: int) -> list[tuple[bytes, Address]]:
        return [await self.receive() for _ in range(count)]

    async def hears_nothing(self, seconds: float = 0.15) -> bool:
        await asyncio.sleep(seconds)
        return self._queue.empty()

    def close(self) -> None:
        self._transport.close()


def random_low(pairs: int) -> int:
    return random.randrange(30000, 39000 - 2 * pairs, 2)


class Lab:
    """What one test opens, phones and relays, closed at the end even when the test fails."""

    def __init__(self) -> None:
        self._phones: list[Phone] = []
        self._relays: list[MediaRelay] = []

    async def phone(self, port: int = 0) -> Phone:
        phone = await Phone.open(port)
        self._phones.append(phone)
        return phone

    async def phone_pair(self) -> tuple[Phone, Phone]:
        """A phone's RTP and RTCP sockets on consecutive ports (RTP even), for SDP without a=rtcp."""
        for _ in range(100):
            port = random.randrange(40000, 49000, 2)
            try:
                return await self.phone(port), await self.phone(port + 1)
            except OSError:
                continue
        raise RuntimeError("no free consecutive port pair in 40000-49000")

    def relay(self, pairs: int = 16, clock: Callable[[], float] | None = None, low: int | None = None) -> MediaRelay:
        """A relay on ``low`` or a random range in 30000-39000; it skips ports held by others."""
        low = low or random_low(pairs)
        relay = MediaRelay(LOOPBACK, low, low + 2 * pairs - 1, clock=clock or FakeClock())
        self._relays.append(relay)
        return relay

    def close(self) -> None:
        for relay in self._relays:
            relay.close()
        for phone in self._phones:
            phone.close()


async def until(condition: Callable[[], bool], timeout: float = 2.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not condition():
        assert asyncio.get_running_loop().time() < deadline, "condition not met in time"
        await asyncio.sleep(0.005)


async def call(lab: Lab, relay: MediaRelay) -> tuple[Phone, Phone, RelayEndpoint, RelayEndpoint]:
    """Phones A and B, each with the endpoint it sends to, linked; SDP addresses are the phones'."""
    a, b = await lab.phone(), await lab.phone()
    leg_a, leg_b = relay.open_endpoint("a"), relay.open_endpoint("b")
    leg_a.expect(*a.address)
    leg_b.expect(*b.address)
    relay.link(leg_a, leg_b)
    return a, b, leg_a, leg_b


def at(endpoint: RelayEndpoint) -> Address:
    return (endpoint.host, endpoint.port)


def rtcp_at(endpoint: RelayEndpoint) -> Address:
    return (endpoint.host, endpoint.rtcp_port)


@pytest.fixture(params=["asyncio", "uvloop"])
def runner(request: pytest.FixtureRequest) -> Iterator[asyncio.Runner]:
    if request.param == "uvloop":
        uvloop = pytest.importorskip("uvloop")
        factory = uvloop.new_event_loop
    else:
        factory = asyncio.SelectorEventLoop
    with asyncio.Runner(loop_factory=factory) as runner:
        yield runner


@pytest.fixture
def lab(runner: asyncio.Runner) -> Iterator[Lab]:
    lab = Lab()
    yield lab
    lab.close()  # before the runner closes its loop


def test_rtp_crosses_both_ways_byte_identical_from_the_advertised_ports(runner, lab):
    async def scenario():
        relay = lab.relay()
        a, b, leg_a, leg_b = await call(lab, relay)
        sent_by_a = [rtp(n, ssrc=0xA, payload=bytes([n]) * 160) for n in range(10)]
        sent_by_b = [rtp(n, ssrc=0xB, payload=bytes([200 + n]) * 160) for n in range(10)]
        for packet in sent_by_a:
            a.send(packet, at(leg_a))
        for packet in sent_by_b:
            b.send(packet, at(leg_b))
        # Symmetric RTP (RFC 4961): each phone hears us from the port it sends to.
        assert await b.receive_many(10) == [(packet, at(leg_b)) for packet in sent_by_a]
        assert await a.receive_many(10) == [(packet, at(leg_a)) for packet in sent_by_b]
        assert (leg_a.stats.packets_in, leg_a.stats.packets_out, leg_a.stats.dropped) == (10, 10, 0)
        assert (leg_b.stats.bytes_in, leg_b.stats.bytes_out) == (1720, 1720)
        assert leg_a.stats.last_source == a.address
        relay.close()

    runner.run(scenario())


def test_packets_go_to_where_the_phone_really_sends_from(runner, lab):
    async def scenario():
        relay = lab.relay()
        a, behind_nat = await lab.phone(), await lab.phone()
        sdp_address = await lab.phone()  # what B's SDP says; B really sends from behind_nat
        leg_a, leg_b = relay.open_endpoint("a"), relay.open_endpoint("b")
        leg_a.expect(*a.address)
        leg_b.expect(*sdp_address.address)
        relay.link(leg_a, leg_b)

        a.send(rtp(1), at(leg_a))
        assert await sdp_address.receive() == (rtp(1), at(leg_b))  # before B speaks: the SDP address
        behind_nat.send(rtp(1, ssrc=0xB), at(leg_b))
        assert await a.receive() == (rtp(1, ssrc=0xB), at(leg_a))
        a.send(rtp(2), at(leg_a))
        assert await behind_nat.receive() == (rtp(2), at(leg_b))
        assert await sdp_address.hears_nothing()
        assert leg_b.destination == behind_nat.address
        relay.close()

    runner.run(scenario())


def test_an_ssrc_change_mid_stream_keeps_flowing(runner, lab):
    async def scenario():
        relay = lab.relay()
        a, b, leg_a, leg_b = await call(lab, relay)
        stream = [rtp(n, ssrc=0x1111) for n in range(5)] + [rtp(n, ssrc=0x2222, payload_type=101) for n in range(5)]
        for packet in stream:
            a.send(packet, at(leg_a))
        assert [data for data, _ in await b.receive_many(10)] == stream
        assert set(leg_a.stats.ssrcs_seen) == {0x1111, 0x2222}
        relay.close()

    runner.run(scenario())


def test_a_third_party_is_dropped_while_the_phone_talks(runner, lab):
    async def scenario():
        clock = FakeClock()
        relay = lab.relay(clock=clock)
        a, b, leg_a, leg_b = await call(lab, relay)
        attacker = await lab.phone()
        b.send(rtp(0, ssrc=0xB), at(leg_b))
        await a.receive()
        clock.now += 5.0  # past the learning window
        for n in range(1, 11):
            b.send(rtp(n, ssrc=0xB), at(leg_b))
            attacker.send(rtp(n, ssrc=0xBAD, payload=b"noise"), at(leg_b))
            await until(lambda: leg_b.stats.packets_in == 2 * n + 1)
            clock.now += 0.02
        assert [data for data, _ in await a.receive_many(10)] == [rtp(n, ssrc=0xB) for n in range(1, 11)]
        assert await a.hears_nothing()
        assert leg_b.stats.unlatched == 10
        assert leg_b.destination == b.address
        a.send(rtp(1), at(leg_a))
        assert await b.receive() == (rtp(1), at(leg_b))
        assert await attacker.hears_nothing()
        relay.close()

    runner.run(scenario())


def test_a_phone_that_moves_after_silence_is_followed(runner, lab):
    async def scenario():
        clock = FakeClock()
        relay = lab.relay(clock=clock)
        a, b, leg_a, leg_b = await call(lab, relay)
        moved = await lab.phone()  # B's new NAT binding
        b.send(rtp(0), at(leg_b))
        await a.receive()
        clock.now += 5.0  # B silent for 5 s, past the window
        for n in range(1, 4):
            moved.send(rtp(n), at(leg_b))
        assert [data for data, _ in await a.receive_many(1)] == [rtp(3)]  # the first two proved it
        a.send(rtp(9), at(leg_a))
        assert await moved.receive() == (rtp(9), at(leg_b))
        assert await b.hears_nothing()
        relay.close()

    runner.run(scenario())


def test_rtcp_is_relayed_on_the_ports_above(runner, lab):
    async def scenario():
        relay = lab.relay()
        a_rtp, a_rtcp = await lab.phone_pair()
        b_rtp, b_rtcp = await lab.phone(), await lab.phone()
        leg_a, leg_b = relay.open_endpoint("a"), relay.open_endpoint("b")
        assert (leg_a.rtcp_port, leg_b.rtcp_port) == (leg_a.port + 1, leg_b.port + 1)
        assert leg_a.port % 2 == 0
        leg_a.expect(*a_rtp.address)  # no a=rtcp: RTCP on port + 1 (RFC 3550 11)
        leg_b.expect(*b_rtp.address, rtcp_port=b_rtcp.port)  # RFC 3605 a=rtcp
        relay.link(leg_a, leg_b)

        a_rtcp.send(RECEIVER_REPORT, rtcp_at(leg_a))
        assert await b_rtcp.receive() == (RECEIVER_REPORT, rtcp_at(leg_b))
        b_rtcp.send(RECEIVER_REPORT + b"x" * 4, rtcp_at(leg_b))
        assert await a_rtcp.receive() == (RECEIVER_REPORT + b"x" * 4, rtcp_at(leg_a))
        assert await a_rtp.hears_nothing() and await b_rtp.hears_nothing()
        assert (leg_a.stats.rtcp_in, leg_a.stats.rtcp_out, leg_b.stats.rtcp_in, leg_b.stats.rtcp_out) == (1, 1, 1, 1)
        assert leg_a.stats.ssrcs_seen == ()
        relay.close()

    runner.run(scenario())


def test_muxed_rtcp_goes_to_the_peers_rtcp_port_and_not_to_taps(runner, lab):
    async def scenario():
        relay = lab.relay()
        a, b_rtp, b_rtcp = await lab.phone(), await lab.phone(), await lab.phone()
        leg_a, leg_b = relay.open_endpoint("a"), relay.open_endpoint("b")
        leg_a.expect(*a.address, rtcp_mux=True)  # RFC 5761: RTP and RTCP on one port
        leg_b.expect(*b_rtp.address, rtcp_port=b_rtcp.port)
        relay.link(leg_a, leg_b)
        tapped = []
        leg_a.add_tap(lambda data, now: tapped.append(data))

        a.send(RECEIVER_REPORT, at(leg_a))
        a.send(rtp(1), at(leg_a))
        assert await b_rtcp.receive() == (RECEIVER_REPORT, rtcp_at(leg_b))
        assert await b_rtp.receive() == (rtp(1), at(leg_b))
        b_rtcp.send(RECEIVER_REPORT, rtcp_at(leg_b))
        assert await a.receive() == (RECEIVER_REPORT, at(leg_a))  # back on A's one port
        assert tapped == [rtp(1)]
        relay.close()

    runner.run(scenario())


def test_taps_see_accepted_rtp_and_send_reaches_the_phone(runner, lab):
    async def scenario():
        clock = FakeClock(50.0)
        relay = lab.relay(clock=clock)
        a, b, leg_a, leg_b = await call(lab, relay)
        tapped: list[tuple[bytes, float]] = []
        remove = leg_a.add_tap(lambda data, now: tapped.append((data, now)))
        leg_a.add_tap(lambda data, now: 1 / 0)  # a broken tap is removed, the others go on

        a.send(rtp(1), at(leg_a))
        await b.receive()
        remove()
        a.send(rtp(2), at(leg_a))
        await b.receive()
        assert tapped == [(rtp(1), 50.0)]

        leg_a.send(rtp(7, ssrc=0x99))  # a prompt, from A's RTP port to A
        assert await a.receive() == (rtp(7, ssrc=0x99), at(leg_a))
        relay.unlink(leg_a)
        a.send(rtp(3), at(leg_a))  # unlinked, no tap: counted and dropped
        await until(lambda: leg_a.stats.unrouted == 1)
        assert await b.hears_nothing()
        relay.close()

    runner.run(scenario())


def test_packets_before_link_or_destination_are_counted_and_dropped(runner, lab):
    async def scenario():
        relay = lab.relay()
        a, b = await lab.phone(), await lab.phone()
        leg_a, leg_b = relay.open_endpoint("a"), relay.open_endpoint("b")
        a.send(rtp(1), at(leg_a))  # not linked yet
        await until(lambda: leg_a.stats.unrouted == 1)
        relay.link(leg_a, leg_b)
        a.send(rtp(2), at(leg_a))  # linked, but B's address is not known yet
        await until(lambda: leg_a.stats.unrouted == 2)
        leg_b.expect(*b.address)
        a.send(rtp(3), at(leg_a))
        assert await b.receive() == (rtp(3), at(leg_b))
        assert (leg_a.stats.packets_in, leg_a.stats.dropped, leg_b.stats.packets_out) == (3, 2, 1)
        relay.close()

    runner.run(scenario())


def test_malformed_packets_are_dropped_and_counted(runner, lab):
    async def scenario():
        relay = lab.relay()
        a, b, leg_a, leg_b = await call(lab, relay)
        # A plain socket: asyncio's transports do not send empty datagrams.
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as stranger:
            for garbage in (b"", b"\x80\x00", rtp(1)[:11], b"\x40" + rtp(1)[1:]):
                stranger.sendto(garbage, at(leg_a))
            stranger.sendto(b"\x80\xc9\x00", rtcp_at(leg_a))  # RTCP shorter than its header
            await until(lambda: leg_a.stats.malformed == 5)
        a.send(rtp(5), at(leg_a))
        assert await b.receive() == (rtp(5), at(leg_b))
        assert await b.hears_nothing()
        assert (leg_a.stats.malformed, leg_a.stats.packets_in) == (5, 6)
        assert leg_a.stats.last_source == a.address  # garbage, though first, did not latch
        relay.close()

    runner.run(scenario())


def test_thirty_ms_packets_pass_unchanged(runner, lab):
    async def scenario():
        relay = lab.relay()
        a, b, leg_a, leg_b = await call(lab, relay)
        stream = [rtp(n, ssrc=0x30, payload=bytes((n + i) % 256 for i in range(240))) for n in range(8)]
        for packet in stream:
            a.send(packet, at(leg_a))
            await asyncio.sleep(0.03)
        assert [data for data, _ in await b.receive_many(8)] == stream
        assert all(len(data) == 252 for data in stream)
        relay.close()

    runner.run(scenario())


def test_busy_ports_are_skipped(runner, lab):
    async def scenario():
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as squatter:
            for _ in range(50):
                low = random_low(4)
                try:
                    squatter.bind((LOOPBACK, low + 1))  # the RTCP port of the first pair
                    break
                except OSError:
                    continue  # taken by someone else already: try another range
            else:
                pytest.fail("no free port to squat on in 30000-39000")
            relay = lab.relay(pairs=4, low=low)
            endpoint = relay.open_endpoint()
            assert endpoint.port in (low + 2, low + 4, low + 6)
            assert relay.ports_in_use == 2
            relay.close()

            squatted = lab.relay(pairs=1, low=low)
            with pytest.raises(PortsExhausted, match=f"in {low}-{low + 1}: 0 in use by this relay, 1 held by other"):
                squatted.open_endpoint()

    runner.run(scenario())


def test_counters_return_to_zero_after_close(runner, lab):
    async def scenario():
        relay = lab.relay()
        a, b, leg_a, leg_b = await call(lab, relay)
        other = relay.open_endpoint("c")
        assert (relay.ports_in_use, relay.endpoint_count) == (6, 3)
        leg_a.close()
        leg_a.close()  # idempotent
        assert leg_b.peer is None
        assert (relay.ports_in_use, relay.endpoint_count) == (4, 2)
        with pytest.raises(EndpointClosed):
            leg_a.send(rtp(1))
        b.send(rtp(1), at(leg_b))  # towards a closed peer: counted, dropped
        await until(lambda: leg_b.stats.unrouted == 1)
        relay.close()
        assert (relay.ports_in_use, relay.endpoint_count) == (0, 0)
        assert other.closed
        a.send(rtp(2), at(leg_a))  # late packets reach a closed port
        assert await b.hears_nothing()

    runner.run(scenario())


def test_a_closed_legs_sockets_rest_then_serve_the_next_leg(runner, lab):
    """The pair stays bound for PARK_SECONDS (no bind or close per call); what reaches it meanwhile
    is dropped, and the next leg to take it starts clean."""
    from pbx.media.relay import PARK_SECONDS

    async def scenario():
        clock = FakeClock()
        relay = lab.relay(pairs=4, clock=clock)
        a, b, leg_a, leg_b = await call(lab, relay)
        resting = leg_a.port
        leg_a.close()
        assert (relay.ports_in_use, relay.endpoint_count) == (2, 1)
        fresh = relay.open_endpoint("fresh")
        assert fresh.port != resting  # still resting: another pair is bound
        a.send(rtp(1), (LOOPBACK, resting))  # the old phone's last packet reaches the parked pair
        assert await b.hears_nothing()
        a.send(rtp(2), (LOOPBACK, resting))  # and another, left waiting on the socket
        clock.now += PARK_SECONDS
        again = relay.open_endpoint("again")
        assert (again.port, again.rtcp_port) == (resting, resting + 1)
        c = await lab.phone()
        again.expect(*c.address)
        relay.link(again, leg_b)
        c.send(rtp(7), at(again))
        data, _ = await b.receive()
        assert data == rtp(7) and again.stats.packets_in == 1  # the old packets were not taken for the new leg's
        relay.close()
        assert (relay.ports_in_use, relay.endpoint_count) == (0, 0)
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as taker:
            taker.bind((LOOPBACK, resting))  # closed for good with the relay

    runner.run(scenario())


def test_a_resting_pair_is_taken_rather_than_refusing_a_leg(runner, lab):
    async def scenario():
        for _ in range(10):  # another program may hold the one pair: try another range
            relay = lab.relay(pairs=1, low=random_low(1))
            try:
                first = relay.open_endpoint()
            except PortsExhausted:
                continue
            port = first.port
            first.close()
            assert relay.open_endpoint().port == port
            return
        pytest.fail("no free single-pair range found")

    runner.run(scenario())


def test_ports_exhausted_with_a_tiny_range(runner, lab):
    async def scenario():
        for _ in range(10):  # another program may hold the one pair: try another range
            low = random_low(1)
            relay = lab.relay(pairs=1, low=low)
            try:
                relay.open_endpoint()
            except PortsExhausted:
                continue
            with pytest.raises(PortsExhausted, match=f"no free RTP/RTCP port pair in {low}-{low + 1}"):
                relay.open_endpoint()
            return
        pytest.fail("no free single-pair range found")

    runner.run(scenario())


def test_linking_a_leg_elsewhere_moves_it(runner, lab):
    async def scenario():
        relay = lab.relay()
        a, b, leg_a, leg_b = await call(lab, relay)
        c = await lab.phone()
        leg_c = relay.open_endpoint("c")
        leg_c.expect(*c.address)
        relay.link(leg_a, leg_c)  # e.g. a transfer: A now talks to C
        assert (leg_a.peer, leg_b.peer, leg_c.peer) == (leg_c, None, leg_a)
        a.send(rtp(1), at(leg_a))
        assert await c.receive() == (rtp(1), at(leg_c))
        c.send(rtp(2), at(leg_c))
        assert await a.receive() == (rtp(2), at(leg_a))
        b.send(rtp(3), at(leg_b))
        await until(lambda: leg_b.stats.unrouted == 1)
        assert await a.hears_nothing() and await b.hears_nothing()

    runner.run(scenario())


def test_misuse_raises(runner, lab):
    async def scenario():
        relay, other_relay = lab.relay(), lab.relay()
        leg, stranger = relay.open_endpoint("a"), other_relay.open_endpoint("x")
        with pytest.raises(ValueError, match="expects an IP address, not 'phone.example.com'"):
            leg.expect("phone.example.com", 4000)
        with pytest.raises(ValueError, match="port 65536 out of range"):
            leg.expect(LOOPBACK, 65535)
        with pytest.raises(ValueError, match="to itself"):
            relay.link(leg, leg)
        with pytest.raises(ValueError, match="another media relay"):
            relay.link(leg, stranger)
        with pytest.raises(ValueError, match="binds an IP address"):
            MediaRelay("localhost", 30000, 30001, clock=FakeClock())
        relay.close()
        with pytest.raises(EndpointClosed):
            leg.expect(LOOPBACK, 4000)
        with pytest.raises(EndpointClosed):
            relay.open_endpoint()

    runner.run(scenario())
