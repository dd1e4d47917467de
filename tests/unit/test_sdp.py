"""Tests for pbx.sip.sdp: bytes in, Structs and bytes out, exact assertions.

The sample offers follow what real user agents send (baresip, sipp, pyVoIP,
Polycom/Yealink phones, a WebRTC browser), trimmed to the lines that matter.
"""


import pytest

from pbx.sip.offer_answer import NegotiatedCodec, apply_answer, is_hold, make_answer, make_offer, next_version
from pbx.sip.sdp import (
    Attribute,
    Codec,
    Connection,
    Origin,
    RtcpAttribute,
    RtpMap,
    SdpError,
    SessionDescription,
)


def crlf(text: str) -> bytes:
    """An SDP body written one line per source line, with CRLF endings."""
    return text.replace("\n", "\r\n").encode()


PCMU = Codec("PCMU", 8000)
PCMA = Codec("PCMA", 8000)
G722 = Codec("G722", 8000)
G729 = Codec("G729", 8000)
TELEPHONE_EVENT = Codec("telephone-event", 8000, fmtp="0-16")
OURS = [PCMU, PCMA, G722, TELEPHONE_EVENT]

BARESIP_OFFER = crlf("""v=0
o=- 1416011451 3498375146 IN IP4 192.168.1.42
s=-
c=IN IP4 192.168.1.42
t=0 0
a=tool:baresip 1.0.0
m=audio 10310 RTP/AVP 0 8 101
b=AS:80
a=rtpmap:0 PCMU/8000
a=rtpmap:8 PCMA/8000
a=rtpmap:101 telephone-event/8000
a=fmtp:101 0-15
a=ptime:20
a=rtcp:10311
a=sendrecv
a=label:1
""")

BARESIP_HOLD = crlf("""v=0
o=- 1416011451 3498375147 IN IP4 192.168.1.42
s=-
c=IN IP4 192.168.1.42
t=0 0
a=tool:baresip 1.0.0
m=audio 10310 RTP/AVP 0 8 101
a=rtpmap:0 PCMU/8000
a=rtpmap:8 PCMA/8000
a=rtpmap:101 telephone-event/8000
a=fmtp:101 0-15
a=ptime:20
a=sendonly
""")

SIPP_OFFER = crlf("""v=0
o=user1 53655765 2353687637 IN IP4 127.0.1.1
s=-
c=IN IP4 127.0.1.1
t=0 0
m=audio 6000 RTP/AVP 8 0 96 101
a=rtpmap:8 PCMA/8000
a=rtpmap:0 PCMU/8000
a=rtpmap:96 telephone-event/8000
a=fmtp:96 0-15
a=rtpmap:101 telephone-event/8000
a=fmtp:101 0-16
""")

PYVOIP_OFFER = crlf("""v=0
o=pyVoIP 1693297453 1693297455 IN IP4 192.168.0.20
s=pyVoIP 1.6.8
c=IN IP4 192.168.0.20
t=0 0
m=audio 10000 RTP/AVP 0 8 101
a=rtpmap:0 PCMU/8000
a=rtpmap:8 PCMA/8000
a=rtpmap:101 telephone-event/8000
a=fmtp:101 0-15
a=ptime:20
a=maxptime:150
a=sendrecv
""")

POLYCOM_OFFER = crlf("""v=0
o=- 1640995200 1640995200 IN IP4 192.168.10.21
s=Polycom IP Phone
c=IN IP4 192.168.10.21
t=0 0
a=sendrecv
m=audio 2230 RTP/AVP 9 102 0 8 18 127
a=rtpmap:9 G722/8000
a=rtpmap:102 G7221/16000
a=fmtp:102 bitrate=32000
a=rtpmap:0 PCMU/8000
a=rtpmap:8 PCMA/8000
a=rtpmap:18 G729/8000
a=fmtp:18 annexb=no
a=rtpmap:127 telephone-event/8000
a=rtcp-fb:* nack
""")

