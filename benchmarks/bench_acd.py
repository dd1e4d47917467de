"""ACD decisions per second with 1,000 agents and 5,000 waiting callers, one core, pure core only.

Setup: QUEUES queues; each agent is a member of three of them with a penalty 0-2
and a "lang" skill 1-5; every agent is on a call and CALLERS callers wait (a
third of them requiring lang >= 2). Two measurements per strategy:

1. busy centre: an agent's call ends (no wrap-up) and the ACD picks the caller
   and offers them to that agent: the time of `call_ended` until the OfferCall.
   The offer is then answered and a new caller joins, so the line stays full.
2. idle centre: every agent is available and nobody waits; a caller joins and
   the strategy orders the ~300 eligible agents of the queue: the time of `join`
   until the OfferCall(s). The caller then leaves so the next one sees the same.

Plus the snapshot (5,000 callers, 1,000 agents) and a full EWT estimate.

    .venv/bin/python benchmarks/bench_acd.py [--agents 1000] [--callers 5000] [--decisions 5000]
"""

from __future__ import annotations

import argparse
import random
import time

from pbx.acd import Acd, Membership, OfferCall, QueueSettings

QUEUES = 10
STRATEGIES = ("ring-all", "round-robin", "longest-idle", "fewest-calls", "least-talk-time", "random", "linear",
              "weighted-random", "skills-based")


def build(strategy: str, agents: int, seed: int = 1) -> tuple[Acd, random.Random]:
    rng = random.Random(seed)
    acd = Acd(random.Random(seed))
    for index in range(QUEUES):
        acd.add_queue(QueueSettings(name=f"q{index}", strategy=strategy, ring_timeout=15.0))
    for number in range(agents):
        queues = rng.sample(range(QUEUES), 3)
        acd.add_agent(f"agent{number}", f"{1000 + number}", [
            Membership(f"q{q}", penalty=rng.randrange(3), weight=1 + rng.random(), skills={"lang": rng.randint(1, 5)})
            for q in queues
        ])
        acd.login(f"agent{number}", 0.0)
    return acd, rng


def caller(rng: random.Random, number: int) -> tuple[str, str, str, int, dict[str, int]]:
    skills = {"lang": 2} if number % 3 == 0 else {}
    return f"call{number}", f"+48{number}", f"q{rng.randrange(QUEUES)}", rng.randrange(3), skills


def busy_centre(strategy: str, agents: int, callers: int, decisions: int) -> tuple[float, float, float]:
    acd, rng = build(strategy, agents)
    now, number = 1.0, 0
    # Fill every agent with a call (answering every offer), then let CALLERS wait.
    while any(agent.is_available for agent in acd.agents.values()):
        call_id, phone, queue, priority, skills = caller(rng, number)
        number += 1
        for output in acd.join(call_id, phone, queue, now, priority=priority, skills=skills):
            if isinstance(output, OfferCall):
                acd.offer_answered(output.agent, output.call_id, now)
    waiting_before = len(acd.entries)
    while len(acd.entries) < callers + waiting_before:
        call_id, phone, queue, priority, skills = caller(rng, number)
        number += 1
        acd.join(call_id, phone, queue, now, priority=priority, skills=skills)
    names = sorted(acd.agents)
    decide = answer = join = 0.0
    done = 0
    for step in range(decisions):
        now += 0.01
        agent = acd.agents[names[step % len(names)]]
        if agent.call_id is None:
            continue
        started = time.perf_counter()
        outputs = acd.call_ended(agent.name, agent.call_id, now)
        decide += time.perf_counter() - started
        done += 1
        for output in outputs:
            if isinstance(output, OfferCall):
                started = time.perf_counter()
                acd.offer_answered(output.agent, output.call_id, now)
                answer += time.perf_counter() - started
        call_id, phone, queue, priority, skills = caller(rng, number)
        number += 1
        started = time.perf_counter()
        acd.join(call_id, phone, queue, now, priority=priority, skills=skills)
        join += time.perf_counter() - started
    return decide / done, answer / done, join / done


def idle_centre(strategy: str, agents: int, decisions: int) -> float:
    acd, rng = build(strategy, agents)
    total = 0.0
    for number in range(decisions):
        call_id, phone, queue, priority, skills = caller(rng, number)
        now = 1.0 + number
        started = time.perf_counter()
        acd.join(call_id, phone, queue, now, priority=priority, skills=skills)
        total += time.perf_counter() - started
        acd.caller_left(call_id, now)
    return total / decisions


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--agents", type=int, default=1000)
    parser.add_argument("--callers", type=int, default=5000)
    parser.add_argument("--decisions", type=int, default=5000)
    parser.add_argument("--strategies", default=",".join(STRATEGIES))
    args = parser.parse_args()
    print(f"{args.agents} agents in {QUEUES} queues (3 each), {args.callers} callers waiting, "
          f"{args.decisions} decisions per strategy\n")
    print("| strategy | agent free -> offer: decisions/s | per decision | answer | join (line full) "
          "| join, all agents idle |")
    print("| --- | ---: | ---: | ---: | ---: | ---: |")
    for strategy in args.strategies.split(","):
        decide, answer, join = busy_centre(strategy, args.agents, args.callers, args.decisions)
        idle = idle_centre(strategy, args.agents, min(args.decisions, 2000))
        print(f"| {strategy} | {1 / decide:,.0f} | {decide * 1e6:,.0f} us | {answer * 1e6:,.0f} us "
              f"| {join * 1e6:,.0f} us | {idle * 1e6:,.0f} us |")
    acd, _ = build("longest-idle", args.agents)
    for number in range(args.callers):
        acd.join(f"x{number}", "", f"q{number % QUEUES}", 1.0)
    started = time.perf_counter()
    snapshot = acd.snapshot(2.0)
    elapsed = time.perf_counter() - started
    print(f"\nsnapshot of {sum(len(q.callers) for q in snapshot.queues)} callers and {len(snapshot.agents)} agents: "
          f"{elapsed * 1e3:.1f} ms")
    started = time.perf_counter()
    acd.wait_estimate("q0", 2.0)
    print(f"EWT estimate for one queue ({len(acd.queues['q0'].members)} members): "
          f"{(time.perf_counter() - started) * 1e6:.0f} us")


if __name__ == "__main__":
    main()
