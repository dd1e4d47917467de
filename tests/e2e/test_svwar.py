"""svwar (SIPVicious 0.3.3) cannot enumerate extensions: known and unknown users get the same 401.

svwar first REGISTERs a random extension.  When that gets a challenge it refuses to scan ("Set
--force"); with ``--force`` it takes that answer's status line as the "no such user" baseline and
reports every extension whose answer differs.  Extensions 1001-1005 exist in the config, so any of
them reported means the PBX leaks which users exist.  Never pass ``-R`` (it mails tracebacks to the
author).
"""

from __future__ import annotations

import os
import re

import pytest

from .harness import LOOPBACK, require_binary

pytestmark = pytest.mark.e2e

# svwar prints found extensions as a table row "| 1001 | reqauth |" and logs "extension '1001' exists"
FOUND_ROW = re.compile(r"^\|\s*(\d+)\s*\|", re.MULTILINE)
FOUND_LOG = re.compile(r"extension '(\d+)' (?:exists|probably exists)")


def _svwar(peer, ports, pbx, tmp_path, *extra: str):
    command = [
        require_binary("svwar", "sipvicious"),
        "-P", str(ports.port()), "-b", LOOPBACK, "-x", LOOPBACK,
        "-e", "1000-1010", "-m", "REGISTER", "-p", str(pbx.sip_port), *extra, LOOPBACK,
    ]  # fmt: skip
    # HOME in tmp_path: sipvicious keeps session state under ~/.sipvicious
    result = peer(
        command, timeout=30, name="svwar" + "".join(extra).replace("-", "_"), env={**os.environ, "HOME": str(tmp_path)}
    )
    output = result.stdout + result.stderr
    found = set(FOUND_ROW.findall(output)) | set(FOUND_LOG.findall(output))
    return result, output, found


@pytest.mark.timeout(60)
def test_svwar_refuses_to_enumerate(pbx, ports, tmp_path, peer):
    result, output, found = _svwar(peer, ports, pbx, tmp_path)
    assert not result.timed_out, result.describe()
    assert found == set(), result.describe()
    assert "authentication request for an unknown extension" in output, result.describe()


@pytest.mark.timeout(60)
def test_svwar_forced_finds_no_extension(pbx, ports, tmp_path, peer):
    result, _, found = _svwar(peer, ports, pbx, tmp_path, "--force")
    assert not result.timed_out, result.describe()
    assert not found & {str(n) for n in range(1001, 1006)}, result.describe()
    assert found == set(), result.describe()
