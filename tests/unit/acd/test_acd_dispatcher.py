"""The Acd core end to end with a fake clock: offers, no answers, wrap-up, overflow, abandon, callbacks,
snapshot and the reconciler. Outputs are asserted exactly where the order matters."""

import random

import msgspec
import pytest

from pbx.acd import (
    Acd, AgentConnected, AgentNoAnswer, AgentOffered, AgentStateChanged, AgentStateError, AgentStateRepaired,
    AnnounceToCaller, CallbackCompleted, CallbackScheduled, CallbackSettings, CancelOffer, ConnectAgent, Membership,
    OfferCall, Overflow, OverflowTarget, PlaceCallback, QueueAbandoned, QueueJoined, QueueOverflowed, QueueSettings,
    QueueTimedOut, Refused, RemoveCaller,
)


def make_acd(names="abc", login=True, **settings) -> Acd:
    settings.setdefault("strategy", "linear")
    acd = Acd(random.Random(0), reconcile_grace=2.0)
    acd.add_queue(QueueSettings(name="q", **settings))
    for name in names:
        acd.add_agent(name, "2" + name, [Membership("q")])
        if login:
            acd.login(name, 0.0)
    return acd


def of(outputs, kind):
    return [o for o in outputs if isinstance(o, kind)]


def states(acd):
    return {name: agent.state.value for name, agent in acd.agents.items()}


def test_a_caller_is_offered_answered_and_connected():
    acd = make_acd(whisper=True, ring_timeout=20.0)
    out = acd.join("c1", "+48600", "q", 10.0)
    assert out == [
        QueueJoined(at=10.0, call_id="c1", queue="q", caller_number="+48600", priority=0, position=1),
        AgentStateChanged(at=10.0, agent="a", old="available", new="offered", reason="offered c1"),
        AgentOffered(at=10.0, agent="a", call_id="c1", queue="q"),
        OfferCall(agent="a", extension="2a", call_id="c1", queue="q", timeout=20.0, whisper="q"),
    ]
    assert acd.next_deadline() == 30.0
    out = acd.offer_answered("a", "c1", 13.0)
    assert out == [
        AgentStateChanged(at=13.0, agent="a", old="offered", new="on-call", reason="answered"),
        ConnectAgent(agent="a", call_id="c1", queue="q"),
        AgentConnected(at=13.0, agent="a", call_id="c1", queue="q", wait_seconds=3.0, ring_seconds=3.0),
        RemoveCaller(call_id="c1", queue="q", outcome="answered"),
    ]
    assert acd.next_deadline() is None and acd.agents["a"].calls_taken == 1


def test_no_answer_moves_to_the_next_agent_and_n_misses_pause_the_agent():
    acd = make_acd(ring_timeout=10.0, autopause_after=2, retry_delay=5.0)
    acd.join("c1", "1", "q", 0.0)
    out = acd.handle_timer(10.0)
    assert out[:3] == [
        CancelOffer(agent="a", call_id="c1", reason="no-answer"),
        AgentStateChanged(at=10.0, agent="a", old="offered", new="available", reason="offer failed: no-answer"),
        AgentNoAnswer(at=10.0, agent="a", call_id="c1", queue="q", reason="no-answer", consecutive=1),
    ]
    assert [o.agent for o in of(out, OfferCall)] == ["b"]
    acd.offer_failed("b", "c1", "busy", 11.0)  # b rejects at once: c goes next
    assert states(acd) == {"a": "available", "b": "available", "c": "offered"}
    acd.offer_failed("c", "c1", "rejected", 12.0)
    # Everyone failed this caller: they wait retry_delay before trying again from the top.
    assert states(acd) == {"a": "available", "b": "available", "c": "available"}
    out = acd.handle_timer(17.0)
    assert [o.agent for o in of(out, OfferCall)] == ["a"]
    out = acd.handle_timer(27.0)  # a misses again: second in a row -> paused
    assert of(out, AgentStateChanged)[1] == AgentStateChanged(
        at=27.0, agent="a", old="available", new="paused", reason="auto-pause: missed offers")
    assert acd.agents["a"].pause_reason == "auto-pause: missed offers"


