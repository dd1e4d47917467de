"""How many lines to dial now: progressive (one per ready agent) and predictive pacing.

Predictive pacing dials more lines than there are ready agents, counting on the answer rate
(most calls are not answered by a person) and on agents who will be free by the time a call is
answered. For a candidate number of new lines `n` it models the next answers as

    X = waiting + Binomial(ringing + n, p)        live answers coming (p: the observed answer rate)
    A = ready + Binomial(talking, q_talk) + Binomial(wrapping, q_wrap)   agents free by then

where q is the chance an agent on a call (or in wrap-up) is free within the time a call takes to
be answered, from the observed talk and wrap-up times (exponential, so the time already spent
does not matter). The calls to expect abandoned are E[max(0, X - A)]. The pacer dials the
largest `n` whose expected abandoned share of E[X] stays under `gain x cap`, where `gain`, the
adaptive part, follows the measured outcomes: every live answer that was abandoned lowers it,
every one that reached an agent raises it a little, so that it settles where the measured rate
is `SETPOINT x cap` (a stochastic-approximation controller). Two hard limits hold whatever the
gain: the expected abandoned calls never exceed the room left under the cap in the rolling 24 h
and 30 d windows (abandonment.py), and at or over the cap the pacer falls back to progressive
(never more calls in flight than ready agents), so the cap is not exceeded by over-dialling.

Pure: the adapter (live.py) and the simulated carrier (simulation.py) both drive it.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Sequence

import msgspec

SETPOINT = 0.6  # the controller aims at 60 % of the cap: room for chance
GAIN_LIMITS = (0.05, 3.0)
STEP = 0.01
HISTORY = 300  # attempts and calls the estimates average over
MAX_NEW_LINES = 50


class PacingInputs(msgspec.Struct, frozen=True, kw_only=True):
    """The campaign's agents and lines now."""

    ready: int  # agents available for the campaign's queue
    talking: int = 0  # on a call
    wrapping: int = 0  # in wrap-up after one
    ringing: int = 0  # lines dialled, not yet answered or ended
    waiting: int = 0  # answered by a person, waiting for an agent (within the 2 s)
    max_lines: int = 1000  # the campaign's (or trunk's) limit on lines at once


class PacingDecision(msgspec.Struct, frozen=True, kw_only=True):
    lines: int
    reason: str
    answer_rate: float
    expected_abandoned: float = 0.0
    gain: float = 1.0


class _Average:
    """The mean of the last HISTORY values, with a prior worth `weight` values."""

    def __init__(self, prior: float, weight: float = 20.0) -> None:
        self.values: deque[float] = deque(maxlen=HISTORY)
        self.total = 0.0
        self.prior = prior
        self.weight = weight

    def add(self, value: float) -> None:
        if len(self.values) == self.values.maxlen:
            self.total -= self.values[0]
        self.values.append(value)
        self.total += value

    @property
    def mean(self) -> float:
        return (self.total + self.prior * self.weight) / (len(self.values) + self.weight)


def false_positive_share(rate: float) -> float:
    """AMD's false positives per live answer it let through: with `rate` the share of people it
    takes for machines, r / (1 - r)."""
    return rate / (1 - rate) if rate < 1 else 1.0


def _binomial(trials: int, chance: float) -> list[float]:
    if trials <= 0:
        return [1.0]
    chance = min(max(chance, 0.0), 1.0)
    return [math.comb(trials, k) * chance ** k * (1 - chance) ** (trials - k) for k in range(trials + 1)]


def _convolve(left: list[float], right: list[float]) -> list[float]:
    result = [0.0] * (len(left) + len(right) - 1)
    for i, a in enumerate(left):
        if a:
            for j, b in enumerate(right):
                result[i + j] += a * b
    return result


