"""Which worker owns a datagram (pbx/workers/dispatch.py): bytes in, an index out."""

from __future__ import annotations

import zlib

import pytest

from pbx.workers import Dispatcher, contact_user, port_range_of, worker_tag


def request(method: str, uri: str, call_id: str, call_id_header: str = "Call-ID", to_tag: str = "") -> bytes:
    return (f"{method} {uri} SIP/2.0\r\n"
            "Via: SIP/2.0/UDP 10.0.0.5:5062;branch=z9hG4bKw1-phone;rport\r\n"
            "From: <sip:1001@pbx.test>;tag=a1\r\n"
            f"To: <sip:1002@pbx.test>{to_tag}\r\n"
            f"{call_id_header}: {call_id}\r\n"
            f"CSeq: 1 {method}\r\nContent-Length: 0\r\n\r\n").encode()


def response(branch: str, call_id: str) -> bytes:
    return (f"SIP/2.0 180 Ringing\r\nVia: SIP/2.0/UDP 127.0.0.1:5060;branch={branch};rport=5060\r\n"
            f"From: <sip:1001@pbx.test>;tag=a1\r\nTo: <sip:1002@pbx.test>;tag=b2\r\nCall-ID: {call_id}\r\n"
            "CSeq: 1 INVITE\r\nContent-Length: 0\r\n\r\n").encode()


QUEUES = {"700", "800"}


@pytest.fixture
def dispatcher() -> Dispatcher:
    return Dispatcher(2, QUEUES.__contains__)


def test_a_new_call_goes_by_the_hash_of_its_call_id(dispatcher):
    owners = {dispatcher.owner(request("INVITE", "sip:1002@pbx.test", f"call-{n}@10.0.0.5")) for n in range(40)}
    assert owners == {0, 1}
    call_id = "3848276298220188511@10.0.0.5"
    assert dispatcher.owner(request("INVITE", "sip:1002@pbx.test", call_id)) == zlib.crc32(call_id.encode()) % 2


def test_every_request_of_a_call_goes_where_its_invite_went(dispatcher):
    """The 407's ACK, the INVITE again with credentials, CANCEL, and a BYE that ignores our Contact."""
    for n in range(20):
        call_id = f"c{n}@host"
        owner = dispatcher.owner(request("INVITE", "sip:1002@pbx.test", call_id))
        assert dispatcher.owner(request("ACK", "sip:1002@pbx.test", call_id, to_tag=";tag=x")) == owner
        assert dispatcher.owner(request("CANCEL", "sip:1002@pbx.test", call_id)) == owner
        assert dispatcher.owner(request("BYE", "sip:1002@10.0.0.9:5060", call_id, to_tag=";tag=x")) == owner


def test_the_compact_form_and_any_case_of_call_id_count(dispatcher):
    call_id = "abc@host"
    expected = zlib.crc32(call_id.encode()) % 2
    assert dispatcher.owner(request("OPTIONS", "sip:pbx.test", call_id, "i")) == expected
    assert dispatcher.owner(request("OPTIONS", "sip:pbx.test", call_id, "call-id")) == expected
    assert dispatcher.owner(request("OPTIONS", "sip:pbx.test", call_id, "CALL-ID")) == expected


def test_a_response_goes_to_the_worker_that_sent_the_request(dispatcher):
    """RFC 3261 17.1.3: the branch of the top Via is ours, and starts with the worker's tag."""
    for index in (0, 1):
        branch = f"z9hG4bK{worker_tag(index)}0123456789abcdef"
        assert dispatcher.owner(response(branch, "someone-else@10.0.0.5")) == index


def test_a_response_without_our_tag_goes_by_its_call_id(dispatcher):
    call_id = "foreign@10.0.0.5"
    assert dispatcher.owner(response("z9hG4bKplain", call_id)) == zlib.crc32(call_id.encode()) % 2


def test_an_in_dialog_request_to_our_contact_goes_to_its_worker(dispatcher):
    """RFC 3261 12.2.1.1: the Request-URI of a request in a dialog is the Contact we gave."""
    for index in (0, 1):
        uri = f"sip:{contact_user(index)}@127.0.0.1:5060"
        assert {dispatcher.owner(request("BYE", uri, f"x{n}@h", to_tag=";tag=b")) for n in range(10)} == {index}


def test_a_call_id_we_made_goes_to_the_worker_that_made_it(dispatcher):
    """A callee's BYE on our B leg, whatever its Request-URI."""
    for index in (0, 1):
        call_id = f"{worker_tag(index)}0123456789abcdef@pbx.test"
        assert dispatcher.owner(request("BYE", "sip:1001@10.0.0.9", call_id, to_tag=";tag=b")) == index


def test_calls_to_shared_numbers_stay_on_worker_0(dispatcher):
    """Queues and scenarios live in worker 0: the INVITE, its CANCEL and its ACK all go there."""
    for n in range(20):
        for method in ("INVITE", "CANCEL", "ACK"):
            assert dispatcher.owner(request(method, "sip:700@pbx.test", f"q{n}@host")) == 0


def test_a_tel_uri_to_a_shared_number_stays_on_worker_0_too(dispatcher):
    """A provider may send a DID as tel:+33... (RFC 3966); routes match it like a SIP URI's user."""
    shared = Dispatcher(2, {"+33123000000"}.__contains__)
    assert {shared.owner(request("INVITE", "tel:+33123000000", f"d{n}@carrier")) for n in range(20)} == {0}


def test_a_tag_for_a_worker_that_does_not_exist_falls_back_to_the_hash(dispatcher):
    call_id = "w7-0123@pbx.test"
    assert dispatcher.owner(request("BYE", "sip:pbx-w9@127.0.0.1", call_id)) == zlib.crc32(call_id.encode()) % 2
    assert dispatcher.owner(response("z9hG4bKw5-abc", call_id)) == zlib.crc32(call_id.encode()) % 2


def test_a_message_without_call_id_stays_where_it_was_read(dispatcher):
    assert dispatcher.owner(b"INVITE sip:1002@pbx.test SIP/2.0\r\nVia: SIP/2.0/UDP h;branch=z9hG4bKx\r\n\r\n") is None
    assert dispatcher.owner(b"\x16\x03\x01 not sip at all") is None


def test_one_worker_owns_everything():
    dispatcher = Dispatcher(1, QUEUES.__contains__)
    assert {dispatcher.owner(request("INVITE", "sip:1002@pbx.test", f"{n}@h")) for n in range(20)} == {0}


def test_each_worker_gets_an_equal_share_of_the_rtp_ports():
    shares = [port_range_of(20000, 20999, index, 2) for index in range(2)]
    assert shares == [(20000, 20499), (20500, 20999)]
    assert port_range_of(10001, 10010, 1, 2) == (10006, 10009)  # pairs start on even ports
    with pytest.raises(ValueError, match="too few for 3 workers"):
        port_range_of(20000, 20003, 0, 3)