YEALINK_OFFER = crlf("""v=0
o=- 20016 20016 IN IP4 192.168.1.64
s=SDP data
c=IN IP4 192.168.1.64
t=0 0
m=audio 11782 RTP/AVP 9 0 8 18 101
a=rtpmap:9 G722/8000
a=rtpmap:0 PCMU/8000
a=rtpmap:8 PCMA/8000
a=rtpmap:18 G729/8000
a=fmtp:18 annexb=no
a=ptime:20
a=sendrecv
a=rtpmap:101 telephone-event/8000
a=fmtp:101 0-15
""")

WEBRTC_OFFER = crlf("""v=0
o=- 4611731400430051336 2 IN IP4 127.0.0.1
s=-
t=0 0
a=group:BUNDLE 0
a=msid-semantic: WMS
m=audio 9 UDP/TLS/RTP/SAVPF 111 0 8 126
c=IN IP4 0.0.0.0
a=rtcp:9 IN IP4 0.0.0.0
a=ice-ufrag:8hhY
a=ice-pwd:asd88fgpdd777uzjYhagZg
a=fingerprint:sha-256 D2:FA:0E:C3:22:59:5E:14:95:69:92:3D:13:B4:84:24:2C:C2:A2:C0:3E:FD:34:8E:5E:EA:6F:AF:52:CE:E6:0F
a=setup:actpass
a=mid:0
a=sendrecv
a=rtcp-mux
a=rtpmap:111 opus/48000/2
a=fmtp:111 minptime=10;useinbandfec=1
a=rtpmap:0 PCMU/8000
a=rtpmap:8 PCMA/8000
a=rtpmap:126 telephone-event/8000
""")

AUDIO_VIDEO_OFFER = crlf("""v=0
o=alice 2890844526 2890844526 IN IP4 198.51.100.7
s= 
c=IN IP4 198.51.100.7
t=0 0
m=audio 49170 RTP/AVP 0 8 97
a=rtpmap:0 PCMU/8000
a=rtpmap:8 PCMA/8000
a=rtpmap:97 iLBC/8000
m=video 51372 RTP/AVP 31 32
a=rtpmap:31 H261/90000
a=rtpmap:32 MPV/90000
""")

OLD_STYLE_HOLD = crlf("""v=0
o=- 3000 3001 IN IP4 10.1.1.9
s=-
c=IN IP4 0.0.0.0
t=0 0
m=audio 16384 RTP/AVP 0 101
a=rtpmap:101 telephone-event/8000
""")


def answer(offer: bytes, **overrides):
    arguments = dict(address="203.0.113.5", port=30000, supported=OURS,
                     session_id=1000, session_version=1000)
    arguments.update(overrides)
    return make_answer(SessionDescription.parse(offer), **arguments)


def parse_error(data: bytes) -> SdpError:
    with pytest.raises(SdpError) as caught:
        SessionDescription.parse(data)
    return caught.value


# --- parsing and serializing (RFC 4566) -----------------------------------------------


@pytest.mark.parametrize("data", [BARESIP_OFFER, BARESIP_HOLD, SIPP_OFFER, PYVOIP_OFFER,
                                  POLYCOM_OFFER, YEALINK_OFFER, WEBRTC_OFFER,
                                  AUDIO_VIDEO_OFFER, OLD_STYLE_HOLD])
def test_real_world_sdp_round_trips_byte_for_byte(data):
    assert SessionDescription.parse(data).serialize() == data


