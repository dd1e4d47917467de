"""The media relay with one leg on SRTP (RFC 3711), on real UDP sockets on 127.0.0.1.

Phone A speaks SRTP with its own libsrtp sessions (pylibsrtp), as a real
SRTP phone would: what it puts on the wire is not plain RTP, and what the
relay sends it must decrypt with the PBX's key. Phone B and the taps see
plain RTP. Forged and replayed packets are dropped and counted.
"""

from __future__ import annotations

import pylibsrtp
import pytest

from pbx.media import PortsExhausted
from pbx.media.srtp import SrtpContext

from .test_relay_sockets import RECEIVER_REPORT, Lab, at, call, lab, rtcp_at, rtp, runner, until  # noqa: F401

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(20)]

SUITE = "AES_CM_128_HMAC_SHA1_80"
PHONE_KEY = bytes(range(30))  # master key || salt the phone put in its a=crypto line
PBX_KEY = bytes(range(100, 130))  # ours, from our a=crypto line


class SrtpPhone:
    """The phone's side of the SRTP: it protects with its key and unprotects with ours."""

    def __init__(self) -> None:
        profile = pylibsrtp.Policy.SRTP_PROFILE_AES128_CM_SHA1_80
        policy = pylibsrtp.Policy
        self.tx = pylibsrtp.Session(policy(PHONE_KEY, policy.SSRC_ANY_OUTBOUND, srtp_profile=profile))
        self.rx = pylibsrtp.Session(policy(PBX_KEY, policy.SSRC_ANY_INBOUND, srtp_profile=profile))


async def secured_call(lab: Lab):
    for _ in range(10):  # other tests on the host may hold a whole random range
        try:
            a, b, leg_a, leg_b = await call(lab, lab.relay())
            break
        except PortsExhausted:
            continue
    leg_a.secure(SrtpContext(SUITE, PHONE_KEY, SUITE, PBX_KEY))
    return a, b, leg_a, leg_b


def test_srtp_leg_is_encrypted_on_the_wire_and_plain_beyond_the_relay(runner, lab):
    async def scenario():
        a, b, leg_a, leg_b = await secured_call(lab)
        srtp_phone = SrtpPhone()
        tapped: list[bytes] = []
        leg_a.add_tap(lambda data, now: tapped.append(data))
        from_a = [rtp(n, ssrc=0xA, payload=bytes([n]) * 160) for n in range(5)]
        for packet in from_a:
            a.send(srtp_phone.tx.protect(packet), at(leg_a))
        received_by_b = [data for data, _ in await b.receive_many(5)]
        assert received_by_b == from_a  # B gets the plain packets A encrypted
        assert tapped == from_a  # and so do the taps (the media engine, recordings)

        from_b = [rtp(n, ssrc=0xB, payload=bytes([200 + n]) * 160) for n in range(5)]
        for packet in from_b:
            b.send(packet, at(leg_b))
        on_the_wire = [data for data, _ in await a.receive_many(5)]
        for wire, plain in zip(on_the_wire, from_b):
            assert wire[:12] == plain[:12]  # RFC 3711 3.1: the header stays in clear
            assert wire[12:172] != plain[12:] and len(wire) == len(plain) + 10  # G.711 encrypted, 80-bit tag
            assert srtp_phone.rx.unprotect(wire) == plain
        assert leg_a.stats.unauthenticated == 0

    runner.run(scenario())


def test_forged_and_replayed_packets_are_dropped_and_counted(runner, lab):
    async def scenario():
        a, b, leg_a, _ = await secured_call(lab)
        srtp_phone = SrtpPhone()
        good = srtp_phone.tx.protect(rtp(1, ssrc=0xA))
        a.send(good, at(leg_a))
        assert (await b.receive())[0] == rtp(1, ssrc=0xA)
        tampered = bytearray(srtp_phone.tx.protect(rtp(2, ssrc=0xA)))
        tampered[40] ^= 0x01  # one bit of the encrypted G.711
        a.send(bytes(tampered), at(leg_a))
        a.send(good, at(leg_a))  # a replay (RFC 3711 3.3.2)
        a.send(rtp(3, ssrc=0xA), at(leg_a))  # plain RTP on an SRTP leg: not authenticated either
        await until(lambda: leg_a.stats.unauthenticated == 3)
        assert await b.hears_nothing()
        assert leg_a.stats.dropped == 3

    runner.run(scenario())


def test_srtcp_is_unprotected_for_the_taps_and_protected_towards_the_phone(runner, lab):
    async def scenario():
        a, b, leg_a, leg_b = await secured_call(lab)
        for phone, leg in ((a, leg_a), (b, leg_b)):
            leg.expect(*phone.address, rtcp_port=phone.port)  # RFC 3605 a=rtcp: one socket each
        srtp_phone = SrtpPhone()
        reports: list[bytes] = []
        leg_a.add_tap(lambda data, now: reports.append(data), rtcp=True)
        a.send(srtp_phone.tx.protect_rtcp(RECEIVER_REPORT), rtcp_at(leg_a))
        assert (await b.receive())[0] == RECEIVER_REPORT
        assert reports == [RECEIVER_REPORT]  # CallQuality reads plain RTCP
        b.send(RECEIVER_REPORT, rtcp_at(leg_b))
        wire = (await a.receive())[0]
        assert wire != RECEIVER_REPORT and srtp_phone.rx.unprotect_rtcp(wire) == RECEIVER_REPORT
        leg_a.send_rtcp(RECEIVER_REPORT)  # a report of our own is protected too
        assert srtp_phone.rx.unprotect_rtcp((await a.receive())[0]) == RECEIVER_REPORT

    runner.run(scenario())
