"""120 calls through the IVR into a queue of three baresip agents, with random hang-ups.

Twenty Python UAC callers at a time (extensions 1004-1009) dial 800: the scenario answers and
queues them in ``support`` (round-robin, wrap-up 0, max wait 2 s). Each caller hangs up at a
random time after the answer (``tests/e2e/acd/load.py``: early, 0.5-3 s, or 4-7 s), so callers
abandon while waiting, time out back to the scenario (which hangs up), or are hung up on while
talking; meanwhile the agents' phones hang up now and then from their side.

Afterwards:
- every call was answered by the IVR and ended cleanly, once (CallEnded: by the caller, by an
  agent, or by the system for each time-out);
- every agent is available or paused and nobody waits (the /api/queues snapshot), and the
  agents' calls taken add up to the AgentConnected events;
- /api/status shows 0 calls, dialogs and RTP ports;
- every QueueJoined has exactly one outcome (AgentConnected, QueueAbandoned, QueueTimedOut,
  QueueLeft or QueueOverflowed) and no outcome is without a QueueJoined; each kind occurred;
- the PBX logged no Python traceback.
"""

from __future__ import annotations

import asyncio
import random
import threading
import time
from collections import Counter

import pytest

from .acd import AGENTS, acd_pbx
from .acd.load import run_callers
from .calls.fixtures import assert_no_traceback, bus_events, call_pbx, phones, wait_bus_event, wait_idle  # noqa: F401

pytestmark = pytest.mark.e2e

CALLS = 120
CONCURRENCY = 20
OUTCOMES = ("AgentConnected", "QueueAbandoned", "QueueTimedOut", "QueueLeft", "QueueOverflowed")


@pytest.mark.timeout(90)
def test_a_hundred_and_twenty_calls_with_random_hangups_leave_the_acd_clean(tmp_path, call_pbx, phones):  # noqa: F811
    pbx = acd_pbx(call_pbx, tmp_path, strategy="round-robin", ring_timeout=5, wrap_up=0, max_wait=2)
    agents = {}
    for name in AGENTS:
        agents[name] = phones(f"agent{name}", name, pbx, lifetime=120)
        wait_bus_event(pbx, "AgentStateChanged", timeout=8, agent=name, new="available")

    outcome = {}

    def load() -> None:
        outcome["result"] = asyncio.run(asyncio.wait_for(
            run_callers(pbx.sip_address, [str(n) for n in range(1004, 1010)], "800", calls=CALLS,
                        concurrency=CONCURRENCY, seed=20261123), 70))

    thread = threading.Thread(target=load, name="soak-callers", daemon=True)
    thread.start()
    rng = random.Random(7)
    agent_hangups = 0
    while thread.is_alive():  # the agents' side: now and then one hangs up whatever call it has
        thread.join(rng.uniform(0.8, 1.6))
        if thread.is_alive():
            response = agents[rng.choice(AGENTS)].hangup()
            agent_hangups += bool(response.get("ok"))
    result = outcome.get("result")
    assert result is not None, "the callers did not finish"
    print(f"\n{result.placed} calls in {result.seconds:.1f}s: {dict(result.kinds)}, {result.answered} answered by"
          f" the IVR, {result.hung_up_by_caller} hung up by the caller, {result.ended_by_pbx} by the PBX;"
          f" {agent_hangups} agent hang-up commands accepted")
    assert result.placed == CALLS
    assert result.errors == [], result.errors[:10]
    assert result.answered == CALLS

    status = wait_idle(pbx, timeout=15)
    deadline = time.monotonic() + 10
    while True:  # an agent's last call may still be ending (its BYE) a moment after the PBX is idle
        states = {row["agent"]: row["state"] for row in pbx.api("/api/agents")}
        if set(states.values()) <= {"available", "paused"} or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert set(states.values()) <= {"available", "paused"}, (states, status)
    snapshot = pbx.api("/api/queues")
    assert [(queue["name"], queue["waiting"]) for queue in snapshot] == [("support", [])], snapshot
    agents = pbx.api("/api/agents")

    joined = [event["call_id"] for event in bus_events(pbx, "QueueJoined")]
    assert len(joined) == len(set(joined))
    ends: Counter = Counter()
    kinds: Counter = Counter()
    for name in OUTCOMES:
        for event in bus_events(pbx, name):
            ends[event["call_id"]] += 1
            kinds[name] += 1
    twice = {call_id: count for call_id, count in ends.items() if count != 1}
    assert twice == {}, f"calls with more than one queue outcome: {twice}"
    assert set(ends) == set(joined), (f"joined without an outcome: {sorted(set(joined) - set(ends))[:5]};"
                                      f" an outcome without joining: {sorted(set(ends) - set(joined))[:5]}")
    print(f"{len(joined)} joined the queue: {dict(kinds)}")
    assert sum(agent["calls_taken"] for agent in agents) == kinds["AgentConnected"], agents
    assert kinds["AgentConnected"] >= 20 and kinds["QueueAbandoned"] >= 10 and kinds["QueueTimedOut"] >= 1, kinds
    ended = Counter(event["hangup_by"] for event in bus_events(pbx, "CallEnded"))
    print(f"CallEnded by: {dict(ended)}")
    assert sum(ended.values()) == CALLS, ended
    assert ended["callee"] >= 1 and ended["system"] == kinds["QueueTimedOut"], ended  # agents hung up some
    assert_no_traceback(pbx)
