"""A simulated carrier and agents, seeded, driving the dialer's own pacing core (pacing.py).

Every second the simulation asks the `Pacer` how many lines to dial, as live.py does on the
PBX, and dials them on a carrier whose numbers answer (a person or a machine), are busy or do
not answer, with answering-machine detection classifying each answer after the greeting (and
taking some people for machines: its false positives). A person classified as such must reach a
free agent within 2 s, or the call is abandoned (the safe-harbor message and a hang-up). Agents
talk and wrap up for random times. The figures are those the law and the issue ask for: the
abandonment rate (abandoned calls and AMD's false positives over live answers) and the agents'
occupancy (talk and wrap-up time over logged-in time).

Pure: its own seeded `random.Random`, a simulated clock; no I/O. Used by the unit tests and by
the benchmark (benchmarks/), which print the figures.
"""

from __future__ import annotations

import heapq
import itertools
import random

import msgspec

from .abandonment import AbandonmentLedger
from .config import SAFE_HARBOR_DEADLINE
from .pacing import Pacer, PacingInputs, false_positive_share


class Carrier(msgspec.Struct, frozen=True, kw_only=True):
    """What happens to a dialled number (shares of all attempts) and how long things take."""

    live: float = 0.30
    machine: float = 0.12
    busy: float = 0.10  # the rest do not answer
    ring_seconds: tuple[float, float] = (4.0, 14.0)  # until an answer, uniform
    ring_timeout: float = 20.0
    greeting_seconds: tuple[float, float] = (1.0, 2.5)  # a person's "hello" until AMD decides
    machine_seconds: float = 3.5  # until AMD recognises a machine
    false_positive: float = 0.01  # people AMD takes for machines (hung up on: abandoned)
    talk_seconds: float = 150.0  # mean, exponential (outbound sales and collections: 2 to 4 minutes)
    wrap_seconds: tuple[float, float] = (5.0, 15.0)


class Figures(msgspec.Struct, frozen=True, kw_only=True):
    attempts: int
    live_answers: int
    machines: int
    abandoned: int
    false_positives: int
    abandonment: float  # (abandoned + false positives) / live answers, people answering
    occupancy: float
    connected: int
    measured_abandonment_24h: float  # what the dialer itself measured (false positives estimated)
    gain: float


class _Agent:
    def __init__(self) -> None:
        self.state = "ready"
        self.busy_seconds = 0.0


def simulate(*, agents: int = 10, hours: float = 4.0, seed: int = 1, carrier: Carrier = Carrier(),
             cap: float = 0.03, mode: str = "predictive") -> Figures:
    chance = random.Random(seed)
    pacer = Pacer(cap, false_positive_rate=carrier.false_positive, talk_seconds=carrier.talk_seconds)
    unseen = false_positive_share(carrier.false_positive)  # what the dialer adds for them per live answer
    ledger = AbandonmentLedger(cap)
    start, end = 1_800_000_000.0, 1_800_000_000.0 + hours * 3600
    order = itertools.count()
    events: list[tuple[float, int, str, object]] = []
    staff = [_Agent() for _ in range(agents)]
    waiting: list[float] = []  # answer times of people waiting for an agent, oldest first
    ringing = 0
    counts = {"attempts": 0, "live": 0, "machines": 0, "abandoned": 0, "false": 0, "connected": 0}

    def schedule(at: float, kind: str, payload: object = None) -> None:
        heapq.heappush(events, (at, next(order), kind, payload))

    def connect(agent: _Agent, now: float) -> None:
        talk = max(5.0, chance.expovariate(1 / carrier.talk_seconds))
        wrap = chance.uniform(*carrier.wrap_seconds)
        agent.state = "talking"
        agent.busy_seconds += min(talk + wrap, end - now)
        pacer.observe_handling(talk_seconds=talk, wrap_seconds=wrap)
        counts["connected"] += 1
        schedule(now + talk, "wrap", agent)
        schedule(now + talk + wrap, "free", agent)

    def dial(now: float) -> None:
        counts["attempts"] += 1
        draw = chance.random()
        if draw < carrier.live:
            answered = now + chance.uniform(*carrier.ring_seconds)
            if chance.random() < carrier.false_positive:
                schedule(answered + carrier.machine_seconds, "false-positive", now)
            else:
                schedule(answered + chance.uniform(*carrier.greeting_seconds), "person", now)
        elif draw < carrier.live + carrier.machine:
            schedule(now + chance.uniform(*carrier.ring_seconds) + carrier.machine_seconds, "machine", now)
        elif draw < carrier.live + carrier.machine + carrier.busy:
            schedule(now + chance.uniform(2.0, 4.0), "busy", now)
        else:
            schedule(now + carrier.ring_timeout, "no-answer", now)

    schedule(start, "tick")
    while events:
        now, _, kind, payload = heapq.heappop(events)
        if now >= end:
            break
        if kind == "tick":
            ready = sum(1 for agent in staff if agent.state == "ready")
            inputs = PacingInputs(ready=ready, talking=sum(1 for a in staff if a.state == "talking"),
                                  wrapping=sum(1 for a in staff if a.state == "wrapping"), ringing=ringing,
                                  waiting=len(waiting))
            decision = pacer.predictive(inputs, windows=ledger.windows(now)) if mode == "predictive" \
                else pacer.progressive(inputs)
            for _ in range(decision.lines):
                ringing += 1
                dial(now)
            schedule(now + 1.0, "tick")
        elif kind == "person":
            ringing -= 1
            counts["live"] += 1
            pacer.observe_attempt(live=True, answer_seconds=now - payload)  # type: ignore[operator]
            ledger.record(now, live=unseen, abandoned=unseen)  # the people AMD hung up on, estimated
            free = next((agent for agent in staff if agent.state == "ready"), None)
            if free is not None:
                connect(free, now)
                ledger.record(now)
                pacer.observe_live_answer(abandoned=False)
            else:
                waiting.append(now)
                schedule(now + SAFE_HARBOR_DEADLINE, "deadline", now)
        elif kind == "deadline":
            if payload in waiting:
                waiting.remove(payload)  # type: ignore[arg-type]
                counts["abandoned"] += 1
                ledger.record(now, abandoned=1.0)
                pacer.observe_live_answer(abandoned=True)
        elif kind == "wrap":
            payload.state = "wrapping"  # type: ignore[attr-defined]
        elif kind == "free":
            agent: _Agent = payload  # type: ignore[assignment]
            agent.state = "ready"
            if waiting:
                waiting.pop(0)
                connect(agent, now)
                ledger.record(now)
                pacer.observe_live_answer(abandoned=False)
        else:  # machine, false-positive, busy, no-answer: no agent needed
            ringing -= 1
            pacer.observe_attempt(live=False)
            if kind in ("machine", "false-positive"):
                counts["machines"] += 1
            if kind == "false-positive":
                counts["false"] += 1
    people = counts["live"] + counts["false"]
    busy = sum(agent.busy_seconds for agent in staff)
    return Figures(attempts=counts["attempts"], live_answers=people, machines=counts["machines"],
                   abandoned=counts["abandoned"], false_positives=counts["false"],
                   abandonment=round((counts["abandoned"] + counts["false"]) / people, 4) if people else 0.0,
                   occupancy=round(busy / (agents * (end - start)), 4), connected=counts["connected"],
                   measured_abandonment_24h=ledger.figures(end).rate_24h, gain=round(pacer.gain, 3))
