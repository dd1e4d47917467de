"""How the ACD shares callers among three baresip agents (1001-1003, auto-answer), end to end.

Callers are the Python UAC (``tests/e2e/acd/callers.py``, extensions 1004+) dialling 800: an IVR
scenario that answers and then queues the caller in ``support``. Calls are made one at a time,
each hung up once the agent is connected, and the next waits until that agent is available again
(wrap-up 0), so the order of ``AgentConnected`` is exactly what the strategy decides:

- the same four calls separate the strategies: 1001 and 1002 are logged in first (in that
  order), 1003 only after the second call.
  linear: 1001 1001 1001 1001 (always the first member);
  round-robin: 1001 1002 1003 1001 (the member after the last one offered);
  longest-idle: 1001 1002 1001 1002 (1003 logged in after 1001 and 1002 ended their calls);
  fewest-calls: 1001 1002 1003 1001 (1003 has taken none).
- sipp callers (call_uac_auth.xml), one at a time, go 1001 1002 1003 1001 1002 1003 (round-robin).
- ring-all: all three phones ring (AgentOffered x3); the first to answer gets the caller, the
  other offers are withdrawn and their phones stop ringing.
- wrap-up (3 s, linear): a second caller arriving during 1001's wrap-up goes to 1002, and 1001
  is offered nothing until its wrap-up has ended; with 1001 the only member the caller waits for it.
- no answer: with ``autopause_after: 2`` the manual-answer 1001 misses two callers (each then
  goes on to 1002) and is paused; a third caller is not offered to 1001; the snapshot shows it paused.
- exit key and feature codes: tested when the PBX has them (skipped otherwise, with the reason).
"""

from __future__ import annotations

import time

import pytest

from .acd import AGENTS, CallerThread, acd_pbx, agent_sequence, count_events, timed_events, wait_count
from .calls.fixtures import bus_events, call_pbx, dial_uri, phones, wait_bus_event, wait_idle  # noqa: F401
from .calls.sipp_calls import run_caller

pytestmark = pytest.mark.e2e


def start_agents(phones, pbx, names, **options):
    started = {}
    for name in names:
        started[name] = phones(f"agent{name}", name, pbx, **options)
        wait_bus_event(pbx, "AgentStateChanged", timeout=8, agent=name, new="available")
    return started


def agent_states(pbx) -> dict[str, str]:
    return {row["agent"]: row["state"] for row in pbx.api("/api/agents")}


def one_call(pbx, caller: CallerThread, number: str = "800") -> str:
    """Dial, wait for the agent, hang up, wait until that agent is available again; the agent's name."""
    before = len(bus_events(pbx, "AgentConnected"))
    call = caller.dial(number)
    connected = wait_count(pbx, "AgentConnected", before + 1, timeout=10)[before]
    agent = connected["agent"]
    available = count_events(pbx, "AgentStateChanged", agent=agent, new="available")
    caller.hangup(call)
    wait_count(pbx, "AgentStateChanged", available + 1, timeout=10, agent=agent, new="available")
    return agent


EXPECTED = {
    "linear": ["1001", "1001", "1001", "1001"],
    "round-robin": ["1001", "1002", "1003", "1001"],
    "longest-idle": ["1001", "1002", "1001", "1002"],
    "fewest-calls": ["1001", "1002", "1003", "1001"],
}


@pytest.mark.timeout(60)
@pytest.mark.parametrize("strategy", list(EXPECTED))
def test_sequential_calls_go_to_the_agent_the_strategy_picks(strategy, tmp_path, call_pbx, phones):  # noqa: F811
    pbx = acd_pbx(call_pbx, tmp_path, strategy=strategy)
    start_agents(phones, pbx, ("1001", "1002"))
    with CallerThread(pbx.sip_address, "1004") as caller:
        picked = [one_call(pbx, caller), one_call(pbx, caller)]
        start_agents(phones, pbx, ("1003",))
        picked += [one_call(pbx, caller), one_call(pbx, caller)]
    assert picked == EXPECTED[strategy], (strategy, picked)
    assert agent_sequence(pbx) == EXPECTED[strategy]
    assert len(bus_events(pbx, "AgentOffered")) == 4  # nobody was tried and skipped
    wait_idle(pbx, timeout=5)
    assert set(agent_states(pbx).values()) == {"available"}


