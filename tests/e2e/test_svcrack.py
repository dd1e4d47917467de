"""svcrack (SIPVicious 0.3.3) is banned after `ban_after` wrong passwords; a REGISTER flood gets 503.

svcrack REGISTERs as 1001 and answers each 401 with a guessed password (here 1..200, none right).
With ``security.ban_after: 3`` the PBX answers the first three guesses 403, publishes (and logs)
``SourceBanned`` for 127.0.0.1 and from then on answers nothing from that address: svcrack gives
up after ``--maximumtime`` seconds of silence, and a well-formed REGISTER from another port of the
same address gets no answer either.  Never pass ``-R`` (it mails tracebacks to the author).
"""

from __future__ import annotations

import os
import re

import pytest

from .harness import LOOPBACK, require_binary, wait_for
from .sipmsg import Dialogish, UdpSipClient, build_request

pytestmark = pytest.mark.e2e

GUESSES = 200
NO_LIMIT = {"invite": 0, "register": 0, "burst": 1}


@pytest.mark.timeout(30)
def test_svcrack_is_banned_after_three_failures(start_pbx, ports, tmp_path, peer):
    pbx = start_pbx(security={"ban_after": 3, "ban_window": 60, "ban_seconds": 600,
                              "per_source": NO_LIMIT, "per_user": NO_LIMIT})  # fmt: skip
    command = [
        require_binary("svcrack", "sipvicious"),
        "-P", str(ports.port()), "-b", LOOPBACK, "-x", LOOPBACK, "-u", "1001", "-r", f"1-{GUESSES}",
        "--maximumtime", "2", "-p", str(pbx.sip_port), LOOPBACK,
    ]  # fmt: skip
    # HOME in tmp_path: sipvicious keeps session state under ~/.sipvicious
    result = peer(command, timeout=20, name="svcrack", env={**os.environ, "HOME": str(tmp_path)})
    assert not result.timed_out, result.describe()
    output = result.stdout + result.stderr
    assert "secret1001" not in output and not re.search(r"\|\s*1001\s*\|\s*\S", output), result.describe()

    wait_for(lambda: "event=SourceBanned" in pbx.log_text(), timeout=5, what="SourceBanned in the PBX log")
    log = pbx.log_text()
    assert re.search(r"event=SourceBanned source='127\.0\.0\.1' reason='3 authentication failures", log), log
    # Three guesses answered 403; the rest fell on deaf ears.
    assert log.count("event=AuthenticationFailed") == 3
    with UdpSipClient(pbx.sip_address) as client:
        first, final = client.register("1001", "secret1001")
    assert first is None and final is None  # banned: not even the right password is answered


@pytest.mark.timeout(20)
def test_register_flood_gets_503_with_retry_after(start_pbx):
    pbx = start_pbx(security={"per_source": {"invite": 5, "register": 5, "burst": 10}})
    statuses, retry_after = [], set()
    with UdpSipClient(pbx.sip_address) as client:
        for _ in range(30):  # new REGISTERs as fast as the answers come, none answering its 401
            exchange = Dialogish(client.local_host, client.local_port, "1001", "127.0.0.1")
            response = client.request(build_request(f"REGISTER sip:{LOOPBACK}:{pbx.sip_port} SIP/2.0",
                                                    exchange.headers("REGISTER")))  # fmt: skip
            statuses.append(response.status)
            if response.status == 503:
                retry_after.add(response.header("Retry-After"))
    # The first ten take the burst; the flood after them is refused at once, not queued.
    assert statuses[:10] == [401] * 10, statuses
    assert statuses.count(503) >= 15, statuses
    assert retry_after == {"1"}, retry_after
