"""Tests for pbx.calls.monitor: a supervisor joined to a bridged call on the real media relay.

The relay binds 127.0.0.1 (a random range in 30000-39000); three plain UDP sockets are the
caller's, the agent's and the supervisor's phones. Each phone sends one 20 ms RTP packet of its
own constant G.711 code per tick; the test ticks the monitor by hand with a fake clock and
reads what each phone receives: raw relayed packets, or the mix, byte for byte.
"""

from __future__ import annotations

import asyncio
import random
import socket
import struct
from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest

from pbx.calls.call import Call
from pbx.calls.leg import Leg, LegState
from pbx.calls.monitor import Monitor
from pbx.calls.own_media import MediaSession
from pbx.calls.signals import Party
from pbx.media.g711 import ulaw_decode, ulaw_encode
from pbx.media.leg_monitor import LegMonitor
from pbx.media.recording import rtp_payload
from pbx.media.relay import MediaRelay
from pbx.media.rtp_header import peek
from pbx.sip.sdp import SessionDescription

pytestmark = pytest.mark.timeout(10)

LOOPBACK = "127.0.0.1"
TICK = 0.02
CODE = {"caller": b"\xa0", "agent": b"\x30", "supervisor": b"\xc4"}  # one mu-law code per phone
SSRC = {"caller": 0xCA11E5, "agent": 0xA6E27, "supervisor": 0x5E7E}
PHONE_SDP = ("v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
             "m=audio {port} RTP/AVP 0 101\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:101 telephone-event/8000\r\n")


def value_of(code: bytes) -> int:
    return struct.unpack("<h", ulaw_decode(code))[0]


def mixed_code(*parties: str) -> bytes:
    """The mu-law code of the sum of the parties' decoded values, as the mixer sends it."""
    return ulaw_encode(struct.pack("<h", max(-32768, min(32767, sum(value_of(CODE[p]) for p in parties)))))


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@dataclass
class Phone:
    name: str
    sock: socket.socket
    sequence: int = 1000

    @property
    def address(self) -> tuple[str, int]:
        return self.sock.getsockname()

    def send(self, relay_port: int, payload_type: int = 0, payload: bytes | None = None) -> bytes:
        self.sequence += 1
        packet = struct.pack("!BBHII", 0x80, payload_type, self.sequence, self.sequence * 160, SSRC[self.name])
        packet += payload if payload is not None else CODE[self.name] * 160
        self.sock.sendto(packet, (LOOPBACK, relay_port))
        return packet

    def received(self) -> list[bytes]:
        packets = []
        while True:
            try:
                packets.append(self.sock.recv(2048))
            except BlockingIOError:
                return packets


@dataclass
class Bridged:
    """A call between caller and agent bridged on the relay, and a supervisor's leg beside it."""

    relay: MediaRelay
    clock: FakeClock
    phones: dict[str, Phone]
    legs: dict[str, Leg]
    call: Call
    session: MediaSession

    async def speak(self, *names: str) -> None:
        """Each named phone sends one packet; wait until the relay has read them all."""
        before = {name: self.legs[name].media.stats.packets_in for name in names}
        for name in names:
            self.phones[name].send(self.legs[name].media.port)
        await until(lambda: all(self.legs[n].media.stats.packets_in > before[n] for n in names))

    async def tick(self, monitor: Monitor, *speaking: str) -> dict[str, list[bytes]]:
        """One 20 ms step: the phones speak, the monitor ticks; what each phone got since."""
        await self.speak(*speaking)
        self.clock.now += TICK
        monitor.tick(self.clock.now)
        await asyncio.sleep(0)
        return {name: phone.received() for name, phone in self.phones.items()}

    def monitor(self, mode: str) -> Monitor:
        monitor = Monitor("m1", self.call, self.legs["caller"], self.legs["agent"], agent_name="1002",
                          supervisor="1003", mode=mode, source="api", new_ssrc=lambda: 0x51E5,
                          now=self.clock.now)  # type: ignore[arg-type]
        monitor.attach(self.legs["supervisor"], self.session, self.clock.now)
        return monitor


async def until(condition, attempts: int = 200) -> None:
    for _ in range(attempts):
        if condition():
            return
        await asyncio.sleep(0.001)
    raise AssertionError("the relay did not read the packets in time")


def payload_codes(packet: bytes) -> set[bytes]:
    parsed = rtp_payload(packet)
    assert parsed is not None, packet
    return {bytes([octet]) for octet in parsed[4]}


@pytest.fixture
async def bridged() -> AsyncIterator[Bridged]:
    clock = FakeClock()
    low = random.randrange(30000, 39000, 2)
    relay = MediaRelay(LOOPBACK, low, low + 40, clock=clock)
    phones, legs = {}, {}
    for name, number in (("caller", "1001"), ("agent", "1002"), ("supervisor", "1003")):
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        sock.bind((LOOPBACK, 0))
        sock.setblocking(False)
        phones[name] = Phone(name, sock)
        endpoint = relay.open_endpoint(name)
        endpoint.expect(*phones[name].address)
        leg = Leg(f"leg-{name}", "callee" if name == "agent" else "caller", Party(number))
        leg.media, leg.state = endpoint, LegState.ANSWERED
        leg.phone_sdp = SessionDescription.parse(PHONE_SDP.format(port=phones[name].address[1]))
        leg.local_sdp = SessionDescription.parse(PHONE_SDP.format(port=endpoint.port))
        legs[name] = leg
    relay.link(legs["caller"].media, legs["agent"].media)
    call = Call("call-1", Party("1001"), "1002", controller=None, now=clock.now)  # type: ignore[arg-type]
    call.add_leg(legs["caller"])
    call.add_leg(legs["agent"])
    session = MediaSession(legs["supervisor"].media, LegMonitor(), "PCMU", 0, 0x5E55, clock.now)
    try:
        yield Bridged(relay, clock, phones, legs, call, session)
    finally:
        relay.close()
        for phone in phones.values():
            phone.sock.close()


