"""Queue rules: service order, callbacks keep their place, rejoin window, empty rules, max length, penalty widening."""

import random

import msgspec
import pytest

from pbx.acd import (
    Acd, CallbackSettings, Entry, Membership, OfferCall, PenaltyStep, QueueJoined, QueueLeft, QueueSettings, Refused,
    RemoveCaller, WaitingList,
)


def make_acd(agents=(("alice", 0),), **settings) -> Acd:
    acd = Acd(random.Random(0))
    acd.add_queue(QueueSettings(name="q", **settings))
    for name, penalty in agents:
        acd.add_agent(name, name, [Membership("q", penalty=penalty)])
    return acd


def waiting(acd: Acd, queue: str = "q") -> list[str]:
    return [entry.call_id for entry in acd.queues[queue].waiting]


def of(outputs, kind):
    return [o for o in outputs if isinstance(o, kind)]


def test_waiting_list_orders_by_priority_then_join_time_then_arrival():
    line = WaitingList()
    entries = [Entry("a", "q", "", 0, {}, 10.0, 10.0, 1), Entry("b", "q", "", 5, {}, 20.0, 20.0, 2),
               Entry("c", "q", "", 0, {}, 5.0, 30.0, 3), Entry("d", "q", "", 0, {}, 10.0, 40.0, 4),
               Entry("e", "q", "", 5, {}, 15.0, 50.0, 5)]
    for entry in entries:
        line.add(entry)
    assert [e.call_id for e in line] == ["e", "b", "c", "a", "d"]
    assert [line.position(e) for e in entries] == [4, 2, 3, 5, 1]
    assert line.remove(entries[2]) == 3
    assert [e.call_id for e in line] == ["e", "b", "a", "d"] and "c" not in line
    with pytest.raises(ValueError):
        line.add(entries[0])


def test_priority_callers_jump_ahead_in_the_acd():
    acd = make_acd(agents=())
    acd.join("low", "1", "q", 0.0)
    acd.join("high", "2", "q", 5.0, priority=2)
    acd.join("low2", "3", "q", 6.0)
    assert waiting(acd) == ["high", "low", "low2"]


def test_a_callback_entry_keeps_its_join_time_and_place():
    acd = make_acd(agents=(), callback=CallbackSettings(enabled=True))
    acd.join("first", "100", "q", 0.0)
    acd.join("second", "200", "q", 10.0)
    acd.request_callback("first", "+48100", 20.0)
    acd.join("third", "300", "q", 30.0)
    assert waiting(acd) == ["first", "second", "third"]
    entry = acd.entries["first"]
    assert entry.joined_at == 0.0 and entry.is_virtual and entry.callback_number == "+48100"


def test_rejoin_within_the_window_resumes_the_old_place():
    acd = make_acd(agents=(), rejoin_window=60.0)
    acd.join("a1", "+48111", "q", 0.0)
    acd.join("b", "+48222", "q", 10.0)
    acd.caller_left("a1", 20.0)
    out = acd.join("a2", "+48111", "q", 70.0)  # 50 s after leaving
    assert of(out, QueueJoined)[0].resumed and of(out, QueueJoined)[0].position == 1
    assert waiting(acd) == ["a2", "b"] and acd.entries["a2"].joined_at == 0.0
    acd.caller_left("a2", 80.0)
    out = acd.join("a3", "+48111", "q", 141.0)  # 61 s after leaving: too late
    assert not of(out, QueueJoined)[0].resumed and waiting(acd) == ["b", "a3"]


def test_rejoin_is_off_by_default_and_used_once():
    acd = make_acd(agents=())
    acd.join("a1", "+48111", "q", 0.0)
    acd.join("b", "+48222", "q", 1.0)
    acd.caller_left("a1", 2.0)
    acd.join("a2", "+48111", "q", 3.0)
    assert waiting(acd) == ["b", "a2"]


@pytest.mark.parametrize(("empty_means", "agent_state", "refused"), [
    ("no-agents-logged-in", "logged-out", True),
    ("no-agents-logged-in", "paused", False),
    ("no-agents-staffed", "paused", True),
    ("no-agents-staffed", "available", False),
])
def test_join_when_empty(empty_means, agent_state, refused):
    acd = make_acd(join_when_empty=False, empty_means=empty_means)
    if agent_state != "logged-out":
        acd.login("alice", 0.0)
    if agent_state == "paused":
        acd.pause("alice", "break", 0.0)
    out = acd.join("c", "1", "q", 1.0)
    assert (out == Refused(reason="empty")) is refused