def test_baresip_offer_fields():
    session = SessionDescription.parse(BARESIP_OFFER)
    assert session.origin == Origin("-", 1416011451, 3498375146, "IN", "IP4", "192.168.1.42")
    assert session.session_name == "-"
    assert session.connection == Connection("IN", "IP4", "192.168.1.42")
    assert session.timing == ((0, 0),)
    assert session.attributes == (Attribute("tool", "baresip 1.0.0"),)
    audio = session.media[0]
    assert (audio.media, audio.port, audio.port_count, audio.proto) == (
        "audio", 10310, None, "RTP/AVP")
    assert audio.formats == ("0", "8", "101")
    assert audio.rtpmaps() == {0: RtpMap(0, "PCMU", 8000), 8: RtpMap(8, "PCMA", 8000),
                               101: RtpMap(101, "telephone-event", 8000)}
    assert audio.fmtp(101) == "0-15"
    assert audio.fmtp(0) is None
    assert audio.ptime == 20
    assert audio.rtcp == RtcpAttribute(10311)
    assert audio.direction(session) == "sendrecv"
    assert audio.connection_address(session) == "192.168.1.42"
    assert audio.attributes[-1] == Attribute("label", "1")


def test_lf_only_line_endings_parse_like_crlf_and_serialize_as_crlf():
    lf_only = BARESIP_OFFER.replace(b"\r\n", b"\n")
    assert b"\r" not in lf_only
    parsed = SessionDescription.parse(lf_only)
    assert parsed == SessionDescription.parse(BARESIP_OFFER)
    assert parsed.serialize() == BARESIP_OFFER


def test_trailing_whitespace_and_empty_trailing_lines_are_tolerated():
    sloppy = BARESIP_OFFER.replace(b"a=ptime:20\r\n", b"a=ptime:20  \r\n") + b"\r\n\r\n"
    assert SessionDescription.parse(sloppy).serialize() == BARESIP_OFFER


def test_parse_accepts_str():
    assert SessionDescription.parse(PYVOIP_OFFER.decode()).serialize() == PYVOIP_OFFER


def test_static_payload_types_need_no_rtpmap():
    session = SessionDescription.parse(crlf("""v=0
o=- 1 1 IN IP4 10.0.0.1
s=-
c=IN IP4 10.0.0.1
t=0 0
m=audio 4000 RTP/AVP 0 8 9 18 97
"""))
    assert session.media[0].rtpmaps() == {
        0: RtpMap(0, "PCMU", 8000), 8: RtpMap(8, "PCMA", 8000),
        9: RtpMap(9, "G722", 8000), 18: RtpMap(18, "G729", 8000)}


def test_other_session_and_media_lines_are_kept_in_rfc_order():
    data = crlf("""v=0
o=jdoe 2890844526 2890842807 IN IP4 10.47.16.5
s=SDP Seminar
i=A Seminar on the session description protocol
u=http://www.example.com/seminars/sdp.pdf
e=j.doe@example.com (Jane Doe)
p=+1 617 555-6011
c=IN IP4 224.2.17.12/127
b=CT:128
t=2873397496 2873404696
r=7d 1h 0 25h
z=2882844526 -1h 2898848070 0
k=clear:secret
a=recvonly
y=0123456789
m=audio 49170/2 RTP/AVP 0
i=main audio
b=AS:64
k=prompt
a=ptime:30
f=v/2/4///
""")
    session = SessionDescription.parse(data)
    assert session.serialize() == data
    assert session.connection == Connection("IN", "IP4", "224.2.17.12", "127")
    assert session.timing == ((2873397496, 2873404696),)
    assert [line.kind for line in session.other_lines] == ["i", "u", "e", "p", "r", "z", "k",
                                                           "y"]
    audio = session.media[0]
    assert (audio.port, audio.port_count, audio.ptime) == (49170, 2, 30)
    assert audio.bandwidths[0].bwtype == "AS" and audio.bandwidths[0].bandwidth == 64
    assert audio.direction(session) == "recvonly"


def test_empty_session_name_is_written_as_a_single_space():
    data = crlf("v=0\no=- 1 1 IN IP4 10.0.0.1\ns=\nc=IN IP4 10.0.0.1\nt=0 0\n")
    session = SessionDescription.parse(data)
    assert session.session_name == ""
    assert session.media == ()
    assert session.serialize() == data.replace(b"s=\r\n", b"s= \r\n")


