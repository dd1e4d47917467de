"""Answering-machine detection on a call placed through the plugin API, on real sockets.

The PBX of the live API tests (tests/unit/admin/live_world.py: its composition root, SIP on
127.0.0.1, a clock the test moves) places a call with `api.originate(..., amd=True)`; phone 1005
answers and sends a recorded-like greeting as G.711 RTP from a UDP socket, one 20 ms packet per
step of the clock. The bus then carries MachineDetectionFinished for that call while the call
stays connected to its scenario. Also here: a callee that sends nothing (the timer gives
"silence"), the ring timeout of a placed call, and its refusal below 15 s.
"""

from __future__ import annotations

import asyncio
import random
import socket
import struct

import pytest

from pbx.calls.amd_watch import AmdWatch
from pbx.media.g711 import ulaw_encode
from pbx.plugin_api import LiveApi
from sdk import ActionRefused
from sdk.events import CallAnswered, CallEnded, CallStarted, IvrStarted, MachineDetectionFinished
from sdk.testing import PluginHarness
from tests.unit.admin.live_world import LiveWorld, live_world
from tests.unit.amd_speech import Answer, frames, pcm

pytestmark = pytest.mark.timeout(20)

TICK = 0.02


@pytest.fixture
async def world(tmp_path):
    async for built in live_world(tmp_path):
        yield built


def relay_port(invite) -> int:
    """The PBX's RTP port, from the m= line of the INVITE it sent the phone."""
    body = invite.body.decode() if isinstance(invite.body, bytes) else invite.body
    return int(next(line for line in body.splitlines() if line.startswith("m=audio")).split()[1])


def greeting() -> list[bytes]:
    """A machine's 4 s greeting (words of 0.3-0.5 s, gaps of 0.1-0.25 s), as mu-law payloads."""
    rng = random.Random(5)
    words, at = [], 0.15
    while at < 4.0:
        length = rng.uniform(0.3, 0.5)
        words.append((at, length))
        at += length + rng.uniform(0.1, 0.25)
    return [ulaw_encode(frame) for frame in frames(pcm(Answer(words, level_dbfs=-18, noise_dbfs=-62, seed=5)))]


async def answered_call(world: LiveWorld) -> tuple[LiveApi, str, int]:
    """1005 answers a call the plugin API placed with AMD on: (api, call id, the PBX's RTP port)."""
    callee = await world.phone("1005")
    api = LiveApi(world.pbx, "dialer", None)
    call_id = await api.originate("1005", connect_to="800", amd=True, ring_timeout=20)
    await callee.answer()
    await world.events.wait(CallAnswered, call_id=call_id)
    return api, call_id, relay_port(callee.got("INVITE")[0])


async def test_a_machine_greeting_on_an_originated_call_is_published_as_a_machine(world):
    api, call_id, port = await answered_call(world)
    started = world.events.of(CallStarted, call_id=call_id)[0]
    assert (started.caller, started.direction) == ("1005", "outbound")
    endpoint = world.pbx.calls.calls[call_id].legs[0].media
    answered_at = world.clock.now
    sender = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sender.setblocking(False)
    try:
        for sequence, payload in enumerate(greeting()):
            if world.events.of(MachineDetectionFinished):
                break
            world.clock.advance(TICK)
            before = endpoint.stats.packets_in
            sender.sendto(struct.pack("!BBHII", 0x80, 0, sequence, sequence * 160, 0x4D41) + payload,
                          ("127.0.0.1", port))
            async with asyncio.timeout(2):
                while endpoint.stats.packets_in == before:
                    await asyncio.sleep(0.0005)
    finally:
        sender.close()
    verdict = await world.events.wait(MachineDetectionFinished, call_id=call_id)
    assert (verdict.number, verdict.result, verdict.reason) == ("1005", "machine", "long-greeting")
    assert verdict.at - answered_at == pytest.approx(verdict.seconds)
    assert 2.5 <= verdict.seconds <= 2.8 and verdict.greeting_seconds >= 2.5
    # Detection never held the call: it was connected to its scenario on answer and still is.
    assert [event.scenario for event in world.events.of(IvrStarted, call_id=call_id)] == ["line"]
    assert world.pbx.calls.calls[call_id].answered_at == answered_at
    pending = [handle.callback for _, _, handle in world.pbx.calls.scheduler._heap if not handle.cancelled]
    assert not any(isinstance(getattr(callback, "__self__", None), AmdWatch) for callback in pending)
    assert len(world.events.of(MachineDetectionFinished)) == 1
    api.hang_up(call_id)
    await world.events.wait(CallEnded, call_id=call_id)


