"""The asyncio transport on real sockets, in process: TCP framing, keep-alive, connection reuse, UDP rport.

The PBX is built by the composition root (pbx.app.Pbx) and bound to port 0 on
127.0.0.1, so the kernel picks free ports.
"""

from __future__ import annotations

import asyncio
import socket

import pytest

from pbx.app import Pbx
from pbx.config import parse_config
from pbx.sip.message import parse_message

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(30)]

CONFIG = """
realm: pbx.test
sip:
  listen:
    - {transport: udp, host: 127.0.0.1, port: 0}
    - {transport: tcp, host: 127.0.0.1, port: 0}
admin: {listen: null}
extensions:
  "1001": {password: secret1001}
"""


def options(call_id: str, transport: str = "TCP", port: int = 9) -> bytes:
    return (
        f"OPTIONS sip:pbx.test SIP/2.0\r\nVia: SIP/2.0/{transport} 127.0.0.1:{port};branch=z9hG4bK{call_id};rport\r\n"
        f"From: <sip:probe@pbx.test>;tag=a\r\nTo: <sip:pbx.test>\r\nCall-ID: {call_id}\r\nCSeq: 1 OPTIONS\r\n"
        "Max-Forwards: 70\r\nContent-Length: 0\r\n\r\n"
    ).encode()


@pytest.fixture
async def pbx(tmp_path):
    node = Pbx(parse_config(CONFIG + f"data_dir: {tmp_path / 'data'}\n"))  # its database stays out of the project
    await node.start()
    yield node
    await node.stop()


def bound(node: Pbx, transport: str) -> int:
    return next(port for kind, _, port in node.transport.bound if kind == transport)


async def read_response(reader: asyncio.StreamReader):
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
    return parse_message(head)


async def test_tcp_two_messages_in_one_write_and_split_across_writes(pbx):
    reader, writer = await asyncio.open_connection("127.0.0.1", bound(pbx, "tcp"))
    writer.write(options("one") + options("two"))
    first, second = await read_response(reader), await read_response(reader)
    assert [(r.status, r.call_id) for r in (first, second)] == [(200, "one"), (200, "two")]
    data = options("three")
    for index in range(0, len(data), 7):
        writer.write(data[index : index + 7])
        await writer.drain()
        await asyncio.sleep(0)
    assert (await read_response(reader)).call_id == "three"
    assert pbx.transport.connection_count == 1
    writer.close()


async def test_tcp_double_crlf_ping_gets_a_pong(pbx):
    reader, writer = await asyncio.open_connection("127.0.0.1", bound(pbx, "tcp"))
    writer.write(b"\r\n\r\n")
    assert await asyncio.wait_for(reader.readexactly(2), 5) == b"\r\n"
    writer.close()


async def test_tcp_malformed_request_gets_400_and_connection_keeps_working(pbx):
    reader, writer = await asyncio.open_connection("127.0.0.1", bound(pbx, "tcp"))
    writer.write(options("bad").replace(b"CSeq: 1 OPTIONS", b"CSeq: x OPTIONS"))
    bad = await read_response(reader)
    assert bad.status == 400 and "CSeq" in bad.reason
    writer.write(options("good"))
    assert (await read_response(reader)).status == 200
    writer.close()


async def test_tcp_unframeable_stream_is_closed(pbx):
    reader, writer = await asyncio.open_connection("127.0.0.1", bound(pbx, "tcp"))
    writer.write(options("x").replace(b"Content-Length: 0", b"Content-Length: lots"))
    assert await asyncio.wait_for(reader.read(), 5) == b""
    assert pbx.transport.connection_count == 0


async def test_udp_response_goes_to_source_port_with_rport(pbx):
    loop = asyncio.get_running_loop()
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        sock.setblocking(False)
        # The Via names port 9, but rport asks for the source port (RFC 3581).
        sock.sendto(options("udp", "UDP", 9), ("127.0.0.1", bound(pbx, "udp")))
        data = await asyncio.wait_for(loop.sock_recv(sock, 65535), 5)
        source_port = sock.getsockname()[1]
    response = parse_message(data)
    assert response.status == 200
    assert response.top_via.params["rport"] == str(source_port)
