"""IVR scenarios on live calls: a baresip phone dials a routed number and navigates by keypad.

The scenario is written by the test (DSL) into a temporary directory the PBX loads. It uses
recorded prompts the test renders (welcome, digit-N) so what the phone hears can be matched.
Checks: the menu's greeting is heard; a key chosen by RFC 4733 (baresip `sndcode`) is reported
(IvrKeyChosen), the digits read back are heard, the disposition is set and the PBX hangs up;
`dial` rings a second phone and bridges the call; SIGHUP reloads a changed scenario for new
calls while a broken one is refused and the old version stays.
"""

from __future__ import annotations

import json
import os
import signal
import urllib.request
import subprocess
import time
from pathlib import Path

import pytest

from .calls import audio
from .calls.fixtures import call_pbx, dial_uri, phones, wait_bus_event, wait_idle  # noqa: F401 - fixtures
from .calls.fixtures import bus_events
from .harness import require_binary

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.e2e

SCENARIO = """\
scenario "Test line"
  language en
  prompts "prompts"
end

block start
  answer
  goto main
end

menu main
  greeting "welcome"
  timeout 4s
  max timeouts 2
    hangup
  end
  key 1
    say digits "42"
    disposition "read-back"
    hangup
  end
  key 2
    dial 1002 timeout 10s caller id "800"
    on failure
      say digits "9"
      hangup
    end
  end
end
"""


@pytest.fixture
def ivr_dir(tmp_path) -> Path:
    require_binary("espeak-ng", "espeak-ng")
    directory = tmp_path / "scenarios"
    prompts = directory / "prompts" / "en"
    prompts.mkdir(parents=True)
    subprocess.run(["bash", str(ROOT / "examples/prompts/render.sh"), str(ROOT / "examples/prompts/en.txt"),
                    str(prompts)], check=True, capture_output=True, timeout=100)
    (directory / "test.ivr").write_text(SCENARIO)
    return directory


def ivr_pbx(call_pbx, ivr_dir: Path, tmp_path: Path):
    return call_pbx(prompts=str(ivr_dir / "prompts" / "en"),
                    ivr={"scenarios": str(ivr_dir), "prompts": str(ivr_dir / "prompts"), "tts_cache": str(tmp_path / "tts")},
                    routes=[{"match": "800", "scenario": "test"}])


@pytest.mark.timeout(120)
def test_a_caller_navigates_the_menu_and_hears_the_read_back(tmp_path, call_pbx, phones, ivr_dir):  # noqa: F811
    pbx = ivr_pbx(call_pbx, ivr_dir, tmp_path)
    phone = phones("phone1001", "1001", pbx, source=audio.speech_wav(tmp_path / "wav", "alpha"))
    phone.dial(dial_uri(pbx, "800"))
    phone.wait_event("CALL_ESTABLISHED", 10)
    started = wait_bus_event(pbx, "IvrStarted", timeout=5, scenario="test", version="1")
    wait_bus_event(pbx, "IvrNodeEntered", timeout=5, node="main")
    time.sleep(2.5)  # the greeting plays
    phone.command("sndcode", "1")
    wait_bus_event(pbx, "IvrKeyChosen", timeout=5, menu="main", key="1")
    wait_bus_event(pbx, "CallDisposition", timeout=5, value="read-back")
    phone.wait_event("CALL_CLOSED", 15)  # the scenario hangs up after the read-back
    exited = wait_bus_event(pbx, "IvrExited", timeout=5, how="hangup")
    assert exited["call_id"] == started["call_id"]
    wait_idle(pbx, timeout=5)
    heard = phone.heard()
    prompts = ivr_dir / "prompts" / "en"
    audio.assert_heard(audio.read_wav(prompts / "welcome.wav"), heard, unrelated=[phone.sent()], what="greeting")
    four = audio.read_wav(prompts / "digit-4.wav")
    assert audio.best_match(four, heard)[0] > 0.8, "the read-back 'four' was not heard"


