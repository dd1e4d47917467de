"""Random days at the call centre: arrivals, answers, no-answers, hang-ups, pauses, logouts, callbacks and time.

A fake call layer carries out the ACD's commands and feeds back random reports. After every
step: no agent's state contradicts the calls the call layer has (checked directly and by the
reconciler, which must find nothing to repair), and every accepted caller is either still
waiting or has left with exactly one RemoveCaller. At the end everybody is logged in, every
offer and callback answered and time runs on: every caller must have left, exactly once.
"""

import random
from collections import defaultdict

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pbx.acd import (
    BUILT_IN, Acd, CallbackSettings, CancelOffer, ConnectAgent, Membership, OfferCall, OverflowTarget, PenaltyStep,
    PlaceCallback, QueueSettings, Refused, RemoveCaller,
)
from pbx.acd.agents import AgentState

AGENTS = ("ann", "bob", "cat", "dan")
QUEUES = ("sales", "support")
OPS = ("arrive", "arrive", "answer", "fail", "hang-up-caller", "hang-up-agent", "pause", "unpause", "logout",
       "login", "tick", "tick", "callback", "callback-result", "exit")


class CallLayer:
    """What the call layer would see, built only from the ACD's commands and its own reports."""

    def __init__(self, acd: Acd) -> None:
        self.acd = acd
        self.now = 0.0
        self.offers: set[tuple[str, str]] = set()
        self.connected: set[tuple[str, str]] = set()
        self.dialing: set[str] = set()
        self.accepted: list[str] = []
        self.outcomes: dict[str, list[str]] = defaultdict(list)
        self.calls = 0

    def carry_out(self, outputs) -> None:
        assert not isinstance(outputs, Refused)
        for output in outputs:
            if isinstance(output, OfferCall):
                assert (output.agent, output.call_id) not in self.offers
                self.offers.add((output.agent, output.call_id))
            elif isinstance(output, CancelOffer):
                self.offers.discard((output.agent, output.call_id))
            elif isinstance(output, ConnectAgent):
                self.offers.remove((output.agent, output.call_id))
                self.connected.add((output.agent, output.call_id))
            elif isinstance(output, PlaceCallback):
                assert output.call_id not in self.dialing
                self.dialing.add(output.call_id)
            elif isinstance(output, RemoveCaller):
                self.outcomes[output.call_id].append(output.outcome)

    def advance(self, seconds: float) -> None:
        target = self.now + seconds
        while (deadline := self.acd.next_deadline()) is not None and deadline <= target:
            self.now = max(self.now, deadline)
            self.carry_out(self.acd.handle_timer(self.now))
        self.now = target

    def step(self, op: str, pick: int, extra: int) -> None:
        acd, now = self.acd, self.now
        agent = AGENTS[pick % len(AGENTS)]
        if op == "arrive":
            self.calls += 1
            call_id = f"c{self.calls}"
            number = f"+48{extra % 7}"  # few numbers, so callers come back within the rejoin window
            skills = {"pl": 1 + extra % 5} if extra % 3 == 0 else {}
            outputs = acd.join(call_id, number, QUEUES[pick % 2], now, priority=extra % 3, skills=skills)
            if not isinstance(outputs, Refused):
                self.accepted.append(call_id)
                self.carry_out(outputs)
        elif op == "answer" and self.offers:
            agent, call_id = sorted(self.offers)[pick % len(self.offers)]
            self.carry_out(acd.offer_answered(agent, call_id, now))
        elif op == "fail" and self.offers:
            agent, call_id = sorted(self.offers)[pick % len(self.offers)]
            self.offers.discard((agent, call_id))
            self.carry_out(acd.offer_failed(agent, call_id, ("no-answer", "busy", "rejected")[extra % 3], now))
        elif op in ("hang-up-caller", "exit", "callback"):
            on_line = sorted(c for c, entry in acd.entries.items() if not entry.is_virtual)
            if on_line:
                call_id = on_line[pick % len(on_line)]
                if op == "callback":
                    outputs = acd.request_callback(call_id, "+48999", now)
                    if not isinstance(outputs, Refused):
                        self.carry_out(outputs)
                else:
                    outputs = acd.caller_left(call_id, now, outcome="abandoned" if op == "hang-up-caller" else "exited")
                    self.carry_out(outputs)
        elif op == "hang-up-agent" and self.connected:
            agent, call_id = sorted(self.connected)[pick % len(self.connected)]
            self.connected.remove((agent, call_id))
            self.carry_out(acd.call_ended(agent, call_id, now))
        elif op == "callback-result" and self.dialing:
            call_id = sorted(self.dialing)[pick % len(self.dialing)]
            self.dialing.remove(call_id)
            if extra % 2:
                self.carry_out(acd.callback_answered(call_id, now))
            else:
                self.carry_out(acd.callback_failed(call_id, "no-answer", now))
        elif op == "pause" and acd.agents[agent].state is not AgentState.LOGGED_OUT:
            self.carry_out(acd.pause(agent, ("break", "lunch")[extra % 2], now))
        elif op == "unpause" and acd.agents[agent].state is not AgentState.LOGGED_OUT:
            self.carry_out(acd.unpause(agent, now))
        elif op == "logout":
            self.carry_out(acd.logout(agent, now))
        elif op == "login":
            self.carry_out(acd.login(agent, now))
        elif op == "tick":
            self.advance(float(extra % 90))

    def check(self) -> None:
        acd = self.acd
        for name, agent in acd.agents.items():
            offers = {call for who, call in self.offers if who == name}
            calls = {call for who, call in self.connected if who == name}
            if agent.state is AgentState.OFFERED:
                assert offers == {agent.call_id} and not calls, (agent, offers, calls)
                assert name in acd.entries[agent.call_id].offers
            elif agent.state is AgentState.ON_CALL:
                assert calls == {agent.call_id} and not offers, (agent, offers, calls)
            else:
                assert not offers and not calls, (agent, offers, calls)
            assert agent.is_available == any(name in acd.available[q] for q in agent.memberships)
        for call_id, entry in acd.entries.items():
            assert entry.offers == {who for who, call in self.offers if call == call_id}
            assert entry.is_dialing == (call_id in self.dialing)
        for call_id in self.accepted:
            left = self.outcomes.get(call_id, [])
            assert len(left) <= 1, (call_id, left)
            assert (call_id in acd.entries) != (len(left) == 1), (call_id, left)
        assert acd.reconcile(self.offers | self.connected, self.now) == []

    def drain(self) -> None:
        for _ in range(300):
            if not self.acd.entries and not self.offers and not self.connected:
                return
            for name in AGENTS:
                self.carry_out(self.acd.login(name, self.now))
                self.carry_out(self.acd.unpause(name, self.now))
            for agent, call_id in sorted(self.offers):
                if (agent, call_id) in self.offers:
                    self.carry_out(self.acd.offer_answered(agent, call_id, self.now))
            for call_id in sorted(self.dialing):
                self.dialing.remove(call_id)
                self.carry_out(self.acd.callback_answered(call_id, self.now))
            for agent, call_id in sorted(self.connected):
                self.connected.remove((agent, call_id))
                self.carry_out(self.acd.call_ended(agent, call_id, self.now))
            self.check()
            self.advance(7.0)
            self.check()
        raise AssertionError(f"callers still waiting: {sorted(self.acd.entries)}")


