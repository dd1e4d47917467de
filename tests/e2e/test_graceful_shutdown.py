"""Graceful shutdown (issue 15, "Faults"): SIGTERM drains the PBX before it stops.

A real `python -m pbx run` and the asyncio caller of tests/e2e/media/uac.py (its own SIP code,
none of the PBX's), calling the echo test extension 600 so one caller makes a call in progress.

- SIGTERM with a call up: the PBX logs event=draining calls=1, a new INVITE gets 503 with
  Retry-After (RFC 3261 21.5.4), a REGISTER is still answered 200, the call goes on (its BYE is answered 200) and once it ends
  the PBX exits 0 at once.
- With calls.drain_seconds 1, a call still up when the time is over gets a BYE from the PBX,
  its CallEnded says cause 'shutdown', and the PBX exits 0.
"""

from __future__ import annotations

import asyncio
import signal
import time

import pytest

from .calls.fixtures import free_rtp_range
from .harness import LOOPBACK, PbxProcess, wait_for
from .media.uac import Uac
from .sipmsg import UdpSipClient


def media_config() -> dict:
    low, high = free_rtp_range()
    return {"rtp_host": LOOPBACK, "rtp_ports": {"low": low, "high": high}}


def register(pbx: PbxProcess, user: str) -> int | None:
    with UdpSipClient(pbx.sip_address) as client:
        _, final = client.register(user, f"secret{user}")
    return final.status if final is not None else None


def exit_code(pbx: PbxProcess, within: float) -> int:
    return pbx.process.wait(timeout=within)


@pytest.mark.timeout(30)
def test_sigterm_refuses_new_calls_and_exits_when_the_last_call_ends(start_pbx):
    pbx = start_pbx(media=media_config())

    async def scenario() -> tuple:
        uac = await Uac.open(pbx.sip_address, "1001", "secret1001")
        try:
            first = await uac.call("600", 40_000)
            assert first.answered, first.error
            pbx.process.send_signal(signal.SIGTERM)
            await asyncio.to_thread(wait_for, lambda: "event=draining calls=1" in pbx.log_text(), timeout=5,
                                    what="event=draining calls=1")
            refused = await uac.call("600", 40_002)
            registered = await asyncio.to_thread(register, pbx, "1002")
            await asyncio.sleep(0.3)
            still_running = pbx.is_alive()
            await uac.hangup(first)
            hung_up_at = time.monotonic()
            code = await asyncio.to_thread(exit_code, pbx, 5)
            return refused, registered, first, still_running, code, time.monotonic() - hung_up_at
        finally:
            uac.close()

    refused, registered, first, still_running, code, exit_after = asyncio.run(scenario())
    assert refused.status == 503 and not refused.answered
    sent = pbx.log_text()  # with --sip-trace: the 503 as sent
    assert "SIP/2.0 503 Service Unavailable (shutting down)" in sent and "Retry-After: 30" in sent
    assert registered == 200  # REGISTER still works while draining
    assert still_running and first.bye_status == 200
    assert code == 0 and exit_after < 3.0
    assert "cause='normal'" in pbx.log_text() and "event=drained" in pbx.log_text()


@pytest.mark.timeout(30)
def test_calls_still_up_after_drain_seconds_are_ended_with_bye(start_pbx):
    pbx = start_pbx(media=media_config(), calls={"drain_seconds": 1})

    async def scenario() -> tuple:
        uac = await Uac.open(pbx.sip_address, "1001", "secret1001")
        try:
            call = await uac.call("600", 40_000)
            assert call.answered, call.error
            signalled = time.monotonic()
            pbx.process.send_signal(signal.SIGTERM)
            code = await asyncio.to_thread(exit_code, pbx, 6)
            return call, code, time.monotonic() - signalled
        finally:
            uac.close()

    call, code, took = asyncio.run(scenario())
    log = pbx.log_text()
    assert call.ended_ns is not None, "the PBX sent no BYE"  # set when the PBX's BYE arrived
    assert code == 0 and 1.0 <= took < 5.0
    assert "event=drain_timeout calls=1" in log and "cause='shutdown'" in log
