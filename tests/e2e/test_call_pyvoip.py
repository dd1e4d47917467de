"""pyVoIP 1.6.8 (extension 1003, challenged with 401) calls a baresip phone (1002) through the PBX.

pyVoIP answers only 401 challenges, so 1003 has ``invite_challenge: 401``; it needs a 100 or
180 before the 200 or its ``call()`` never returns; and it plays 8-bit audio.  It runs as a
subprocess (``calls/pyvoip_call.py``) under a hard time bound.  The call must be established on
both sides and audio must cross it at least one way: baresip's recording of the call holds
pyVoIP's sentence (correlation), or pyVoIP hears baresip's tone.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from .calls import audio
from .calls.fixtures import call_extensions, call_pbx, phones, wait_bus_event, wait_idle  # noqa: F401
from .harness import run_peer

pytestmark = pytest.mark.e2e

SCRIPT = Path(__file__).resolve().parent / "calls" / "pyvoip_call.py"


@pytest.mark.timeout(90)
def test_pyvoip_calls_baresip_through_the_pbx(tmp_path, ports, call_pbx, phones):  # noqa: F811
    pytest.importorskip("pyVoIP", reason="pip install 'pyVoIP==1.6.*'")
    pbx = call_pbx(extensions=call_extensions(x1003={"invite_challenge": 401}))
    alpha = audio.speech_wav(tmp_path / "wav", "alpha", seconds=8)
    tone = audio.tone_wav(tmp_path / "wav", seconds=60)
    callee = phones("phone1002", "1002", pbx, source=tone)

    rtp = ports.block(10)
    result = run_peer(
        [
            sys.executable, str(SCRIPT), "--port", str(pbx.sip_port), "--user", "1003", "--password", "secret1003",
            "--number", "1002", "--sip-port", str(ports.port()), "--rtp", f"{rtp}-{rtp + 9}",
            "--wav", str(alpha), "--record", str(tmp_path / "pyvoip_heard.wav"), "--talk", "4",
        ],
        timeout=45, workdir=tmp_path, name="pyvoip",
    )  # fmt: skip
    lines = [line for line in result.stdout.splitlines() if line.startswith("RESULT ")]
    assert lines, f"pyVoIP printed no RESULT\n{result.describe()}"
    outcome = json.loads(lines[-1].removeprefix("RESULT "))
    assert outcome["registered"], f"{outcome}\n{result.describe()}"
    assert outcome["answered"], f"{outcome}\n{result.describe()}\n{pbx.log_tail(60)}"

    established = callee.wait_event("CALL_ESTABLISHED", 5)
    assert established["peeruri"].startswith("sip:1003@"), established
    callee.wait_event("CALL_CLOSED", 10)
    wait_bus_event(pbx, "CallEnded", timeout=5)

    heard_by_baresip = callee.heard()
    pyvoip_heard = outcome.get("heard_rms", 0.0)
    baresip_active = audio.active_seconds(heard_by_baresip)
    if baresip_active < 1.0 and pyvoip_heard < 0.02:
        pytest.fail(
            f"no audio crossed the call: baresip heard {baresip_active:.1f}s of sound, "
            f"pyVoIP heard rms {pyvoip_heard}\n{outcome}"
        )
    if baresip_active >= 1.0:
        # what baresip heard is pyVoIP's sentence, not its own tone
        match = audio.correlate(audio.read_wav(alpha), heard_by_baresip, window=1.0)
        own = audio.correlate(callee.sent(), heard_by_baresip, window=1.0)
        assert match.peak > 0.5 and match.peak > own.peak + 0.2, f"pyVoIP -> baresip: {match}; own tone: {own}"
    assert result.returncode == 0, result.describe()
    wait_idle(pbx, timeout=5)