def test_missing_t_line_defaults_to_unbounded_session():
    session = SessionDescription.parse(crlf("v=0\no=- 1 1 IN IP4 10.0.0.1\ns=-\n"
                                            "c=IN IP4 10.0.0.1\nm=audio 4000 RTP/AVP 0\n"))
    assert session.timing == ((0, 0),)


def test_webrtc_media_level_connection_and_rtcp_with_address():
    session = SessionDescription.parse(WEBRTC_OFFER)
    assert session.connection is None
    audio = session.media[0]
    assert audio.connection_address(session) == "0.0.0.0"
    assert audio.rtcp == RtcpAttribute(9, "IN", "IP4", "0.0.0.0")
    assert session.attributes[1] == Attribute("msid-semantic", " WMS")
    assert audio.rtpmaps()[111] == RtpMap(111, "opus", 48000, 2)


# --- parse errors: a 400 with a readable reason -----------------------------------------


def test_error_for_m_line_with_too_few_fields_names_the_line():
    error = parse_error(crlf("v=0\no=- 1 1 IN IP4 10.0.0.1\ns=-\nm=audio 1234\n"))
    assert error.line == 4
    assert error.reason == "line 4: m= line needs '<media> <port> <proto> <fmt>...'"
    assert str(error) == error.reason
    assert isinstance(error, ValueError)


def test_error_for_non_integer_port():
    error = parse_error(BARESIP_OFFER.replace(b"m=audio 10310", b"m=audio 10310x"))
    assert error.reason == "line 7: m= port '10310x' is not a number"


def test_error_for_port_out_of_range():
    error = parse_error(BARESIP_OFFER.replace(b"m=audio 10310", b"m=audio 70000"))
    assert error.reason == "line 7: m= port 70000 is out of range 0-65535"


def test_error_when_sdp_does_not_start_with_v():
    error = parse_error(BARESIP_OFFER.replace(b"v=0\r\n", b""))
    assert error.reason == ("line 1: expected v= (version); SDP must start with v=, o= and s= "
                            "in that order (RFC 4566 5)")


def test_error_when_s_line_is_missing():
    error = parse_error(BARESIP_OFFER.replace(b"s=-\r\n", b""))
    assert error.line == 3
    assert error.reason.startswith("line 3: expected s= (session name);")


def test_error_for_unsupported_version():
    error = parse_error(BARESIP_OFFER.replace(b"v=0", b"v=1"))
    assert error.reason == "line 1: unsupported SDP version '1', only v=0 exists (RFC 4566 5.1)"


def test_error_for_short_origin():
    error = parse_error(BARESIP_OFFER.replace(b"o=- 1416011451 ", b"o=- "))
    assert error.reason == ("line 2: o= line needs '<username> <sess-id> <sess-version> "
                            "<nettype> <addrtype> <unicast-address>'")


def test_error_when_connection_is_missing_names_the_m_line():
    # The audio section gets its own c=; the video section (line 10) has none.
    error = parse_error(AUDIO_VIDEO_OFFER.replace(b"c=IN IP4 198.51.100.7\r\n", b"").replace(
        b"RTP/AVP 0 8 97\r\n", b"RTP/AVP 0 8 97\r\nc=IN IP4 198.51.100.7\r\n"))
    assert error.line == 10
    assert error.reason == ("line 10: m= line 2 (video) has no c= line and there is no "
                            "session-level c= line (RFC 4566 5.7)")


def test_error_for_session_line_inside_media_section():
    error = parse_error(BARESIP_OFFER + b"t=0 0\r\n")
    assert error.reason == ("line 17: t= is only allowed at session level, before the first "
                            "m= line (RFC 4566 5)")


def test_error_for_line_that_is_not_type_equals_value():
    error = parse_error(BARESIP_OFFER.replace(b"a=ptime:20", b"ptime 20"))
    assert error.reason == "line 13: expected '<type>=<value>', got 'ptime 20'"


