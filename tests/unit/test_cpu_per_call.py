"""CPU per call must not grow by more than 25% against the committed baseline (issue 16).

The figure is a ratio measured in this run, not a time limit: the PBX's own code per call in
the sans-IO call path (benchmarks/call_path.py: whole authenticated calls as bytes) over a
fixed stdlib workload measured in the same process, interleaved, best of five each. The
baseline (benchmarks/cpu_baseline.json) was measured the same way by
`benchmarks/bench_call_path.py --calls 300 --write-baseline`; re-measure it when a change makes calls
cheaper, so the check follows the gain.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from benchmarks.bench_call_path import BASELINE, measure  # noqa: E402

ALLOWED_GROWTH = 1.25
BASELINE_CALLS = 300  # as `bench_call_path.py --calls 300 --write-baseline` measured the baseline


def test_cpu_per_call_has_not_grown_by_more_than_a_quarter():
    baseline = json.loads(BASELINE.read_text())
    per_call, reference = measure(calls=BASELINE_CALLS)
    ratio = per_call / reference
    assert ratio <= ALLOWED_GROWTH * baseline["ratio"], (
        f"CPU per call grew: ratio {ratio:.4f} against the baseline's {baseline['ratio']:.4f} "
        f"({per_call * 1e6:,.0f} us per call here, {baseline['us_per_call']:,} us when it was measured)")
