"""pyVoIP 1.6.8, a foreign SIP stack, registers as 1002 (RFC 2069 digest answer to a qop challenge)."""

from __future__ import annotations

import importlib.util
import os
import sys
from pathlib import Path

import pytest

from .harness import LOOPBACK, BackgroundPeer, wait_for

pytestmark = pytest.mark.e2e

SCRIPT = Path(__file__).resolve().parent / "pyvoip_register.py"


def _require_pyvoip() -> None:
    if importlib.util.find_spec("pyVoIP") is None:
        message = "pyVoIP is not installed in this Python; install it with: pip install 'pyVoIP==1.6.8'"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)


@pytest.mark.timeout(60)
def test_pyvoip_registers(pbx, ports, tmp_path):
    _require_pyvoip()
    sip_port, rtp_first = ports.port(), ports.block(10)
    stop_file = tmp_path / "stop"
    command = [
        sys.executable, str(SCRIPT), "--server", LOOPBACK, "--port", str(pbx.sip_port),
        "--user", "1002", "--password", "secret1002", "--sip-port", str(sip_port),
        "--rtp", f"{rtp_first}-{rtp_first + 9}", "--stop-file", str(stop_file), "--hold", "30",
    ]  # fmt: skip
    with BackgroundPeer(command, workdir=tmp_path, name="pyvoip", lifetime=45) as phone:
        wait_for(
            lambda: "REGISTERED" in phone.stdout or not phone.is_alive(),
            timeout=20, what="pyVoIP to register",
        )  # fmt: skip
        assert "REGISTERED" in phone.stdout and "FAILED" not in phone.stdout, phone.describe()

        bindings = [entry for entry in pbx.registrations() if entry["extension"] == "1002"]
        assert len(bindings) == 1, bindings
        binding = bindings[0]
        assert binding["aor"] == "sip:1002@pbx.test"
        assert binding["transport"] == "udp"
        assert binding["source"] == f"{LOOPBACK}:{sip_port}", binding
        assert binding["uri"].startswith(f"sip:1002@{LOOPBACK}:{sip_port}"), binding
        assert (binding["instance"] or "").lower().startswith("<urn:uuid:"), binding
        assert binding["user_agent"] == "pyVoIP 1.6.8", binding
        assert 0 < binding["expires_in"] <= 120, binding

        stop_file.touch()
        rc = phone.wait()
    assert rc == 0, phone.describe()
    assert "STOPPED" in phone.stdout, phone.describe()
    # pyVoIP de-registers (Expires: 0, digest again) on stop()
    wait_for(
        lambda: not [entry for entry in pbx.registrations() if entry["extension"] == "1002"],
        timeout=5, what="the pyVoIP binding to be removed after de-REGISTER",
    )  # fmt: skip
