"""Memory per held call must not grow by more than 10% against the committed figure (issue 16),
and a second round of calls must leave nothing on top of the first once both ended.

benchmarks/bench_call_memory.py sets up authenticated calls through the SIP endpoint and the
call manager, holds them past 64*T1 + T4 (their INVITE transactions over) and counts the heap
they hold with tracemalloc: bytes, not seconds, so the figure is the same on any machine with
the same Python. Here no socket is bound (the relay hands out port numbers); the benchmark
binds real ones. The figure in benchmarks/memory_baseline.json is what
`benchmarks/bench_call_memory.py --calls 200 --sans-sockets --write-baseline` measured;
re-measure it when a change makes calls smaller, so the check follows the gain.
"""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from benchmarks.bench_call_memory import BASELINE, measure  # noqa: E402

ALLOWED_GROWTH = 1.10
CALLS = 200
LEFT_PER_CALL = 256  # bytes: interned strings and caches that stop growing, not calls


def test_a_held_call_has_not_grown_and_an_ended_one_leaves_nothing():
    baseline = json.loads(BASELINE.read_text())
    result = asyncio.run(measure(CALLS, relay_ports=None))
    assert result.bytes_per_call <= ALLOWED_GROWTH * baseline["bytes_per_held_call"], (
        f"a held call grew: {result.bytes_per_call:,.0f} bytes of heap against {baseline['bytes_per_held_call']:,} "
        f"when the baseline was measured; the largest: "
        + "; ".join(f"{stat.traceback[0]} {stat.size_diff / CALLS:,.0f} B" for stat in result.top[:5]))
    assert result.left_per_call <= LEFT_PER_CALL, (
        f"a second round of calls left {result.left_per_call:,.0f} bytes per call on top of the first: "
        + "; ".join(f"{stat.traceback[0]} {stat.size_diff / CALLS:,.0f} B" for stat in result.left_top[:5]))
