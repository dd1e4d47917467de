"""Staffing from a forecast: Erlang C (M/M/N) and Erlang A (M/M/N+M, Palm).

    figures = agents_needed(calls=100, interval_seconds=1800, aht=180, target_seconds=20, goal=0.8)
    figures.agents, figures.service_level, figures.asa, figures.occupancy

Erlang C assumes callers wait for ever; Erlang A gives each caller an exponential patience
(mean `patience` seconds) after which they abandon, which is what a real queue does: it needs
fewer agents for the same service level and also predicts the abandonment.

How it is computed, and why that way:
- Erlang B by its recursion B(0) = 1, B(n) = A B(n-1) / (n + A B(n-1)): no factorials or powers,
  so no overflow for hundreds of agents. Erlang C from B: C = N B / (N - A (1 - B)).
- Erlang C service level P(wait <= T) = 1 - C exp(-(N - A) T / AHT); ASA = C AHT / (N - A).
- Erlang A from its birth-death chain (arrivals lambda; departures min(n, N) mu + max(n - N, 0)
  theta). A caller who finds j others waiting reaches an agent after a sum of exponentials of rates
  N mu + i theta (i = 0..j); summed over the stationary j, the density of being answered after
  waiting t is pi_N N mu exp(-theta t) h(t), with h(t) = exp(-N mu t + (lambda / theta) (1 - exp(-theta t)))
  (Garnett, Mandelbaum and Reiman 2002, "Designing a call center with impatient customers", MSOM 4(3);
  Zeltyn and Mandelbaum 2005 write the same integrals as incomplete gamma functions). The
  integrals are taken numerically (Gauss-Legendre), in log scale: that stays finite when the
  patience grows without bound, where Erlang A becomes Erlang C.

It deliberately does not forecast volumes or plan shifts; `staffing` maps a forecast you give it.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from .config import ServiceTarget
from .figures import StaffingFigures

MAX_AGENTS = 100_000


# Erlang B and C --------------------------------------------------------------------------------


def erlang_b(traffic: float, agents: int) -> float:
    """Blocking probability of `agents` lines offered `traffic` Erlangs (B(10, 10) = 0.2146)."""
    if agents < 0 or traffic < 0:
        raise ValueError("traffic and agents must not be negative")
    blocking = 1.0
    for n in range(1, agents + 1):
        blocking = traffic * blocking / (n + traffic * blocking)
    return blocking


def erlang_c(traffic: float, agents: int) -> float:
    """Probability that a caller waits at all (1 when the queue is unstable: N <= A)."""
    if agents <= traffic:
        return 1.0
    blocking = erlang_b(traffic, agents)
    return agents * blocking / (agents - traffic * (1.0 - blocking))


def service_level_c(traffic: float, agents: int, aht: float, target_seconds: float) -> float:
    """P(wait <= T) under Erlang C."""
    if agents <= traffic:
        return 0.0
    return 1.0 - erlang_c(traffic, agents) * math.exp(-(agents - traffic) * target_seconds / aht)


def asa_c(traffic: float, agents: int, aht: float) -> float:
    """Mean wait of every caller (those who do not wait count 0) under Erlang C."""
    if agents <= traffic:
        return math.inf
    return erlang_c(traffic, agents) * aht / (agents - traffic)


def agents_needed(calls: float, interval_seconds: float, aht: float, target_seconds: float, goal: float,
                  max_occupancy: float | None = None, *, interval_start: float = 0.0) -> StaffingFigures:
    """The fewest agents whose Erlang C service level reaches `goal` (and occupancy stays under the cap)."""
    _check(calls, interval_seconds, aht)
    traffic = calls * aht / interval_seconds
    if traffic == 0:
        return _empty(interval_start, calls, aht)
    agents = max(1, math.floor(traffic) + 1)
    while True:
        level = service_level_c(traffic, agents, aht, target_seconds)
        if level >= goal and (max_occupancy is None or traffic / agents <= max_occupancy):
            break
        agents += 1
        if agents > MAX_AGENTS:
            raise ValueError(f"more than {MAX_AGENTS} agents needed: is the goal {goal} reachable?")
    return StaffingFigures(interval_start=interval_start, calls=calls, aht=aht, traffic_erlangs=traffic,
                           agents=agents, service_level=level, asa=asa_c(traffic, agents, aht),
                           occupancy=traffic / agents, abandonment=None)


# Erlang A --------------------------------------------------------------------------------------


class ErlangA:
    """The steady state of M/M/N+M: `rate` calls per second, mean handling `aht`, mean `patience`."""

    def __init__(self, rate: float, aht: float, patience: float, agents: int) -> None:
        if rate <= 0 or aht <= 0 or patience <= 0 or agents < 1:
            raise ValueError("Erlang A needs a positive rate, AHT, patience and at least one agent")
        self.rate, self.aht, self.patience, self.agents = rate, aht, patience, agents
        self._serving = agents / aht  # N mu
        self._theta = 1.0 / patience
        # log h(t) peaks where lambda exp(-theta t) = N mu (at 0 when the agents keep up).
        peak = math.log(rate / self._serving) / self._theta if rate > self._serving else 0.0
        self._log_scale = self._log_h(peak)
        self._end = self._tail_end(peak)
        traffic = rate * aht
        # Relative to pi_N: states with a free agent sum to 1/B - 1 (Erlang B), the queue states to J.
        below = 1.0 / erlang_b(traffic, agents) - 1.0
        queue = self._serving * self._integral(lambda t: 1.0, 0.0, self._end)
        # Scaled by exp(-log_scale) so neither overflows; `below` is scaled alike.
        self._below = below * math.exp(-self._log_scale) if self._log_scale < 700 else 0.0
        self._queue = queue
        self._total = self._below + self._queue

    def _log_h(self, t: float) -> float:
        return -self._serving * t - (self.rate / self._theta) * math.expm1(-self._theta * t)

    def _tail_end(self, peak: float) -> float:
        """Where h has fallen 1e-20 below its peak (log h is concave, so past that it only falls)."""
        step = max(1.0 / self._serving, 1e-9)
        end = peak + step
        while self._log_h(end) - self._log_scale > -46.0:
            step *= 2.0
            end = peak + step
        return end

    def _integral(self, weight, start: float, stop: float) -> float:
        """The integral of weight(t) h(t) / exp(log_scale) over [start, stop]."""
        if stop <= start:
            return 0.0
        # Panels over which h changes by about e^2 at most: 20-point Gauss-Legendre is then exact to rounding.
        slope = self._serving + self.rate + self._theta
        panels = max(1, min(20_000, math.ceil((stop - start) * slope / 2.0)))
        width = (stop - start) / panels
        total = 0.0
        for panel in range(panels):
            middle = start + (panel + 0.5) * width
            for node, node_weight in _GAUSS_LEGENDRE:
                t = middle + node * width / 2.0
                total += node_weight * weight(t) * math.exp(self._log_h(t) - self._log_scale)
        return total * width / 2.0

    @property
    def waits(self) -> float:
        """P(a caller finds every agent busy)."""
        return self._queue / self._total

    def answered_within(self, target_seconds: float) -> float:
        """P(answered with a wait <= T), over every caller (abandoned ones count as missed)."""
        theta = self._theta
        stop = min(target_seconds, self._end)
        waited = self._serving * self._integral(lambda t: math.exp(-theta * t), 0.0, stop)
        return (self._below + waited) / self._total

    @property
    def answered(self) -> float:
        return self.answered_within(math.inf)

    @property
    def abandonment(self) -> float:
        """P(a caller abandons): 1 - P(answered)."""
        return max(0.0, 1.0 - self.answered)

    @property
    def asa(self) -> float:
        """Mean wait of the answered callers."""
        theta = self._theta
        waited = self._serving * self._integral(lambda t: t * math.exp(-theta * t), 0.0, self._end)
        return waited / self._total / self.answered

    @property
    def occupancy(self) -> float:
        """Carried load per agent: the answered calls' work over the agents' time."""
        return self.rate * self.answered * self.aht / self.agents


def agents_needed_erlang_a(calls: float, interval_seconds: float, aht: float, target_seconds: float, goal: float,
                           patience: float, max_occupancy: float | None = None, *,
                           interval_start: float = 0.0) -> StaffingFigures:
    """The fewest agents whose Erlang A service level (answered within T / offered) reaches `goal`."""
    _check(calls, interval_seconds, aht)
    traffic = calls * aht / interval_seconds
    if traffic == 0:
        return _empty(interval_start, calls, aht, abandonment=0.0)
    rate = calls / interval_seconds
    agents = 1
    while True:
        model = ErlangA(rate, aht, patience, agents)
        level = model.answered_within(target_seconds)
        if level >= goal and (max_occupancy is None or model.occupancy <= max_occupancy):
            break
        agents += 1
        if agents > MAX_AGENTS:
            raise ValueError(f"more than {MAX_AGENTS} agents needed: is the goal {goal} reachable?")
    return StaffingFigures(interval_start=interval_start, calls=calls, aht=aht, traffic_erlangs=traffic,
                           agents=agents, service_level=level, asa=model.asa, occupancy=model.occupancy,
                           abandonment=model.abandonment)


# Forecasts -------------------------------------------------------------------------------------


def staffing(forecast: Sequence[tuple[float, float]], aht: float, interval_seconds: float, target: ServiceTarget,
             model: str = "c", patience: float | None = None,
             max_occupancy: float | None = None) -> list[StaffingFigures]:
    """One StaffingFigures per (interval_start, calls) of the forecast, by Erlang C ("c") or A ("a")."""
    if model == "c":
        return [agents_needed(calls, interval_seconds, aht, target.seconds, target.goal, max_occupancy,
                              interval_start=start) for start, calls in forecast]
    if model == "a":
        if patience is None:
            raise ValueError("Erlang A needs the callers' mean patience (seconds)")
        return [agents_needed_erlang_a(calls, interval_seconds, aht, target.seconds, target.goal, patience,
                                       max_occupancy, interval_start=start) for start, calls in forecast]
    raise ValueError(f"unknown staffing model {model!r}: use 'c' (Erlang C) or 'a' (Erlang A)")


def _check(calls: float, interval_seconds: float, aht: float) -> None:
    if calls < 0 or interval_seconds <= 0 or aht <= 0:
        raise ValueError("calls must not be negative; the interval and AHT must be positive")


def _empty(interval_start: float, calls: float, aht: float, abandonment: float | None = None) -> StaffingFigures:
    return StaffingFigures(interval_start=interval_start, calls=calls, aht=aht, traffic_erlangs=0.0, agents=0,
                           service_level=1.0, asa=0.0, occupancy=0.0, abandonment=abandonment)


def _legendre_nodes(order: int) -> list[tuple[float, float]]:
    """Gauss-Legendre nodes and weights on [-1, 1], by Newton's method on P_order."""
    nodes = []
    for i in range(1, order + 1):
        x = math.cos(math.pi * (i - 0.25) / (order + 0.5))
        for _ in range(100):
            p0, p1 = 1.0, x
            for k in range(2, order + 1):
                p0, p1 = p1, ((2 * k - 1) * x * p1 - (k - 1) * p0) / k
            derivative = order * (x * p1 - p0) / (x * x - 1.0)
            step = p1 / derivative
            x -= step
            if abs(step) < 1e-16:
                break
        nodes.append((x, 2.0 / ((1.0 - x * x) * derivative * derivative)))
    return nodes


_GAUSS_LEGENDRE = _legendre_nodes(20)
