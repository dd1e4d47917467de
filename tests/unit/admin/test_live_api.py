"""The live endpoints (pbx/admin/live.py) on live calls: aiohttp's test client against a PBX built by
its composition root, on a clock the test moves, with SIP phones on 127.0.0.1 (live_world.py).

- A waiting caller shows in GET /api/queues with position, wait, EWT and who rings for them;
  agents with their state and time in state; the agent role reads queues, and itself only.
- A supervisor logging an agent in is a "force" in the audit log; a logged-out agent cannot be
  paused (409); an agent's pause survives a restart (the state store follows the API's changes).
- Hang-up of a waiting caller: BYE to the caller, CANCEL to the ringing agent, who is not
  counted as missing it; the caller leaves the queue as "exited".
- A connected call: its view, recording control, a transfer by the agent to an extension
  (released when the target answers) and the hang-up; another agent may not touch it.
- A transfer to a number routed to another queue: the agent is released at once and the next
  queue's agent takes the caller.
- Click to call: the agent's phone rings first, then the extension, and the two are connected.
- Every live route refuses a request without a token, and the changing ones the read-only role;
  bad input is a 400 naming the field.
"""

from __future__ import annotations

import pytest

from pbx.admin.live import live_endpoints
from pbx.app import Pbx
from pbx.config import parse_config
from pbx.sip.transaction import Transmit
from sdk.events import (
    AgentConnected, AgentNoAnswer, AgentStateRepaired, CallEnded, CallTransferred, QueueJoined, QueueLeft, RecordingStarted,
    RecordingStopped,
)

from .live_world import CONFIG, START, LiveWorld, live_world


@pytest.fixture
async def world(tmp_path):
    async for built in live_world(tmp_path):
        yield built


def audited(world: LiveWorld) -> list[tuple]:
    return [(record.actor, record.action, record.target, record.status, record.detail)
            for record in world.audit.records]


async def test_a_waiting_caller_and_the_agents_as_queues_and_agents_show_them(world):
    supervisor, reader = world.token("supervisor"), world.token("read-only")
    alice_token = world.token("agent", "alice")
    alice_phone, caller = await world.phone("1001"), await world.phone("1004")

    status, alice = await world.call("POST", "/api/agents/alice/login", supervisor)
    assert status == 200 and alice["state"] == "available" and alice["since"] == START
    status, alice = await world.call("POST", "/api/agents/alice/pause", alice_token, {"reason": "lunch"})
    assert (status, alice["state"], alice["reason"]) == (200, "paused", "lunch")
    assert audited(world) == [
        ("supervisor-1", "POST /api/agents/{agent}/login", "agent alice", 200,
         {"forced": True, "action": "login", "state": "available"}),
        ("agent-alice", "POST /api/agents/{agent}/pause", "agent alice", 200,
         {"forced": False, "action": "pause", "reason": "lunch", "state": "paused"}),
    ]

    await caller.dial("700")
    joined = await world.events.wait(QueueJoined, queue="support")
    world.clock.advance(12)
    status, support = await world.call("GET", "/api/queues/support", reader)
    assert status == 200
    assert support["waiting"] == [{
        "call_id": joined.call_id, "caller": "1004", "caller_name": "Carol Customer", "position": 1,
        "wait_seconds": 12.0, "priority": 0, "ewt_seconds": None, "skills": {}, "ringing": [], "callback": None}]
    assert support["agents"] == [
        {"agent": "alice", "state": "paused", "reason": "lunch", "seconds_in_state": 12.0, "call_id": None,
         "penalty": 0},
        {"agent": "bob", "state": "logged-out", "reason": None, "seconds_in_state": 12.0, "call_id": None,
         "penalty": 0},
    ]
    assert (support["staffed"], support["available"], support["longest_wait_seconds"]) == (0, 0, 12.0)

    # The agent role reads every queue, and its own agent only.
    status, queues = await world.call("GET", "/api/queues", alice_token)
    assert status == 200 and [queue["name"] for queue in queues] == ["support", "sales"]
    status, agents = await world.call("GET", "/api/agents", alice_token)
    assert [agent["agent"] for agent in agents] == ["alice"]
    for method, path, body in (("GET", "/api/agents/bob", None), ("POST", "/api/agents/bob/login", None)):
        status, error = await world.call(method, path, alice_token, body)
        assert (status, error["code"], error["field"]) == (403, "forbidden", "agent")

    # What the state machine does not allow is a conflict; an unknown agent is not found.
    status, error = await world.call("POST", "/api/agents/bob/pause", supervisor, {"reason": "break"})
    assert (status, error["code"], error["field"]) == (409, "conflict", "agent")
    assert "logged-out" in error["message"]
    status, error = await world.call("POST", "/api/agents/zed/login", supervisor)
    assert (status, error["field"]) == (404, "agent")
    assert world.audit.records[-1].status == 404 and world.audit.records[-2].status == 409

    # Unpaused, alice is offered the caller at once: her phone rings, the queue shows it.
    status, alice = await world.call("POST", "/api/agents/alice/unpause", supervisor)
    assert (status, alice["state"], alice["call_id"], alice["queue"]) == (200, "offered", joined.call_id, "support")
    invite = await alice_phone.expect("INVITE")
    assert invite.from_.uri.user == "1004"
    status, support = await world.call("GET", "/api/queues/support", reader)
    assert support["waiting"][0]["ringing"] == ["alice"] and support["waiting"][0]["ewt_seconds"] == 0.0
    assert (support["staffed"], support["available"]) == (1, 0)
    status, agents = await world.call("GET", "/api/agents?state=offered", reader)
    assert [agent["agent"] for agent in agents] == ["alice"]
    status, agents = await world.call("GET", "/api/agents?queue=sales&limit=5", reader)
    assert [agent["agent"] for agent in agents] == ["bob"]


