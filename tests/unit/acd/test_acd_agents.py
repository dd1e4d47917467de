"""The agent state table: every legal transition lands where the table says, every other pair is refused."""

import itertools

import pytest

from pbx.acd import TRANSITIONS, Agent, AgentEvent, AgentState, AgentStateChanged, AgentStateError, Membership

PAIRS = list(itertools.product(AgentState, AgentEvent))
LEGAL = [pair for pair in PAIRS if pair in TRANSITIONS]
ILLEGAL = [pair for pair in PAIRS if pair not in TRANSITIONS]


def agent_in(state: AgentState) -> Agent:
    agent = Agent("alice", "201", [Membership("support")], now=0.0)
    agent.state = state
    if state in (AgentState.OFFERED, AgentState.ON_CALL):
        agent.call_id, agent.queue = "c1", "support"
    return agent


def test_the_cross_product_is_split():
    assert len(LEGAL) == len(TRANSITIONS) == 17
    assert len(LEGAL) + len(ILLEGAL) == len(AgentState) * len(AgentEvent)


@pytest.mark.parametrize(("state", "event"), LEGAL, ids=lambda v: v.name)
def test_legal_transition(state, event):
    agent = agent_in(state)
    change = agent.apply(event, 42.0, "because")
    assert agent.state is TRANSITIONS[state, event]
    assert agent.state_since == 42.0
    assert change == AgentStateChanged(at=42.0, agent="alice", old=state.value, new=agent.state.value,
                                       reason="because")


@pytest.mark.parametrize(("state", "event"), ILLEGAL, ids=lambda v: v.name)
def test_illegal_transition_is_refused_naming_state_and_event(state, event):
    agent = agent_in(state)
    with pytest.raises(AgentStateError) as error:
        agent.apply(event, 42.0, "because")
    assert error.value.state is state and error.value.event is event
    assert state.value in str(error.value) and event.value in str(error.value) and "alice" in str(error.value)
    assert agent.state is state and agent.state_since == 0.0


def test_every_state_is_reachable_and_can_get_back_to_logged_out():
    def reachable(start):
        seen, frontier = {start}, [start]
        while frontier:
            state = frontier.pop()
            for (source, _), target in TRANSITIONS.items():
                if source is state and target not in seen:
                    seen.add(target)
                    frontier.append(target)
        return seen

    assert reachable(AgentState.LOGGED_OUT) == set(AgentState)
    assert all(AgentState.LOGGED_OUT in reachable(state) for state in AgentState)


def test_leaving_a_call_forgets_it_and_pause_keeps_its_reason():
    agent = agent_in(AgentState.ON_CALL)
    agent.apply(AgentEvent.HANG_UP, 10.0, "call ended")
    assert (agent.call_id, agent.queue) == (None, None)
    agent.apply(AgentEvent.PAUSE, 11.0, "lunch")
    assert agent.pause_reason == "lunch" and not agent.is_staffed and agent.is_logged_in
    agent.apply(AgentEvent.UNPAUSE, 12.0, "back")
    assert agent.pause_reason is None and agent.is_available


def test_idle_since_is_the_last_call_end_or_the_time_available():
    agent = agent_in(AgentState.LOGGED_OUT)
    agent.apply(AgentEvent.LOG_IN, 5.0, "login")
    assert agent.idle_since == 5.0
    agent.last_call_ended = 3.0
    assert agent.idle_since == 3.0
