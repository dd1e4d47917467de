"""Each strategy on small agent tables, with a seeded rng, and the registry."""

import random
from collections import Counter

import msgspec
import pytest

from pbx.acd import BUILT_IN, Candidate, StrategyRegistry, default_registry, has_skills
from pbx.acd.strategies import LongestIdle, RoundRobin


class Caller(msgspec.Struct):
    skills: dict[str, int] = {}


def table(*rows):
    """rows: (name, calls_taken, talk_seconds, idle_since, rank, weight, skills)"""
    return [Candidate(name, 0, weight, skills, calls, talk, idle, rank)
            for name, calls, talk, idle, rank, weight, skills in rows]


AGENTS = table(
    ("alice", 5, 300.0, 100.0, 2, 1.0, {"pl": 3, "en": 5}),
    ("bob", 2, 900.0, 50.0, 0, 1.0, {"pl": 5}),
    ("carol", 2, 100.0, 80.0, 1, 1.0, {"pl": 5, "en": 5}),
    ("dave", 9, 50.0, 120.0, 3, 1.0, {}),
)


def order(name, candidates=AGENTS, caller=Caller(), seed=7):
    strategy = default_registry().make_strategy(name)
    return strategy.order("support", caller, candidates, 1000.0, random.Random(seed))


@pytest.mark.parametrize(("name", "expected"), [
    ("ring-all", ["alice", "bob", "carol", "dave"]),
    ("longest-idle", ["bob", "carol", "alice", "dave"]),
    ("fewest-calls", ["bob", "carol", "alice", "dave"]),  # bob and carol tie on calls: bob idle longer
    ("least-talk-time", ["dave", "carol", "alice", "bob"]),
    ("linear", ["bob", "carol", "alice", "dave"]),
    ("round-robin", ["bob", "carol", "alice", "dave"]),  # no memory yet: member order
])
def test_deterministic_strategies(name, expected):
    assert order(name) == expected


def test_only_ring_all_rings_all():
    registry = default_registry()
    assert [name for name in BUILT_IN if registry.make_strategy(name).rings_all] == ["ring-all"]


def test_round_robin_remembers_per_queue_and_wraps():
    strategy = RoundRobin()
    firsts = [strategy.order("q", Caller(), AGENTS, 0.0, random.Random(0))[0] for _ in range(5)]
    assert firsts == ["bob", "carol", "alice", "dave", "bob"]
    # The agent after the last one offered comes first even when some are missing.
    assert strategy.order("q", Caller(), [a for a in AGENTS if a.name != "carol"], 0.0, random.Random(0)) == [
        "alice", "dave", "bob"]
    other_queue = default_registry().make_strategy("round-robin")
    assert other_queue.order("q2", Caller(), AGENTS, 0.0, random.Random(0))[0] == "bob"


def test_random_is_a_permutation_reproducible_by_seed_and_spread():
    assert sorted(order("random")) == ["alice", "bob", "carol", "dave"]
    assert order("random", seed=3) == order("random", seed=3)
    firsts = Counter(order("random", seed=seed)[0] for seed in range(4000))
    assert set(firsts) == {"alice", "bob", "carol", "dave"}
    assert all(800 < count < 1200 for count in firsts.values()), firsts


def test_weighted_random_follows_the_weights():
    agents = table(("heavy", 0, 0, 0, 0, 3.0, {}), ("light", 0, 0, 0, 1, 1.0, {}), ("never", 0, 0, 0, 2, 0.0, {}))
    firsts = Counter(order("weighted-random", agents, seed=seed)[0] for seed in range(4000))
    assert firsts["never"] == 0
    assert 2800 < firsts["heavy"] < 3200, firsts
    assert sorted(order("weighted-random", agents)) == ["heavy", "light", "never"]
    assert order("weighted-random", agents)[-1] == "never"


@pytest.mark.parametrize(("required", "expected"), [
    ({"pl": 3}, ["bob", "carol", "alice", "dave"]),  # bob and carol (5) before alice (3); dave has none
    ({"pl": 1, "en": 1}, ["carol", "alice", "bob", "dave"]),  # carol 10, alice 8, bob 5
    ({}, ["bob", "carol", "alice", "dave"]),  # no skills asked: longest idle
])
def test_skills_based_puts_the_best_match_first(required, expected):
    assert order("skills-based", caller=Caller(skills=required)) == expected


@pytest.mark.parametrize(("skills", "required", "expected"), [
    ({"pl": 3}, {"pl": 3}, True),
    ({"pl": 2}, {"pl": 3}, False),
    ({"en": 9}, {"pl": 1}, False),
    ({}, {}, True),
    ({"pl": 5, "en": 1}, {"pl": 1, "en": 1}, True),
    ({"pl": 0}, {"pl": 0}, True),
])
def test_has_skills(skills, required, expected):
    assert has_skills(skills, required) is expected


@pytest.mark.parametrize("name", sorted(BUILT_IN))
def test_every_strategy_handles_no_and_one_candidate(name):
    assert order(name, []) == []
    assert order(name, AGENTS[:1]) == ["alice"]


def test_registry_names_are_config_names_and_unknown_names_say_what_is_known():
    registry = StrategyRegistry()
    registry.register_strategy("longest-idle", LongestIdle)
    assert "longest-idle" in registry and registry.names() == ["longest-idle"]
    with pytest.raises(ValueError, match="already registered"):
        registry.register_strategy("longest-idle", LongestIdle)
    with pytest.raises(KeyError, match="known: longest-idle"):
        registry.make_strategy("longest-idel")
    assert default_registry().names() == sorted(BUILT_IN) and len(BUILT_IN) == 9
