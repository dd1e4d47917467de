"""ACD queues on live calls: baresip agents, callers routed to a queue directly or from a scenario.

- A caller dialling the queue's number hears music on hold until an agent's phone answers, then
  the two hear each other; the agent goes through wrap-up back to available (AgentStateChanged).
- An agent who does not answer is skipped after the ring timeout (AgentNoAnswer) and the next
  agent takes the call.
- A scenario's `queue` action with nobody to answer times out back into the scenario, whose
  on-failure branch runs.
"""

from __future__ import annotations

import time

import pytest

from .calls import audio
from .calls.fixtures import call_extensions, call_pbx, dial_uri, phones, wait_bus_event, wait_idle  # noqa: F401
from .calls.fixtures import bus_events

pytestmark = pytest.mark.e2e

AGENTS = {"1001": {"name": "Alice"}, "1002": {"name": "Bob"}}


def acd_pbx(call_pbx, tmp_path, **queue):
    settings = {"strategy": "linear", "ring_timeout": 3, "wrap_up": 1.5,
                "members": [{"agent": "1001"}, {"agent": "1002"}], **queue}
    routes = [{"match": "700", "queue": "support"}, {"match": "800", "scenario": "line"}]
    return call_pbx(agents=AGENTS, queues={"support": settings}, routes=routes,
                    ivr={"scenarios": str(tmp_path / "scenarios"), "prompts": str(tmp_path), "tts_cache": str(tmp_path / "tts")})


@pytest.mark.timeout(120)
def test_a_caller_waits_then_talks_to_an_agent_who_then_wraps_up(tmp_path, call_pbx, phones):  # noqa: F811
    pbx = acd_pbx(call_pbx, tmp_path)
    alpha, bravo = (audio.speech_wav(tmp_path / "wav", name) for name in ("alpha", "bravo"))
    agent = phones("agent1001", "1001", pbx, source=bravo)
    wait_bus_event(pbx, "AgentStateChanged", timeout=5, agent="1001", new="available")
    caller = phones("caller1004", "1004", pbx, source=alpha)
    caller.dial(dial_uri(pbx, "700"))
    caller.wait_event("CALL_ESTABLISHED", 10)
    wait_bus_event(pbx, "QueueJoined", timeout=5, queue="support", caller_number="1004")
    agent.wait_event("CALL_ESTABLISHED", 10)
    connected = wait_bus_event(pbx, "AgentConnected", timeout=5, agent="1001", queue="support")
    snapshot = pbx.api("/api/agents")
    states = {row["agent"]: row["state"] for row in snapshot}
    assert states == {"1001": "on-call", "1002": "logged-out"}, snapshot
    time.sleep(4.0)
    caller.hangup()
    agent.wait_event("CALL_CLOSED", 10)
    wait_bus_event(pbx, "AgentStateChanged", timeout=5, agent="1001", new="wrap-up")
    wait_bus_event(pbx, "AgentStateChanged", timeout=5, agent="1001", old="wrap-up", new="available")
    wait_idle(pbx, timeout=5)
    assert float(connected["wait_seconds"]) < 5
    audio.assert_heard(caller.sent(), agent.heard(), unrelated=[agent.sent()], what="the agent hears the caller",
                       align="end")


@pytest.mark.timeout(120)
def test_an_agent_who_does_not_answer_is_skipped_for_the_next(tmp_path, call_pbx, phones):  # noqa: F811
    pbx = acd_pbx(call_pbx, tmp_path, autopause_after=1)
    sleepy = phones("agent1001", "1001", pbx, answermode="manual")
    awake = phones("agent1002", "1002", pbx)
    for name in ("1001", "1002"):
        wait_bus_event(pbx, "AgentStateChanged", timeout=5, agent=name, new="available")
    caller = phones("caller1004", "1004", pbx)
    caller.dial(dial_uri(pbx, "700"))
    sleepy.wait_event("CALL_INCOMING", 10)  # linear: 1001 first
    missed = wait_bus_event(pbx, "AgentNoAnswer", timeout=8, agent="1001")
    assert missed["reason"] == "no-answer", missed
    wait_bus_event(pbx, "AgentStateChanged", timeout=5, agent="1001", new="paused")  # autopause_after: 1
    awake.wait_event("CALL_ESTABLISHED", 10)
    wait_bus_event(pbx, "AgentConnected", timeout=5, agent="1002")
    caller.hangup()
    awake.wait_event("CALL_CLOSED", 10)
    wait_idle(pbx, timeout=5)


