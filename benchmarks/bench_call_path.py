"""CPU per call in the sans-IO call path, against a fixed stdlib workload measured in the same run.

benchmarks/call_path.py plays whole authenticated calls as bytes through the SIP endpoint and
the call manager (no sockets, no event loop). Printed: microseconds of PBX code per call, the
reference workload's time, and their ratio, the figure that does not depend on the machine's
speed. `--write-baseline` stores that ratio in benchmarks/cpu_baseline.json, which the suite's
check (tests/unit/test_cpu_per_call.py) compares against: more than 25% above it fails.
`--profile` prints where the time goes (cProfile, by own time).

    .venv/bin/python benchmarks/bench_call_path.py [--calls 2000] [--profile] [--write-baseline]
"""

from __future__ import annotations

import argparse
import cProfile
import gc
import hashlib
import json
import platform
import pstats
import re
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.call_path import CallPath  # noqa: E402

BASELINE = Path(__file__).with_name("cpu_baseline.json")
_WORDS = re.compile(r"[a-z]+=([0-9a-f]+)")


def reference_seconds(rounds: int = 2000) -> float:
    """A fixed mix of what call setup does (dicts, strings, a regex, MD5, JSON): the yardstick."""
    start = time.perf_counter()
    for n in range(rounds):
        fields = {f"name{i}": f"value{i}-{n}" for i in range(12)}
        text = "\r\n".join(f"{k}: {v}" for k, v in fields.items())
        parsed = dict(line.split(": ", 1) for line in text.split("\r\n"))
        digest = hashlib.md5(text.encode()).hexdigest()
        _WORDS.findall(f"nonce={digest}, cnonce={digest[:8]}, nc=00000001")
        json.loads(json.dumps(parsed))
    return time.perf_counter() - start


def measure(calls: int, repeats: int = 5) -> tuple[float, float]:
    """(seconds of PBX code per call, reference seconds), each the best of `repeats`, interleaved
    so that a busy moment of the machine weighs on both alike."""
    path = CallPath()
    path.calls(20)  # warm: caches, the registrar binding, first-use imports
    per_call, reference = [], []
    # The cyclic collector's passes depend on what else the process holds (a test run holds a
    # lot): keep them out of the figure, as the PBX keeps them rare (pbx.app.serve).
    gc.collect()
    gc.disable()
    try:
        for round_ in range(repeats):
            reference.append(reference_seconds())
            per_call.append(path.calls(calls, first=100_000 * (round_ + 1)) / calls)
    finally:
        gc.enable()
    return min(per_call), min(reference)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--calls", type=int, default=2000)
    parser.add_argument("--profile", action="store_true")
    parser.add_argument("--write-baseline", action="store_true")
    args = parser.parse_args()
    per_call, reference = measure(args.calls)
    ratio = per_call / reference
    print(f"call path: {per_call * 1e6:,.0f} us of PBX code per call ({args.calls} calls, best of 5)")
    print(f"reference: {reference * 1e3:,.1f} ms; ratio call/reference: {ratio:.4f}")
    if args.write_baseline:
        BASELINE.write_text(json.dumps({
            "ratio": round(ratio, 4), "us_per_call": round(per_call * 1e6), "reference_ms": round(reference * 1e3, 2),
            "python": platform.python_version(), "measured": time.strftime("%Y-%m-%d"),
            "command": f"benchmarks/bench_call_path.py --calls {args.calls} --write-baseline",
        }, indent=2) + "\n")
        print(f"baseline written to {BASELINE}")
    if args.profile:
        path = CallPath()
        path.calls(20)
        profiler = cProfile.Profile()
        profiler.enable()
        path.calls(args.calls, first=10_000)
        profiler.disable()
        pstats.Stats(profiler).sort_stats("tottime").print_stats(30)


if __name__ == "__main__":
    main()
