"""Erlang B, C and A against published table values and against brute-force birth-death chains
computed here independently (no scipy: plain sums and a uniformized Markov chain)."""

import math

import pytest

from plugins.kpi.config import ServiceTarget
from plugins.kpi.erlang import (
    ErlangA, agents_needed, agents_needed_erlang_a, asa_c, erlang_b, erlang_c, service_level_c, staffing,
)

# Published Erlang B table values (e.g. the Erlang B tables in ITU-T "Teletraffic Engineering
# Handbook" (Iversen), table of B(A, n)): B(10 Erlangs, 10 lines) = 0.2146, B(5, 5) = 0.2849,
# B(1, 1) = 0.5, B(20, 20) = 0.1589.
ERLANG_B_TABLE = [(10.0, 10, 0.2146), (5.0, 5, 0.2849), (1.0, 1, 0.5), (20.0, 20, 0.1589)]


@pytest.mark.parametrize(("traffic", "lines", "published"), ERLANG_B_TABLE)
def test_erlang_b_matches_the_published_table(traffic, lines, published):
    assert erlang_b(traffic, lines) == pytest.approx(published, abs=5e-5)


def brute_force_mmn(traffic: float, agents: int) -> tuple[float, float]:
    """P(wait) and mean queue length of M/M/N by summing the birth-death chain directly."""
    weights = [1.0]
    for n in range(1, 5000):
        weights.append(weights[-1] * traffic / min(n, agents))
        if n > agents and weights[-1] < 1e-300:
            break
    total = math.fsum(weights)
    waits = math.fsum(weights[agents:]) / total
    queue = math.fsum((n - agents) * w for n, w in enumerate(weights) if n > agents) / total
    return waits, queue


def test_erlang_c_classic_example():
    # The classic example (Call Centre Helper, "Erlang C formula made simple"; Koole, "Call center
    # optimization", ch. 5): 100 calls in 30 minutes of 180 s each is A = 10 Erlangs; 11 agents
    # make 68.2 % of callers wait; 14 agents answer 88.8 % within 20 s (ASA 7.8 s): the fewest for 80/20.
    assert erlang_c(10.0, 11) == pytest.approx(0.6821, abs=5e-5)
    assert service_level_c(10.0, 13, 180, 20) == pytest.approx(0.7956, abs=5e-5)
    assert service_level_c(10.0, 14, 180, 20) == pytest.approx(0.8884, abs=5e-5)
    figures = agents_needed(100, 1800, 180, 20, 0.8)
    assert (figures.agents, figures.traffic_erlangs, figures.occupancy) == (14, 10.0, 10 / 14)
    assert figures.asa == pytest.approx(7.836, abs=1e-3)
    assert figures.abandonment is None


@pytest.mark.parametrize(("traffic", "agents"), [(10.0, 11), (10.0, 14), (2.5, 3), (50.0, 57), (0.3, 1)])
def test_erlang_c_equals_the_birth_death_chain(traffic, agents):
    waits, queue = brute_force_mmn(traffic, agents)
    assert erlang_c(traffic, agents) == pytest.approx(waits, rel=1e-9)
    aht = 180.0
    # Little: mean wait = mean queue / arrival rate.
    assert asa_c(traffic, agents, aht) == pytest.approx(queue / (traffic / aht), rel=1e-9)


def test_erlang_c_is_stable_for_large_centers():
    # 1000 Erlangs: factorial forms overflow; the recursion does not.
    figures = agents_needed(20_000, 3600, 180, 20, 0.8)
    assert figures.traffic_erlangs == 1000.0
    assert 1000 < figures.agents < 1050
    assert 0.8 <= figures.service_level < 0.9


def test_max_occupancy_adds_agents():
    assert agents_needed(100, 1800, 180, 20, 0.8, max_occupancy=0.65).agents == 16  # 10/16 = 0.625


def test_zero_calls_need_no_agents():
    figures = agents_needed(0, 1800, 180, 20, 0.8)
    assert (figures.agents, figures.service_level, figures.occupancy) == (0, 1.0, 0.0)


# Erlang A ----------------------------------------------------------------------------------------


