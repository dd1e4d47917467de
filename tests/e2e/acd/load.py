"""Many Python UAC callers at once, each hanging up after its own random time (the soak test's load).

Each call dials ``number`` (the IVR in front of the queue), is answered by the scenario, then
the caller hangs up after a drawn time measured from that answer: a few very soon (before or
as they join the queue), most after 0.5-3 s (waiting, or talking if an agent took them), some
after 4-7 s (long enough for the queue's max wait). A call the PBX ends first (timed out, the
agent hung up) is not hung up again. The callers send no RTP: the PBX's music and the agents'
audio go to one UDP sink that nobody reads.
"""

from __future__ import annotations

import asyncio
import random
import socket
import time
from collections import Counter
from dataclasses import dataclass, field

from ..media.uac import Uac

KINDS = (("early", 0.10, 0.0, 0.3), ("normal", 0.70, 0.5, 3.0), ("long", 0.20, 4.0, 7.0))


@dataclass
class LoadResult:
    placed: int = 0
    answered: int = 0
    hung_up_by_caller: int = 0
    ended_by_pbx: int = 0
    errors: list[str] = field(default_factory=list)
    kinds: Counter = field(default_factory=Counter)
    seconds: float = 0.0


def draw_hold(rng: random.Random) -> tuple[str, float]:
    roll, edge = rng.random(), 0.0
    for kind, share, low, high in KINDS:
        edge += share
        if roll < edge:
            return kind, rng.uniform(low, high)
    kind, _, low, high = KINDS[-1]
    return kind, rng.uniform(low, high)


async def run_callers(server: tuple[str, int], users: list[str], number: str, *, calls: int, concurrency: int,
                      seed: int = 1) -> LoadResult:
    rng = random.Random(seed)
    result = LoadResult()
    sink = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sink.bind(("127.0.0.1", 0))
    sink_port = sink.getsockname()[1]
    uacs = [await Uac.open(server, user, f"secret{user}") for user in users]
    plan = [(uacs[index % len(uacs)], *draw_hold(rng)) for index in range(calls)]
    next_call = iter(plan)
    started = time.monotonic()

    async def one(uac: Uac, kind: str, hold: float) -> None:
        result.placed += 1
        result.kinds[kind] += 1
        call = await uac.call(number, sink_port, timeout=15)
        if not call.answered:
            result.errors.append(f"{kind}: {call.error}")
            return
        result.answered += 1
        deadline = time.monotonic() + hold
        while call.ended_ns is None and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        if call.ended_ns is not None:
            result.ended_by_pbx += 1
            return
        await uac.hangup(call)
        if call.bye_status == 200:
            result.hung_up_by_caller += 1
        elif call.bye_status != 481:  # 481: the PBX's BYE crossed ours
            result.errors.append(f"{kind}: BYE answered {call.bye_status}")

    async def worker() -> None:
        for uac, kind, hold in next_call:
            await one(uac, kind, hold)

    try:
        await asyncio.gather(*(worker() for _ in range(concurrency)))
    finally:
        result.seconds = time.monotonic() - started
        await asyncio.sleep(0.5)  # answer the PBX's last BYEs before the sockets close
        for uac in uacs:
            uac.close()
        sink.close()
    return result
