"""Queue strategies: which of the eligible available agents to offer a caller to, in what order.

A strategy is a small class registered under its config name:

    registry = StrategyRegistry()                     # default_registry() holds the nine built-ins
    registry.register_strategy("longest-idle", LongestIdle)
    strategy = registry.make_strategy("longest-idle") # one instance per queue (round-robin remembers)
    names = strategy.order(queue, caller, candidates, now, rng)

`candidates` are already eligible: available, members of the queue, within the
penalty the caller's wait allows, holding the caller's required skills, and not
yet tried for this caller; the dispatcher also hands over only the lowest
penalty tier present. The strategy returns agent names, best first. A strategy
with `rings_all = True` has every returned agent rung at once; otherwise only the
first is offered, and the next decision happens when that offer fails.

Ties are broken by agent name so results are reproducible. Randomness comes from
the `rng` the caller passes (anything with `random()` and `choice()`, such as
`random.Random(seed)`): this module imports no `random`, no clock.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Protocol

import msgspec


class Rng(Protocol):
    def random(self) -> float: ...
    def choice(self, seq: Sequence[Any]) -> Any: ...


class Caller(Protocol):
    @property
    def skills(self) -> Mapping[str, int]: ...  # required skill -> minimum level


class Candidate(msgspec.Struct, frozen=True):
    """An agent as a strategy sees it: their membership in this queue and their counters."""

    name: str
    penalty: int = 0
    weight: float = 1.0
    skills: dict[str, int] = {}
    calls_taken: int = 0
    talk_seconds: float = 0.0
    idle_since: float = 0.0  # when the last call ended, or when they became available
    rank: int = 0  # place in the queue's member list (for linear)


def has_skills(skills: Mapping[str, int], required: Mapping[str, int]) -> bool:
    """Every required skill at at least the required level."""
    return all(skills.get(name, -1) >= level for name, level in required.items())


class Strategy:
    """Base: subclasses override `order`. `rings_all` makes the dispatcher ring every agent returned."""

    rings_all = False

    def order(self, queue: str, caller: Caller, candidates: Sequence[Candidate], now: float, rng: Rng) -> list[str]:
        raise NotImplementedError


class RingAll(Strategy):
    """Every eligible agent at once; the first to answer wins."""

    rings_all = True

    def order(self, queue, caller, candidates, now, rng):
        return sorted(c.name for c in candidates)


class RoundRobin(Strategy):
    """Member order, starting after the agent this queue offered last (round robin with memory)."""

    def __init__(self) -> None:
        self.last_rank: int | None = None

    def order(self, queue, caller, candidates, now, rng):
        ranked = sorted(candidates, key=lambda c: (c.rank, c.name))
        if self.last_rank is not None:
            after = [c for c in ranked if c.rank > self.last_rank]
            ranked = after + [c for c in ranked if c.rank <= self.last_rank]
        if ranked:
            self.last_rank = ranked[0].rank
        return [c.name for c in ranked]


class LongestIdle(Strategy):
    """The agent idle the longest (earliest last call end) first."""

    def order(self, queue, caller, candidates, now, rng):
        return [c.name for c in sorted(candidates, key=lambda c: (c.idle_since, c.name))]


class FewestCalls(Strategy):
    """The agent who has taken the fewest calls first; then the longest idle."""

    def order(self, queue, caller, candidates, now, rng):
        return [c.name for c in sorted(candidates, key=lambda c: (c.calls_taken, c.idle_since, c.name))]


class LeastTalkTime(Strategy):
    """The agent with the least total talk time first; then the longest idle."""

    def order(self, queue, caller, candidates, now, rng):
        return [c.name for c in sorted(candidates, key=lambda c: (c.talk_seconds, c.idle_since, c.name))]


class RandomOrder(Strategy):
    """A uniformly random order (Fisher-Yates driven by rng.random())."""

    def order(self, queue, caller, candidates, now, rng):
        names = sorted(c.name for c in candidates)
        for index in range(len(names) - 1, 0, -1):
            other = min(int(rng.random() * (index + 1)), index)
            names[index], names[other] = names[other], names[index]
        return names


class Linear(Strategy):
    """Always top-down in member order: the first member is offered first every time."""

    def order(self, queue, caller, candidates, now, rng):
        return [c.name for c in sorted(candidates, key=lambda c: (c.rank, c.name))]


class WeightedRandom(Strategy):
    """Random order where each agent comes next with probability proportional to their weight
    (sampling without replacement by Efraimidis-Spirakis keys u ** (1 / w), largest first: one draw
    per agent, O(n log n)). Agents with weight 0 come last."""

    def order(self, queue, caller, candidates, now, rng):
        def key(candidate: Candidate) -> tuple[float, str]:
            draw = rng.random()
            return (-(draw ** (1.0 / candidate.weight)) if candidate.weight > 0 else 1.0, candidate.name)

        keyed = [(key(c), c.name) for c in sorted(candidates, key=lambda c: c.name)]
        return [name for _, name in sorted(keyed)]


class SkillsBased(Strategy):
    """Best match first: the highest total proficiency in the caller's required skills (every agent
    here already meets the minimums), then the longest idle. With no required skills it is longest-idle."""

    def order(self, queue, caller, candidates, now, rng):
        required = caller.skills

        def key(candidate: Candidate) -> tuple[float, float, str]:
            score = sum(candidate.skills.get(name, 0) for name in required)
            return (-score, candidate.idle_since, candidate.name)

        return [c.name for c in sorted(candidates, key=key)]


class StrategyRegistry:
    """Names to strategy classes; config names equal registry names."""

    def __init__(self) -> None:
        self._classes: dict[str, type[Strategy]] = {}

    def register_strategy(self, name: str, cls: type[Strategy]) -> None:
        if name in self._classes:
            raise ValueError(f"queue strategy {name!r} is already registered")
        self._classes[name] = cls

    def make_strategy(self, name: str) -> Strategy:
        try:
            return self._classes[name]()
        except KeyError:
            known = ", ".join(sorted(self._classes))
            raise KeyError(f"unknown queue strategy {name!r} (known: {known})") from None

    def names(self) -> list[str]:
        return sorted(self._classes)

    def __contains__(self, name: object) -> bool:
        return name in self._classes


BUILT_IN: dict[str, type[Strategy]] = {
    "ring-all": RingAll,
    "round-robin": RoundRobin,
    "longest-idle": LongestIdle,
    "fewest-calls": FewestCalls,
    "least-talk-time": LeastTalkTime,
    "random": RandomOrder,
    "linear": Linear,
    "weighted-random": WeightedRandom,
    "skills-based": SkillsBased,
}


def default_registry() -> StrategyRegistry:
    """A fresh registry holding the nine built-in strategies (plugins may register more on it)."""
    registry = StrategyRegistry()
    for name, cls in BUILT_IN.items():
        registry.register_strategy(name, cls)
    return registry
