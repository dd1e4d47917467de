"""The dialer plugin on the harness's fake PBX (fake clock, ACD snapshot, events fed as the PBX
publishes them): progressive lines per ready agent, DNC numbers never dialled, retries, the 2 s
safe-harbor rule and the 72 h no-redial, AMD's machines, preview, and a restart."""

from __future__ import annotations

from pathlib import Path

import plugins.dialer as dialer
from plugins.dialer import Dialer
from sdk.events import AgentConnected, AgentStateChanged, CallAnswered, CallDisposition, CallEnded, \
    MachineDetectionFinished
from sdk.types import AcdSnapshot, AgentSnapshot
from tests.unit.plugins.admin_app import serving

LEADS = "phone,id,name\n+48600100200,anna,Anna\n+48600100201,bob,Bob\n+48600100202,cy,Cy\n+48600100203,dee,Dee\n"


def agents(**states: str) -> AcdSnapshot:
    """{"1001": "available", ...} as the ACD's snapshot, every agent in queue sales."""
    return AcdSnapshot(at=0.0, queues=[], agents=[
        AgentSnapshot(name=name, extension=f"ext-{name}", state=state, seconds_in_state=0.0, pause_reason=None,
                      call_id=None, queue=None, queues=["sales"], calls_taken=0, talk_seconds=0.0, pending=None)
        for name, state in states.items()])


def config(tmp_path: Path, **campaign) -> dict:
    leads = tmp_path / "leads.csv"
    leads.write_text(LEADS)
    return {"tick": 1.0, "dnc": ["+48600100202"], "campaigns": [{
        "id": "spring", "mode": "progressive", "queue": "sales", "connect_to": "700", "caller_id": "+48221234567",
        "leads": str(leads), "dnc": ["+48 600 100 203"], "retry": {"busy": {"after": "10m", "times": 2}},
        **campaign}]}


def dialled(pbx) -> list[tuple[str, str]]:
    """(call id, number) of every line the dialer placed (FakeApi numbers calls by action)."""
    return [(f"originated-{index + 1}", action.arguments["number"]) for index, action in enumerate(pbx.actions)
            if action.name == "originate"]


def ended(pbx, call_id: str, number: str, *, cause: str = "normal", answered: bool = False, talk: float = 0.0):
    return CallEnded(at=pbx.now(), call_id=call_id, caller="+48221234567", callee=number, cause=cause,
                     status=200 if answered else 486, hangup_by="callee", answered=answered, total_seconds=talk + 5,
                     ring_seconds=5.0, talk_seconds=talk)


def answered(pbx, call_id: str, number: str) -> CallAnswered:
    return CallAnswered(at=pbx.now(), call_id=call_id, callee=number, codec="PCMA", ring_seconds=5.0)


async def lead(pbx, name: str):
    return await dialer.dialer(pbx.api()).store.lead("spring", name)


async def test_progressive_dials_a_line_per_ready_agent_never_a_dnc_number_and_retries_busy(pbx_harness, tmp_path):
    async with pbx_harness(dialer, config=config(tmp_path)) as pbx:
        pbx.set_queues(agents(**{"1001": "available", "1002": "available", "1003": "on-call"}))
        await pbx.advance(1.0)
        lines = dialled(pbx)
        assert [number for _, number in lines] == ["+48600100200", "+48600100201"]
        assert pbx.actions[0].arguments == {"number": "+48600100200", "connect_to": "700",
                                            "caller_id": "+48221234567", "ring_timeout": 20.0, "amd": False}
        await pbx.advance(5.0)
        assert len(dialled(pbx)) == 2  # both agents are covered by a ringing line
        (first, anna), (second, bob) = lines
        await pbx.feed(ended(pbx, first, anna, cause="busy"), ended(pbx, second, bob, cause="no_answer"))
        await pbx.advance(1.0)
        assert len(dialled(pbx)) == 2  # cy and dee are on do-not-call lists: nothing else to dial
        assert (await lead(pbx, "cy")).last_outcome == "dnc" and (await lead(pbx, "dee")).last_outcome == "dnc"
        busy = await lead(pbx, "anna")
        assert (busy.status, busy.last_outcome, busy.attempts) == ("pending", "busy", 1)
        await pbx.advance(600.0)  # the busy rule: again after 10 minutes
        assert [number for _, number in dialled(pbx)] == ["+48600100200", "+48600100201", "+48600100200"]
        assert not pbx.failures


async def test_a_person_left_2_s_without_an_agent_hears_the_safe_harbor_and_waits_72_h(pbx_harness, tmp_path):
    async with pbx_harness(dialer, config=config(tmp_path)) as pbx:
        pbx.set_queues(agents(**{"1001": "available"}))
        await pbx.advance(1.0)
        [(call_id, number)] = dialled(pbx)
        pbx.new_call(call_id=call_id, caller="+48221234567", callee=number)
        pbx.set_queues(agents(**{"1001": "paused"}))  # the agent went away while it rang
        await pbx.feed(answered(pbx, call_id, number))
        await pbx.advance(1.9)
        assert not [action for action in pbx.actions if action.name == "play"]
        await pbx.advance(0.2)  # 2 s after the answer
        pbx.assert_action("play", call_id, prompts=["say:Sorry, all our agents are busy. We will call you again."])
        await pbx.advance(6.0)
        pbx.assert_action("hang_up", call_id)
        pbx.end_call(call_id)
        await pbx.feed(ended(pbx, call_id, number, answered=True, talk=8.0))
        run = dialer.dialer(pbx.api()).campaigns["spring"]
        figures = run.ledger.figures(pbx.now())
        assert (figures.live_24h, figures.abandoned_24h, figures.rate_24h) == (1.0, 1.0, 1.0)
        anna = await lead(pbx, "anna")
        assert anna.last_outcome == "abandoned" and anna.abandoned_at is not None
        verdict = await dialer.dialer(pbx.api()).verdict(run, anna, pbx.now() + 71 * 3600)
        assert verdict.rule == "abandoned-72h"


