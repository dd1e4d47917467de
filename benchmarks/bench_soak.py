"""Soak: calls at half the measured maximum rate for 30 minutes, the PBX's memory sampled throughout.

First the maximum is measured in the same run: sipp's authenticated caller
(tests/e2e/sipp/call_uac_auth.xml, every INVITE challenged and answered with
digest, 1 s calls) calls a registered sipp callee through the PBX at rising
rates, `--step-seconds` per step; a step passes when no call failed and the
calls finished within two seconds of the schedule. Then a fresh PBX takes
half the highest passing rate for `--minutes`, and its resident memory (RSS)
and CPU are read from /proc every `--sample-seconds`.

Printed: the steps, the soak's samples, failed calls, and the memory verdict:
the growth from the end of the first tenth (caches and pools warm) to the end,
and the slope of a least-squares line over the second half, in MB per 10 min.

    .venv/bin/python benchmarks/bench_soak.py [--minutes 30] [--max-rate N (skip the search)]
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.bench_calls import caller_arguments, write_caller  # noqa: E402
from benchmarks.peers import NO_RATE_LIMITS, pbx_process, registered_callee, run_sipp  # noqa: E402

HOLD_MS = 1000
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
PAGE_BYTES = os.sysconf("SC_PAGE_SIZE")


@dataclass(frozen=True)
class Sample:
    seconds: float
    rss_mb: float
    cpu_seconds: float


def write_config(workdir: Path, concurrent: int) -> Path:
    config = workdir / "pbx.yaml"
    config.write_text(
        NO_RATE_LIMITS +
        "realm: pbx.test\nadmin: {listen: null}\nlog: {level: warning}\n"
        f"media: {{rtp_host: 127.0.0.1, rtp_ports: {{low: 30000, high: {30000 + 8 * concurrent + 100}}}}}\n"
        'extensions:\n  "1001": {password: secret1001}\n  "1002": {password: secret1002}\n'
    )
    return config


def read_sample(pid: int, start: float) -> Sample:
    """RSS from /proc/<pid>/statm, user+system CPU from /proc/<pid>/stat (proc(5))."""
    resident_pages = int(Path(f"/proc/{pid}/statm").read_text().split()[1])
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    cpu = (int(fields[11]) + int(fields[12])) / CLOCK_TICKS  # utime, stime: fields 14 and 15
    return Sample(time.monotonic() - start, resident_pages * PAGE_BYTES / 1e6, cpu)


def sipp_run(port: int, workdir: Path, rate: int, calls: int, name: str, timeout: float) -> tuple[float, int]:
    args = argparse.Namespace(calls=calls, rate=rate, concurrent=max(4 * rate, 100), hold_ms=HOLD_MS)
    # sipp's own -timeout (300 s in the shared arguments) would end a long soak early: the last one given wins.
    lifetime = ("-timeout", f"{int(timeout)}s")
    with registered_callee(port, workdir, calls, extra_arguments=lifetime):
        return run_sipp([*caller_arguments(port, write_caller(workdir), args), *lifetime], workdir, name,
                        timeout=timeout)


def find_maximum(rates: list[int], step_seconds: int) -> int:
    """The highest rate whose step passed, stopping at the first failing step."""
    best = 0
    with tempfile.TemporaryDirectory() as name:
        workdir = Path(name)
        config = write_config(workdir, 4 * max(rates))
        with pbx_process(config, workdir) as (port, _, _):
            for rate in rates:
                calls = rate * step_seconds
                try:
                    elapsed, failed = sipp_run(port, workdir, rate, calls, f"step{rate}", timeout=step_seconds + 120)
                except SystemExit as error:  # sipp exits 1 when a call failed: the step failed
                    print(f"step {rate:>4} calls/s: FAIL ({str(error).splitlines()[0]})", flush=True)
                    break
                late = elapsed - (step_seconds + HOLD_MS / 1000)
                passed = failed == 0 and late <= 2.0
                print(f"step {rate:>4} calls/s: {calls} calls in {elapsed:.1f} s ({late:+.1f} s against the schedule), "
                      f"{failed} failed -> {'pass' if passed else 'FAIL'}", flush=True)
                if not passed:
                    break
                best = rate
    return best


def soak(rate: int, minutes: float, sample_seconds: float) -> tuple[list[Sample], float, int]:
    calls = int(rate * minutes * 60)
    samples: list[Sample] = []
    with tempfile.TemporaryDirectory() as name:
        workdir = Path(name)
        config = write_config(workdir, 4 * rate)
        with pbx_process(config, workdir) as (port, pbx, _):
            start = time.monotonic()
            done = threading.Event()

            def sample_until_done() -> None:
                while not done.wait(sample_seconds):
                    samples.append(read_sample(pbx.pid, start))

            samples.append(read_sample(pbx.pid, start))
            sampler = threading.Thread(target=sample_until_done, daemon=True)
            sampler.start()
            try:
                elapsed, failed = sipp_run(port, workdir, rate, calls, "soak", timeout=minutes * 60 + 300)
            finally:
                done.set()
                sampler.join()
            time.sleep(40)  # past Timer H/J and the dialogs' linger: what is left is what stays
            samples.append(read_sample(pbx.pid, start))
    return samples, elapsed, failed


def slope_mb_per_10_minutes(samples: list[Sample]) -> float:
    n = len(samples)
    mean_t = sum(s.seconds for s in samples) / n
    mean_m = sum(s.rss_mb for s in samples) / n
    covariance = sum((s.seconds - mean_t) * (s.rss_mb - mean_m) for s in samples)
    variance = sum((s.seconds - mean_t) ** 2 for s in samples) or 1.0
    return covariance / variance * 600


def report(samples: list[Sample], rate: int, minutes: float, elapsed: float, failed: int) -> None:
    during = samples[:-1]
    print(f"\nsoak: {rate} calls/s for {minutes:g} min ({int(rate * minutes * 60):,} calls, {HOLD_MS} ms each), "
          f"sipp took {elapsed:.0f} s, {failed} failed")
    print("  minute   RSS MB   CPU %")
    every = max(1, len(during) // 12)
    previous = during[0]
    for sample in during[every::every]:
        cpu = 100 * (sample.cpu_seconds - previous.cpu_seconds) / max(sample.seconds - previous.seconds, 1e-9)
        print(f"  {sample.seconds / 60:6.1f}   {sample.rss_mb:6.1f}   {cpu:5.1f}")
        previous = sample
    warm = during[max(1, len(during) // 10)]
    peak = max(s.rss_mb for s in during)
    end = during[-1]
    second_half = [s for s in during if s.seconds >= end.seconds / 2]
    print(f"  RSS: {during[0].rss_mb:.1f} MB at start, {warm.rss_mb:.1f} MB at minute {warm.seconds / 60:.1f} (warm), "
          f"{end.rss_mb:.1f} MB at the end of the load, peak {peak:.1f} MB, "
          f"{samples[-1].rss_mb:.1f} MB 40 s after the last call")
    print(f"  growth warm -> end: {end.rss_mb - warm.rss_mb:+.1f} MB "
          f"({100 * (end.rss_mb - warm.rss_mb) / warm.rss_mb:+.1f}%); "
          f"slope over the second half: {slope_mb_per_10_minutes(second_half):+.2f} MB per 10 min")
    print(f"  CPU per call: {1e6 * (end.cpu_seconds - during[0].cpu_seconds) / (rate * minutes * 60):,.0f} us")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--minutes", type=float, default=30)
    parser.add_argument("--max-rate", type=int, help="skip the search: the maximum measured elsewhere")
    parser.add_argument("--rates", default="100,150,200,250,300,350,400,450,500,600")
    parser.add_argument("--step-seconds", type=int, default=15)
    parser.add_argument("--sample-seconds", type=float, default=10)
    args = parser.parse_args()
    if not shutil.which("sipp"):
        raise SystemExit("sipp is not installed (apt-get install sip-tester)")
    maximum = args.max_rate or find_maximum([int(r) for r in args.rates.split(",")], args.step_seconds)
    if maximum == 0:
        raise SystemExit("no step passed: the PBX did not keep up with the lowest rate")
    rate = maximum // 2
    print(f"maximum {maximum} calls/s -> soak at {rate} calls/s", flush=True)
    samples, elapsed, failed = soak(rate, args.minutes, args.sample_seconds)
    report(samples, rate, args.minutes, elapsed, failed)


if __name__ == "__main__":
    main()