async def test_an_agents_pause_through_the_api_survives_a_restart(world, tmp_path):
    supervisor = world.token("supervisor")
    await world.call("POST", "/api/agents/bob/login", supervisor)
    await world.call("POST", "/api/agents/bob/pause", supervisor, {"reason": "training"})
    await world.pbx.state.close()  # what the state store was told is on disk
    again = Pbx(parse_config(CONFIG.format(tmp=tmp_path)), clock=world.clock, entry_points=False)
    await again.start()  # the same database: bob comes back paused, with his reason
    try:
        bob = again.queues.acd.agents["bob"]
        assert (bob.state.value, bob.pause_reason) == ("paused", "training")
    finally:
        await again.stop()


async def test_hanging_up_a_waiting_caller_cancels_the_ringing_agent_without_counting_a_miss(world):
    supervisor = world.token("supervisor")
    alice_phone, caller = await world.phone("1001"), await world.phone("1004")
    await world.call("POST", "/api/agents/alice/login", supervisor)
    dialog = await caller.dial("700")
    invite = await alice_phone.expect("INVITE")
    alice_phone.reply(invite, 180, "Ringing")

    status, answer = await world.call("POST", "/api/calls/nope/hangup", supervisor)
    assert (status, answer["field"]) == (404, "call_id")
    call_id = (await world.events.wait(QueueJoined)).call_id
    status, answer = await world.call("POST", f"/api/calls/{call_id}/hangup", supervisor)
    assert (status, answer) == (202, {"call_id": call_id, "action": "hangup", "to": None})

    await caller.expect("BYE", dialog.call_id)
    await alice_phone.expect("CANCEL", invite.call_id)
    left = await world.events.wait(QueueLeft, call_id=call_id)
    ended = await world.events.wait(CallEnded, call_id=call_id)
    assert (left.reason, ended.hangup_by) == ("exited", "system")
    assert world.events.of(AgentNoAnswer) == []
    status, alice = await world.call("GET", "/api/agents/alice", supervisor)
    assert (alice["state"], alice["call_id"]) == ("available", None)
    assert (await world.call("GET", "/api/calls", supervisor))[1] == []
    assert audited(world)[-1] == ("supervisor-1", "POST /api/calls/{call_id}/hangup", f"call {call_id}", 202,
                                  {"caller": "1004", "callee": "700"})