@pytest.mark.timeout(60)
def test_sipp_callers_one_after_another_go_round_robin(tmp_path, ports, call_pbx, phones):  # noqa: F811
    """Six sipp calls (call_uac_auth.xml, one at a time, each hung up 1.5 s after the IVR answered)."""
    pbx = acd_pbx(call_pbx, tmp_path, strategy="round-robin")
    start_agents(phones, pbx, AGENTS)
    run = run_caller(pbx.sip_address, ports, tmp_path, caller="1004", password="secret1004", callee="800",
                     calls=6, rate=1, limit=1, pause_ms=1500, timeout=40)
    assert run.returncode == 0, run.describe()
    wait_count(pbx, "AgentStateChanged", 6, timeout=5, new="available", reason="wrap-up ended")
    assert agent_sequence(pbx) == ["1001", "1002", "1003"] * 2
    wait_idle(pbx, timeout=5)


@pytest.mark.timeout(60)
def test_ring_all_rings_every_agent_and_the_first_to_answer_wins(tmp_path, call_pbx, phones):  # noqa: F811
    pbx = acd_pbx(call_pbx, tmp_path, strategy="ring-all")
    agents = start_agents(phones, pbx, ("1001", "1002", "1003"), answermode="manual")
    with CallerThread(pbx.sip_address, "1004") as caller:
        call = caller.dial("800")
        for phone in agents.values():
            phone.wait_event("CALL_INCOMING", 10)
        offered = wait_count(pbx, "AgentOffered", 3, timeout=5)
        assert sorted(event["agent"] for event in offered) == ["1001", "1002", "1003"]
        agents["1002"].accept()
        connected = wait_bus_event(pbx, "AgentConnected", timeout=10)
        assert connected["agent"] == "1002", connected
        for name in ("1001", "1003"):
            agents[name].wait_event("CALL_CLOSED", 10)  # the PBX cancelled their ringing
            wait_bus_event(pbx, "AgentStateChanged", timeout=5, agent=name, old="offered", new="available")
        assert agent_states(pbx) == {"1001": "available", "1002": "on-call", "1003": "available"}
        assert count_events(pbx, "AgentNoAnswer") == 0
        caller.hangup(call)
        agents["1002"].wait_event("CALL_CLOSED", 10)
    wait_idle(pbx, timeout=5)


@pytest.mark.timeout(60)
def test_a_caller_during_wrap_up_goes_to_the_next_agent(tmp_path, call_pbx, phones):  # noqa: F811
    pbx = acd_pbx(call_pbx, tmp_path, strategy="linear", wrap_up=3)
    start_agents(phones, pbx, ("1001", "1002", "1003"))
    with CallerThread(pbx.sip_address, "1004") as first, CallerThread(pbx.sip_address, "1005") as second:
        call = first.dial("800")
        wait_bus_event(pbx, "AgentConnected", timeout=10, agent="1001")
        first.hangup(call)
        wait_bus_event(pbx, "AgentStateChanged", timeout=5, agent="1001", new="wrap-up")
        other = second.dial("800")
        connected = wait_count(pbx, "AgentConnected", 2, timeout=10)[1]
        assert connected["agent"] == "1002", connected
        wait_bus_event(pbx, "AgentStateChanged", timeout=6, agent="1001", old="wrap-up", new="available")
        second.hangup(other)
    (wrap_started, _), = [(at, e) for at, e in timed_events(pbx, "AgentStateChanged")
                          if e["agent"] == "1001" and e["new"] == "wrap-up"]
    (wrap_ended, _), = [(at, e) for at, e in timed_events(pbx, "AgentStateChanged")
                        if e["agent"] == "1001" and e["old"] == "wrap-up"]
    assert 2.95 <= wrap_ended - wrap_started <= 4.0, wrap_ended - wrap_started  # wrap_up: 3
    offers_to_1001 = [at for at, e in timed_events(pbx, "AgentOffered") if e["agent"] == "1001"]
    assert len(offers_to_1001) == 1 and offers_to_1001[0] < wrap_started, offers_to_1001
    wait_idle(pbx, timeout=5)


