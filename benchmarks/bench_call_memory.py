"""Heap bytes per held call in the call path, counted by tracemalloc: where a held call's memory goes.

benchmarks/call_path.py sets up `--calls` authenticated calls through the SIP endpoint and the call
manager, with a real media relay (each leg binds its RTP and RTCP sockets on 127.0.0.1 and is
read by the event loop, uvloop when installed), and holds them past 64*T1 + T4 so that their
INVITE transactions are gone: what is left is what a held call costs, its dialogs, legs, SDP,
media endpoints and watches. Printed: bytes and blocks per held call (and just after set-up,
with their transactions), the lines that allocated most of them, and what a second round of as
many calls leaves on top of the first once both ended and their timers ran (should be about 0).
The suite's check is tests/unit/test_memory_per_call.py.

This counts Python's heap only: bench_held_calls.py measures the resident memory of a real PBX
under sipp, which adds the allocator's slack and the kernel's view.

    .venv/bin/python benchmarks/bench_call_memory.py [--calls 2000] [--top 30] [--sans-sockets [--write-baseline]]
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import platform
import sys
import time
import tracemalloc
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.call_path import CallPath, PortRelay  # noqa: E402
from pbx.media.relay import MediaRelay  # noqa: E402

BASELINE = Path(__file__).with_name("memory_baseline.json")
WARM_CALLS = 600
RELEASE_SECONDS = 64 * 0.5 + 5 + 1  # one second past Timer H/J (64*T1) and K (T4), RFC 3261 17.1.2.2, 17.2.1, 17.2.2


@dataclass(frozen=True)
class HeldMemory:
    calls: int
    bytes_per_call: float
    blocks_per_call: float
    with_transactions_per_call: float  # just set up, their INVITE transactions lingering (64*T1)
    left_per_call: float  # what a second round of as many calls added to the first's, once both ended
    top: list[tracemalloc.StatisticDiff]
    left_top: list[tracemalloc.StatisticDiff]


async def measure(calls: int, relay_ports: tuple[int, int] | None = (40000, 60000)) -> HeldMemory:
    """In an event loop: the relay reads its sockets through the loop, which must turn for what a
    closed endpoint held to go. Without ``relay_ports`` no socket is bound (the relay hands out
    port numbers only): the suite's check, which must not race other tests for ports."""
    relay = MediaRelay("127.0.0.1", *relay_ports, clock=lambda: 0.0) if relay_ports else PortRelay()
    path = CallPath(relay)
    try:
        # Warm: first-use imports, the registrar binding, and the parser's caches of recent header
        # values full (syntax.RecentlyParsed: 1,024 entries each, the oldest forgotten), so what
        # the held calls add is theirs and what ended calls leave behind is not the caches filling.
        # Traced from the start, so that what the caches hold is traced whenever it was parsed.
        tracemalloc.start()
        path.calls(WARM_CALLS)
        gc.collect()
        before = tracemalloc.take_snapshot()
        held = [path.set_up(n) for n in range(1000, 1000 + calls)]
        await settle()
        setting_up = tracemalloc.take_snapshot()  # their INVITE transactions still there
        pass_time(path, RELEASE_SECONDS)  # the INVITE transactions over: only the held calls are left
        await settle()
        during = tracemalloc.take_snapshot()
        await end(path, held)
        after_first = tracemalloc.take_snapshot()
        # The same load again: what the second round leaves on top of the first is what calls
        # leak (the first may still fill what is bounded, such as the parser's caches).
        await end(path, [path.set_up(n) for n in range(1000 + calls, 1000 + 2 * calls)])
        after = tracemalloc.take_snapshot()
        tracemalloc.stop()
    finally:
        if relay_ports:
            relay.close()
    diff = during.compare_to(before, "lineno")
    left = after.compare_to(after_first, "lineno")
    return HeldMemory(
        calls,
        sum(stat.size_diff for stat in diff) / calls,
        sum(stat.count_diff for stat in diff) / calls,
        sum(stat.size_diff for stat in setting_up.compare_to(before, "filename")) / calls,
        sum(stat.size_diff for stat in left) / calls,
        diff,
        left,
    )


async def end(path: CallPath, held: list) -> None:
    """Hang up every call and let their timers run: the calls, dialogs and transactions gone."""
    pass_time(path, RELEASE_SECONDS)
    for call in held:
        path.hang_up(call)
    held.clear()
    pass_time(path, RELEASE_SECONDS)
    await settle()


async def settle() -> None:
    for _ in range(3):
        await asyncio.sleep(0.01)
    gc.collect()


def pass_time(path: CallPath, seconds: float) -> None:
    """The clock moves in 100 ms steps, each timer firing near its time as in the PBX."""
    for _ in range(int(seconds * 10)):
        path.advance(0.1)


def run(calls: int, relay_ports: tuple[int, int] | None) -> HeldMemory:
    try:
        import uvloop
    except ImportError:
        return asyncio.run(measure(calls, relay_ports))
    return uvloop.run(measure(calls, relay_ports))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--calls", type=int, default=2000)
    parser.add_argument("--top", type=int, default=30)
    parser.add_argument("--sans-sockets", action="store_true",
                        help="bind no socket (the relay hands out port numbers), as the suite's check measures")
    parser.add_argument("--write-baseline", action="store_true", help="with --sans-sockets: the suite's figure")
    args = parser.parse_args()
    if args.write_baseline and not args.sans_sockets:
        parser.error("the suite measures without sockets: --write-baseline needs --sans-sockets")
    result = run(args.calls, None if args.sans_sockets else (40000, 60000))
    print(f"{result.calls:,} held calls: {result.bytes_per_call:,.0f} bytes of heap per call "
          f"({result.blocks_per_call:.0f} blocks); just set up, with their transactions: "
          f"{result.with_transactions_per_call:,.0f}; a second round left {result.left_per_call:+,.0f} bytes per call")
    if args.write_baseline:
        BASELINE.write_text(json.dumps({
            "bytes_per_held_call": round(result.bytes_per_call), "python": platform.python_version(),
            "measured": time.strftime("%Y-%m-%d"),
            "command": f"benchmarks/bench_call_memory.py --calls {args.calls} --sans-sockets --write-baseline",
        }, indent=2) + "\n")
        print(f"baseline written to {BASELINE}")
    print("\nlargest per held call, by the line that allocated it:")
    for stat in result.top[:args.top]:
        frame = stat.traceback[0]
        print(f"  {stat.size_diff / result.calls:7,.0f} B {stat.count_diff / result.calls:5.1f} blocks  "
              f"{frame.filename.removeprefix(str(Path(__file__).resolve().parents[1]) + '/')}:{frame.lineno}")


if __name__ == "__main__":
    main()