async def test_hanging_up_a_call_in_a_scenario_stops_the_scenario(world):
    supervisor = world.token("supervisor")
    caller, target = await world.phone("1004"), await world.phone("1005")
    dialog = await caller.dial("800")  # answer, pause 5s, dial 1005
    status, [call] = await world.call("GET", "/api/calls", supervisor)
    assert (call["ivr"], call["queue"], call["state"]) == ("Line:start, step 2", None, "answered")
    status, _ = await world.call("POST", f"/api/calls/{call['id']}/hangup", supervisor)
    assert status == 202
    await caller.expect("BYE", dialog.call_id)
    assert (await world.events.wait(CallEnded, call_id=call["id"])).hangup_by == "system"
    world.clock.advance(10)  # past the scenario's pause: nothing of it may run on the ended call
    actions = world.pbx.endpoint.handle_timer(world.clock.now)
    world.pbx.transport.execute(actions)
    assert [action for action in actions if isinstance(action, Transmit) and action.data.startswith(b"INVITE")] == []
    assert target.got("INVITE") == []


async def test_a_connected_call_is_shown_recorded_transferred_by_its_agent_and_hung_up(world):
    supervisor, reader = world.token("supervisor"), world.token("read-only")
    alice_token, bob_token = world.token("agent", "alice"), world.token("agent", "bob")
    alice_phone, caller, target = await world.phone("1001"), await world.phone("1004"), await world.phone("1005")
    await world.phone("1002")
    for agent in ("alice", "bob"):
        await world.call("POST", f"/api/agents/{agent}/login", supervisor)
    dialog = await caller.dial("700")
    await alice_phone.answer()  # linear: alice first
    connected = await world.events.wait(AgentConnected, agent="alice")
    call_id = connected.call_id
    world.clock.advance(30)

    status, call = await world.call("GET", f"/api/calls/{call_id}", reader)
    assert status == 200
    assert {key: call[key] for key in ("caller", "callee", "state", "direction", "queue", "agent", "recording",
                                       "duration_seconds")} == {
        "caller": "1004", "callee": "700", "state": "answered", "direction": "inbound", "queue": "support",
        "agent": "alice", "recording": None, "duration_seconds": 30.0}
    assert [(leg["role"], leg["party"], leg["state"]) for leg in call["legs"]] == [
        ("caller", "1004", "answered"), ("callee", "1001", "answered")]
    assert len((await world.call("GET", "/api/calls?agent=alice&state=answered", reader))[1]) == 1
    assert (await world.call("GET", "/api/calls?queue=sales", reader))[1] == []
    assert [row["id"] for row in (await world.call("GET", "/api/calls", alice_token))[1]] == [call_id]

    # Another agent neither sees it nor touches it.
    assert (await world.call("GET", "/api/calls", bob_token))[1] == []
    for method, path, body in (("GET", f"/api/calls/{call_id}", None), ("POST", f"/api/calls/{call_id}/hangup", None),
                               ("POST", f"/api/calls/{call_id}/transfer", {"to": "1005"})):
        status, error = await world.call(method, path, bob_token, body)
        assert (status, error["field"]) == (403, "call_id"), path

    # Recording control (supervisors only).
    path = f"/api/calls/{call_id}/recording"
    status, error = await world.call("POST", path, alice_token, {"action": "start"})
    assert status == 403
    status, recording = await world.call("POST", path, supervisor, {"action": "start", "layout": "mixed"})
    assert (status, recording["state"], recording["layout"]) == (200, "recording", "mixed")
    await world.events.wait(RecordingStarted, call_id=call_id)
    assert (await world.call("GET", path, alice_token))[1]["state"] == "recording"
    assert (await world.call("GET", f"/api/calls/{call_id}", reader))[1]["recording"] == "recording"
    status, error = await world.call("POST", path, supervisor, {"action": "resume"})
    assert (status, error["field"]) == (409, "body.action")
    assert (await world.call("POST", path, supervisor, {"action": "pause"}))[1]["state"] == "paused"
    status, stopped = await world.call("POST", path, supervisor, {"action": "stop"})
    assert (status, stopped["state"]) == (200, "stopped") and stopped["path"].endswith(f"{call_id}.wav")
    await world.events.wait(RecordingStopped, call_id=call_id)

    # Alice sends the caller to 1005: it rings while she still talks; she is released when it answers.
    status, error = await world.call("POST", f"/api/calls/{call_id}/transfer", alice_token, {"to": "999"})
    assert (status, error["field"]) == (400, "body.to")
    status, answer = await world.call("POST", f"/api/calls/{call_id}/transfer", alice_token, {"to": "1005"})
    assert (status, answer) == (202, {"call_id": call_id, "action": "transfer", "to": "1005"})
    await target.answer()
    await alice_phone.expect("BYE")
    transferred = await world.events.wait(CallTransferred, call_id=call_id)
    assert (transferred.transferor, transferred.transferee, transferred.target) == ("1001", "1004", "1005")
    status, alice = await world.call("GET", "/api/agents/alice", reader)
    assert (alice["state"], alice["call_id"]) == ("available", None)
    status, call = await world.call("GET", f"/api/calls/{call_id}", reader)
    answered = [leg["party"] for leg in call["legs"] if leg["state"] == "answered"]
    assert (call["agent"], answered) == (None, ["1004", "1005"])

    status, _ = await world.call("POST", f"/api/calls/{call_id}/hangup", supervisor)
    assert status == 202
    await caller.expect("BYE", dialog.call_id)
    await target.expect("BYE")
    assert (await world.events.wait(CallEnded, call_id=call_id)).hangup_by == "system"


