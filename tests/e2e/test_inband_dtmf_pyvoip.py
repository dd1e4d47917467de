"""pyVoIP plays in-band DTMF (it cannot send RFC 4733 or INFO) to 602; the PBX hears each key once.

The tones are generated here (ITU-T Q.23 frequency pairs, 100 ms on, 150 ms off, 8 kHz mono
PCM16), handed to pyVoIP in one write (``calls/pyvoip_call.py --at-once``), squeezed through pyVoIP's
8-bit linear audio and G.711 mu-law, and detected by the PBX's Goertzel detector on the leg it
answers itself: ``event=DigitReceived ... source='inband'`` on the bus, once per key.
"""

from __future__ import annotations

import json
import math
import sys
import wave
from array import array
from pathlib import Path

import pytest

from .calls.fixtures import bus_events, call_extensions, call_pbx, wait_bus_event, wait_idle  # noqa: F401
from .harness import run_peer
from .test_call_test_extensions import prompts  # noqa: F401 - the rendered prompts fixture

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = Path(__file__).resolve().parent / "calls" / "pyvoip_call.py"
RATE = 8000
# ITU-T Q.23: (low group, high group) in Hz
DTMF_FREQUENCIES = {
    "1": (697, 1209), "2": (697, 1336), "3": (697, 1477), "A": (697, 1633),
    "4": (770, 1209), "5": (770, 1336), "6": (770, 1477), "B": (770, 1633),
    "7": (852, 1209), "8": (852, 1336), "9": (852, 1477), "C": (852, 1633),
    "*": (941, 1209), "0": (941, 1336), "#": (941, 1477), "D": (941, 1633),
}  # fmt: skip


def dtmf_wav(path: Path, digits: str, *, tone: float = 0.100, gap: float = 0.150, lead: float = 0.5,
             tail: float = 1.0, amplitude: float = 0.3) -> Path:
    """Each digit as a pair of sines (each at ``amplitude`` of full scale, about -10 dBFS),
    with 5 ms ramps so the edges do not splash energy across the band."""
    samples = array("h", bytes(2 * int(lead * RATE)))
    ramp = int(0.005 * RATE)
    length = int(tone * RATE)
    for digit in digits:
        low, high = DTMF_FREQUENCIES[digit]
        for n in range(length):
            envelope = min(1.0, n / ramp, (length - 1 - n) / ramp)
            value = math.sin(2 * math.pi * low * n / RATE) + math.sin(2 * math.pi * high * n / RATE)
            samples.append(round(32767 * amplitude * envelope * value))
        samples.extend(array("h", bytes(2 * int(gap * RATE))))
    samples.extend(array("h", bytes(2 * int(tail * RATE))))
    if sys.byteorder == "big":
        samples.byteswap()
    path.parent.mkdir(parents=True, exist_ok=True)
    with wave.open(str(path), "wb") as writer:
        writer.setnchannels(1)
        writer.setsampwidth(2)
        writer.setframerate(RATE)
        writer.writeframes(samples.tobytes())
    return path


@pytest.mark.timeout(60)
def test_602_detects_inband_dtmf_played_by_pyvoip(tmp_path, ports, call_pbx, prompts):  # noqa: F811
    pytest.importorskip("pyVoIP", reason="pip install 'pyVoIP==1.6.*'")
    pbx = call_pbx(extensions=call_extensions(x1003={"invite_challenge": 401}), prompts=str(prompts))
    wav = dtmf_wav(tmp_path / "wav" / "dtmf_159pound.wav", "159#")
    rtp = ports.block(10)
    result = run_peer(
        [
            sys.executable, str(SCRIPT), "--port", str(pbx.sip_port), "--user", "1003", "--password", "secret1003",
            "--number", "602", "--sip-port", str(ports.port()), "--rtp", f"{rtp}-{rtp + 9}",
            "--wav", str(wav), "--at-once", "--talk", "4",
        ],
        timeout=40, workdir=tmp_path, name="pyvoip",
    )  # fmt: skip
    lines = [line for line in result.stdout.splitlines() if line.startswith("RESULT ")]
    assert lines, f"pyVoIP printed no RESULT\n{result.describe()}"
    outcome = json.loads(lines[-1].removeprefix("RESULT "))
    assert outcome["registered"] and outcome["answered"], f"{outcome}\n{result.describe()}\n{pbx.log_tail(40)}"
    assert outcome["ended_by"] == "us", outcome  # 602 never hangs up by itself

    wait_bus_event(pbx, "CallEnded", timeout=10)
    digits = [(event.get("digit"), event.get("source")) for event in bus_events(pbx, "DigitReceived")]
    assert digits == [("1", "inband"), ("5", "inband"), ("9", "inband"), ("#", "inband")], digits
    wait_idle(pbx, timeout=10)