def test_an_answer_resets_the_miss_count():
    acd = make_acd("a", autopause_after=2)
    acd.join("c1", "1", "q", 0.0)
    acd.offer_failed("a", "c1", "no-answer", 1.0)
    acd.handle_timer(10.0)
    acd.offer_answered("a", "c1", 11.0)
    assert acd.agents["a"].consecutive_no_answers == 0


def test_wrap_up_is_respected_and_shared_across_queues():
    acd = Acd(random.Random(0))
    acd.add_queue(QueueSettings(name="sales", wrap_up=30.0))
    acd.add_queue(QueueSettings(name="support", wrap_up=5.0))
    acd.add_agent("a", "201", [Membership("sales"), Membership("support")])
    acd.login("a", 0.0)
    acd.join("s1", "1", "sales", 0.0)
    acd.offer_answered("a", "s1", 1.0)
    out = acd.call_ended("a", "s1", 61.0)
    assert out == [AgentStateChanged(at=61.0, agent="a", old="on-call", new="wrap-up", reason="call ended")]
    assert not of(acd.join("t1", "2", "support", 62.0), OfferCall)  # the sales wrap-up holds for support too
    assert acd.next_deadline() == 91.0
    out = acd.handle_timer(91.0)
    assert out[0] == AgentStateChanged(at=91.0, agent="a", old="wrap-up", new="available", reason="wrap-up ended")
    assert of(out, OfferCall)[0].call_id == "t1"
    assert acd.agents["a"].talk_seconds == 60.0 and acd.queues["sales"].handle_time.seconds == 60.0


def test_max_wait_overflows_to_the_target_or_times_out():
    target = OverflowTarget("voicemail", "200")
    acd = make_acd(login=False, max_wait=60.0, overflow=target)
    acd.join("c1", "1", "q", 0.0)
    assert acd.handle_timer(60.0) == [
        QueueOverflowed(at=60.0, call_id="c1", queue="q", wait_seconds=60.0, target=target),
        Overflow(call_id="c1", target=target),
        RemoveCaller(call_id="c1", queue="q", outcome="overflowed"),
    ]
    acd = make_acd(login=False, max_wait=60.0)
    acd.join("c1", "1", "q", 0.0)
    assert acd.handle_timer(60.0) == [QueueTimedOut(at=60.0, call_id="c1", queue="q", wait_seconds=60.0),
                                      RemoveCaller(call_id="c1", queue="q", outcome="timed-out")]


def test_abandon_cancels_the_ringing_offers():
    acd = make_acd(strategy="ring-all")
    acd.join("c0", "0", "q", 0.0)
    acd.offer_answered("a", "c0", 1.0)  # b and c ring too, then are cancelled
    acd.join("c1", "1", "q", 2.0)
    out = acd.caller_left("c1", 9.0)
    assert of(out, CancelOffer) == [CancelOffer(agent="b", call_id="c1", reason="caller-left"),
                                    CancelOffer(agent="c", call_id="c1", reason="caller-left")]
    assert of(out, QueueAbandoned) == [QueueAbandoned(at=9.0, call_id="c1", queue="q", position=1, wait_seconds=7.0)]
    assert of(out, RemoveCaller) == [RemoveCaller(call_id="c1", queue="q", outcome="abandoned")]
    assert states(acd) == {"a": "on-call", "b": "available", "c": "available"}
    assert acd.caller_left("c1", 10.0) == []  # a second report of the same hang-up is a race, not an error


