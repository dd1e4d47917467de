"""The live admin API on a real PBX process with real SIP peers: a sipp caller, a baresip agent.

A supervisor's token pauses the agent; the sipp caller dialling the queue then waits, and
GET /api/queues/support shows them at position 1. Unpaused, the agent's phone rings and answers
at once; POST /api/calls/{id}/hangup ends the call: the sipp caller receives the PBX's BYE and
answers it (acd_caller.xml succeeds only so), and baresip sees the call close. The audit log
says the supervisor forced the pause.
"""

from __future__ import annotations

import hashlib
import json
import time
import urllib.request
from typing import Any

import pytest

from .calls.fixtures import call_extensions, call_pbx, phones, wait_bus_event  # noqa: F401
from .calls.sipp_calls import write_calls_csv
from .harness import ADMIN_TOKEN, require_binary
from .sipp_runner import SCENARIOS, start_sipp

pytestmark = pytest.mark.e2e

SUPERVISOR_TOKEN = "pbx_e2e-live-supervisor"


def _token(name: str, role: str, secret: str) -> dict[str, str]:
    return {"name": name, "role": role, "sha256": hashlib.sha256(secret.encode()).hexdigest()}


def api(pbx, method: str, path: str, body: Any = None, token: str = SUPERVISOR_TOKEN) -> tuple[int, Any]:
    with urllib.request.urlopen(pbx.admin_request(path, method, body, token=token), timeout=5) as response:
        return response.status, json.loads(response.read())


def waiting_in(pbx, queue: str, timeout: float = 5.0) -> list[dict[str, Any]]:
    deadline = time.monotonic() + timeout
    while True:
        waiting = api(pbx, "GET", f"/api/queues/{queue}")[1]["waiting"]
        if waiting or time.monotonic() >= deadline:
            return waiting
        time.sleep(0.05)


@pytest.mark.timeout(60)
def test_a_supervisor_pauses_and_unpauses_the_agent_and_hangs_up_the_queue_call(
        tmp_path, ports, call_pbx, phones):  # noqa: F811
    require_binary("sipp", "sip-tester")
    tokens = [_token("e2e-admin", "admin", ADMIN_TOKEN), _token("supervisor", "supervisor", SUPERVISOR_TOKEN)]
    pbx = call_pbx(extensions=call_extensions(range(1001, 1006)), agents={"1001": {"login": "static"}},
                   queues={"support": {"strategy": "linear", "ring_timeout": 20, "wrap_up": 0,
                                       "members": [{"agent": "1001"}]}},
                   routes=[{"match": "700", "queue": "support"}], admin={"tokens": tokens})
    agent = phones("agent1001", "1001", pbx)  # answers by itself
    wait_bus_event(pbx, "AgentStateChanged", timeout=5, agent="1001", new="available")
    status, paused = api(pbx, "POST", "/api/agents/1001/pause", {"reason": "break"})
    assert (status, paused["state"], paused["reason"]) == (200, "paused", "break")

    csv_path = write_calls_csv(tmp_path / "caller_calls.csv", "1004", "secret1004", "700")
    caller = start_sipp(["-sf", str(SCENARIOS / "acd_caller.xml"), "-inf", str(csv_path)],
                        ports=ports, workdir=tmp_path, name="caller", remote=pbx.sip_address, timeout=30)
    try:
        waiting = waiting_in(pbx, "support")
        assert [(row["position"], row["caller"]) for row in waiting] == [(1, "1004")], waiting

        status, unpaused = api(pbx, "POST", "/api/agents/1001/unpause", {})
        assert status == 200 and unpaused["state"] in ("offered", "on-call"), unpaused
        agent.wait_event("CALL_ESTABLISHED", 10)
        call_id = wait_bus_event(pbx, "AgentConnected", timeout=5, agent="1001")["call_id"]
        assert waiting_in(pbx, "support", timeout=0) == []

        status, answer = api(pbx, "POST", f"/api/calls/{call_id}/hangup", {})
        assert (status, answer["action"]) == (202, "hangup")
        assert caller.wait() == 0, caller.describe()  # sipp received the BYE and answered 200
        agent.wait_event("CALL_CLOSED", 10)
    finally:
        caller.stop()
    ended = wait_bus_event(pbx, "CallEnded", timeout=5, call_id=call_id)
    assert ended["hangup_by"] == "system", ended
    records = api(pbx, "GET", "/api/audit?actor=supervisor", token=ADMIN_TOKEN)[1]
    forced = [(record["action"], record["detail"].get("forced")) for record in reversed(records)]
    assert forced == [("POST /api/agents/{agent}/pause", True), ("POST /api/agents/{agent}/unpause", True),
                      ("POST /api/calls/{call_id}/hangup", None)], records