class Pacer:
    """One campaign's pacing: its estimates, its controller, its decisions."""

    def __init__(self, cap: float, *, false_positive_rate: float = 0.0, answer_rate: float = 0.3,
                 answer_seconds: float = 10.0, talk_seconds: float = 120.0, wrap_seconds: float = 10.0,
                 gain: float = 1.0) -> None:
        self.cap = cap
        # AMD's false positives are abandoned calls the pacer cannot avoid by dialling less: what
        # is left of the cap after them is the pacer's budget.
        self.budget = max(cap - false_positive_share(false_positive_rate), cap * 0.05)
        self.answers = _Average(answer_rate)  # 1 for a live answer, 0 otherwise
        self.answer_seconds = _Average(answer_seconds)  # from the dial to a person on the line
        self.talk_seconds = _Average(talk_seconds)
        self.wrap_seconds = _Average(wrap_seconds)
        self.gain = gain

    # What happened ---------------------------------------------------------------------------------

    def observe_attempt(self, *, live: bool, answer_seconds: float | None = None) -> None:
        """An attempt was settled: a person answered (`live`, after `answer_seconds`) or not
        (busy, no answer, machine, failure)."""
        self.answers.add(1.0 if live else 0.0)
        if live and answer_seconds is not None:
            self.answer_seconds.add(answer_seconds)

    def observe_live_answer(self, *, abandoned: bool) -> None:
        """The controller's input: a live answer reached an agent in time, or was abandoned."""
        step = STEP * ((SETPOINT * self.budget) - (1.0 if abandoned else 0.0)) / self.budget
        self.gain = min(max(self.gain + step, GAIN_LIMITS[0]), GAIN_LIMITS[1])

    def observe_handling(self, *, talk_seconds: float | None = None, wrap_seconds: float | None = None) -> None:
        if talk_seconds is not None:
            self.talk_seconds.add(talk_seconds)
        if wrap_seconds is not None:
            self.wrap_seconds.add(wrap_seconds)

    # Deciding -------------------------------------------------------------------------------------

    def progressive(self, inputs: PacingInputs) -> PacingDecision:
        lines = max(0, min(inputs.ready - inputs.ringing - inputs.waiting, inputs.max_lines - inputs.ringing))
        return PacingDecision(lines=lines, reason="one line per ready agent", answer_rate=self.answers.mean,
                              gain=self.gain)

    def predictive(self, inputs: PacingInputs, *, windows: Sequence[tuple[float, float]] = ()) -> PacingDecision:
        """Lines to dial now. `windows` are the rolling windows' (live answers, abandoned calls)
        so far (abandonment.py): their room under the cap bounds the expected abandoned calls."""
        rate = self.answers.mean

        def headroom(coming_live: float) -> float:
            return min((self.cap * (live + coming_live) - abandoned for live, abandoned in windows), default=math.inf)

        if any(abandoned > 0 and abandoned >= self.cap * live for live, abandoned in windows):
            decision = self.progressive(inputs)
            return msgspec.structs.replace(decision, reason="at the abandonment cap: one line per ready agent")
        if inputs.ready + inputs.talking + inputs.wrapping == 0:
            return PacingDecision(lines=0, reason="no agent staffed", answer_rate=rate, gain=self.gain)
        horizon = self.answer_seconds.mean
        q_talk = 1 - math.exp(-horizon / max(self.talk_seconds.mean + self.wrap_seconds.mean, 1.0))
        q_wrap = 1 - math.exp(-horizon / max(self.wrap_seconds.mean, 1.0))
        agents = _convolve(_binomial(inputs.talking, q_talk), _binomial(inputs.wrapping, q_wrap))
        shortfall: dict[int, float] = {}  # x -> E[max(0, x - A)]

        def overflow(answers: int) -> float:
            if answers not in shortfall:
                shortfall[answers] = sum(chance * max(0, answers - inputs.ready - free)
                                         for free, chance in enumerate(agents))
            return shortfall[answers]

        target = self.gain * self.budget
        room = min(MAX_NEW_LINES, inputs.max_lines - inputs.ringing)
        best, best_abandoned = 0, 0.0
        for lines in range(0, max(room, 0) + 1):
            coming = _binomial(inputs.ringing + lines, rate)
            expected_live = inputs.waiting + (inputs.ringing + lines) * rate
            abandoned = sum(chance * overflow(inputs.waiting + k) for k, chance in enumerate(coming))
            if lines > 0 and (abandoned > target * max(expected_live, 1e-9) or abandoned > headroom(expected_live)):
                break
            best, best_abandoned = lines, abandoned
        return PacingDecision(lines=best, reason=f"predictive: answer rate {rate:.0%}, gain {self.gain:.2f}",
                              answer_rate=rate, expected_abandoned=round(best_abandoned, 4), gain=self.gain)