def test_error_for_duplicate_connection_line():
    error = parse_error(BARESIP_OFFER.replace(b"t=0 0", b"c=IN IP4 10.0.0.2\r\nt=0 0"))
    assert error.reason == "line 5: second c= line in the session section (RFC 4566 5.7)"


def test_error_for_empty_body_and_bad_utf8_has_no_line():
    assert parse_error(b"\r\n\r\n").reason == "SDP body is empty"
    error = parse_error(b"v=0\r\ns=\xff\r\n")
    assert error.line is None
    assert error.reason == "SDP is not valid UTF-8 (bad byte at offset 7)"


# --- make_offer -----------------------------------------------------------------------


def test_make_offer_exact_bytes():
    offer = make_offer(address="203.0.113.5", port=30000, codecs=OURS, session_id=42,
                       session_version=42)
    assert offer.serialize() == crlf("""v=0
o=- 42 42 IN IP4 203.0.113.5
s=pbx
c=IN IP4 203.0.113.5
t=0 0
m=audio 30000 RTP/AVP 0 8 9 101
a=rtpmap:0 PCMU/8000
a=rtpmap:8 PCMA/8000
a=rtpmap:9 G722/8000
a=rtpmap:101 telephone-event/8000
a=fmtp:101 0-16
a=ptime:20
a=sendrecv
""")


def test_make_offer_assigns_dynamic_payload_types_around_101():
    codecs = [Codec("opus", 48000, 2), Codec("telephone-event", 48000),
              Codec("telephone-event", 8000), Codec("L16", 16000)]
    offer = make_offer(address="2001:db8::5", port=5004, codecs=codecs, session_id=1,
                       session_version=2, direction="sendonly", ptime=None)
    assert offer.serialize() == crlf("""v=0
o=- 1 2 IN IP6 2001:db8::5
s=pbx
c=IN IP6 2001:db8::5
t=0 0
m=audio 5004 RTP/AVP 96 97 101 98
a=rtpmap:96 opus/48000/2
a=rtpmap:97 telephone-event/48000
a=fmtp:97 0-16
a=rtpmap:101 telephone-event/8000
a=fmtp:101 0-16
a=rtpmap:98 L16/16000
a=sendonly
""")


def test_make_offer_rejects_our_own_misuse():
    with pytest.raises(ValueError, match="direction must be one of"):
        make_offer(address="10.0.0.1", port=4000, codecs=OURS, session_id=1,
                   session_version=1, direction="hold")
    with pytest.raises(ValueError, match="at least one codec"):
        make_offer(address="10.0.0.1", port=4000, codecs=[], session_id=1, session_version=1)


# --- make_answer (RFC 3264 6) -------------------------------------------------------------


def test_answer_to_baresip_exact_bytes_and_stream():
    result = answer(BARESIP_OFFER)
    assert result.sdp.serialize() == crlf("""v=0
o=- 1000 1000 IN IP4 203.0.113.5
s=pbx
c=IN IP4 203.0.113.5
t=0 0
m=audio 30000 RTP/AVP 0 8 101
a=rtpmap:0 PCMU/8000
a=rtpmap:8 PCMA/8000
a=rtpmap:101 telephone-event/8000
a=fmtp:101 0-15
a=ptime:20
a=sendrecv
""")
    [stream] = result.streams
    assert stream.accepted and stream.index == 0 and stream.media == "audio"
    assert stream.codecs == [NegotiatedCodec(0, PCMU), NegotiatedCodec(8, PCMA)]
    assert stream.telephone_event == NegotiatedCodec(101, Codec("telephone-event", 8000,
                                                                fmtp="0-15"))
    assert stream.telephone_event_payload_type == 101
    assert (stream.local_port, stream.remote_address, stream.remote_port,
            stream.remote_rtcp_port) == (30000, "192.168.1.42", 10310, 10311)
    assert (stream.ptime, stream.direction) == (20, "sendrecv")


