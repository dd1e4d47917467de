"""svmap (SIPVicious 0.3.3) finds the PBX but learns no version from it.

svmap sends OPTIONS (or INVITE with ``-m INVITE``) and prints each device that answers as a row
``| 127.0.0.1:PORT | <User-Agent or Server> | <fingerprint> |``. Attackers pick their exploits by
that version string; the PBX's default Server header is a bare product name (sip.user_agent).
"""

from __future__ import annotations

import os
import re

import pytest

from .harness import LOOPBACK, require_binary

pytestmark = pytest.mark.e2e

DEVICE_ROW = re.compile(r"^\|\s*(\d+\.\d+\.\d+\.\d+:\d+)\s*\|\s*([^|]*?)\s*\|", re.MULTILINE)


@pytest.mark.timeout(60)
@pytest.mark.parametrize("method", ["OPTIONS", "INVITE"])
def test_svmap_finds_the_pbx_and_no_version(pbx, ports, tmp_path, peer, method):
    command = [
        require_binary("svmap", "sipvicious"),
        "-P", str(ports.port()), "-b", LOOPBACK, "-x", LOOPBACK, "-p", str(pbx.sip_port), "-m", method, LOOPBACK,
    ]  # fmt: skip
    result = peer(command, timeout=30, name=f"svmap_{method}", env={**os.environ, "HOME": str(tmp_path)})
    assert not result.timed_out, result.describe()
    rows = dict(DEVICE_ROW.findall(result.stdout + result.stderr))
    assert f"{LOOPBACK}:{pbx.sip_port}" in rows, result.describe()  # it did find us: the check is real
    agent = rows[f"{LOOPBACK}:{pbx.sip_port}"]
    assert agent and not re.search(r"\d", agent), f"svmap read a version: {agent!r}\n{result.describe()}"
