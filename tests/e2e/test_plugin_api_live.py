"""The PbxApi on live calls, driven by a site plugin through its own admin routes.

A plugin loaded by `path:` exposes /api/plugins/ops/... routes that call its api: originate a call
to a baresip phone connected to a scenario (the phone answers and the scenario runs on it), or
to another phone (click to call: the two hear each other); start and stop its recording, publish
a metric, play an announcement over the scenario, read the call as plugins see it, transfer a
call between two phones to a third, and hang up. What the api refuses (a call that does not
exist, a transfer to nobody) comes back as ActionRefused with the reason.
"""

from __future__ import annotations

import json
import textwrap
import time
import urllib.error
import urllib.request

import pytest

from .calls.fixtures import call_pbx, dial_uri, phones, wait_bus_event, wait_idle  # noqa: F401
from .calls import audio
from .harness import ADMIN_TOKEN, require_binary

pytestmark = pytest.mark.e2e

PLUGIN = '''\
from aiohttp import web
from sdk import ActionRefused, hookimpl


@hookimpl
def pbx_admin_routes(api):
    async def originate(request):
        body = await request.json()
        try:
            call_id = await api.originate(body["number"], connect_to=body["connect_to"])
        except ActionRefused as refused:
            return web.json_response({"error": str(refused)}, status=409)
        return web.json_response({"call_id": call_id})

    async def act(request):
        call_id, action = request.match_info["call_id"], request.match_info["action"]
        try:
            if action == "hangup":
                api.hang_up(call_id)
            elif action == "record":
                api.start_recording(call_id, policy="ops")
            elif action == "stop":
                api.stop_recording(call_id)
            elif action.startswith("transfer-"):
                api.transfer(call_id, action.removeprefix("transfer-"))
            elif action == "play":
                api.play(call_id, ["say:This call is recorded for quality."])
            elif action == "metric":
                api.publish_metric("ops_calls", 1, kind="counter", labels={"call": call_id})
        except ActionRefused as refused:
            return web.json_response({"error": str(refused)}, status=409)
        call = api.call(call_id)
        return web.json_response({"call": None if call is None else
                                  {"caller": call.caller, "scenario": call.scenario, "answered": call.answered_at is not None}})

    return [web.post("/originate", originate), web.post("/calls/{call_id}/{action}", act)]
'''

SCENARIO = '''\
scenario "Reminder"
end

block start
  answer
  say "This is a reminder from the pharmacy."
  pause 30s
end
'''


def post(url: str, body: dict | None = None) -> tuple[int, dict]:
    request = urllib.request.Request(url, data=json.dumps(body or {}).encode(), method="POST",
                                     headers={"Content-Type": "application/json", "Authorization": f"Bearer {ADMIN_TOKEN}"})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


@pytest.mark.timeout(90)
def test_a_plugin_places_records_and_hangs_up_a_call(tmp_path, call_pbx, phones):  # noqa: F811
    require_binary("baresip", "baresip-core")
    (tmp_path / "ops.py").write_text(PLUGIN)
    scenarios = tmp_path / "scenarios"
    scenarios.mkdir()
    (scenarios / "reminder.ivr").write_text(textwrap.dedent(SCENARIO))
    pbx = call_pbx(
        plugins={"ops": {"path": str(tmp_path / "ops.py")}},
        routes=[{"match": "850", "scenario": "reminder"}],
        recording={"directory": str(tmp_path / "recordings")},
        ivr={"scenarios": str(scenarios), "prompts": str(tmp_path), "tts_cache": str(tmp_path / "tts")},
    )
    phone = phones("phone1002", "1002", pbx)  # answers by itself
    base = f"{pbx.admin_url}/api/plugins/ops"

    status, answer = post(f"{base}/originate", {"number": "1002", "connect_to": "850"})
    assert status == 200, answer
    call_id = answer["call_id"]
    phone.wait_event("CALL_ESTABLISHED", 10)
    wait_bus_event(pbx, "CallAnswered", timeout=5, call_id=call_id)
    wait_bus_event(pbx, "IvrStarted", timeout=5, call_id=call_id, scenario="reminder")

    status, answer = post(f"{base}/calls/{call_id}/record")
    assert status == 200 and answer["call"] == {"caller": "1002", "scenario": "reminder", "answered": True}, answer
    wait_bus_event(pbx, "RecordingStarted", timeout=5, call_id=call_id, policy="ops")
    assert post(f"{base}/calls/{call_id}/record")[0] == 409  # already recording: refused, with the reason
    time.sleep(2.0)
    assert post(f"{base}/calls/{call_id}/stop")[0] == 200
    stopped = wait_bus_event(pbx, "RecordingStopped", timeout=5, call_id=call_id)
    assert float(stopped["seconds"]) >= 1.5
    assert post(f"{base}/calls/{call_id}/metric")[0] == 200
    metric = wait_bus_event(pbx, "MetricPublished", timeout=5, plugin="ops")
    assert metric["name"] == "ops_calls" and metric["kind"] == "counter", metric

    # The scenario is in its 30 s pause now (the PBX sends nothing): the plugin's announcement is
    # played over it, so the phone hears the greeting (about 2 s of speech) and then the notice.
    assert post(f"{base}/calls/{call_id}/play")[0] == 200
    time.sleep(3.0)
    assert post(f"{base}/calls/{call_id}/hangup")[0] == 200
    phone.wait_event("CALL_CLOSED", 10)
    heard = phone.heard()
    spoken = sum(abs(heard[i:i + 160]).mean() > 0.01 for i in range(0, len(heard) - 160, 160)) * 0.02
    assert spoken > 3.0, f"only {spoken:.2f} s of speech heard: the greeting alone, not the announcement"
    ended = wait_bus_event(pbx, "CallEnded", timeout=5, call_id=call_id)
    assert ended["hangup_by"] == "system" and ended["answered"] == "True", ended
    status, answer = post(f"{base}/calls/{call_id}/hangup")
    assert status == 409 and "no live call" in answer["error"], answer
    wait_idle(pbx, timeout=5)