@pytest.mark.timeout(120)
def test_a_scenario_queue_that_times_out_returns_to_its_failure_branch(tmp_path, call_pbx, phones):  # noqa: F811
    scenarios = tmp_path / "scenarios"
    scenarios.mkdir()
    (scenarios / "line.ivr").write_text(
        'scenario "Line"\nend\nblock start\n  answer\n  queue support priority 2\n  on failure\n'
        '    disposition "no agent"\n    hangup\n  end\nend\n')
    pbx = acd_pbx(call_pbx, tmp_path, max_wait=2)  # no agent is logged in: nobody can answer
    caller = phones("caller1004", "1004", pbx)
    caller.dial(dial_uri(pbx, "800"))
    caller.wait_event("CALL_ESTABLISHED", 10)
    wait_bus_event(pbx, "QueueJoined", timeout=5, queue="support", priority="2")
    wait_bus_event(pbx, "QueueTimedOut", timeout=6, queue="support")
    wait_bus_event(pbx, "CallDisposition", timeout=5, value="no agent")  # the scenario went on
    wait_bus_event(pbx, "IvrExited", timeout=5, how="hangup")
    caller.wait_event("CALL_CLOSED", 10)
    wait_idle(pbx, timeout=5)


@pytest.mark.timeout(60)
def test_a_caller_dialling_the_queue_directly_is_let_go_when_it_times_out(tmp_path, call_pbx, phones):  # noqa: F811
    pbx = acd_pbx(call_pbx, tmp_path, max_wait=2)
    caller = phones("caller1004", "1004", pbx)
    caller.dial(dial_uri(pbx, "700"))
    caller.wait_event("CALL_ESTABLISHED", 10)
    wait_bus_event(pbx, "QueueTimedOut", timeout=6, queue="support")
    caller.wait_event("CALL_CLOSED", 10)
    wait_idle(pbx, timeout=5)


@pytest.mark.timeout(90)
def test_a_dynamic_agent_logs_in_pauses_and_logs_out_with_feature_codes(tmp_path, call_pbx, phones):  # noqa: F811
    settings = {"strategy": "linear", "members": [{"agent": "1001"}]}
    pbx = call_pbx(agents={"1001": {"login": "dynamic"}}, queues={"support": settings})
    phone = phones("agent1001", "1001", pbx)
    stranger = phones("phone1002", "1002", pbx)
    expected = [("*45", "logged-out", "available"), ("*47", "available", "paused"), ("*48", "paused", "available"),
                ("*46", "available", "logged-out")]
    for code, old, new in expected:
        phone.dial(dial_uri(pbx, code))
        changed = wait_bus_event(pbx, "AgentStateChanged", timeout=5, agent="1001", old=old, new=new)
        assert changed["reason"] == "feature code", changed
        phone.wait_event("CALL_CLOSED", 10)  # a short beep, then the PBX hangs up
    phone.dial(dial_uri(pbx, "*47"))  # pausing while logged out is refused with a low tone
    phone.wait_event("CALL_CLOSED", 10)
    assert len(bus_events(pbx, "AgentStateChanged")) == 4
    stranger.dial(dial_uri(pbx, "*45"))  # not an agent: 404
    stranger.wait_event("CALL_CLOSED", 10)
    wait_idle(pbx, timeout=5)


@pytest.mark.timeout(90)
def test_the_exit_key_takes_a_waiting_caller_back_to_the_scenario(tmp_path, call_pbx, phones):  # noqa: F811
    scenarios = tmp_path / "scenarios"
    scenarios.mkdir()
    (scenarios / "line.ivr").write_text(
        'scenario "Line"\nend\nblock start\n  answer\n  queue support\n  on failure\n'
        '    disposition "left the queue"\n    hangup\n  end\nend\n')
    pbx = acd_pbx(call_pbx, tmp_path, exit_key="0")
    caller = phones("caller1004", "1004", pbx)
    caller.dial(dial_uri(pbx, "800"))
    caller.wait_event("CALL_ESTABLISHED", 10)
    wait_bus_event(pbx, "QueueJoined", timeout=5, queue="support")
    time.sleep(0.5)
    caller.command("sndcode", "0")
    wait_bus_event(pbx, "QueueLeft", timeout=5, queue="support", reason="exited")
    wait_bus_event(pbx, "CallDisposition", timeout=5, value="left the queue")
    caller.wait_event("CALL_CLOSED", 10)
    wait_idle(pbx, timeout=5)