def test_ring_all_first_answer_wins():
    acd = make_acd(strategy="ring-all")
    assert sorted(o.agent for o in of(acd.join("c1", "1", "q", 0.0), OfferCall)) == ["a", "b", "c"]
    out = acd.offer_answered("b", "c1", 2.0)
    assert of(out, CancelOffer) == [CancelOffer(agent="a", call_id="c1", reason="answered-elsewhere"),
                                    CancelOffer(agent="c", call_id="c1", reason="answered-elsewhere")]
    assert acd.offer_answered("a", "c1", 2.1) == [CancelOffer(agent="a", call_id="c1", reason="offer-withdrawn")]
    assert acd.agents["a"].consecutive_no_answers == 0


def test_pause_and_logout_during_a_call_wait_for_the_wrap_up():
    acd = make_acd("a", wrap_up=10.0)
    acd.join("c1", "1", "q", 0.0)
    acd.offer_answered("a", "c1", 1.0)
    assert acd.pause("a", "lunch", 2.0) == []
    assert acd.snapshot(2.0).agents[0].pending == "pause"
    acd.call_ended("a", "c1", 5.0)
    out = acd.handle_timer(15.0)
    assert out == [AgentStateChanged(at=15.0, agent="a", old="wrap-up", new="paused", reason="lunch")]
    acd.unpause("a", 16.0)
    acd.join("c2", "2", "q", 17.0)
    acd.offer_answered("a", "c2", 18.0)
    acd.logout("a", 19.0, reason="shift over")
    acd.call_ended("a", "c2", 20.0)
    assert acd.handle_timer(30.0)[0].new == "logged-out"


def test_pausing_while_ringing_withdraws_the_offer_and_the_caller_goes_on():
    acd = make_acd("ab")
    acd.join("c1", "1", "q", 0.0)
    out = acd.pause("a", "break", 1.0)
    assert out[0] == CancelOffer(agent="a", call_id="c1", reason="agent-pausing")
    assert of(out, OfferCall)[0].agent == "b" and states(acd) == {"a": "paused", "b": "offered"}


def test_agent_api_misuse_raises():
    acd = make_acd("a", login=False)
    with pytest.raises(AgentStateError, match="logged-out"):
        acd.pause("a", "break", 0.0)
    with pytest.raises(KeyError):
        acd.login("nobody", 0.0)
    assert acd.login("a", 0.0) and acd.login("a", 1.0) == []  # a repeated login is a no-op


def test_position_announcements_carry_the_estimated_wait():
    acd = make_acd("a", announce_position_every=30.0, initial_handle_seconds=100.0)
    acd.join("c1", "1", "q", 0.0)
    acd.offer_answered("a", "c1", 0.0)
    acd.join("c2", "2", "q", 5.0)
    acd.join("c3", "3", "q", 6.0)
    out = acd.handle_timer(36.0)
    assert out == [AnnounceToCaller(call_id="c2", queue="q", position=1, ewt_seconds=64.0),
                   AnnounceToCaller(call_id="c3", queue="q", position=2, ewt_seconds=164.0)]
    assert acd.next_deadline() == 66.0  # both rescheduled from the moment they played


def test_callback_keeps_the_place_calls_back_retries_and_connects():
    acd = make_acd("a", login=False, callback=CallbackSettings(enabled=True, retries=1, retry_interval=60.0))
    acd.join("c1", "+48111", "q", 0.0)
    acd.join("c2", "+48222", "q", 5.0)
    out = acd.request_callback("c1", "+48111", 10.0)
    assert out == [CallbackScheduled(at=10.0, call_id="c1", queue="q", number="+48111", position=1)]
    out = acd.login("a", 20.0)
    # The callback is first in line: call the customer back; the agent meanwhile takes c2.
    assert of(out, PlaceCallback) == [PlaceCallback(call_id="c1", number="+48111", queue="q", attempt=1)]
    acd.offer_answered("a", "c2", 21.0)
    assert acd.callback_failed("c1", "no-answer", 40.0) == []
    acd.call_ended("a", "c2", 50.0)
    assert acd.next_deadline() == 100.0
    out = acd.handle_timer(100.0)
    assert of(out, PlaceCallback) == [PlaceCallback(call_id="c1", number="+48111", queue="q", attempt=2)]
    out = acd.callback_answered("c1", 110.0)
    assert of(out, OfferCall)[0].call_id == "c1"
    out = acd.offer_answered("a", "c1", 112.0)
    assert of(out, CallbackCompleted) == [CallbackCompleted(at=112.0, call_id="c1", queue="q", number="+48111",
                                                            outcome="answered", attempts=2, wait_seconds=112.0)]
    assert of(out, RemoveCaller) == [RemoveCaller(call_id="c1", queue="q", outcome="callback-answered")]


