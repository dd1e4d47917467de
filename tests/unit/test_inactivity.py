"""The RTP-inactivity timeout (pbx/calls/media_timeout.py) on a PBX built by its composition root,
on a clock the test moves, with SIP phones and RTP on 127.0.0.1 (tests/unit/admin/live_world.py).
No real waiting: the test moves the clock and fires the PBX's timers itself.

- An answered call whose phones send no RTP ends after media.inactivity_timeout (60 s by default),
  not before: CallEnded cause "media_timeout", a BYE to both phones.
- RTP from both phones keeps it up past the timeout; silence from one phone alone ends it.
- A call on hold (a=sendonly answered a=recvonly, RFC 3264 8.4) is exempt.
"""

from __future__ import annotations

import asyncio
import socket
import struct

import pytest

from sdk.events import CallAnswered, CallEnded

from tests.unit.admin.live_world import CONFIG, LiveWorld, Phone, live_world

# The live world turns the timeout off (its phones send no RTP); here it is the default, 60 s.
WATCHED = CONFIG.replace(", inactivity_timeout: 0}}", "}}")


@pytest.fixture
async def world(tmp_path):
    assert WATCHED != CONFIG
    async for built in live_world(tmp_path, WATCHED):
        yield built


def fire_timers(world: LiveWorld) -> None:
    """What the transport's timer does when it wakes: the PBX's timers due by the moved clock."""
    world.pbx.transport.execute(world.pbx.endpoint.handle_timer(world.clock()))


async def answered_call(world: LiveWorld) -> tuple[Phone, Phone, str]:
    alice, bob = await world.phone("1001"), await world.phone("1002")
    await asyncio.gather(alice.dial("1002"), bob.answer())
    answered = await world.events.wait(CallAnswered)
    return alice, bob, answered.call_id


def final_answer(phone: Phone):
    """The PBX's 200 OK (with SDP) to the phone's INVITE."""
    return next(message for message in phone.got(200) if message.body)


def relay_port(sdp_body: bytes) -> int:
    return next(int(line.split()[1]) for line in sdp_body.decode().splitlines() if line.startswith("m=audio"))


class RtpSender:
    """A phone's RTP stream: one PCMU packet at a time to its leg's relay port."""

    def __init__(self, port: int) -> None:
        self.socket = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.socket.bind(("127.0.0.1", 0))
        self.port = port
        self.sequence = 0

    def send(self) -> None:
        self.sequence += 1
        header = struct.pack("!BBHII", 0x80, 0, self.sequence, self.sequence * 160, 0x1234)
        self.socket.sendto(header + b"\xff" * 160, ("127.0.0.1", self.port))

    def close(self) -> None:
        self.socket.close()


async def heard(world: LiveWorld, packets: int) -> None:
    """Until every leg's monitor has counted `packets` packets."""
    async with asyncio.timeout(3):
        while True:
            legs = [leg for call in world.pbx.calls.calls.values() for leg in call.live_legs()]
            if legs and all(leg.watch.monitor.report().packets >= packets for leg in legs):
                return
            await asyncio.sleep(0.01)


async def test_a_call_whose_phones_send_nothing_ends_after_the_timeout(world):
    alice, bob, call_id = await answered_call(world)
    world.clock.advance(59.9)
    fire_timers(world)
    assert world.events.of(CallEnded) == []

    world.clock.advance(0.2)
    fire_timers(world)
    ended = await world.events.wait(CallEnded, call_id=call_id)
    assert (ended.cause, ended.hangup_by, ended.answered, ended.talk_seconds) == ("media_timeout", "system", True, 60.1)
    await alice.expect("BYE")
    await bob.expect("BYE")
    assert world.pbx.calls.calls == {}


async def test_rtp_keeps_a_call_up_and_one_silent_phone_ends_it(world):
    alice, bob, call_id = await answered_call(world)
    alice_rtp = RtpSender(relay_port(final_answer(alice).body))
    bob_rtp = RtpSender(relay_port(bob.got("INVITE")[0].body))
    try:
        for step in range(1, 4):  # 40 s apart: 120 s in all, never 60 s silent
            world.clock.advance(40)
            alice_rtp.send()
            bob_rtp.send()
            await heard(world, step)
            fire_timers(world)
        assert world.events.of(CallEnded) == []

        world.clock.advance(30)
        alice_rtp.send()  # bob's phone went quiet 30 s ago
        await heard_from(world, "caller", 4)
        world.clock.advance(30)
        fire_timers(world)
        ended = await world.events.wait(CallEnded, call_id=call_id)
        assert ended.cause == "media_timeout" and ended.talk_seconds == 180.0
        await bob.expect("BYE")
    finally:
        alice_rtp.close()
        bob_rtp.close()


async def heard_from(world: LiveWorld, role: str, packets: int) -> None:
    async with asyncio.timeout(3):
        while not any(leg.role == role and leg.watch.monitor.report().packets >= packets
                      for call in world.pbx.calls.calls.values() for leg in call.live_legs()):
            await asyncio.sleep(0.01)


async def test_a_call_on_hold_is_exempt(world):
    alice, bob, call_id = await answered_call(world)
    dialog_ok = final_answer(alice)
    target = dialog_ok.headers.get("Contact").strip("<>").split(">")[0]
    local, remote = "<sip:1001@pbx.test>;tag=from1001", dialog_ok.headers.get("To")
    hold = (f"v=0\r\no=1001 1 2 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
            f"m=audio 9 RTP/AVP 0 101\r\na=rtpmap:101 telephone-event/8000\r\na=sendonly\r\n")
    alice.send("\n".join([f"INVITE {target} SIP/2.0", alice.via(), "Max-Forwards: 70", f"From: {local}",
                          f"To: {remote}", f"Call-ID: {dialog_ok.call_id}", "CSeq: 3 INVITE",
                          f"Contact: <sip:1001@127.0.0.1:{alice.port}>", "Content-Type: application/sdp"]), hold)
    reinvite = await bob.expect("INVITE")  # the re-INVITE: bob.answer took the first
    assert "a=sendonly" in reinvite.body.decode()
    held = bob.sdp().replace("a=sendrecv", "a=recvonly").replace("1 1 IN", "1 2 IN")
    bob.reply(reinvite, 200, "OK", held)
    await alice.expect(200, dialog_ok.call_id)
    alice.send("\n".join([f"ACK {target} SIP/2.0", alice.via(), "Max-Forwards: 70", f"From: {local}",
                          f"To: {remote}", f"Call-ID: {dialog_ok.call_id}", "CSeq: 3 ACK"]))
    await bob.expect("ACK", reinvite.call_id)
    await asyncio.sleep(0.05)  # alice's ACK reaches the PBX before the clock moves past Timer H
    for _ in range(4):
        world.clock.advance(60)
        fire_timers(world)
    assert world.events.of(CallEnded) == []
    assert call_id in world.pbx.calls.calls