def test_answer_lists_codecs_in_the_offerers_order_not_ours():
    stream = answer(SIPP_OFFER).streams[0]
    assert [c.payload_type for c in stream.codecs] == [8, 0]
    assert [c.codec.name for c in stream.codecs] == ["PCMA", "PCMU"]


def test_answer_keeps_the_offerers_first_telephone_event_payload_type_and_fmtp():
    result = answer(SIPP_OFFER)
    assert result.streams[0].telephone_event == NegotiatedCodec(
        96, Codec("telephone-event", 8000, fmtp="0-15"))
    assert result.sdp.media[0].formats == ("8", "0", "96")
    assert result.streams[0].remote_rtcp_port == 6001  # no a=rtcp: RFC 3550 11 port + 1
    assert result.streams[0].ptime is None


def test_answer_to_pyvoip_keeps_its_0_15_fmtp():
    result = answer(PYVOIP_OFFER)
    media = result.sdp.media[0]
    assert media.formats == ("0", "8", "101")
    assert media.fmtp(101) == "0-15"
    assert media.direction(result.sdp) == "sendrecv"


def test_answer_to_polycom_keeps_g722_first_and_skips_unsupported_g7221():
    result = answer(POLYCOM_OFFER, supported=[PCMU, PCMA, G722, G729, TELEPHONE_EVENT],
                    port=lambda: 40000)
    media_part = result.sdp.serialize().split(b"t=0 0\r\n")[1]
    assert media_part == crlf("""m=audio 40000 RTP/AVP 9 0 8 18 127
a=rtpmap:9 G722/8000
a=rtpmap:0 PCMU/8000
a=rtpmap:8 PCMA/8000
a=rtpmap:18 G729/8000
a=fmtp:18 annexb=no
a=rtpmap:127 telephone-event/8000
a=fmtp:127 0-16
a=ptime:20
a=sendrecv
""")
    assert result.streams[0].telephone_event_payload_type == 127


def test_answer_matches_encoding_names_case_insensitively():
    offer = YEALINK_OFFER.replace(b"G722/8000", b"g722/8000")
    stream = answer(offer).streams[0]
    assert stream.codecs[0] == NegotiatedCodec(9, G722)


def test_answer_drops_telephone_event_we_do_not_support():
    result = answer(YEALINK_OFFER, supported=[PCMA])
    assert result.sdp.media[0].formats == ("8",)
    assert result.streams[0].telephone_event is None


def test_webrtc_offer_is_rejected_with_port_zero_and_no_port_allocated():
    def allocate() -> int:
        raise AssertionError("no port should be allocated for a rejected stream")

    result = answer(WEBRTC_OFFER, port=allocate)
    assert result.sdp.serialize().split(b"t=0 0\r\n")[1] == (
        b"m=audio 0 UDP/TLS/RTP/SAVPF 111 0 8 126\r\n")
    [stream] = result.streams
    assert not stream.accepted and stream.codecs == [] and stream.direction == "inactive"


def test_audio_and_video_offer_gets_video_rejected_in_place():
    result = answer(AUDIO_VIDEO_OFFER)
    assert result.sdp.serialize().split(b"t=0 0\r\n")[1] == crlf("""m=audio 30000 RTP/AVP 0 8
a=rtpmap:0 PCMU/8000
a=rtpmap:8 PCMA/8000
a=ptime:20
a=sendrecv
m=video 0 RTP/AVP 31 32
""")
    assert [(s.index, s.media, s.accepted) for s in result.streams] == [
        (0, "audio", True), (1, "video", False)]


def test_only_the_first_audio_stream_is_accepted_and_port_asked_once():
    ports = iter([40000, 40002])
    doubled = AUDIO_VIDEO_OFFER.replace(b"m=video 51372 RTP/AVP 31 32\r\na=rtpmap:31 H261/90000"
                                        b"\r\na=rtpmap:32 MPV/90000\r\n",
                                        b"m=audio 49172 RTP/AVP 0\r\n")
    result = answer(doubled, port=lambda: next(ports))
    assert [(m.port, m.formats) for m in result.sdp.media] == [(40000, ("0", "8")), (0, ("0",))]


