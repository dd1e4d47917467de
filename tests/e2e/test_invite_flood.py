"""An INVITE flood from one address: refused with 503 and Retry-After at once, and the PBX's
memory stays flat (issue 15).

Three rounds of 2,000 new INVITEs (each its own Call-ID and branch, none answering anything) are
blasted from one UDP socket at a PBX with its default limits: past the per-source burst, each
gets 503 with Retry-After (RFC 3261 21.5.4) without a transaction kept for it. The PBX's
resident memory after the third round is within a few MB of after the first, and a phone
still registers between the rounds.
"""

from __future__ import annotations

import socket
import time
from pathlib import Path

import pytest

from .harness import LOOPBACK
from .sipmsg import UdpSipClient, build_request

pytestmark = pytest.mark.e2e

ROUND = 2000


def resident_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError("no VmRSS")


def blast(sock: socket.socket, port: int, round_number: int) -> dict[int, int]:
    """Send ROUND INVITEs without waiting, then collect what comes back: {status: count}."""
    local_port = sock.getsockname()[1]
    for number in range(ROUND):
        call = f"flood-{round_number}-{number}"
        sock.sendto(build_request(f"INVITE sip:1002@{LOOPBACK}:{port} SIP/2.0", [
            ("Via", f"SIP/2.0/UDP {LOOPBACK}:{local_port};branch=z9hG4bK{call};rport"),
            ("Max-Forwards", "70"), ("From", f"<sip:1001@{LOOPBACK}>;tag={call}"), ("To", f"<sip:1002@{LOOPBACK}>"),
            ("Call-ID", call), ("CSeq", "1 INVITE"), ("Contact", f"<sip:1001@{LOOPBACK}:{local_port}>"),
        ]), (LOOPBACK, port))
    statuses: dict[int, int] = {}
    sock.settimeout(1.0)
    try:
        while True:
            data = sock.recv(65535)
            status = int(data.split(b" ", 2)[1])
            statuses[status] = statuses.get(status, 0) + 1
    except TimeoutError:
        return statuses


@pytest.mark.timeout(40)
def test_an_invite_flood_gets_503_and_memory_stays_flat(start_pbx):
    pbx = start_pbx()
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind((LOOPBACK, 0))
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
        memory = []
        for round_number in range(3):
            statuses = blast(sock, pbx.sip_port, round_number)
            memory.append(resident_kib(pbx.process.pid))
            refused = statuses.get(503, 0)
            assert refused >= ROUND * 0.8, statuses  # past the burst (200): refused, not queued
            if round_number == 1:  # a phone on the same address still registers: REGISTERs have their own bucket
                with UdpSipClient(pbx.sip_address) as phone:
                    first, final = phone.register("1001", "secret1001")
                assert final is not None and final.status == 200
            time.sleep(0.2)
    print(f"\nRSS after each round of {ROUND} INVITEs: {memory} KiB; last round: {statuses}")
    assert memory[2] - memory[0] < 4096, memory  # flat: a refused INVITE leaves nothing behind
    assert pbx.is_alive()
    assert "event=admin_handler_failed" not in pbx.log_text()