@pytest.mark.timeout(120)
def test_dial_from_the_menu_bridges_to_the_extension(tmp_path, call_pbx, phones, ivr_dir):  # noqa: F811
    pbx = ivr_pbx(call_pbx, ivr_dir, tmp_path)
    alpha, bravo = (audio.speech_wav(tmp_path / "wav", name) for name in ("alpha", "bravo"))
    caller = phones("phone1001", "1001", pbx, source=alpha)
    callee = phones("phone1002", "1002", pbx, source=bravo)
    caller.dial(dial_uri(pbx, "800"))
    caller.wait_event("CALL_ESTABLISHED", 10)
    wait_bus_event(pbx, "IvrNodeEntered", timeout=5, node="main")
    caller.command("sndcode", "2")
    established = callee.wait_event("CALL_ESTABLISHED", 10)
    assert established["peeruri"].startswith("sip:800@"), established  # the scenario's caller id
    wait_bus_event(pbx, "IvrExited", timeout=5, how="dial")
    time.sleep(4.0)
    caller.hangup()
    callee.wait_event("CALL_CLOSED", 10)
    wait_bus_event(pbx, "CallEnded", timeout=5)
    wait_idle(pbx, timeout=5)
    audio.assert_heard(caller.sent(), callee.heard(), unrelated=[callee.sent()], what="1002 hears 1001",
                       align="end")


@pytest.mark.timeout(120)
def test_sighup_reloads_changed_scenarios_and_refuses_broken_ones(tmp_path, call_pbx, ivr_dir):  # noqa: F811
    pbx = ivr_pbx(call_pbx, ivr_dir, tmp_path)
    wait_for_log(pbx, "event=scenarios_loaded loaded=['test']")
    (ivr_dir / "test.ivr").write_text(SCENARIO.replace('disposition "read-back"', 'disposition "v2"'))
    (ivr_dir / "broken.ivr").write_text("scenario \"Broken\"\nend\nblock start\n  goto nowhere\nend\n")
    os.kill(pbx.process.pid, signal.SIGHUP)
    wait_for_log(pbx, "event=scenario_refused scenario=broken")
    text = pbx.log_text()
    assert "broken.ivr:4:8: error" in text and "nowhere" in text, text[-2000:]
    assert text.count("event=scenarios_loaded loaded=['test']") == 2, "the changed scenario was not reloaded"
    (ivr_dir / "test.ivr").write_text('scenario "Test line"\nend\nblock start\n  paly "welcome"\nend\n')  # a typo
    os.kill(pbx.process.pid, signal.SIGHUP)
    wait_for_log(pbx, "event=scenario_refused scenario=test kept=True")
    # The admin API reloads the same way, and says what it refused and why.
    request = pbx.admin_request("/api/scenarios/reload", "POST")
    with urllib.request.urlopen(request, timeout=5) as response:
        report = json.loads(response.read())
    assert report["ok"] is False and "did you mean 'play'" in report["refused"]["test"], report
    assert "test.ivr:4:3: error" in pbx.log_text() and "did you mean 'play'" in pbx.log_text()
    assert not bus_events(pbx, "IvrStarted")


def wait_for_log(pbx, needle: str, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while needle not in pbx.log_text():
        if time.monotonic() > deadline:
            pytest.fail(f"no {needle!r} in the PBX log:\n{pbx.log_tail(30)}")
        time.sleep(0.1)


@pytest.mark.timeout(60)
async def test_a_scenario_can_refuse_a_call_it_never_answered_and_unknown_routes_fail_clearly(tmp_path, call_pbx):  # noqa: F811
    """`hangup busy` before `answer` is a 486; an extension route rings that extension."""
    from .media.uac import Uac

    directory = tmp_path / "scenarios"
    directory.mkdir()
    (directory / "closed.ivr").write_text('scenario "Closed"\nend\nblock start\n  disposition "refused"\n  hangup busy\nend\n')
    pbx = call_pbx(ivr={"scenarios": str(directory), "prompts": str(tmp_path), "tts_cache": str(tmp_path / "tts")},
                   routes=[{"match": "810", "scenario": "closed"}, {"match": "_9XX", "extension": "1002"}])
    uac = await Uac.open(pbx.sip_address, "1001", "secret1001")
    try:
        refused = await uac.call("810", 40000)
        unregistered = await uac.call("905", 40004)  # routed to 1002, which no phone registered
    finally:
        uac.close()
    assert refused.status == 486 and not refused.answered, refused
    assert unregistered.status == 480, unregistered
    wait_bus_event(pbx, "CallDisposition", timeout=5, value="refused")
    wait_idle(pbx, timeout=5)