QUEUE_SETTINGS = st.fixed_dictionaries({
    "strategy": st.sampled_from(sorted(BUILT_IN)),
    "wrap_up": st.sampled_from([0.0, 5.0]),
    "autopause_after": st.sampled_from([0, 2]),
    "join_when_empty": st.booleans(),
    "leave_when_empty": st.booleans(),
    "empty_means": st.sampled_from(["no-agents-logged-in", "no-agents-staffed"]),
    "max_length": st.sampled_from([0, 3]),
    "penalty_steps": st.sampled_from([[], [PenaltyStep(0, 0), PenaltyStep(20, 3)]]),
})


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(QUEUE_SETTINGS, min_size=2, max_size=2),
       st.lists(st.tuples(st.sampled_from(OPS), st.integers(0, 1000), st.integers(0, 1000)), min_size=10, max_size=120),
       st.integers(0, 2**32))
def test_no_caller_is_lost_and_no_agent_contradicts_its_calls(queue_settings, ops, seed):
    acd = Acd(random.Random(seed), reconcile_grace=0.0)
    for name, extra in zip(QUEUES, queue_settings):
        acd.add_queue(QueueSettings(
            name=name, ring_timeout=10.0, max_wait=90.0, retry_delay=3.0, announce_position_every=30.0,
            rejoin_window=60.0, callback=CallbackSettings(enabled=True, retries=0 if name == "sales" else 1, retry_interval=20.0),
            overflow=OverflowTarget("voicemail", "100") if name == "sales" else None, **extra))
    for index, name in enumerate(AGENTS):
        acd.add_agent(name, f"20{index}", [
            Membership("sales", penalty=index % 2, weight=index + 1.0, skills={"pl": 5 - index}),
            Membership("support", penalty=index % 4, skills={"pl": 5}),
        ])
    layer = CallLayer(acd)
    for name in AGENTS[: 1 + seed % 4]:
        layer.carry_out(acd.login(name, 0.0))
    for op, pick, extra in ops:
        layer.step(op, pick, extra)
        layer.check()
    layer.drain()
    assert all(len(layer.outcomes[call_id]) == 1 for call_id in layer.accepted)