def brute_force_erlang_a(rate, aht, patience, agents, target):
    """Every Erlang A figure from the truncated chain: the stationary law by products, and the
    service level by uniformizing the waiting caller's position (served from position 1 at N mu,
    moving up at N mu + (k - 1) theta, abandoning at theta)."""
    mu, theta = 1.0 / aht, 1.0 / patience
    weights = [1.0]
    n = 0
    while True:
        n += 1
        death = min(n, agents) * mu + max(n - agents, 0) * theta
        weights.append(weights[-1] * rate / death)
        if n > agents and weights[-1] < 1e-18 * max(weights):
            break
    total = math.fsum(weights)
    law = [w / total for w in weights]
    waits = math.fsum(law[agents:])
    abandonment = theta * math.fsum((m - agents) * p for m, p in enumerate(law) if m > agents) / rate
    # Position k = j + 1 for an arrival finding j waiting.
    positions = law[agents:]
    size = len(positions)
    fastest = agents * mu + size * theta + theta
    expected = fastest * target
    served, state = 0.0, positions[:]
    poisson = math.exp(-expected)
    steps = int(expected + 12 * math.sqrt(expected) + 50)
    answered = 0.0  # probability of being answered within `target` after waiting
    for step in range(steps + 1):
        answered += poisson * served
        # One uniformized step.
        new = [0.0] * size
        served += state[0] * agents * mu / fastest
        for k in range(size):  # index k is position k + 1
            move = (agents * mu + k * theta) / fastest
            stay = 1.0 - move - theta / fastest
            new[k] += state[k] * stay
            if k > 0:
                new[k - 1] += state[k] * move
        state = new
        poisson *= expected / (step + 1)
    level = (1.0 - waits) + answered
    return waits, abandonment, level


@pytest.mark.parametrize(("calls", "agents", "patience"), [(100, 11, 120.0), (100, 9, 60.0), (40, 5, 300.0)])
def test_erlang_a_equals_the_birth_death_chain(calls, agents, patience):
    rate, aht = calls / 1800, 180.0
    model = ErlangA(rate, aht, patience, agents)
    waits, abandonment, level = brute_force_erlang_a(rate, aht, patience, agents, 20.0)
    assert model.waits == pytest.approx(waits, rel=1e-9)
    assert model.abandonment == pytest.approx(abandonment, rel=1e-7)
    assert model.answered_within(20.0) == pytest.approx(level, rel=1e-7)
    # Conservation: what is answered is the load carried.
    assert model.occupancy == pytest.approx(rate * (1 - abandonment) * aht / agents, rel=1e-7)


def test_erlang_a_becomes_erlang_c_as_patience_grows():
    for patience in (1e8, 1e10):
        model = ErlangA(100 / 1800, 180.0, patience, 11)
        assert model.waits == pytest.approx(erlang_c(10.0, 11), rel=1e-4)
        assert model.answered_within(20.0) == pytest.approx(service_level_c(10.0, 11, 180, 20), rel=1e-4)
        assert model.abandonment < 1e-3


def test_erlang_a_abandonment_falls_with_agents_and_needs_fewer_agents_than_c():
    rates = [ErlangA(100 / 1800, 180.0, 120.0, n).abandonment for n in range(6, 16)]
    assert all(a > b for a, b in zip(rates, rates[1:]))
    figures = agents_needed_erlang_a(100, 1800, 180, 20, 0.8, patience=120.0)
    assert figures.agents <= agents_needed(100, 1800, 180, 20, 0.8).agents
    assert figures.service_level >= 0.8
    assert ErlangA(100 / 1800, 180.0, 120.0, figures.agents - 1).answered_within(20) < 0.8
    assert 0 < figures.abandonment < 0.2


def test_erlang_a_works_when_overloaded():
    # 5 agents for 10 Erlangs: Erlang C has no steady state, Erlang A has (the impatient leave).
    model = ErlangA(100 / 1800, 180.0, 60.0, 5)
    waits, abandonment, level = brute_force_erlang_a(100 / 1800, 180.0, 60.0, 5, 20.0)
    assert model.waits == pytest.approx(waits, rel=1e-9)
    assert model.abandonment == pytest.approx(abandonment, rel=1e-7)
    assert 0.4 < model.abandonment < 0.6


def test_staffing_maps_a_forecast():
    forecast = [(0.0, 20), (1800.0, 100), (3600.0, 200), (5400.0, 0)]
    target = ServiceTarget(seconds=20, goal=0.8)
    erlang_c_rows = staffing(forecast, 180, 1800, target)
    assert [row.interval_start for row in erlang_c_rows] == [0.0, 1800.0, 3600.0, 5400.0]
    assert [row.agents for row in erlang_c_rows][1] == 14
    erlang_a_rows = staffing(forecast, 180, 1800, target, model="a", patience=120.0)
    assert all(a.agents <= c.agents for a, c in zip(erlang_a_rows, erlang_c_rows))
    with pytest.raises(ValueError, match="patience"):
        staffing(forecast, 180, 1800, target, model="a")
    with pytest.raises(ValueError, match="unknown staffing model"):
        staffing(forecast, 180, 1800, target, model="x")