async def test_a_transfer_to_a_queue_number_releases_the_agent_and_the_next_queue_takes_the_caller(world):
    supervisor = world.token("supervisor")
    alice_phone, bob_phone, caller = await world.phone("1001"), await world.phone("1002"), await world.phone("1004")
    await world.call("POST", "/api/agents/alice/login", supervisor)
    dialog = await caller.dial("700")
    await alice_phone.answer()
    call_id = (await world.events.wait(AgentConnected, agent="alice")).call_id
    await world.call("POST", "/api/agents/bob/login", supervisor)

    status, _ = await world.call("POST", f"/api/calls/{call_id}/transfer", supervisor, {"to": "710"})
    assert status == 202
    await alice_phone.expect("BYE")
    await world.events.wait(QueueJoined, call_id=call_id, queue="sales")
    status, alice = await world.call("GET", "/api/agents/alice", supervisor)
    assert alice["state"] == "available"
    await bob_phone.answer()
    await world.events.wait(AgentConnected, call_id=call_id, agent="bob", queue="sales")
    status, call = await world.call("GET", f"/api/calls/{call_id}", supervisor)
    assert (call["queue"], call["agent"]) == ("sales", "bob")
    assert caller.got("BYE", dialog.call_id) == []  # the caller stayed on the line throughout


