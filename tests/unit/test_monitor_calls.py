"""Supervisor monitoring on live calls: the feature codes, the admin API and their events.

A PBX built by its composition root (pbx.app.Pbx) on a clock the test moves, SIP phones on
127.0.0.1 and the admin API on aiohttp's test client: the world of the live API tests
(tests/unit/admin/live_world.py), with 1005 allowed to supervise. 1004 calls 1002 (agent "bob")
directly; 1005 supervises. What is heard is test_monitor_media.py's and the e2e test's; here:

- dialling *222bob (the agent's name) or *2221002 attaches 1005 (MonitorStarted, source
  "phone"), keys switch modes, and the call's end stops the monitor and hangs 1005 up;
- the refusals a phone hears: 403 (not a supervisor), 404 (no such agent), 480 (on no call),
  486 (already monitored);
- the API rings 1005, attaches on answer, switches and stops it; each change is audited with
  the call, the agent, the supervisor and the mode; every route needs a supervisor's token and
  bad input is a 4xx naming the field.
"""

from __future__ import annotations

import asyncio

import pytest
from aiohttp.test_utils import TestClient, TestServer

from pbx.admin import AdminContext, AuditLog, Tokens, make_admin_app
from pbx.admin.monitor_api import monitor_endpoints
from pbx.app import Pbx
from pbx.calls.supervision import parse_code
from pbx.config import parse_config
from pbx.media.dtmf import Rfc4733Sender
from sdk.events import CallEnded, MonitorModeChanged, MonitorStarted, MonitorStopped
from tests.unit.admin.live_world import CONFIG, LINE, Clock, Dialog, LiveWorld, Phone

pytestmark = pytest.mark.timeout(20)


@pytest.fixture
async def world(tmp_path):
    clock = Clock()
    (tmp_path / "scenarios").mkdir()
    (tmp_path / "scenarios" / "line.ivr").write_text(LINE)
    config = parse_config(CONFIG.format(tmp=tmp_path) + 'feature_codes: {supervisors: ["1005"]}\n')
    pbx = Pbx(config, clock=clock, entry_points=False)
    await pbx.start()
    tokens, audit = Tokens(), AuditLog()
    context = AdminContext(clock=pbx.clock, status=pbx.status, registrar=pbx.registrar, calls=pbx.calls,
                           app=pbx, monitors=pbx.monitors)
    try:
        async with TestClient(TestServer(make_admin_app(context, tokens=tokens, audit=audit))) as client:
            built = LiveWorld(pbx, context, clock, client, tokens, audit)
            yield built
            for phone in built.phones:
                phone.close()
    finally:
        await pbx.stop()


async def connected_call(world: LiveWorld) -> tuple[Phone, Phone, Dialog, str]:
    """1004 calls 1002, who answers: (caller phone, agent phone, caller's dialog, call id)."""
    caller, agent = await world.phone("1004"), await world.phone("1002")
    dialog, _ = await asyncio.gather(caller.dial("1002"), agent.answer())
    (call_id,) = world.pbx.calls.calls
    return caller, agent, dialog, call_id


async def dial_refused(phone: Phone, number: str, status: int) -> None:
    """Dial `number` (answering the PBX's 407) and expect the final answer `status`."""
    call_id, _ = await phone.invite(number, f"refused-{phone.number}-{number}")
    try:
        await phone.expect(status, call_id)
    except TimeoutError:
        answers = [getattr(message, "status", None) for message in phone.received if message.call_id == call_id]
        raise AssertionError(f"{phone.number} dialling {number}: no {status}, got {answers}") from None


def bye(phone: Phone, dialog: Dialog) -> None:
    dialog.cseq += 1
    phone.send("\n".join([f"BYE {dialog.target} SIP/2.0", phone.via(), "Max-Forwards: 70", f"From: {dialog.local}",
                          f"To: {dialog.remote}", f"Call-ID: {dialog.call_id}", f"CSeq: {dialog.cseq} BYE"]))


def audited(world: LiveWorld) -> list[tuple]:
    return [(record.actor, record.action, record.target, record.status, record.detail)
            for record in world.audit.records]


def test_a_monitoring_code_is_the_code_then_the_agent():
    codes = {"*222": "listen", "*223": "whisper", "*224": "barge"}
    assert parse_code("*2221002", codes) == ("listen", "1002")
    assert parse_code("*223bob", codes) == ("whisper", "bob")
    assert parse_code("*222", codes) is None  # a code alone names nobody
    assert parse_code("1002", codes) is None
    assert parse_code("*2241", {**codes, "*22": "listen"}) == ("barge", "1")  # the longest code wins