@pytest.mark.timeout(120)
def test_a_caller_asks_for_a_callback_keeps_their_place_and_is_called_back_to_an_agent(tmp_path, call_pbx, phones):  # noqa: F811
    pbx = acd_pbx(call_pbx, tmp_path, members=[{"agent": "1001"}], callback_key="1",
                  callback={"enabled": True, "retries": 1, "retry_interval": 5})
    caller = phones("caller1004", "1004", pbx)  # answers automatically when called back
    caller.dial(dial_uri(pbx, "700"))
    caller.wait_event("CALL_ESTABLISHED", 10)
    first = wait_bus_event(pbx, "QueueJoined", timeout=5, queue="support")
    time.sleep(0.5)
    caller.command("sndcode", "1")
    scheduled = wait_bus_event(pbx, "CallbackScheduled", timeout=5, call_id=first["call_id"])
    assert (scheduled["number"], scheduled["position"]) == ("1004", "1"), scheduled
    caller.wait_event("CALL_CLOSED", 10)  # the caller hangs up; the place is kept
    snapshot = pbx.api("/api/queues")
    waiting = [row for queue in snapshot for row in queue["waiting"]]
    assert len(waiting) == 1 and waiting[0]["callback"] == "waiting", snapshot
    agent = phones("agent1001", "1001", pbx)  # the agent logs in (static: by registering)
    caller.wait_event("CALL_ESTABLISHED", 15)  # the PBX calls the customer back
    # and connects the agent (whose phone may answer before its control socket sees events)
    wait_bus_event(pbx, "AgentConnected", timeout=15, agent="1001", call_id=first["call_id"])
    time.sleep(1.0)
    agent.hangup()
    caller.wait_event("CALL_CLOSED", 10)
    completed = wait_bus_event(pbx, "CallbackCompleted", timeout=5, call_id=first["call_id"])
    assert completed["outcome"] == "answered", completed
    wait_idle(pbx, timeout=5)


@pytest.mark.timeout(120)
def test_the_agent_hears_the_queue_whispered_before_the_caller_is_put_through(tmp_path, call_pbx, phones):  # noqa: F811
    pbx = acd_pbx(call_pbx, tmp_path, whisper=True, members=[{"agent": "1001"}])
    alpha, bravo = (audio.speech_wav(tmp_path / "wav", name) for name in ("alpha", "bravo"))
    agent = phones("agent1001", "1001", pbx, source=bravo)
    wait_bus_event(pbx, "AgentStateChanged", timeout=5, agent="1001", new="available")
    caller = phones("caller1004", "1004", pbx, source=alpha)
    caller.dial(dial_uri(pbx, "700"))
    agent.wait_event("CALL_ESTABLISHED", 10)
    wait_bus_event(pbx, "AgentConnected", timeout=5, agent="1001")
    time.sleep(5.0)
    caller.hangup()
    agent.wait_event("CALL_CLOSED", 10)
    wait_idle(pbx, timeout=5)
    [whisper] = list((tmp_path / "tts").rglob("*.wav"))  # "Call from the support queue.", rendered once
    heard = agent.heard()
    audio.assert_heard(audio.read_wav(whisper), heard, unrelated=[caller.sent()], what="the agent hears the whisper")
    audio.assert_heard(caller.sent(), heard, unrelated=[agent.sent()], what="then the caller", align="end")


@pytest.mark.timeout(90)
def test_a_waiting_caller_hears_their_position_between_the_hold_music(tmp_path, call_pbx, phones):  # noqa: F811
    pbx = acd_pbx(call_pbx, tmp_path, announce_position_every=2)  # no agent logged in: they wait
    caller = phones("caller1004", "1004", pbx, source=audio.speech_wav(tmp_path / "wav", "alpha"))
    caller.dial(dial_uri(pbx, "700"))
    caller.wait_event("CALL_ESTABLISHED", 10)
    wait_bus_event(pbx, "QueueJoined", timeout=5, queue="support")
    time.sleep(6.0)
    caller.hangup()
    wait_bus_event(pbx, "QueueAbandoned", timeout=5, queue="support", position="1")
    wait_idle(pbx, timeout=5)
    [announcement] = list((tmp_path / "tts").rglob("*.wav"))  # "You are caller number 1. ..."
    audio.assert_heard(audio.read_wav(announcement), caller.heard(), unrelated=[caller.sent()],
                       what="the position announcement")


@pytest.mark.timeout(90)
def test_the_scenario_own_queue_timeout_brings_the_caller_back(tmp_path, call_pbx, phones):  # noqa: F811
    """`queue support timeout 2s` gives up after 2 s although the queue itself would wait forever."""
    scenarios = tmp_path / "scenarios"
    scenarios.mkdir()
    (scenarios / "line.ivr").write_text(
        'scenario "Line"\nend\nblock start\n  answer\n  queue support timeout 2s\n  on failure\n'
        '    disposition "gave up"\n    hangup\n  end\nend\n')
    pbx = acd_pbx(call_pbx, tmp_path)  # no max_wait on the queue, no agent logged in
    caller = phones("caller1004", "1004", pbx)
    caller.dial(dial_uri(pbx, "800"))
    caller.wait_event("CALL_ESTABLISHED", 10)
    joined = wait_bus_event(pbx, "QueueJoined", timeout=5, queue="support")
    timed_out = wait_bus_event(pbx, "QueueTimedOut", timeout=6, call_id=joined["call_id"])
    assert 1.9 <= float(timed_out["wait_seconds"]) < 3.0, timed_out
    wait_bus_event(pbx, "CallDisposition", timeout=5, value="gave up")
    caller.wait_event("CALL_CLOSED", 10)
    wait_idle(pbx, timeout=5)