def test_leave_when_empty_sends_live_callers_out_but_keeps_callbacks():
    acd = make_acd(leave_when_empty=True, callback=CallbackSettings(enabled=True))
    acd.login("alice", 0.0)
    acd.pause("alice", "break", 0.0)
    acd.join("c1", "1", "q", 1.0)
    acd.join("c2", "2", "q", 2.0)
    acd.request_callback("c2", "+482", 3.0)
    out = acd.logout("alice", 4.0)
    assert of(out, RemoveCaller) == [RemoveCaller(call_id="c1", queue="q", outcome="left-empty")]
    assert of(out, QueueLeft)[0].reason == "left-empty"
    assert waiting(acd) == ["c2"]


def test_max_length_refuses_the_next_caller_callbacks_included():
    acd = make_acd(agents=(), max_length=2, callback=CallbackSettings(enabled=True))
    acd.join("a", "1", "q", 0.0)
    acd.join("b", "2", "q", 0.0)
    acd.request_callback("a", "1", 1.0)
    assert acd.join("c", "3", "q", 2.0) == Refused(reason="full")
    acd.caller_left("b", 3.0)
    assert isinstance(acd.join("c", "3", "q", 4.0), list)


def test_unknown_queue_is_refused_and_a_duplicate_call_is_our_bug():
    acd = make_acd(agents=())
    assert acd.join("a", "1", "nope", 0.0) == Refused(reason="unknown-queue")
    acd.join("a", "1", "q", 0.0)
    with pytest.raises(ValueError, match="already waiting"):
        acd.join("a", "1", "q", 0.0)


@pytest.mark.parametrize(("steps", "waited", "limit"), [
    ([], 999.0, None),
    ([(0, 0), (30, 1), (60, 5)], 0.0, 0),
    ([(0, 0), (30, 1), (60, 5)], 30.0, 1),
    ([(0, 0), (30, 1), (60, 5)], 59.9, 1),
    ([(60, 5), (30, 1)], 75.0, 5),
    ([(30, 1)], 10.0, 0),  # before the first step only penalty 0 rings
])
def test_max_penalty_widens_with_the_wait(steps, waited, limit):
    settings = QueueSettings(name="q", penalty_steps=[PenaltyStep(*step) for step in steps])
    assert settings.max_penalty(waited) == limit


def test_penalty_widening_offers_the_higher_tier_when_the_step_is_reached():
    acd = make_acd(agents=(("senior", 0), ("junior", 2)), penalty_steps=[PenaltyStep(0, 0), PenaltyStep(30, 2)],
                   strategy="linear")
    acd.login("junior", 0.0)
    assert not of(acd.join("c", "1", "q", 0.0), OfferCall)  # only penalty 0 may ring yet
    assert acd.next_deadline() == 30.0
    assert [o.agent for o in of(acd.handle_timer(30.0), OfferCall)] == ["junior"]


def test_the_lowest_penalty_tier_present_rings_first():
    acd = make_acd(agents=(("a", 1), ("b", 0), ("c", 0)), strategy="ring-all")
    for name in "abc":
        acd.login(name, 0.0)
    assert sorted(o.agent for o in of(acd.join("x", "1", "q", 0.0), OfferCall)) == ["b", "c"]


def test_settings_decode_from_config_with_typos_refused():
    text = b'{"name": "sales", "strategy": "skills-based", "penalty_steps": [[0, 0], [45, 3]],' \
           b' "overflow": {"kind": "voicemail", "name": "200"}, "callback": {"enabled": true}}'
    settings = msgspec.json.decode(text, type=QueueSettings)
    assert settings.penalty_steps == [PenaltyStep(0, 0), PenaltyStep(45, 3)] and settings.callback.enabled
    with pytest.raises(msgspec.ValidationError, match="ring_timout"):
        msgspec.json.decode(b'{"name": "x", "ring_timout": 5}', type=QueueSettings)
    with pytest.raises(msgspec.ValidationError, match="empty_means"):
        msgspec.json.decode(b'{"name": "x", "empty_means": "sometimes"}', type=QueueSettings)
