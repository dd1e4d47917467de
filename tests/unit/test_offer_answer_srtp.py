"""Offer/answer with SDES keys (RFC 4568 7, RFC 3264): the pure SDP side of SRTP legs."""

import base64

import pytest

from pbx.calls import anchor
from pbx.sip.offer_answer import apply_answer, make_answer, make_offer
from pbx.sip.sdes import CryptoAttribute, fresh_crypto
from pbx.sip.sdp import Codec, SdpError, SessionDescription

PHONE_KEY = base64.b64encode(bytes(range(30))).decode()
SUPPORTED = [Codec("PCMU", 8000), Codec("telephone-event", 8000)]


def offer(proto: str, *crypto: str) -> SessionDescription:
    lines = ["v=0", "o=phone 1 1 IN IP4 10.0.0.5", "s=-", "c=IN IP4 10.0.0.5", "t=0 0",
             f"m=audio 4000 {proto} 0 101", "a=rtpmap:0 PCMU/8000", "a=rtpmap:101 telephone-event/8000",
             *[f"a=crypto:{value}" for value in crypto], "a=sendrecv"]
    return SessionDescription.parse("\r\n".join(lines) + "\r\n")


def answer_to(sdp: SessionDescription):
    return make_answer(sdp, address="192.0.2.1", port=5000, supported=SUPPORTED, session_id=7,
                       session_version=1, random_bytes=lambda n: b"\x11" * n)


def test_savp_offer_is_answered_with_same_tag_and_suite_and_our_own_key():
    result = answer_to(offer("RTP/SAVP", f"1 AES_CM_128_HMAC_SHA1_32 inline:{PHONE_KEY}",
                             f"2 AES_CM_128_HMAC_SHA1_80 inline:{PHONE_KEY}"))
    media = result.sdp.media[0]
    ours = "1 AES_CM_128_HMAC_SHA1_32 inline:" + base64.b64encode(b"\x11" * 30).decode()
    assert (media.proto, media.port, media.crypto_lines()) == ("RTP/SAVP", 5000, [ours])
    keys = result.streams[0].srtp
    assert keys.remote.key_and_salt == bytes(range(30))
    assert keys.local.key_and_salt == b"\x11" * 30
    assert f"a=crypto:{ours}\r\n".encode() in result.sdp.serialize()


def test_savp_offer_without_a_usable_crypto_line_is_refused():
    for sdp in (offer("RTP/SAVP"), offer("RTP/SAVP", f"1 AEAD_AES_256_GCM inline:{PHONE_KEY}")):
        result = answer_to(sdp)
        assert result.sdp.media[0].port == 0 and not result.streams[0].accepted
    assert anchor.srtp_refusal(offer("RTP/SAVP")) == "RTP/SAVP offered without an a=crypto line"
    assert "no offered a=crypto line is usable" in anchor.srtp_refusal(
        offer("RTP/SAVP", f"1 F8_128_HMAC_SHA1_80 inline:{PHONE_KEY}"))
    assert anchor.srtp_refusal(offer("RTP/AVP")) is None
    assert anchor.srtp_refusal(offer("RTP/SAVP", f"1 AES_CM_128_HMAC_SHA1_80 inline:{PHONE_KEY}")) is None


def test_best_effort_avp_offer_with_crypto_is_answered_with_srtp():
    result = answer_to(offer("RTP/AVP", f"9 AES_CM_128_HMAC_SHA1_80 inline:{PHONE_KEY}"))
    media = result.sdp.media[0]
    assert media.proto == "RTP/AVP"
    assert CryptoAttribute.parse(media.crypto_lines()[0]).tag == 9
    assert result.streams[0].srtp is not None


def test_plain_offer_gets_a_plain_answer():
    result = answer_to(offer("RTP/AVP"))
    assert result.sdp.media[0].crypto_lines() == [] and result.streams[0].srtp is None


def test_our_srtp_offer_and_the_phones_answer():
    mine = fresh_crypto(1, "AES_CM_128_HMAC_SHA1_80", lambda n: b"\x22" * n)
    ours = make_offer(address="192.0.2.1", port=5000, codecs=SUPPORTED, session_id=3, session_version=1,
                      crypto=mine)
    assert ours.media[0].proto == "RTP/SAVP" and ours.media[0].crypto_lines() == [str(mine)]
    theirs = make_answer(ours, address="10.0.0.5", port=4000, supported=SUPPORTED, session_id=9,
                         session_version=1, random_bytes=lambda n: b"\x33" * n).sdp
    keys = apply_answer(ours, theirs)[0].srtp
    assert (keys.local, keys.remote.key_and_salt) == (mine, b"\x33" * 30)