def test_callback_gives_up_after_the_retries():
    acd = make_acd("a", callback=CallbackSettings(enabled=True, retries=0))
    acd.pause("a", "break", 0.0)
    acd.join("c1", "1", "q", 0.0)
    acd.request_callback("c1", "1", 1.0)
    assert of(acd.unpause("a", 2.0), PlaceCallback)
    out = acd.callback_failed("c1", "busy", 3.0)
    assert of(out, RemoveCaller) == [RemoveCaller(call_id="c1", queue="q", outcome="callback-failed")]
    assert of(out, CallbackCompleted)[0].outcome == "failed"


def test_callbacks_must_be_enabled():
    acd = make_acd("a", login=False)
    acd.join("c1", "1", "q", 0.0)
    assert acd.request_callback("c1", "1", 1.0) == Refused(reason="callbacks-disabled")
    assert acd.request_callback("gone", "1", 1.0) == Refused(reason="not-waiting")
    with pytest.raises(ValueError, match="not 'answered'"):
        acd.caller_left("c1", 2.0, outcome="answered")


def test_skills_are_required_whatever_the_strategy():
    acd = Acd(random.Random(0))
    acd.add_queue(QueueSettings(name="q", strategy="longest-idle"))
    acd.add_agent("en", "1", [Membership("q", skills={"en": 5})])
    acd.add_agent("pl", "2", [Membership("q", skills={"pl": 2})])
    acd.login("en", 0.0)
    acd.login("pl", 1.0)
    assert of(acd.join("c1", "1", "q", 2.0, skills={"pl": 3}), OfferCall) == []
    assert of(acd.join("c2", "2", "q", 3.0, skills={"pl": 2}), OfferCall)[0].agent == "pl"
    assert of(acd.join("c3", "3", "q", 4.0), OfferCall)[0].agent == "en"


def test_snapshot_lists_callers_with_position_and_agents_with_time_in_state():
    acd = make_acd("ab", login=False)
    acd.login("a", 0.0)
    acd.join("c1", "+481", "q", 10.0)
    acd.join("c2", "+482", "q", 20.0, priority=1)
    snapshot = acd.snapshot(30.0)
    callers = snapshot.queues[0].callers
    assert [(c.call_id, c.position, c.wait_seconds, c.offered_to) for c in callers] == [
        ("c2", 1, 10.0, []), ("c1", 2, 20.0, ["a"])]  # c2's priority puts it first; c1 already rings
    assert [(a.name, a.state, a.seconds_in_state) for a in snapshot.agents] == [
        ("a", "offered", 20.0), ("b", "logged-out", 30.0)]
    assert msgspec.json.decode(msgspec.json.encode(snapshot), type=type(snapshot)) == snapshot


def test_reconcile_repairs_each_kind_of_mismatch_after_the_grace():
    acd = make_acd("abcd", wrap_up=0.0)
    acd.join("c1", "1", "q", 0.0)  # a rings for c1
    acd.join("c2", "2", "q", 0.0)  # b rings for c2
    acd.offer_answered("b", "c2", 0.0)
    assert acd.reconcile(set(), 1.0) == []  # within the grace: commands may still be in flight
    real = {("c", "x9")}  # a's offer and b's call are gone; c is on a call the ACD never saw
    out = acd.reconcile(real, 5.0)
    assert of(out, AgentStateRepaired) == [
        AgentStateRepaired(at=5.0, agent="a", call_id="c1", problem="offered-without-call"),
        AgentStateRepaired(at=5.0, agent="b", call_id="c2", problem="on-call-without-call"),
        AgentStateRepaired(at=5.0, agent="c", call_id="x9", problem="unknown-call"),
    ]
    assert of(out, CancelOffer)[0] == CancelOffer(agent="a", call_id="c1", reason="reconciled")
    assert acd.agents["c"].state.value == "on-call" and acd.agents["c"].call_id == "x9"
    # c1 went back to the line and was offered again; consistent states reconcile to nothing.
    offered = {(name, agent.call_id) for name, agent in acd.agents.items() if agent.call_id}
    assert acd.reconcile(offered, 50.0) == []


