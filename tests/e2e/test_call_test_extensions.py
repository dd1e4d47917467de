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
