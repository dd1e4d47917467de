"""SRTP with SDES keys through the PBX: baresip phones with srtp.so (RFC 3711, RFC 4568).

A caller that requires SRTP (``mediaenc=srtp-mand``: RTP/SAVP and a=crypto) calls a plain RTP
phone, then a phone that requires SRTP too (extension ``srtp: true``, so the PBX offers it
RTP/SAVP). The relay decrypts one leg and encrypts the other with keys of its own; the proof is
that each phone hears the other's audio (correlation of what one sent with what the other
decoded), that the SDP each phone saw has the profile its leg should, and that the relay's
CallQuality is right on the SRTP leg (whose RTCP is SRTCP).
"""

from __future__ import annotations

import time

import pytest

from .calls import audio
from .calls.fixtures import (  # noqa: F401 - fixtures
    FAST_TIMERS,
    call_extensions,
    call_pbx,
    dial_uri,
    media_counters,
    phones,
    wait_bus_event,
    wait_idle,
)

pytestmark = pytest.mark.e2e


@pytest.mark.timeout(60)
@pytest.mark.parametrize("callee_srtp", [False, True], ids=["to-plain-rtp", "srtp-both-legs"])
def test_srtp_caller_and_callee_hear_each_other(tmp_path, call_pbx, phones, callee_srtp):  # noqa: F811
    extensions = call_extensions(range(1001, 1003), x1002={"srtp": callee_srtp})
    pbx = call_pbx(sip=FAST_TIMERS, extensions=extensions)
    sources = [audio.noise_wav(tmp_path / "wav", f"noise{seed}", seconds=30, seed=seed) for seed in (1, 2, 3)]
    caller = phones("phone1001", "1001", pbx, source=sources[0], mediaenc="srtp-mand")
    callee = phones("phone1002", "1002", pbx, source=sources[1], mediaenc="srtp-mand" if callee_srtp else None)

    caller.dial(dial_uri(pbx, "1002"))
    callee.wait_event("CALL_ESTABLISHED", 10)
    caller.wait_event("CALL_ESTABLISHED", 10)
    time.sleep(3.0)
    for phone in (caller, callee):
        counters = media_counters(phone)
        assert counters["sent"] > 100, (phone.name, counters)
    caller.hangup()
    callee.wait_event("CALL_CLOSED", 10)
    caller.wait_event("CALL_CLOSED", 10)
    wait_bus_event(pbx, "CallEnded", timeout=5)
    wait_idle(pbx, timeout=5)

    # The caller offered RTP/SAVP and got our a=crypto line back; the callee's leg is what its
    # extension says: plain RTP/AVP without keys, or RTP/SAVP with a key of ours.
    caller_trace, callee_trace = caller.peer.stdout, callee.peer.stdout
    assert caller_trace.count("a=crypto:") >= 2 and "RTP/SAVP" in caller_trace
    assert ("a=crypto:" in callee_trace) is callee_srtp and ("RTP/SAVP" in callee_trace) is callee_srtp
    # RFC 4568 8.3: keys over UDP signalling are logged, once per call.
    assert pbx.log_text().count("SRTP keys negotiated over UDP") == 1

    # The relay's receive quality on each leg: 3 s of 20 ms packets, decrypted, none lost.
    for party in ("caller", "callee"):
        quality = wait_bus_event(pbx, "CallQuality", timeout=5, party=party)
        assert int(quality["packets"]) > 100 and quality["lost"] == "0" and float(quality["mos"]) > 4.0, quality

    unrelated = audio.read_wav(sources[2])
    audio.assert_heard(caller.sent(), callee.heard(), unrelated=[callee.sent(), unrelated], what="1002 hears 1001")
    audio.assert_heard(callee.sent(), caller.heard(), unrelated=[caller.sent(), unrelated], what="1001 hears 1002")


@pytest.mark.timeout(30)
def test_an_srtp_extension_whose_phone_cannot_do_srtp_does_not_get_the_call(tmp_path, call_pbx, phones):  # noqa: F811
    """Extension `srtp: true` with a phone that cannot do SRTP: baresip refuses our RTP/SAVP offer."""
    pbx = call_pbx(sip=FAST_TIMERS, extensions=call_extensions(range(1001, 1003), x1002={"srtp": True}))
    caller = phones("phone1001", "1001", pbx)
    callee = phones("phone1002", "1002", pbx)
    caller.dial(dial_uri(pbx, "1002"))
    caller.wait_event("CALL_CLOSED", 10)
    callee.expect_no_event("CALL_ESTABLISHED", 0.5)
    wait_idle(pbx, timeout=5)
