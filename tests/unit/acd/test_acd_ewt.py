"""Estimated wait time: the handle-time average, each agent's remaining time, and the position formula."""

import heapq
import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pbx.acd import Acd, HandleTime, Membership, QueueSettings, WaitEstimate, remaining_seconds, spoken_minutes


def test_handle_time_starts_from_initial_then_the_first_sample_then_averages():
    handle = HandleTime(initial=120.0, alpha=0.5)
    assert handle.seconds == 120.0
    handle.observe(60.0)
    assert handle.seconds == 60.0
    handle.observe(100.0)
    assert handle.seconds == 80.0
    with pytest.raises(ValueError):
        HandleTime(alpha=0)


@pytest.mark.parametrize(("state", "kwargs", "expected"), [
    ("available", {}, 0.0),
    ("offered", {}, 0.0),
    ("on-call", {"answered_at": 70.0}, 100.0 - 30.0 + 10.0),
    ("on-call", {"answered_at": -500.0}, 10.0),  # a long call: only the wrap-up left
    ("wrap-up", {"wrap_up_until": 104.0}, 4.0),
    ("paused", {}, None),
    ("logged-out", {}, None),
])
def test_remaining_seconds_per_state(state, kwargs, expected):
    assert remaining_seconds(state, now=100.0, talk_average=100.0, wrap_up=10.0, **kwargs) == expected


def test_positions_cycle_through_the_agents():
    estimate = WaitEstimate([30.0, 0.0, 90.0], handle_seconds=100.0)
    assert [estimate.for_position(p) for p in range(1, 8)] == [0.0, 30.0, 90.0, 100.0, 130.0, 190.0, 200.0]
    assert estimate.staffing == 3
    assert WaitEstimate([], 100.0).for_position(1) is None
    with pytest.raises(ValueError):
        estimate.for_position(0)


@given(st.lists(st.floats(0, 1), min_size=1, max_size=8), st.floats(1, 600), st.integers(1, 60))
def test_the_formula_equals_simulating_the_agents(fractions, handle, position):
    """Agent i frees at r_i, r_i + H, r_i + 2H...; the p-th freeing serves position p."""
    remaining = [f * handle for f in fractions]
    moments = [(r, r) for r in remaining]
    heapq.heapify(moments)
    for _ in range(position - 1):
        moment, _ = heapq.heappop(moments)
        heapq.heappush(moments, (moment + handle, 0))
    assert WaitEstimate(remaining, handle).for_position(position) == pytest.approx(moments[0][0])


@pytest.mark.parametrize(("seconds", "minutes"), [(None, None), (0, 1), (59, 1), (60, 1), (61, 2), (600, 10)])
def test_spoken_minutes_round_up(seconds, minutes):
    assert spoken_minutes(seconds) == minutes


def test_the_acd_estimate_uses_staffing_and_observed_talk_time():
    acd = Acd(random.Random(0))
    acd.add_queue(QueueSettings(name="q", wrap_up=10.0, initial_handle_seconds=50.0))
    for name in ("a", "b", "c"):
        acd.add_agent(name, name, [Membership("q")])
        acd.login(name, 0.0)
    acd.pause("c", "lunch", 0.0)  # paused agents do not staff the queue
    assert acd.wait_estimate("q", 0.0).remaining == [0.0, 0.0]
    acd.join("x", "1", "q", 0.0)  # offered to a (ring-all: a and b ring)
    acd.offer_answered("a", "x", 0.0)
    acd.call_ended("a", "x", 40.0)  # talk 40: the average is now 40, handle 50; a wraps up until 50
    acd.join("y", "2", "q", 40.0)
    acd.offer_answered("b", "y", 40.0)
    estimate = acd.wait_estimate("q", 45.0)
    # a: 5 s of wrap-up left; b: talked 5 of 40, then 10 of wrap-up: 45.
    assert estimate.remaining == [5.0, 45.0] and estimate.handle_seconds == 50.0
    assert [estimate.for_position(p) for p in (1, 2, 3)] == [5.0, 45.0, 55.0]