async def test_listening_the_supervisor_gets_the_mix_and_the_call_stays_on_the_relay(bridged):
    monitor = bridged.monitor("listen")
    for _ in range(3):
        got = await bridged.tick(monitor, "caller", "agent", "supervisor")
    # The two parties still get each other's packets byte for byte, and nothing else.
    assert [(peek(packet).ssrc, peek(packet).sequence) for packet in got["agent"]] == \
        [(SSRC["caller"], bridged.phones["caller"].sequence)]
    assert [payload_codes(packet) for packet in got["agent"]] == [{CODE["caller"]}]
    assert [payload_codes(packet) for packet in got["caller"]] == [{CODE["agent"]}]
    # The supervisor hears caller + agent, mixed, from the supervisor session's own stream.
    (heard,) = got["supervisor"]
    assert peek(heard).ssrc == 0x5E55 and payload_codes(heard) == {mixed_code("caller", "agent")}


async def test_whispering_the_agent_hears_caller_plus_supervisor_as_the_callers_stream_continued(bridged):
    monitor = bridged.monitor("listen")
    await bridged.tick(monitor, "caller", "agent", "supervisor")
    last = bridged.phones["caller"].sequence  # the caller's last packet, relayed to the agent
    monitor.switch("whisper")
    frames = [await bridged.tick(monitor, "caller", "agent", "supervisor") for _ in range(3)]
    to_agent = [packet for got in frames for packet in got["agent"]]
    # Only the mix reaches the agent now: the caller's raw packets are withheld.
    assert [peek(packet).ssrc for packet in to_agent] == [SSRC["caller"]] * 3
    assert [peek(packet).sequence for packet in to_agent] == [last + 1, last + 2, last + 3]
    assert [peek(packet).timestamp for packet in to_agent] == [(last + n) * 160 for n in (1, 2, 3)]
    assert all(payload_codes(packet) == {mixed_code("caller", "supervisor")} for packet in to_agent[1:])
    # The caller never hears the supervisor: the agent's packets, untouched.
    to_caller = [packet for got in frames for packet in got["caller"]]
    assert to_caller and all(payload_codes(packet) == {CODE["agent"]} for packet in to_caller)
    assert all(peek(packet).ssrc == SSRC["agent"] for packet in to_caller)
    assert all(payload_codes(packet) == {mixed_code("caller", "agent")} for got in frames[1:]
               for packet in got["supervisor"])


async def test_barging_everyone_hears_the_two_others(bridged):
    monitor = bridged.monitor("barge")
    frames = [await bridged.tick(monitor, "caller", "agent", "supervisor") for _ in range(3)]
    for got in frames[1:]:  # one packet a tick to each phone, the mix of the two others only
        assert [payload_codes(packet) for packet in got["caller"]] == [{mixed_code("agent", "supervisor")}]
        assert [payload_codes(packet) for packet in got["agent"]] == [{mixed_code("caller", "supervisor")}]
        assert [payload_codes(packet) for packet in got["supervisor"]] == [{mixed_code("caller", "agent")}]
        assert peek(got["caller"][0]).ssrc == SSRC["agent"] and peek(got["agent"][0]).ssrc == SSRC["caller"]


async def test_stopping_gives_the_call_back_to_the_relay(bridged):
    monitor = bridged.monitor("barge")
    await bridged.tick(monitor, "caller", "agent", "supervisor")
    monitor.detach(bridged.clock.now)
    got = await bridged.tick(monitor, "caller", "agent", "supervisor")
    assert [payload_codes(packet) for packet in got["agent"]] == [{CODE["caller"]}]
    assert [payload_codes(packet) for packet in got["caller"]] == [{CODE["agent"]}]
    assert got["supervisor"] == []  # no more audio (the session's RTCP goodbye went to the RTCP port)
    assert monitor.finished and monitor.seconds(bridged.clock.now + 60) == pytest.approx(TICK)


async def test_a_stream_of_its_own_when_the_party_it_replaces_is_silent(bridged):
    """Whisper starts before the caller sent anything: after TAKEOVER_TICKS the agent gets a mix
    of the PBX's own (a fresh SSRC), in the codec the agent's phone takes."""
    monitor = bridged.monitor("whisper")
    frames = [await bridged.tick(monitor, "supervisor") for _ in range(12)]
    to_agent = [packet for got in frames for packet in got["agent"]]
    assert to_agent, "the agent heard nothing"
    assert {peek(packet).ssrc for packet in to_agent} == {0x51E5}
    assert payload_codes(to_agent[-1]) == {CODE["supervisor"]}
    assert all(not got["caller"] for got in frames)


async def test_a_leg_that_ends_under_the_monitor_stops_it(bridged):
    monitor = bridged.monitor("listen")
    lost = []
    monitor.on_lost = lambda stopped, now: lost.append((stopped, now))
    bridged.legs["agent"].state = LegState.ENDED
    await bridged.tick(monitor)
    assert lost == [(monitor, bridged.clock.now)]