@pytest.mark.timeout(60)
def test_with_one_agent_a_caller_waits_for_the_end_of_its_wrap_up(tmp_path, call_pbx, phones):  # noqa: F811
    pbx = acd_pbx(call_pbx, tmp_path, agents=("1001",), strategy="linear", wrap_up=3)
    start_agents(phones, pbx, ("1001",))
    with CallerThread(pbx.sip_address, "1004") as first, CallerThread(pbx.sip_address, "1005") as second:
        call = first.dial("800")
        wait_bus_event(pbx, "AgentConnected", timeout=10, agent="1001")
        first.hangup(call)
        wait_bus_event(pbx, "AgentStateChanged", timeout=5, agent="1001", new="wrap-up")
        other = second.dial("800")
        wait_count(pbx, "AgentConnected", 2, timeout=10)
        second.hangup(other)
    changes = [(at, e) for at, e in timed_events(pbx, "AgentStateChanged") if e["agent"] == "1001"]
    wrap_ended = next(at for at, e in changes if e["old"] == "wrap-up")
    joined = [at for at, e in timed_events(pbx, "QueueJoined")][1]
    offered = [at for at, e in timed_events(pbx, "AgentOffered")][1]
    assert joined < wrap_ended <= offered, (joined, wrap_ended, offered)
    assert offered - wrap_ended < 1.0  # offered as soon as the wrap-up ended
    wait_idle(pbx, timeout=5)


@pytest.mark.timeout(60)
def test_an_agent_missing_two_callers_is_paused_and_offered_no_more(tmp_path, call_pbx, phones):  # noqa: F811
    pbx = acd_pbx(call_pbx, tmp_path, agents=("1001", "1002"), strategy="linear", ring_timeout=2,
                  autopause_after=2)
    agents = start_agents(phones, pbx, ("1001",), answermode="manual")
    agents.update(start_agents(phones, pbx, ("1002",)))
    with CallerThread(pbx.sip_address, "1004") as first, CallerThread(pbx.sip_address, "1005") as second:
        for number, caller in enumerate((first, second), start=1):
            call = caller.dial("800")
            agents["1001"].wait_event("CALL_INCOMING", 10)  # linear: 1001 rings first, and nobody answers
            missed = wait_count(pbx, "AgentNoAnswer", number, timeout=6, agent="1001")[-1]
            assert (missed["reason"], missed["consecutive"]) == ("no-answer", str(number)), missed
            connected = wait_count(pbx, "AgentConnected", number, timeout=10)[-1]
            assert connected["agent"] == "1002", connected
            caller.hangup(call)
            wait_count(pbx, "AgentStateChanged", number + 1, timeout=10, agent="1002", new="available")
        paused = wait_bus_event(pbx, "AgentStateChanged", timeout=5, agent="1001", new="paused")
        assert paused["old"] == "available", paused
        assert agent_states(pbx) == {"1001": "paused", "1002": "available"}
        call = first.dial("800")
        wait_count(pbx, "AgentConnected", 3, timeout=10, agent="1002")
        agents["1001"].expect_no_event("CALL_INCOMING", 1.0)
        first.hangup(call)
    assert [e["agent"] for e in bus_events(pbx, "AgentOffered")] == ["1001", "1002", "1001", "1002", "1002"]
    snapshot = pbx.api("/api/queues")
    assert agent_states(pbx)["1001"] == "paused", snapshot
    wait_idle(pbx, timeout=5)


def _has_exit_key() -> bool:
    from pbx.config import QueueConfig
    return "exit_key" in QueueConfig.__struct_fields__


def _has_feature_codes() -> bool:
    try:
        from pbx.acd.features import FeatureCodeController  # noqa: F401
    except ImportError:
        return False
    return True