def test_late_reports_are_races_not_errors():
    acd = make_acd("a")
    assert acd.offer_failed("a", "nope", "busy", 0.0) == []
    assert acd.call_ended("a", "nope", 0.0) == []
    assert acd.callback_answered("nope", 0.0) == []


def test_the_call_layer_times_a_caller_out_when_the_scenario_limit_passes():
    acd = make_acd(strategy="ring-all")
    acd.join("c0", "0", "q", 0.0)
    acd.offer_answered("a", "c0", 1.0)
    acd.join("c1", "1", "q", 2.0)
    out = acd.caller_left("c1", 12.0, outcome="timed-out")  # `queue q timeout 10s` in the scenario
    assert of(out, QueueTimedOut) == [QueueTimedOut(at=12.0, call_id="c1", queue="q", wait_seconds=10.0)]
    assert of(out, RemoveCaller) == [RemoveCaller(call_id="c1", queue="q", outcome="timed-out")]
    assert not of(out, QueueAbandoned)
    with pytest.raises(ValueError, match="not 'answered'"):
        acd.caller_left("c0", 13.0, outcome="answered")


def test_a_priority_caller_jumps_the_line_and_waits_for_no_one_when_the_preferred_agent_is_away():
    acd = make_acd(names="abc")
    for name in "abc":
        acd.pause(name, "lunch", 0.0)
    acd.join("c1", "1", "q", 1.0)
    acd.join("c2", "2", "q", 2.0)
    joined = of(acd.join("vip", "3", "q", 3.0, priority=10, preferred_agent="c"), QueueJoined)
    assert joined[0].position == 1  # ahead of the two already waiting
    offers = of(acd.unpause("a", 4.0), OfferCall)  # c is still paused: the next free agent takes the VIP
    assert [(offer.agent, offer.call_id) for offer in offers] == [("a", "vip")]


def test_a_preferred_agent_gets_the_call_over_the_strategy():
    acd = make_acd(names="abc")  # linear: a first
    offers = of(acd.join("c1", "1", "q", 1.0, preferred_agent="c"), OfferCall)
    assert [offer.agent for offer in offers] == ["c"]
    offers = of(acd.join("c2", "2", "q", 2.0, preferred_agent="nobody"), OfferCall)
    assert [offer.agent for offer in offers] == ["a"]


def test_an_agent_whose_phone_is_on_another_call_is_not_offered_until_it_ends():
    acd = make_acd(names="ab")
    assert acd.phone_in_use("a", "direct-1", True, 1.0) == []  # a's phone rings for a direct call
    out = acd.join("c1", "+48600", "q", 2.0)
    assert [o.agent for o in of(out, OfferCall)] == ["b"]  # linear would pick a first
    acd.offer_answered("b", "c1", 3.0)
    assert of(acd.join("c2", "+48601", "q", 4.0), OfferCall) == []  # a is still on it: c2 waits
    assert acd.agents["a"].state.value == "available" and not acd.agents["a"].is_available
    assert acd.snapshot(4.0).queues[0].callers[0].call_id == "c2"
    out = acd.phone_in_use("a", "direct-1", False, 9.0)  # the direct call ends: c2 is offered at once
    assert of(out, OfferCall) == [OfferCall(agent="a", extension="2a", call_id="c2", queue="q", timeout=15.0,
                                            whisper=None)]
