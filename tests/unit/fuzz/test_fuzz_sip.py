"""Seeded hypothesis pass over the SIP parser, SipEndpoint.receive, the transaction layer and SDP.

Messages are built from valid start lines and headers, then mutated the ways attackers and
broken phones do (bad header syntax, huge or negative Content-Length, folding, bad Via/CSeq/
From/To, NULs, non-UTF-8, truncation). The checks live in harness.py; the long, coverage-
guided run is benchmarks/fuzz_sip.py.
"""

from __future__ import annotations

from hypothesis import HealthCheck, given, seed, settings
from hypothesis import strategies as st

from pbx.sip.errors import RemoteProtocolError
from pbx.sip.message import parse_message
from tests.unit.fuzz.harness import FuzzTarget

FAST = settings(max_examples=100, deadline=None, database=None, derandomize=True,
                suppress_health_check=[HealthCheck.too_slow])

METHODS = ["INVITE", "REGISTER", "OPTIONS", "BYE", "CANCEL", "ACK", "MESSAGE", "INFO", "FOO"]
JUNK = st.sampled_from([
    "", " ", "\x00", "<", ">", '"', ";", ";;", ",", "=", ":", "%", "%00", "\\", "\t", "-1", "99999999999",
    "4294967296", "z9hG4bK", "sip:", "<sip:@>", "[::1", "é", "\udcff",
])  # fmt: skip
TEXT = st.text(alphabet=st.characters(min_codepoint=1, max_codepoint=0x7E), max_size=12)
FIELD = st.lists(st.one_of(JUNK, TEXT), min_size=1, max_size=4).map("".join)


def _sdp(port: int, codecs: list[int], extra: list[str]) -> str:
    lines = ["v=0", "o=- 1 1 IN IP4 127.0.0.1", "s=-", "c=IN IP4 127.0.0.1", "t=0 0",
             f"m=audio {port} RTP/AVP {' '.join(map(str, codecs))}", "a=rtpmap:0 PCMU/8000", *extra]
    return "\r\n".join(lines) + "\r\n"


SDP_LINE = st.one_of(st.sampled_from(["a=sendonly", "a=rtcp:9", "b=AS:64", "c=IN IP4 10.0.0.1", "m=video 0 RTP/AVP 96",
                                      "a=rtpmap:101 telephone-event/8000", "a=fmtp:101 0-15", "v=1", "o=x",
                                      "t=1", "m=audio 70000 RTP/AVP 0", "b=AS:" + "9" * 5000]),
                     st.builds(lambda k, v: f"{k}={v}", st.sampled_from("vosctmabiuekzrx"), FIELD))
SDP = st.builds(_sdp, st.integers(0, 70_000), st.lists(st.integers(0, 127), min_size=1, max_size=4),
                st.lists(SDP_LINE, max_size=4))


@st.composite
def requests(draw) -> bytes:
    method = draw(st.sampled_from(METHODS))
    cseq_method = draw(st.sampled_from([method, method, "INVITE"]))
    body = draw(st.sampled_from(["", "sdp"]))
    body = draw(SDP) if body == "sdp" else ""
    headers = [
        ["Via", f"SIP/2.0/UDP 127.0.0.1:5062;branch=z9hG4bK-{draw(st.integers(0, 99))};rport"],
        ["Max-Forwards", "70"],
        ["From", f"<sip:{draw(st.sampled_from(['1001', '1002']))}@pbx.test>;tag=f{draw(st.integers(0, 9))}"],
        ["To", "<sip:1002@pbx.test>" + draw(st.sampled_from(["", ";tag=t1"]))],
        ["Call-ID", f"call-{draw(st.integers(0, 9))}"],
        ["CSeq", f"{draw(st.integers(0, 3))} {cseq_method}"],
        ["Contact", "<sip:1001@127.0.0.1:5062>"],
        ["Content-Type", "application/sdp"],
        ["Content-Length", str(len(body.encode("utf-8", "surrogateescape")))],
    ]
    for _ in range(draw(st.integers(0, 3))):
        index = draw(st.integers(0, len(headers) - 1))
        mutation = draw(st.sampled_from(["value", "append", "drop", "duplicate", "fold", "name", "length"]))
        if mutation == "value":
            headers[index][1] = draw(FIELD)
        elif mutation == "append":
            headers[index][1] += draw(FIELD)
        elif mutation == "drop":
            del headers[index]
        elif mutation == "duplicate":
            headers.insert(index, [headers[index][0], draw(FIELD)])
        elif mutation == "fold":
            headers[index][1] = headers[index][1].replace(";", "\r\n ;", 1) + "\r\n\t" + draw(FIELD)
        elif mutation == "name":
            headers[index][0] = draw(st.sampled_from(["", "Via ", "V\x00a", "l", "v", "t", "f", "i", "Bad Name"]))
        else:
            headers.append(["Content-Length", draw(st.sampled_from(["-1", "999999", "1" * 30, "0x10", "²", ""]))])
    start = f"{method} {draw(st.sampled_from(['sip:1002@pbx.test', 'sip:pbx.test', 'tel:+1', 'x:y', '']))} SIP/2.0"
    text = "\r\n".join([start, *(f"{name}: {value}" for name, value in headers)]) + "\r\n\r\n" + body
    data = text.encode("utf-8", "surrogateescape")
    return _mutate_bytes(draw, data)


