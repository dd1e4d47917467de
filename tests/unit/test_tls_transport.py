"""SIP over TLS on real sockets on 127.0.0.1: the transport adapter with a test CA (trustme).

A Python `ssl` client plays the phone. The endpoint is the pure one from sipkit, so these tests
cover only the adapter: the TLS listener, the connection a phone registered on, framing errors,
a plain-TCP client on the TLS port. The sips: rule (RFC 5630) is checked on the pure endpoint.
"""

from __future__ import annotations

import asyncio
import ssl

import pytest
import trustme

from pbx.bus import EventBus
from pbx.sip.message import Request, parse_message
from pbx.sip.transaction import Peer
from pbx.sip.transport import SipTransport, tls_server_context

from tests.unit.sipkit import PHONE, authorization, challenge_params, make_endpoint, only_response, register, wire

pytestmark = pytest.mark.timeout(20)


@pytest.fixture(scope="module")
def authority() -> trustme.CA:
    return trustme.CA()


@pytest.fixture
async def pbx(authority, tmp_path):
    leaf = authority.issue_cert("127.0.0.1", "localhost")
    certificate, private_key = tmp_path / "pbx.pem", tmp_path / "pbx.key"
    leaf.cert_chain_pems[0].write_to_path(certificate)
    leaf.private_key_pem.write_to_path(private_key)
    loop = asyncio.get_running_loop()
    transport = SipTransport(make_endpoint(), EventBus(), loop.time)
    await transport.listen_tls("127.0.0.1", 0, tls_server_context(str(certificate), str(private_key)))
    yield transport
    await transport.close()


def tls_port(transport: SipTransport) -> int:
    return next(port for kind, _, port in transport.bound if kind == "tls")


async def phone_connection(authority, transport):
    context = ssl.create_default_context()
    authority.configure_trust(context)
    return await asyncio.open_connection("127.0.0.1", tls_port(transport), ssl=context, server_hostname="127.0.0.1")


async def read_message(reader: asyncio.StreamReader):
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
    return parse_message(head)


def over_tls(text: str) -> str:
    return text.replace("SIP/2.0/UDP", "SIP/2.0/TLS").replace("127.0.0.1:5062>", "127.0.0.1:5062;transport=tls>")


async def test_register_over_tls_is_challenged_and_accepted_on_the_same_connection(authority, pbx):
    reader, writer = await phone_connection(authority, pbx)
    writer.write(wire(over_tls(register())))
    challenge = await read_message(reader)
    assert challenge.status == 401
    assert challenge.top_via.transport == "TLS"
    credentials = authorization(challenge_params(challenge), "1001", "secret1001")
    writer.write(wire(over_tls(register(cseq=2, extra=credentials))))
    accepted = await read_message(reader)
    assert accepted.status == 200
    [binding] = pbx.endpoint.registrar.lookup("1001", asyncio.get_running_loop().time())
    assert binding.source.transport == "tls"
    assert binding.source.port == writer.get_extra_info("sockname")[1]
    assert pbx.connection_count == 1
    writer.close()


async def test_a_request_to_a_phone_registered_over_tls_goes_over_its_connection(authority, pbx):
    reader, writer = await phone_connection(authority, pbx)
    writer.write(wire(over_tls(register())))
    challenge = await read_message(reader)
    writer.write(wire(over_tls(register(cseq=2, extra=authorization(challenge_params(challenge), "1001",
                                                                      "secret1001")))))
    assert (await read_message(reader)).status == 200
    now = asyncio.get_running_loop().time()
    [binding] = pbx.endpoint.registrar.lookup("1001", now)
    port = tls_port(pbx)
    options = parse_message(wire(f"""
OPTIONS {binding.uri} SIP/2.0
Via: SIP/2.0/TLS 127.0.0.1:{port};branch=z9hG4bK-probe-1;rport
Max-Forwards: 70
From: <sip:pbx@pbx.test>;tag=probe
To: <sip:1001@pbx.test>
Call-ID: probe-1
CSeq: 1 OPTIONS
"""))
    assert isinstance(options, Request)
    _, actions = pbx.endpoint.transactions.send_request(options, binding.source, now)
    pbx.execute(actions)
    arrived = await read_message(reader)
    assert (arrived.method, arrived.call_id, arrived.top_via.transport) == ("OPTIONS", "probe-1", "TLS")
    assert pbx.connection_count == 1  # no second connection was opened for it
    writer.close()