async def test_a_supervisor_dials_the_agents_name_switches_by_keys_and_is_hung_up_with_the_call(world):
    caller, agent, dialog, call_id = await connected_call(world)
    supervisor = await world.phone("1005")
    monitoring = await supervisor.dial("*222bob")
    started = await world.events.wait(MonitorStarted)
    assert (started.call_id, started.agent, started.supervisor, started.mode, started.source) == \
        (call_id, "bob", "1005", "listen", "phone")
    (monitor,) = world.pbx.monitors.monitors.values()
    assert (monitor.caller.party.number, monitor.agent.party.number, monitor.state) == ("1004", "1002", "active")

    # Key 5 (RFC 4733 from the supervisor's phone): whisper; key 6: barge.
    session_port = monitor.supervisor_leg.media.port
    sender = Rfc4733Sender(101, 0x5EE5)
    for index, (digit, mode) in enumerate((("5", "whisper"), ("6", "barge"))):
        for packet in sender.packets(digit, start_timestamp=8000 * index, start_sequence=100 * index):
            supervisor.transport.sendto(packet, ("127.0.0.1", session_port))
        changed = await world.events.wait(MonitorModeChanged, mode=mode)
        assert (changed.source, changed.agent) == ("phone", "bob")
    assert monitor.mode == "barge"

    bye(caller, dialog)
    await agent.expect("BYE")
    await supervisor.expect("BYE", monitoring.call_id)  # the PBX hangs the supervisor up
    stopped = await world.events.wait(MonitorStopped)
    assert (stopped.source, stopped.mode, stopped.call_id) == ("system", "barge", call_id)
    ended = await world.events.wait(CallEnded, call_id=monitor.supervisor_call.id)
    assert ended.hangup_by == "system"
    assert monitor.state == "stopped" and not world.pbx.media_clock._members & {id(monitor)}


async def test_a_phone_hears_why_it_may_not_monitor(world):
    await connected_call(world)
    supervisor, other = await world.phone("1005"), await world.phone("1001")
    await dial_refused(other, "*2221002", 403)  # 1001 is no supervisor
    await dial_refused(supervisor, "*222nobody", 404)  # neither an agent nor an extension
    await dial_refused(supervisor, "*222alice", 480)  # alice (1001) is on no call
    await supervisor.dial("*2231002")
    await world.events.wait(MonitorStarted)
    second = await Phone.open("1005", world.sip_address)  # the same supervisor from a second phone
    world.phones.append(second)
    await dial_refused(second, "*2241002", 486)  # one monitor per call
    assert [event.mode for event in world.events.of(MonitorStarted)] == ["whisper"]


async def test_the_supervisor_hanging_up_stops_the_monitor_and_the_call_goes_on(world):
    caller, agent, dialog, call_id = await connected_call(world)
    supervisor = await world.phone("1005")
    monitoring = await supervisor.dial("*2241002")
    await world.events.wait(MonitorStarted)
    bye(supervisor, monitoring)
    stopped = await world.events.wait(MonitorStopped)
    assert (stopped.source, stopped.mode) == ("phone", "barge")
    assert call_id in world.pbx.calls.calls and not world.events.of(CallEnded, call_id=call_id)
    monitor = next(iter(world.pbx.monitors.monitors.values()))
    assert not monitor.caller.media.withholding and not monitor.agent.media.withholding  # relayed again