@pytest.mark.timeout(90)
def test_a_plugin_transfers_a_call_between_two_phones_to_a_third(tmp_path, call_pbx, phones):  # noqa: F811
    require_binary("baresip", "baresip-core")
    (tmp_path / "ops.py").write_text(PLUGIN)
    pbx = call_pbx(plugins={"ops": {"path": str(tmp_path / "ops.py")}})
    alice = phones("alice1001", "1001", pbx)
    bob = phones("bob1002", "1002", pbx)
    carol = phones("carol1003", "1003", pbx)
    base = f"{pbx.admin_url}/api/plugins/ops"
    alice.dial(dial_uri(pbx, "1002"))
    bob.wait_event("CALL_ESTABLISHED", 10)
    call_id = wait_bus_event(pbx, "CallAnswered", timeout=5, callee="1002")["call_id"]

    status, answer = post(f"{base}/calls/{call_id}/transfer-1099")
    assert status == 409 and "cannot transfer to '1099'" in answer["error"], answer  # nobody there: refused
    assert post(f"{base}/calls/{call_id}/transfer-1003")[0] == 200
    carol.wait_event("CALL_ESTABLISHED", 10)
    bob.wait_event("CALL_CLOSED", 10)  # released once the target answered
    transferred = wait_bus_event(pbx, "CallTransferred", timeout=5, call_id=call_id)
    assert (transferred["transferee"], transferred["target"], transferred["kind"]) == ("1001", "1003", "blind")
    time.sleep(1.0)
    alice.hangup()
    carol.wait_event("CALL_CLOSED", 10)
    wait_idle(pbx, timeout=5)


@pytest.mark.timeout(90)
def test_a_plugin_places_a_click_to_call_between_two_phones(tmp_path, call_pbx, phones):  # noqa: F811
    require_binary("baresip", "baresip-core")
    (tmp_path / "ops.py").write_text(PLUGIN)
    pbx = call_pbx(plugins={"ops": {"path": str(tmp_path / "ops.py")}},
                   ivr={"scenarios": str(tmp_path / "none"), "prompts": str(tmp_path), "tts_cache": str(tmp_path / "tts")})
    alpha, bravo = (audio.speech_wav(tmp_path / "wav", name) for name in ("alpha", "bravo"))
    agent = phones("agent1001", "1001", pbx, source=alpha)  # both answer by themselves
    customer = phones("customer1002", "1002", pbx, source=bravo)
    status, answer = post(f"{pbx.admin_url}/api/plugins/ops/originate", {"number": "1001", "connect_to": "999"})
    assert status == 409 and "neither an extension nor a routed number" in answer["error"], answer
    agent.expect_no_event("CALL_INCOMING", within=0.5)  # refused before any phone rang
    status, answer = post(f"{pbx.admin_url}/api/plugins/ops/originate", {"number": "1001", "connect_to": "1002"})
    assert status == 200, answer
    agent.wait_event("CALL_ESTABLISHED", 10)  # the agent's phone first, then the customer's
    customer.wait_event("CALL_ESTABLISHED", 10)
    wait_bus_event(pbx, "IvrStarted", timeout=5, call_id=answer["call_id"], scenario="click-to-call")
    wait_bus_event(pbx, "IvrExited", timeout=10, call_id=answer["call_id"], how="dial")
    time.sleep(4.0)
    customer.hangup()
    agent.wait_event("CALL_CLOSED", 10)
    wait_idle(pbx, timeout=5)
    audio.assert_heard(customer.sent(), agent.heard(), unrelated=[agent.sent()], what="the agent hears the customer",
                       align="end")
    audio.assert_heard(agent.sent(), customer.heard(), unrelated=[customer.sent()],
                       what="the customer hears the agent", align="end")