def test_no_common_codec_rejects_the_stream():
    result = answer(POLYCOM_OFFER, supported=[Codec("opus", 48000, 2), TELEPHONE_EVENT])
    assert result.sdp.media[0].port == 0
    assert result.sdp.media[0].formats == ("9", "102", "0", "8", "18", "127")
    assert not result.streams[0].accepted


def test_offered_port_zero_stays_rejected():
    result = answer(BARESIP_OFFER.replace(b"m=audio 10310", b"m=audio 0"))
    assert result.sdp.media[0].port == 0
    assert not result.streams[0].accepted


def test_answer_copies_the_offers_timing():
    result = answer(BARESIP_OFFER.replace(b"t=0 0", b"t=3034423619 3042462419"))
    assert result.sdp.timing == ((3034423619, 3042462419),)


@pytest.mark.parametrize(("offered", "ours", "expected"), [
    ("sendrecv", None, "sendrecv"),
    ("sendonly", None, "recvonly"),
    ("recvonly", None, "sendonly"),
    ("inactive", None, "inactive"),
    ("sendrecv", "sendonly", "sendonly"),
    ("sendrecv", "inactive", "inactive"),
    ("sendonly", "sendonly", "inactive"),
    ("recvonly", "recvonly", "inactive"),
])
def test_answer_direction_mirrors_the_offer_and_our_wish(offered, ours, expected):
    offer = PYVOIP_OFFER.replace(b"a=sendrecv", f"a={offered}".encode())
    result = answer(offer, direction=ours)
    assert result.sdp.media[0].attributes[-1] == Attribute(expected)
    assert result.streams[0].direction == expected


def test_session_level_direction_applies_to_media_without_its_own():
    offer = POLYCOM_OFFER.replace(b"a=sendrecv", b"a=sendonly")
    session = SessionDescription.parse(offer)
    assert session.media[0].direction(session) == "sendonly"
    assert session.media[0].direction() == "sendrecv"
    assert answer(offer).streams[0].direction == "recvonly"


# --- hold (RFC 3264 8.4) ----------------------------------------------------------------


def test_sendonly_reinvite_is_hold_and_is_answered_recvonly():
    held = SessionDescription.parse(BARESIP_HOLD)
    assert is_hold(held)
    assert not is_hold(SessionDescription.parse(BARESIP_OFFER))
    assert answer(BARESIP_HOLD).streams[0].direction == "recvonly"


def test_old_style_zero_address_is_hold():
    held = SessionDescription.parse(OLD_STYLE_HOLD)
    assert is_hold(held)
    stream = answer(OLD_STYLE_HOLD).streams[0]
    assert stream.direction == "recvonly"
    assert stream.remote_address == "0.0.0.0"
    assert stream.telephone_event_payload_type == 101


def test_inactive_is_hold_but_all_streams_rejected_is_not():
    assert is_hold(SessionDescription.parse(PYVOIP_OFFER.replace(b"a=sendrecv", b"a=inactive")))
    assert not is_hold(SessionDescription.parse(
        PYVOIP_OFFER.replace(b"a=sendrecv", b"a=inactive").replace(b"10000", b"0")))


# --- apply_answer and re-offers -----------------------------------------------------------


def test_apply_answer_after_our_offer():
    offer = make_offer(address="203.0.113.5", port=30000, codecs=OURS, session_id=7,
                       session_version=7)
    reply = answer(offer.serialize(), address="192.0.2.9", port=5000,
                   supported=[PCMA, Codec("telephone-event", 8000)])
    streams = apply_answer(offer, SessionDescription.parse(reply.sdp.serialize()))
    [stream] = streams
    assert stream.accepted
    assert stream.codecs == [NegotiatedCodec(8, PCMA)]
    assert stream.telephone_event == NegotiatedCodec(101, Codec("telephone-event", 8000,
                                                                fmtp="0-16"))
    assert (stream.local_port, stream.remote_address, stream.remote_port,
            stream.remote_rtcp_port, stream.direction) == (
        30000, "192.0.2.9", 5000, 5001, "sendrecv")


