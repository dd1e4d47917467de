"""Inputs the fuzzers (benchmarks/fuzz_sip.py) found crashing SipEndpoint.receive, each
reduced by hand to the header that did it, with the answer we now give."""

from __future__ import annotations

import pytest

from pbx.sip.message import parse_message
from pbx.sip.sdp import SdpError, SessionDescription
from pbx.sip.transaction import Transmit
from tests.unit.fuzz.harness import PHONE
from tests.unit.sipkit import make_endpoint

NOW = 1_000_000.0


def _options(via: str, call_id: bytes = b"fuzz-1", extra: bytes = b"") -> bytes:
    return (
        b"OPTIONS sip:pbx.test SIP/2.0\r\n" + via.encode() + b"\r\n"
        b"From: <sip:1001@pbx.test>;tag=a\r\nTo: <sip:pbx.test>\r\n"
        b"Call-ID: " + call_id + b"\r\nCSeq: 1 OPTIONS\r\nMax-Forwards: 70\r\n" + extra + b"Content-Length: 0\r\n\r\n"
    )


def _answer(data: bytes):
    actions = make_endpoint().receive(data, PHONE, NOW)
    [action] = actions
    assert isinstance(action, Transmit), action
    return parse_message(action.data)


def test_call_id_with_non_utf8_bytes_is_answered():
    # Was UnicodeEncodeError in SipEndpoint.tag_for: header text keeps bad bytes as surrogates.
    response = _answer(_options("Via: SIP/2.0/UDP 127.0.0.1:5062;branch=z9hG4bK-1", call_id=b"\xff\xfe-call"))
    assert response.status == 200
    assert response.headers.get("Call-ID").encode("utf-8", "surrogateescape") == b"\xff\xfe-call"


def test_via_param_with_angle_bracket_that_breaks_after_stamping_gets_400():
    # Was RemoteProtocolError escaping from the transaction layer: ';received=' appended after
    # the '<' is read as inside a name-addr, so the stamped Via no longer parsed.
    response = _answer(_options("Via: SIP/2.0/UDP 12;branch=z9hG4bK<3819"))
    assert response.status == 400
    assert "bad value" in response.reason and "branch" in response.reason


def test_empty_via_line_before_the_real_one_is_stamped():
    # Was IndexError in SipEndpoint._stamp_via: the first Via line was empty.
    response = _answer(_options("Via:\r\nVia: SIP/2.0/UDP host9.example.com;branch=z9hG4bK-9"))
    assert response.status == 200
    assert response.top_via.params["received"] == "127.0.0.1"


def test_empty_via_line_in_a_malformed_request_still_gets_its_answer():
    # The same IndexError, from the stateless answer to a request with an unsupported scheme.
    data = _options("Via:\r\nVia: SIP/2.0/UDP host9.example.com;branch=z9hG4bK-9").replace(
        b"OPTIONS sip:pbx.test", b"OPTIONS soap.beep://192.0.2.103:3002"
    )
    response = _answer(data)
    assert response.status == 416
    assert response.reason == "Unsupported URI Scheme (URI scheme soap.beep not supported)"
    assert response.top_via.params["received"] == "127.0.0.1"


def test_sdp_number_of_5000_digits_is_an_sdp_error():
    # Was ValueError from int() (CPython's 4300-digit limit), which callers catching SdpError missed.
    body = b"v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nb=AS:" + b"9" * 5000 + b"\r\n"
    with pytest.raises(SdpError, match="b= bandwidth '9999"):
        SessionDescription.parse(body)


def test_require_with_an_unterminated_quote_gets_400():
    # Was RemoteProtocolError escaping from SipEndpoint._unsupported_extensions (RFC 4475 unksm2-like).
    data = _options("Via: SIP/2.0/UDP 127.0.0.1:5062;branch=z9hG4bK-r", extra=b'Require: nothing, noth"ing\r\n')
    response = _answer(data)
    assert response.status == 400
    assert "unterminated quoted string" in response.reason