async def test_a_framing_error_closes_the_tls_connection(authority, pbx):
    reader, writer = await phone_connection(authority, pbx)
    writer.write(wire(over_tls(register())).replace(b"Content-Length: 0", b"Content-Length: lots"))
    assert await asyncio.wait_for(reader.read(), 5) == b""
    assert pbx.connection_count == 0


async def test_plain_tcp_on_the_tls_port_is_dropped_and_tls_still_works(authority, pbx):
    reader, writer = await asyncio.open_connection("127.0.0.1", tls_port(pbx))
    writer.write(wire(register()))  # cleartext SIP where a TLS ClientHello belongs
    assert await asyncio.wait_for(reader.read(), 5) == b""  # the handshake failed: closed, no answer
    writer.close()
    assert pbx.connection_count == 0
    tls_reader, tls_writer = await phone_connection(authority, pbx)
    tls_writer.write(wire(over_tls(register())))
    assert (await read_message(tls_reader)).status == 401
    tls_writer.close()


async def test_a_client_that_does_not_trust_our_authority_fails_its_handshake(pbx):
    stranger = trustme.CA()
    context = ssl.create_default_context()
    stranger.configure_trust(context)
    with pytest.raises(ssl.SSLCertVerificationError):
        await asyncio.open_connection("127.0.0.1", tls_port(pbx), ssl=context, server_hostname="127.0.0.1")


async def test_verify_clients_admits_only_phones_with_a_certificate_from_the_ca(authority, tmp_path):
    leaf = authority.issue_cert("127.0.0.1")
    leaf.cert_chain_pems[0].write_to_path(tmp_path / "pbx.pem")
    leaf.private_key_pem.write_to_path(tmp_path / "pbx.key")
    authority.cert_pem.write_to_path(tmp_path / "ca.pem")
    context = tls_server_context(str(tmp_path / "pbx.pem"), str(tmp_path / "pbx.key"), str(tmp_path / "ca.pem"),
                                 verify_clients=True)
    transport = SipTransport(make_endpoint(), EventBus(), asyncio.get_running_loop().time)
    await transport.listen_tls("127.0.0.1", 0, context)
    try:
        anonymous = ssl.create_default_context()
        authority.configure_trust(anonymous)
        reader, writer = await asyncio.open_connection("127.0.0.1", tls_port(transport), ssl=anonymous,
                                                       server_hostname="127.0.0.1")
        writer.write(wire(over_tls(register())))  # TLS 1.3: the server's refusal arrives after the handshake
        try:
            answer = await asyncio.wait_for(reader.read(), 5)
        except (ssl.SSLError, ConnectionError):  # the alert "certificate required", or a reset
            answer = b""
        assert answer == b""  # refused: not even a 401
        assert transport.connection_count == 0
        writer.close()

        identified = ssl.create_default_context()
        authority.configure_trust(identified)
        authority.issue_cert("phone-1001.pbx.test").configure_cert(identified)
        reader, writer = await asyncio.open_connection("127.0.0.1", tls_port(transport), ssl=identified,
                                                       server_hostname="127.0.0.1")
        writer.write(wire(over_tls(register())))
        assert (await read_message(reader)).status == 401  # a certificate, and digest still asked for
        writer.close()
    finally:
        await transport.close()


# RFC 5630 on the pure endpoint: sips: needs TLS on the hop it arrived on -----------------------------


SIPS_OPTIONS = """
OPTIONS sips:1001@pbx.test SIP/2.0
Via: SIP/2.0/{via} 127.0.0.1:5062;branch=z9hG4bK-sips-1;rport
Max-Forwards: 70
From: <sips:1002@pbx.test>;tag=a
To: <sips:1001@pbx.test>
Call-ID: sips-1
CSeq: 1 OPTIONS
"""


@pytest.mark.parametrize("transport", ["udp", "tcp"])
def test_a_sips_request_over_udp_or_tcp_is_refused_with_416(transport):
    endpoint = make_endpoint()
    peer = Peer(transport, PHONE.host, PHONE.port)
    response = only_response(endpoint.receive(wire(SIPS_OPTIONS.format(via=transport.upper())), peer, 0.0))
    assert response.status == 416
    assert "TLS" in response.reason


def test_a_sips_request_over_tls_is_answered():
    endpoint = make_endpoint()
    response = only_response(endpoint.receive(wire(SIPS_OPTIONS.format(via="TLS")), Peer("tls", *PHONE[1:]), 0.0))
    assert response.status == 200