async def test_click_to_call_rings_the_agent_first_then_connects_the_extension(world):
    supervisor, alice_token = world.token("supervisor"), world.token("agent", "alice")
    alice_phone, target = await world.phone("1001"), await world.phone("1005")

    for body, status, field in (({"to": "1005"}, 400, "body.agent"),
                                ({"agent": "zed", "to": "1005"}, 404, "body.agent"),
                                ({"agent": "alice", "to": "999"}, 400, "body.to"),
                                ({"agent": "bob", "to": "1005"}, 409, "body.agent"),  # bob's phone is not registered
                                ({"agent": "alice", "extension": "1001", "to": "1005"}, 400, "body.extension")):
        answer = await world.call("POST", "/api/calls", supervisor, body)
        assert (answer[0], answer[1]["field"]) == (status, field), body
    answer = await world.call("POST", "/api/calls", alice_token, {"agent": "bob", "to": "1005"})
    assert answer[0] == 403

    status, created = await world.call("POST", "/api/calls", alice_token, {"to": "1005"})
    assert status == 201
    call_id = created["call_id"]
    invite = await alice_phone.expect("INVITE")
    assert invite.from_.uri.user == "1005"  # the phone shows who it will be connected to
    alice_phone.reply(invite, 200, "OK", alice_phone.sdp())
    await alice_phone.expect("ACK", invite.call_id)
    await target.answer()
    status, call = await world.call("GET", f"/api/calls/{call_id}", alice_token)
    assert (call["direction"], call["state"], call["caller"]) == ("outbound", "answered", "1001")
    assert [leg["party"] for leg in call["legs"] if leg["state"] == "answered"] == ["1001", "1005"]
    status, alice = await world.call("GET", "/api/agents/alice", alice_token)
    assert alice["in_use"] is True  # were she logged in, no queue call would be offered to her meanwhile

    status, _ = await world.call("POST", f"/api/calls/{call_id}/hangup", alice_token)  # she is on it
    assert status == 202
    await alice_phone.expect("BYE", invite.call_id)
    await target.expect("BYE")
    assert world.audit.records[-1].target == f"call {call_id}"
    status, alice = await world.call("GET", "/api/agents/alice", alice_token)
    assert alice["in_use"] is False


async def test_every_live_route_needs_a_token_and_changes_need_a_role_that_may_change(world):
    reader = world.token("read-only")
    endpoints = live_endpoints(world.context)
    assert len(endpoints) == 15
    for route in endpoints:
        path = route.path.replace("{agent}", "alice").replace("{queue}", "support").replace("{call_id}", "nope")
        response = await world.client.request(route.method, path)
        assert response.status == 401, path
        assert (await response.json())["code"] == "unauthorized"
        if route.changes:
            response = await world.client.request(route.method, path, headers=reader, json={})
            assert response.status == 403, path

    for path, field in (("/api/agents?limit=0", "limit"), ("/api/agents?state=asleep", "state"),
                        ("/api/calls?offset=-1", "offset"), ("/api/calls?color=red", "color"),
                        ("/api/queues/nope", "queue"), ("/api/agents?queue=nope", "queue")):
        status, error = await world.call("GET", path, reader)
        assert status in (400, 404) and error["field"] == field, path
    supervisor = world.token("supervisor")
    for path, body, field in (("/api/agents/alice/pause", {}, "body.reason"),
                              ("/api/agents/alice/pause", {"reason": ""}, "body.reason"),
                              ("/api/agents/alice/logout", {"why": "x"}, "body.why"),
                              ("/api/calls", {"agent": "alice"}, "body.to"),
                              ("/api/calls/nope/recording", {"action": "rewind"}, "body.action")):
        status, error = await world.call("POST", path, supervisor, body)
        assert (status, error["field"]) == (400, field), path



async def test_an_agent_on_a_long_queue_call_stays_on_it_through_the_reconcilers_rounds(world):
    supervisor = world.token("supervisor")
    alice_phone, caller = await world.phone("1001"), await world.phone("1004")
    await world.call("POST", "/api/agents/alice/login", supervisor)
    await caller.dial("700")
    await alice_phone.answer()
    connected = await world.events.wait(AgentConnected, agent="alice")
    for _ in range(36):  # three minutes of talk: every reconcile round (5 s) and its grace go by
        world.clock.advance(5)
        world.pbx.transport.execute(world.pbx.endpoint.handle_timer(world.clock.now))
    assert world.events.of(AgentStateRepaired) == []
    status, alice = await world.call("GET", "/api/agents/alice", supervisor)
    assert (alice["state"], alice["call_id"]) == ("on-call", connected.call_id)