def test_an_answer_that_drops_or_changes_required_crypto_is_an_error():
    mine = fresh_crypto(1, "AES_CM_128_HMAC_SHA1_80")
    ours = make_offer(address="192.0.2.1", port=5000, codecs=SUPPORTED, session_id=3, session_version=1,
                      crypto=mine)
    plain = SessionDescription.parse(offer("RTP/SAVP").serialize().replace(b"m=audio 4000", b"m=audio 4002"))
    with pytest.raises(SdpError, match="without a usable a=crypto line"):
        apply_answer(ours, plain)
    wrong_tag = offer("RTP/SAVP", f"2 AES_CM_128_HMAC_SHA1_80 inline:{PHONE_KEY}")
    with pytest.raises(SdpError, match="tag 2 AES_CM_128_HMAC_SHA1_80, which does not match"):
        apply_answer(ours, wrong_tag)


def test_anchor_answers_the_phone_in_its_profile_and_offers_the_far_leg_plain_rtp():
    phone = offer("RTP/SAVP", f"4 AES_CM_128_HMAC_SHA1_80 inline:{PHONE_KEY}")
    far_offer = anchor.offer_for_leg(phone, host="192.0.2.1", port=6000, session=anchor.LegSession(2))
    assert far_offer.media[0].proto == "RTP/AVP" and far_offer.media[0].crypto_lines() == []
    theirs = anchor.offered_crypto(phone)
    mine = fresh_crypto(theirs.tag, theirs.suite)
    far_answer = offer("RTP/AVP")
    ours = anchor.answer_for_leg(phone, far_answer, host="192.0.2.1", port=5000, session=anchor.LegSession(1),
                                 crypto=mine)
    assert ours.media[0].proto == "RTP/SAVP" and ours.media[0].crypto_lines() == [str(mine)]


def test_anchor_reads_the_keys_of_the_answer_to_our_srtp_offer():
    mine = fresh_crypto(1, "AES_CM_128_HMAC_SHA1_80")
    ours = anchor.offer_for_leg(offer("RTP/AVP"), host="192.0.2.1", port=5000, session=anchor.LegSession(1),
                                crypto=mine)
    assert ours.media[0].proto == "RTP/SAVP"
    keys = anchor.answered_keys(ours, offer("RTP/SAVP", f"1 AES_CM_128_HMAC_SHA1_80 inline:{PHONE_KEY}"))
    assert keys.local == mine and keys.remote.key_and_salt == bytes(range(30))
    with pytest.raises(SdpError, match="no a=crypto line matching ours"):
        anchor.answered_keys(ours, offer("RTP/AVP"))
    assert anchor.answered_keys(offer("RTP/AVP"), offer("RTP/AVP")) is None


def test_the_call_manager_refuses_an_savp_invite_without_keys_with_488():
    from tests.unit.sipkit import authorization, challenge_params, only_response, wire
    from tests.unit.test_call_flow import CALLER, NOW, build

    endpoint, _, relay = build()

    def invite(cseq: int, extra: str = "") -> bytes:
        text = "\n".join(line for line in [
            "INVITE sip:1002@127.0.0.1:5060 SIP/2.0", f"Via: SIP/2.0/UDP 127.0.0.1:5062;branch=z9hG4bK-s{cseq};rport",
            "Max-Forwards: 70", "From: <sip:1001@pbx.test>;tag=alice", "To: <sip:1002@pbx.test>",
            "Call-ID: call-srtp", f"CSeq: {cseq} INVITE", "Contact: <sip:1001@127.0.0.1:5062>",
            "Content-Type: application/sdp", extra] if line)
        return wire(text, offer("RTP/SAVP").serialize().decode())

    challenge = only_response(endpoint.receive(invite(1), CALLER, NOW))
    credentials = authorization(challenge_params(challenge, "Proxy-Authenticate"), "1001", "secret1001",
                                method="INVITE", uri="sip:1002@127.0.0.1:5060")
    refusal = only_response(endpoint.receive(invite(2, credentials.replace("Authorization", "Proxy-Authorization")),
                                             CALLER, NOW))
    assert refusal.status == 488
    assert "RTP/SAVP offered without an a=crypto line" in refusal.reason
    assert relay.endpoints == []  # refused before any RTP port was taken