def test_apply_answer_direction_is_ours():
    offer = SessionDescription.parse(PYVOIP_OFFER)
    reply = SessionDescription.parse(PYVOIP_OFFER.replace(b"a=sendrecv", b"a=recvonly"))
    assert apply_answer(offer, reply)[0].direction == "sendonly"


def test_apply_answer_rejects_wrong_number_of_m_lines():
    offer = SessionDescription.parse(AUDIO_VIDEO_OFFER)
    with pytest.raises(SdpError) as caught:
        apply_answer(offer, SessionDescription.parse(BARESIP_OFFER))
    assert caught.value.reason == ("answer has 1 m= lines but the offer had 2; RFC 3264 6 "
                                   "requires the same number")
    assert caught.value.line is None


def test_apply_answer_rejects_a_codec_we_never_offered():
    offer = make_offer(address="203.0.113.5", port=30000, codecs=[PCMU], session_id=7,
                       session_version=7)
    with pytest.raises(SdpError) as caught:
        apply_answer(offer, SessionDescription.parse(YEALINK_OFFER))
    assert caught.value.reason == ("answer m= line 1 picks G722/8000 (payload type 9), which "
                                   "the offer never listed (RFC 3264 6.1)")


def test_apply_answer_rejects_unknown_payload_type_number():
    offer = SessionDescription.parse(PYVOIP_OFFER)
    reply = SessionDescription.parse(PYVOIP_OFFER.replace(b"RTP/AVP 0 8 101", b"RTP/AVP 0 99"))
    with pytest.raises(SdpError, match="lists payload type 99, which the offer never listed"):
        apply_answer(offer, reply)


def test_apply_answer_reports_rejected_streams():
    offer = SessionDescription.parse(AUDIO_VIDEO_OFFER)
    reply = answer(AUDIO_VIDEO_OFFER).sdp
    streams = apply_answer(offer, reply)
    assert [(s.media, s.accepted) for s in streams] == [("audio", True), ("video", False)]
    assert streams[0].codecs == [NegotiatedCodec(0, PCMU), NegotiatedCodec(8, PCMA)]


def test_next_version_increments_only_the_origin_version():
    offer = SessionDescription.parse(BARESIP_OFFER)
    again = next_version(offer)
    assert again.origin.session_version == 3498375147
    assert again.origin.session_id == offer.origin.session_id
    assert again.serialize() == BARESIP_OFFER.replace(b"3498375146", b"3498375147")
    assert offer.origin.session_version == 3498375146


# --- purity -------------------------------------------------------------------------------


def test_the_same_body_parsed_again_gives_the_same_description():
    # A call reads one message's body several times while it is set up; the second read is free.
    first = SessionDescription.parse(BARESIP_OFFER)
    assert SessionDescription.parse(BARESIP_OFFER) is first
    # An equal body in another object (another message) is parsed on its own, to an equal value.
    other = SessionDescription.parse(bytes(bytearray(BARESIP_OFFER)))
    assert other == first and other is not first


def test_attributes_read_from_the_shared_table_stay_per_line():
    body = crlf("""v=0
o=- 1 1 IN IP4 10.0.0.1
s=-
c=IN IP4 10.0.0.1
t=0 0
a=sendrecv
m=audio 4000 RTP/AVP 0
a=rtpmap:0 PCMU/8000
a=sendrecv
a=ptime:20
""")
    description = SessionDescription.parse(body)
    assert description.attributes == (Attribute("sendrecv"),)
    assert description.media[0].attributes == (Attribute("rtpmap", "0 PCMU/8000"), Attribute("sendrecv"),
                                               Attribute("ptime", "20"))
    assert description.serialize() == body
