"""The test extensions the PBX answers itself: 600 echo, 601 playback, 602 digit read-back.

A baresip phone dials each; what it records must correlate with what the PBX
was meant to send: its own voice (600), the rendered prompt (601), the spoken
digit after `sndcode` sends RFC 4733 (602).
"""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

import pytest

from .calls import audio
from .calls.fixtures import call_pbx, dial_uri, phones, wait_bus_event, wait_idle  # noqa: F401 - fixtures
from .harness import require_binary

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.e2e


@pytest.fixture
def prompts(tmp_path) -> Path:
    require_binary("espeak-ng", "espeak-ng")
    directory = tmp_path / "prompts"
    subprocess.run(["bash", str(ROOT / "examples/prompts/render.sh"), str(ROOT / "examples/prompts/en.txt"),
                    str(directory)], check=True, capture_output=True, timeout=100)
    return directory


def call_and_record(pbx, phone, number: str, seconds: float, during=None):
    phone.dial(dial_uri(pbx, number))
    phone.wait_event("CALL_ESTABLISHED", 10)
    wait_bus_event(pbx, "CallAnswered", timeout=5)
    if during is not None:
        time.sleep(1.0)
        during()
    time.sleep(seconds)
    phone.hangup()
    phone.wait_event("CALL_CLOSED", 10)
    wait_idle(pbx, timeout=5)


@pytest.mark.timeout(90)
def test_601_plays_the_prompt(tmp_path, call_pbx, phones, prompts):  # noqa: F811
    pbx = call_pbx(prompts=str(prompts))
    phone = phones("phone1001", "1001", pbx, source=audio.speech_wav(tmp_path / "wav", "alpha"))
    call_and_record(pbx, phone, "601", 6.0)
    prompt = audio.read_wav(prompts / "playback-test.wav")
    audio.assert_heard(prompt, phone.heard(), unrelated=[phone.sent()], what="601 plays playback-test")
    # The PBX is the RTP end system here: it sent sender reports, baresip's receiver reports
    # answered them (so a round trip was measured), and the leg's quality reached the bus.
    quality = wait_bus_event(pbx, "CallQuality", timeout=5, party="caller")
    assert int(quality["packets"]) > 200 and quality["lost"] == "0" and float(quality["mos"]) > 4.0, quality
    assert int(quality["rtcp_reports"]) >= 1 and quality["round_trip_ms"] != "None", quality


@pytest.mark.timeout(90)
def test_600_echoes_what_it_hears(tmp_path, call_pbx, phones, prompts):  # noqa: F811
    pbx = call_pbx(prompts=str(prompts))
    bravo = audio.read_wav(audio.speech_wav(tmp_path / "wav", "bravo"))
    phone = phones("phone1001", "1001", pbx, source=audio.speech_wav(tmp_path / "wav", "alpha"))
    call_and_record(pbx, phone, "600", 5.0)
    audio.assert_heard(phone.sent(), phone.heard(), unrelated=[bravo], what="600 echoes the caller")


@pytest.mark.timeout(90)
def test_602_reads_back_a_key(tmp_path, call_pbx, phones, prompts):  # noqa: F811
    pbx = call_pbx(prompts=str(prompts))
    phone = phones("phone1001", "1001", pbx, source=audio.speech_wav(tmp_path / "wav", "alpha"))
    call_and_record(pbx, phone, "602", 3.5, during=lambda: phone.command("sndcode", "7"))
    heard = phone.heard()
    audio.assert_heard(audio.read_wav(prompts / "digit-7.wav"), heard, unrelated=[phone.sent()],
                       what="602 says seven")
    pressed = [line for line in pbx.log_text().splitlines() if "event=DigitReceived" in line]
    assert len(pressed) == 1 and "digit='7'" in pressed[0] and "source='rfc4733'" in pressed[0], pressed


@pytest.mark.timeout(90)
def test_602_detects_sipp_dtmf_three_ways_each_once(tmp_path, ports, call_pbx, prompts):  # noqa: F811
    """sipp sends 1 (shipped RFC 2833 pcap, PT 101), 2 and 3 (play_dtmf: PT 96, new SSRC, R bit,
    PT 97 noops), then 4 by SIP INFO: the PBX reports exactly 1, 2, 3, 4, each once."""
    require_binary("sipp", "sip-tester")
    pbx = call_pbx(prompts=str(prompts))
    host, port = pbx.sip_address
    result = subprocess.run(
        ["sipp", f"{host}:{port}", "-sf", str(ROOT / "tests/e2e/sipp/call_dtmf_auth.xml"), "-s", "602",
         "-au", "1001", "-ap", "secret1001", "-i", "127.0.0.1", "-p", str(ports.port()), "-cp", str(ports.port()),
         "-mi", "127.0.0.1", "-mp", str(ports.port()), "-m", "1", "-nostdin", "-timeout", "30s", "-timeout_error"],
        cwd=tmp_path, capture_output=True, text=True, timeout=60,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    wait_bus_event(pbx, "CallEnded", timeout=5)
    digits = [(line.split("digit='")[1][0], line.split("source='")[1].split("'")[0])
              for line in pbx.log_text().splitlines() if "event=DigitReceived" in line]
    assert digits == [("1", "rfc4733"), ("2", "rfc4733"), ("3", "rfc4733"), ("4", "info")], digits
    wait_idle(pbx, timeout=5)