async def test_the_api_rings_the_supervisor_switches_and_stops_and_audits_each_change(world):
    token = world.token("supervisor")
    caller, agent, dialog, call_id = await connected_call(world)
    supervisor = await world.phone("1005")

    status, monitor = await world.call("POST", f"/api/calls/{call_id}/monitor", token,
                                       {"mode": "whisper", "supervisor": "1005"})
    assert status == 201, monitor
    assert {key: monitor[key] for key in ("call_id", "agent", "supervisor", "mode", "state", "source")} == \
        {"call_id": call_id, "agent": "bob", "supervisor": "1005", "mode": "whisper", "state": "ringing",
         "source": "api"}
    await supervisor.answer()
    started = await world.events.wait(MonitorStarted)
    assert (started.source, started.mode, started.agent) == ("api", "whisper", "bob")
    path = f"/api/monitors/{monitor['monitor_id']}"
    world.clock.advance(12)
    status, shown = await world.call("GET", path, token)
    assert (status, shown["state"], shown["seconds"]) == (200, "active", 12.0)
    assert (await world.call("GET", f"/api/monitors?call_id={call_id}&state=active", token))[1] == [shown]
    assert (await world.call("GET", "/api/monitors?supervisor=1001", token))[1] == []

    status, switched = await world.call("PATCH", path, token, {"mode": "barge"})
    assert (status, switched["mode"]) == (200, "barge")
    assert (await world.events.wait(MonitorModeChanged)).source == "api"
    status, switched = await world.call("POST", path, token, {"mode": "listen"})
    assert (status, switched["mode"]) == (200, "listen")

    status, stopped = await world.call("DELETE", path, token)
    assert (status, stopped["state"], stopped["seconds"]) == (200, "stopped", 12.0)
    await supervisor.expect("BYE")
    assert (await world.events.wait(MonitorStopped)).source == "api"
    status, error = await world.call("PATCH", path, token, {"mode": "barge"})
    assert (status, error["field"]) == (409, "monitor_id")
    assert call_id in world.pbx.calls.calls  # the call itself goes on

    detail = {"call": call_id, "agent": "bob", "supervisor": "1005"}
    assert [(actor, action, target, status_, {key: value for key, value in entry.items() if key in
             ("call", "agent", "supervisor", "mode")})
            for actor, action, target, status_, entry in audited(world)] == [
        ("supervisor-1", "POST /api/calls/{call_id}/monitor", f"call {call_id}", 201, {**detail, "mode": "whisper"}),
        ("supervisor-1", "PATCH /api/monitors/{monitor_id}", f"call {call_id}", 200, {**detail, "mode": "barge"}),
        ("supervisor-1", "POST /api/monitors/{monitor_id}", f"call {call_id}", 200, {**detail, "mode": "listen"}),
        ("supervisor-1", "DELETE /api/monitors/{monitor_id}", f"call {call_id}", 200, {**detail, "mode": "listen"}),
        ("supervisor-1", "PATCH /api/monitors/{monitor_id}", f"call {call_id}", 409, {**detail, "mode": "barge"}),
    ]


async def test_every_monitoring_route_needs_a_supervisors_token_and_bad_input_names_its_field(world):
    endpoints = monitor_endpoints(world.context)
    assert {(route.method, route.path) for route in endpoints} == {
        ("POST", "/api/calls/{call_id}/monitor"), ("GET", "/api/monitors"), ("GET", "/api/monitors/{monitor_id}"),
        ("PATCH", "/api/monitors/{monitor_id}"), ("POST", "/api/monitors/{monitor_id}"),
        ("DELETE", "/api/monitors/{monitor_id}")}
    for role in (None, "read-only", "agent"):
        headers = {} if role is None else world.token(role, "bob" if role == "agent" else None)
        for route in endpoints:
            path = route.path.replace("{call_id}", "nope").replace("{monitor_id}", "nope")
            response = await world.client.request(route.method, path, headers=headers,
                                                  json={"mode": "listen", "supervisor": "1005"})
            assert response.status == (401 if role is None else 403), (role, route.method, path)

    token = world.token("supervisor")
    caller, agent, dialog, call_id = await connected_call(world)
    monitor_path = f"/api/calls/{call_id}/monitor"
    for path, body, status, field in (
        ("/api/calls/nope/monitor", {"mode": "listen", "supervisor": "1005"}, 404, "call_id"),
        (monitor_path, {"mode": "spy", "supervisor": "1005"}, 400, "body.mode"),
        (monitor_path, {"mode": "listen"}, 400, "body.supervisor"),
        (monitor_path, {"mode": "listen", "supervisor": "1005", "volume": 3}, 400, "body.volume"),
        (monitor_path, {"mode": "listen", "supervisor": ""}, 400, "body.supervisor"),
        (monitor_path, {"mode": "listen", "supervisor": "999"}, 400, "body.supervisor"),
        (monitor_path, {"mode": "listen", "supervisor": "1005"}, 409, "body.supervisor"),  # not registered
        (monitor_path, {"mode": "listen", "supervisor": "1004"}, 409, "body.supervisor"),  # a party to the call
        ("/api/monitors/nope", {"mode": "barge"}, 404, "monitor_id"),
    ):
        status_, error = await world.call("POST", path, token, body)
        assert (status_, error["field"]) == (status, field), (path, body, error)
    for method, path, field in (("GET", "/api/monitors/nope", "monitor_id"), ("DELETE", "/api/monitors/nope",
                                                                              "monitor_id"),
                                ("GET", "/api/monitors?state=dozing", "state")):
        status_, error = await world.call(method, path, token)
        assert status_ in (400, 404) and error["field"] == field, (method, path, error)
    assert world.pbx.monitors.monitors == {}