def _mutate_bytes(draw, data: bytes) -> bytes:
    for _ in range(draw(st.integers(0, 2))):
        position = draw(st.integers(0, max(len(data) - 1, 0)))
        kind = draw(st.sampled_from(["nul", "high", "truncate", "flip", "lf"]))
        if kind == "nul":
            data = data[:position] + b"\x00" + data[position:]
        elif kind == "high":
            data = data[:position] + bytes([draw(st.integers(0x80, 0xFF))]) + data[position:]
        elif kind == "truncate":
            data = data[:position]
        elif kind == "flip" and data:
            data = data[:position] + bytes([data[position] ^ (1 << draw(st.integers(0, 7)))]) + data[position + 1 :]
        else:
            data = data.replace(b"\r\n", b"\n")
    return data


@st.composite
def responses(draw) -> bytes:
    status = draw(st.sampled_from(["100", "180", "200", "401", "407", "486", "503", "699", "700", "099", "2000"]))
    method = draw(st.sampled_from(["INVITE", "REGISTER", "OPTIONS", "BYE", "ACK"]))
    headers = [
        f"Via: SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bK-c{draw(st.integers(0, 5))}" + draw(st.sampled_from(["", ";x"])),
        "From: <sip:pbx@pbx.test>;tag=fuzz",
        "To: <sip:1002@pbx.test>" + draw(st.sampled_from(["", ";tag=u"])),
        "Call-ID: fuzz-call",
        f"CSeq: {draw(st.sampled_from(['1', '-1', '', '99999999999']))} {method}",
    ]
    if draw(st.booleans()):
        index = draw(st.integers(0, len(headers) - 1))
        headers[index] = headers[index].split(":")[0] + ": " + draw(FIELD)
    body = draw(st.sampled_from(["", "v=0\r\n"]))
    text = "\r\n".join([f"SIP/2.0 {status} {draw(TEXT)}", *headers, f"Content-Length: {len(body)}"]) + "\r\n\r\n" + body
    return _mutate_bytes(draw, text.encode("utf-8", "surrogateescape"))


@seed(15)
@FAST
@given(st.lists(requests(), min_size=1, max_size=4))
def test_requests_get_an_answer_or_are_dropped_and_nothing_escapes(messages):
    target = FuzzTarget()
    for data in messages:
        outcome = target.request(data)
        assert outcome.startswith(("answered", "malformed 4", "malformed 5", "dropped")), outcome


@seed(15)
@FAST
@given(requests())
def test_parser_raises_only_remote_protocol_errors(data):
    try:
        message = parse_message(data)
    except RemoteProtocolError as error:
        assert error.reason and 400 <= error.status <= 599
        return
    # What parsed serializes and parses again to the same start line and header count.
    again = parse_message(message.serialize())
    assert again.start_line() == message.start_line()
    assert len(again.headers) == len(message.headers) + ("Content-Length" not in message.headers)


@seed(15)
@FAST
@given(st.lists(responses(), min_size=1, max_size=6))
def test_responses_never_crash_the_transaction_layer(messages):
    target = FuzzTarget(tick=5.0)  # let Timer K/D and the timeouts fire between responses
    for data in messages:
        assert target.response(data).startswith("response")
    assert target.endpoint.next_deadline() is None or target.endpoint.next_deadline() > target.now - 1


@seed(15)
@FAST
@given(st.one_of(SDP, st.binary(max_size=200).map(lambda junk: junk.decode("latin-1"))))
def test_sdp_raises_only_sdp_errors_and_round_trips(text):
    assert FuzzTarget().sdp(text.encode("utf-8", "surrogateescape")).startswith("sdp")