async def test_a_call_an_agent_takes_in_time_is_a_contact_with_its_disposition(pbx_harness, tmp_path):
    async with pbx_harness(dialer, config=config(tmp_path)) as pbx:
        pbx.set_queues(agents(**{"1001": "available"}))
        await pbx.advance(1.0)
        [(call_id, number)] = dialled(pbx)
        await pbx.feed(answered(pbx, call_id, number))
        await pbx.advance(1.0)
        pbx.set_queues(agents(**{"1001": "on-call"}))
        await pbx.feed(AgentConnected(at=pbx.now(), agent="1001", call_id=call_id, queue="sales", wait_seconds=1.0,
                                      ring_seconds=0.5),
                       CallDisposition(at=pbx.now(), call_id=call_id, value="sale"))
        await pbx.advance(5.0)
        assert not [action for action in pbx.actions if action.name in ("play", "hang_up")]
        await pbx.feed(ended(pbx, call_id, number, answered=True, talk=90.0))
        assert len(dialled(pbx)) == 1  # the only agent is on the call
        [attempt] = await dialer.dialer(pbx.api()).store.attempts("spring", 0, pbx.now() + 1)
        assert (attempt.outcome, attempt.agent, attempt.disposition, attempt.talk_seconds) == (
            "contact", "1001", "sale", 90.0)
        assert (await lead(pbx, "anna")).status == "done"


async def test_amd_machines_are_hung_up_on_and_retried_by_the_machine_rule(pbx_harness, tmp_path):
    async with pbx_harness(dialer, config=config(tmp_path, amd=True)) as pbx:
        pbx.set_queues(agents(**{"1001": "available"}))
        await pbx.advance(1.0)
        [(call_id, number)] = dialled(pbx)
        assert pbx.actions[0].arguments["amd"] is True
        pbx.new_call(call_id=call_id, caller="+48221234567", callee=number)
        await pbx.feed(answered(pbx, call_id, number))
        await pbx.advance(3.0)  # AMD listens: no 2 s clock yet
        assert not [action for action in pbx.actions if action.name == "play"]
        await pbx.feed(MachineDetectionFinished(at=pbx.now(), call_id=call_id, number=number, result="machine",
                                                reason="long-greeting", seconds=3.0, greeting_seconds=2.6, words=9))
        pbx.assert_action("hang_up", call_id)
        await pbx.feed(ended(pbx, call_id, number, answered=True, talk=3.0))
        anna = await lead(pbx, "anna")
        assert (anna.last_outcome, anna.next_at) == ("machine", pbx.now() + 4 * 3600)


async def test_campaigns_and_leads_from_the_api_survive_a_restart(pbx_harness, tmp_path):
    directory = tmp_path / "pbx"
    spec = {"id": "autumn", "mode": "preview", "queue": "sales", "connect_to": "700"}
    async with pbx_harness(dialer, config={}, directory=directory) as pbx:
        [(_, endpoints)] = await pbx.runner.ask_all("pbx_admin_routes")
        async with serving("dialer", endpoints, clock=pbx.now) as api:
            assert (await api.post("/campaigns", json=spec, role="supervisor")).status == 201
            conflict = await api.post("/campaigns", json=spec, role="supervisor")
            assert conflict.status == 409 and (await conflict.json())["field"] == "body.id"
            short = await api.post("/campaigns", json={**spec, "id": "x", "ring_timeout": 5}, role="admin")
            assert short.status == 400 and "15 s minimum ring" in (await short.json())["message"]
            report = await (await api.post("/campaigns/autumn/leads", json={"csv": LEADS + "12345,bad\n"})).json()
            assert report == {"added": 4, "already_there": 0,
                              "errors": ["line 6: phone '12345' has no country code: write it in E.164 (+48600100200)"]}
            assert (await api.post("/campaigns/autumn/pause", role="supervisor")).status == 200
    async with pbx_harness(dialer, config={}, directory=directory) as pbx:
        [(_, endpoints)] = await pbx.runner.ask_all("pbx_admin_routes")
        async with serving("dialer", endpoints, clock=pbx.now) as api:
            [campaign] = await (await api.get("/campaigns")).json()
            assert (campaign["state"], campaign["leads"], campaign["source"]) == ("paused", {"pending": 4}, "api")
            why = await (await api.get("/campaigns/autumn/leads/anna/why")).json()
            assert (why["rule"], why["dialable"]) == ("campaign-paused", False)
            assert (await api.get("/campaigns/autumn/leads/nobody/why")).status == 404
            await api.post("/campaigns/autumn/resume")
            pbx.set_queues(agents(alice="available"))  # the agent token's own agent (admin_app.py)
            answer = await api.post("/campaigns/autumn/preview", json={"agent": "alice"}, role="agent")
            offered = await answer.json()
            assert answer.status == 200, offered
            assert offered["lead"]["id"] == "anna" and offered["lead"]["fields"] == {"name": "Anna"}
            assert (await api.post("/campaigns/autumn/leads/anna/accept", json={"agent": "1002"})).status == 409
            accepted = await (await api.post("/campaigns/autumn/leads/anna/accept", json={"agent": "alice"},
                                             role="agent")).json()
            assert accepted["call_id"] == "originated-1" and accepted["lead"]["status"] == "dialing"
            pbx.assert_action("originate", number="+48600100200", connect_to="ext-alice")
            other = await api.post("/campaigns/autumn/preview", json={"agent": "1002"}, role="agent")
            assert other.status == 403  # the agent token is alice's own