async def test_a_callee_that_sends_no_audio_is_silence_when_the_timer_fires(world):
    api, call_id, _ = await answered_call(world)
    world.clock.advance(3.4)
    world.pbx.transport.execute(world.pbx.endpoint.handle_timer(world.clock.now))
    assert world.events.of(MachineDetectionFinished) == []
    world.clock.advance(0.1)
    world.pbx.transport.execute(world.pbx.endpoint.handle_timer(world.clock.now))
    verdict = await world.events.wait(MachineDetectionFinished, call_id=call_id)
    assert (verdict.result, verdict.reason, verdict.seconds, verdict.words) == ("silence", "initial-silence", 3.5, 0)
    api.hang_up(call_id)
    await world.events.wait(CallEnded, call_id=call_id)


async def test_a_call_that_ends_before_the_verdict_stops_detection_without_one(world):
    api, call_id, _ = await answered_call(world)
    world.clock.advance(1.0)
    api.hang_up(call_id)
    await world.events.wait(CallEnded, call_id=call_id)
    pending = [handle.callback for _, _, handle in world.pbx.calls.scheduler._heap if not handle.cancelled]
    assert not any(isinstance(getattr(callback, "__self__", None), AmdWatch) for callback in pending)
    world.clock.advance(5.0)
    world.pbx.transport.execute(world.pbx.endpoint.handle_timer(world.clock.now))
    assert world.events.of(MachineDetectionFinished) == []


async def test_a_placed_call_rings_for_its_ring_timeout_then_is_cancelled(world):
    callee = await world.phone("1005")
    api = LiveApi(world.pbx, "dialer", None)
    for wrong in (10, 301, float("nan"), "soon"):
        with pytest.raises(ActionRefused, match="ring_timeout"):
            await api.originate("1005", connect_to="800", ring_timeout=wrong)
    call_id = await api.originate("1005", connect_to="800", ring_timeout=15, amd=True)
    invite = await callee.expect("INVITE")
    world.clock.advance(14.5)
    world.pbx.transport.execute(world.pbx.endpoint.handle_timer(world.clock.now))
    assert world.events.of(CallEnded) == []
    world.clock.advance(0.5)
    world.pbx.transport.execute(world.pbx.endpoint.handle_timer(world.clock.now))
    ended = await world.events.wait(CallEnded, call_id=call_id)
    assert (ended.cause, ended.answered, ended.hangup_by, ended.total_seconds) == ("no_answer", False, "system", 15.0)
    # RFC 3261 9.1: no provisional response came yet, so the CANCEL waits for the first one.
    assert callee.got("CANCEL") == []
    callee.reply(invite, 180, "Ringing")
    await callee.expect("CANCEL", invite.call_id)  # the phone answers 200, and 487 to the INVITE
    assert world.events.of(MachineDetectionFinished) == []
    assert world.pbx.calls.status()["calls"] == 0


async def test_the_plugin_harness_takes_and_refuses_the_same_options():
    class Dialer:
        pass

    async with PluginHarness(Dialer()) as pbx:
        api = pbx.api()
        with pytest.raises(ActionRefused, match="ring_timeout 14 is out of range: a call must ring at least 15 s"):
            await api.originate("+15550100", connect_to="700", ring_timeout=14)
        await api.originate("+15550100", connect_to="700", ring_timeout=20, amd=True)
        pbx.assert_action("originate", None, number="+15550100", connect_to="700", ring_timeout=20.0, amd=True)
        await api.originate("1004", connect_to="800")
        pbx.assert_action("originate", None, number="1004", ring_timeout=30.0, amd=False)