@pytest.mark.timeout(60)
@pytest.mark.skipif(not _has_exit_key(), reason="the PBX has no QueueConfig.exit_key yet")
def test_a_caller_pressing_the_exit_key_leaves_the_queue_for_the_scenario(tmp_path, call_pbx, phones):  # noqa: F811
    """Key 0 (RFC 4733) while 1001's phone rings for the caller: the offer is withdrawn, QueueLeft
    says "exited", the scenario's on-failure branch runs (disposition, hang-up)."""
    pbx = acd_pbx(call_pbx, tmp_path, agents=("1001",), exit_key="0", ring_timeout=20)
    agent = start_agents(phones, pbx, ("1001",), answermode="manual")["1001"]
    with CallerThread(pbx.sip_address, "1004") as caller:
        call = caller.dial("800")
        joined = wait_bus_event(pbx, "QueueJoined", timeout=5, queue="support")
        agent.wait_event("CALL_INCOMING", 10)
        caller.press(call, "5")  # not the exit key: nothing happens
        time.sleep(0.5)
        assert count_events(pbx, "QueueLeft") == 0
        caller.press(call, "0")
        left = wait_bus_event(pbx, "QueueLeft", timeout=5, call_id=joined["call_id"])
        assert left["reason"] == "exited", left
        agent.wait_event("CALL_CLOSED", 10)  # the ringing stopped
        wait_bus_event(pbx, "AgentStateChanged", timeout=5, agent="1001", old="offered", new="available")
        wait_bus_event(pbx, "CallDisposition", timeout=5, value="left the queue")
        deadline = time.monotonic() + 10
        while not caller.is_ended(call) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert caller.is_ended(call), "the scenario's hang-up did not reach the caller"
    assert count_events(pbx, "QueueAbandoned") == 0
    assert count_events(pbx, "AgentConnected") == 0
    wait_idle(pbx, timeout=5)


def feature(phone, pbx, code: str) -> None:
    """Dial a feature code; the PBX answers, beeps and hangs up."""
    phone.dial(dial_uri(pbx, code))
    phone.wait_event("CALL_ESTABLISHED", 10)
    phone.wait_event("CALL_CLOSED", 10)


@pytest.mark.timeout(60)
@pytest.mark.skipif(not _has_feature_codes(), reason="the PBX has no feature codes (pbx/acd/features.py) yet")
def test_a_dynamic_agent_logs_in_pauses_and_logs_out_by_feature_codes(tmp_path, call_pbx, phones):  # noqa: F811
    pbx = acd_pbx(call_pbx, tmp_path, agents=("1001",), agent_login="dynamic")
    agent = phones("agent1001", "1001", pbx)
    time.sleep(0.5)
    assert agent_states(pbx) == {"1001": "logged-out"}  # registering does not log a dynamic agent in
    feature(agent, pbx, "*45")
    change = wait_bus_event(pbx, "AgentStateChanged", timeout=5, agent="1001", new="available")
    assert (change["old"], change["reason"]) == ("logged-out", "feature code"), change
    with CallerThread(pbx.sip_address, "1004") as caller:
        assert one_call(pbx, caller) == "1001"
        feature(agent, pbx, "*47")
        change = wait_bus_event(pbx, "AgentStateChanged", timeout=5, agent="1001", new="paused")
        assert (change["old"], change["reason"]) == ("available", "feature code"), change
        assert agent_states(pbx) == {"1001": "paused"}
        call = caller.dial("800")  # waits: the only agent is paused
        wait_count(pbx, "QueueJoined", 2, timeout=5)
        agent.expect_no_event("CALL_INCOMING", 1.0)
        assert count_events(pbx, "AgentOffered") == 1
        feature(agent, pbx, "*48")
        change = wait_bus_event(pbx, "AgentStateChanged", timeout=5, agent="1001", old="paused")
        assert (change["new"], change["reason"]) == ("available", "feature code"), change
        wait_count(pbx, "AgentConnected", 2, timeout=10, agent="1001")  # the waiting caller gets the agent
        caller.hangup(call)
        wait_count(pbx, "AgentStateChanged", 3, timeout=10, agent="1001", new="available")
    feature(agent, pbx, "*46")
    change = wait_bus_event(pbx, "AgentStateChanged", timeout=5, agent="1001", new="logged-out")
    assert (change["old"], change["reason"]) == ("available", "feature code"), change
    assert agent_states(pbx) == {"1001": "logged-out"}
    feature(agent, pbx, "*47")  # pausing while logged out is refused (a low tone), and changes nothing
    wait_bus_event(pbx, "feature_refused", timeout=5, agent="1001", action="pause")
    assert agent_states(pbx) == {"1001": "logged-out"}
    wait_idle(pbx, timeout=5)
