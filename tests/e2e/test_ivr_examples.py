"""The shipped example scenarios on live calls: the bank self-service line (examples/scenarios/bank.ivr).

A baresip phone dials 801 and keys its account number (RFC 4733): the entry is sensitive, so
the call's recording pauses while it is keyed and no digit of it reaches the bus or the log;
the example `bank.balance` function finds the account and the balance menu runs; key 9 ends
the call from the scenario. The spoken prompts are rendered by espeak-ng during the call.
"""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

import pytest

from .calls import audio
from .calls.fixtures import call_extensions, call_pbx, dial_uri, phones, wait_bus_event, wait_idle  # noqa: F401
from .calls.fixtures import bus_events
from .harness import require_binary

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.e2e


@pytest.mark.timeout(120)
def test_bank_line_reads_a_sensitive_account_number_and_looks_it_up(tmp_path, call_pbx, phones):  # noqa: F811
    require_binary("espeak-ng", "espeak-ng")
    prompts = tmp_path / "prompts"
    subprocess.run(["bash", str(ROOT / "examples/prompts/render.sh"), str(ROOT / "examples/prompts/en.txt"),
                    str(prompts / "en")], check=True, capture_output=True, timeout=100)
    pbx = call_pbx(
        extensions=call_extensions(x1001={"record": True}), prompts=str(prompts / "en"),
        recording={"directory": str(tmp_path / "recordings")},
        ivr={"scenarios": str(ROOT / "examples/scenarios"), "prompts": str(prompts), "tts_cache": str(tmp_path / "tts")},
        plugins={"examples": {"path": str(ROOT / "examples/functions.py")}},  # bank.balance, by the SDK
        routes=[{"match": "801", "scenario": "bank"}],
    )  # fmt: skip
    phone = phones("phone1001", "1001", pbx, source=audio.speech_wav(tmp_path / "wav", "alpha"))
    phone.dial(dial_uri(pbx, "801"))
    phone.wait_event("CALL_ESTABLISHED", 10)
    call_id = wait_bus_event(pbx, "IvrStarted", timeout=5, scenario="bank")["call_id"]
    wait_bus_event(pbx, "RecordingStarted", timeout=5, call_id=call_id)
    wait_bus_event(pbx, "RecordingPaused", timeout=20, call_id=call_id)  # the sensitive collect began
    time.sleep(1.0)
    phone.command("sndcode", "12345678#")
    wait_bus_event(pbx, "RecordingResumed", timeout=10, call_id=call_id)
    wait_bus_event(pbx, "IvrNodeEntered", timeout=10, node="balance_menu")
    time.sleep(1.0)
    phone.command("sndcode", "9")
    wait_bus_event(pbx, "IvrKeyChosen", timeout=10, menu="balance_menu", key="9")
    wait_bus_event(pbx, "IvrExited", timeout=15, how="hangup", node="balance_menu")
    phone.wait_event("CALL_CLOSED", 15)
    wait_idle(pbx, timeout=5)

    pressed = bus_events(pbx, "DigitReceived")
    hidden = [event for event in pressed if event["sensitive"] == "True"]
    assert len(hidden) == 9 and {event["digit"] for event in hidden} == {"?"}, pressed
    assert [event["digit"] for event in pressed if event["sensitive"] == "False"] == ["9"], pressed
    assert "12345678" not in pbx.log_text(), "the account number reached the log"
    stopped = wait_bus_event(pbx, "RecordingStopped", timeout=5, call_id=call_id)
    assert float(stopped["paused_seconds"]) > 1.0, stopped
