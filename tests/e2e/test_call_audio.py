"""Two baresip phones call each other through the PBX and each hears the other's voice.

Each phone plays its own espeak sentence and records what it hears (baresip's sndfile module).
The proof is correlation, not non-silence: one-second windows of what 1001 sent are found, at
some lag, in what 1002 recorded (score ~1.0 through G.711), and not windows of 1002's own voice
or of a third sentence; and the other way round.  Both phones must send their RTP to ports of
the PBX's ``media.rtp_ports`` (the PBX anchors the media), and after the hang-up the PBX's
call, dialog and RTP-port counters return to zero.
"""

from __future__ import annotations

import time

import pytest

from .calls import audio
from .calls.fixtures import (  # noqa: F401 - fixtures
    FAST_TIMERS,
    call_pbx,
    call_status,
    dial_uri,
    media_counters,
    phones,
    wait_all_idle,
    wait_bus_event,
    wait_idle,
)

pytestmark = pytest.mark.e2e


@pytest.mark.timeout(120)
def test_two_phones_hear_each_other_through_the_pbx(tmp_path, call_pbx, phones):  # noqa: F811
    pbx = call_pbx(sip=FAST_TIMERS)
    alpha, bravo, charlie = (audio.speech_wav(tmp_path / "wav", name) for name in ("alpha", "bravo", "charlie"))
    caller = phones("phone1001", "1001", pbx, source=alpha)
    callee = phones("phone1002", "1002", pbx, source=bravo)

    caller.dial(dial_uri(pbx, "1002"))
    established = callee.wait_event("CALL_ESTABLISHED", 10)
    caller.wait_event("CALL_ESTABLISHED", 10)
    # the callee sees the caller's authenticated extension as the From user
    assert established["peeruri"].startswith("sip:1001@"), established

    time.sleep(1.0)
    status = call_status(pbx)
    calls = pbx.api("/api/calls")
    assert status["calls"] == 1 and len(calls) == 1, (status, calls)
    assert (calls[0]["caller"], calls[0]["callee"]) == ("1001", "1002"), calls
    low, high = pbx.rtp_range
    for phone in (caller, callee):
        remote_port = media_counters(phone)["remote_port"]
        assert low <= remote_port <= high, f"{phone.name} sends RTP to {remote_port}, not to the PBX ({low}-{high})"

    time.sleep(4.0)
    caller.hangup()
    callee.wait_event("CALL_CLOSED", 10)
    caller.wait_event("CALL_CLOSED", 10)
    wait_bus_event(pbx, "CallEnded", timeout=5)
    wait_idle(pbx, timeout=5)
    # Each leg's quality, measured on the relay: about 4 s of 20 ms packets, none lost on loopback.
    for party in ("caller", "callee"):
        quality = wait_bus_event(pbx, "CallQuality", timeout=5, party=party)
        assert int(quality["packets"]) > 150 and quality["lost"] == "0" and float(quality["mos"]) > 4.0, quality

    unrelated = audio.read_wav(charlie)
    audio.assert_heard(caller.sent(), callee.heard(), unrelated=[callee.sent(), unrelated], what="1002 hears 1001")
    audio.assert_heard(callee.sent(), caller.heard(), unrelated=[caller.sent(), unrelated], what="1001 hears 1002")

    caller.quit()
    callee.quit()
    wait_all_idle(pbx, timeout=40)
