"""How many concurrent playbacks one PBX process paces with fewer than 1 % late packets.

For N = 100, 200, 400, 800, ... a fresh `pbx run` (uvloop, log level warning) gets N
authenticated calls to the playback extension 601 from a Python caller in this process
(tests/e2e/media/uac.py). Each call's SDP points at its own socket of a capture process
(tests/e2e/media/rtp_capture.py) that records every packet with the kernel's receive
timestamp (SO_TIMESTAMPNS), so neither this process nor the capture's own scheduling shows in
the figures. Once all N calls are up, `--seconds` of RTP are measured, then the calls are
hung up.

Per stream the packets are put on a 20 ms grid fitted to that stream (median of arrival
minus slot, tests/e2e/media/timing.py). A packet is late when it arrives more than 5 ms (also
reported: 10 ms) after its slot; a packet missing from the sequence counts as late. Printed
per N: packets, late %, p50 and p99 of |arrival - slot|, the PBX's CPU (one core = 100 %).
It stops doubling at the first N over 1 % late, when calls fail, or when the capture drops
packets (the machine cannot keep up), tries the N halfway back (``--refine`` times, in steps
of 50), and prints the largest N under 1 %. Measuring starts ``--settle`` seconds after the
last call is answered, so what is measured is the steady state, not the call setup's tail.

    .venv/bin/python benchmarks/bench_playback.py [--start 100] [--max 3200] [--seconds 4] [--settle 1] [--refine 1]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.peers import NO_RATE_LIMITS, ROOT, pbx_process
from tests.e2e.media import RtpCapture, TimingSummary, Uac, analyse, summarise

CALLS_PER_SECOND = 400  # call attempts started per second while ramping up
RTP_LOW, RTP_HIGH = 20000, 32000  # below Linux's ephemeral ports, where the capture's sockets land
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


@dataclass
class Round:
    calls: int
    answered: int
    setup_seconds: float
    summary: TimingSummary
    pbx_cpu: float  # fraction of one core during the measured window
    dropped_by_capture: int


def cpu_seconds(pid: int) -> float:
    """utime + stime of a process (proc(5), fields 14 and 15)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


@contextmanager
def playback_pbx(workdir: Path, prompts: Path):
    """`pbx run` with extension 1001 and the prompts; yields (SIP port, process)."""
    config = workdir / "pbx.yaml"
    config.write_text(
        NO_RATE_LIMITS +
        "realm: pbx.test\nadmin: {listen: null}\nlog: {level: warning}\n"
        f"media: {{rtp_host: 127.0.0.1, rtp_ports: {{low: {RTP_LOW}, high: {RTP_HIGH}}}, prompts: '{prompts}'}}\n"
        'extensions:\n  "1001": {password: secret1001}\n'
    )
    with pbx_process(config, workdir) as (port, pbx, log_path):
        yield port, pbx


async def run_calls(port: int, pbx: subprocess.Popen, capture: RtpCapture, seconds: float, settle: float):
    uac = await Uac.open(("127.0.0.1", port), "1001", "secret1001")
    try:
        started = time.monotonic()
        pending = []
        for rtp_port in capture.ports:
            pending.append(asyncio.ensure_future(uac.call("601", rtp_port, capture.rtcp_port, timeout=30)))
            await asyncio.sleep(1 / CALLS_PER_SECOND)
        calls = await asyncio.gather(*pending)
        setup = time.monotonic() - started
        await asyncio.sleep(settle)  # the steady state, not the tail of the call setup
        cpu_before, window_start = cpu_seconds(pbx.pid), time.time_ns()
        await asyncio.sleep(seconds)
        window = (window_start, time.time_ns())
        cpu = (cpu_seconds(pbx.pid) - cpu_before) / ((window[1] - window[0]) / 1e9)
        await asyncio.gather(*(uac.hangup(call) for call in calls))
        return calls, setup, window, cpu
    finally:
        uac.close()


def measure(calls: int, prompts: Path, seconds: float, settle: float) -> Round:
    with tempfile.TemporaryDirectory(prefix="bench_playback_") as name:
        workdir = Path(name)
        with playback_pbx(workdir, prompts) as (port, pbx), \
                RtpCapture(calls, workdir, max_seconds=60 + calls / 20) as capture:  # fmt: skip
            results, setup, window, cpu = asyncio.run(run_calls(port, pbx, capture, seconds, settle))
            captured = capture.stop(timeout=60)
        summary = summarise(analyse(captured, window_ns=window))
    answered = sum(call.answered for call in results)
    return Round(calls, answered, setup, summary, cpu, captured.dropped_by_kernel)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--start", type=int, default=100, help="first N (doubled each round)")
    parser.add_argument("--max", type=int, default=3200, help="largest N to try")
    parser.add_argument("--seconds", type=float, default=4.0, help="measured seconds per N, all calls up")
    parser.add_argument("--settle", type=float, default=1.0, help="seconds between the last answer and measuring")
    parser.add_argument("--refine", type=int, default=1, help="rounds of bisection after the first failing N")
    args = parser.parse_args()
    for tool in ("espeak-ng", "sox"):
        if not shutil.which(tool):
            raise SystemExit(f"{tool} is missing (apt-get install espeak-ng sox): it renders the 601 prompt")

    began = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="bench_prompts_") as name:
        prompts = Path(name)
        subprocess.run(["bash", str(ROOT / "examples/prompts/render.sh"), str(ROOT / "examples/prompts/en.txt"),
                        str(prompts)], check=True, capture_output=True, timeout=120)
        print(f"N concurrent calls to 601 (prompt, then music on hold), {args.seconds:.0f} s measured with all up; "
              "late = more than 5 ms after the stream's 20 ms slot, or missing")
        header = (f"{'N':>6}{'answered':>10}{'setup s':>9}{'packets':>10}{'late>5ms':>10}{'late>10ms':>11}"
                  f"{'p50 ms':>8}{'p99 ms':>8}{'max ms':>8}{'PBX CPU':>9}")
        print(header)
        best, failed = None, None
        calls = args.start
        refinements = 0
        while calls <= args.max:
            result = measure(calls, prompts, args.seconds, args.settle)
            s = result.summary
            print(f"{calls:>6}{result.answered:>10}{result.setup_seconds:>9.1f}{s.packets:>10,}"
                  f"{s.late_5ms_fraction:>10.2%}{s.late_10ms_fraction:>11.2%}{s.p50_ms:>8.2f}{s.p99_ms:>8.2f}"
                  f"{s.max_ms:>8.1f}{result.pbx_cpu:>9.0%}", flush=True)
            stop = None
            if result.answered < calls:
                stop = f"{calls - result.answered} of {calls} calls were not answered"
            elif result.dropped_by_capture:
                stop = f"the capture process dropped {result.dropped_by_capture} packets (it cannot keep up)"
            elif s.late_5ms_fraction >= 0.01:
                stop = "1 % or more late"
            if stop is None:
                best = calls
            else:
                print(f"  N={calls}: {stop}")
                failed = calls
            if failed is None:
                calls *= 2
                continue
            # between the largest N that passed and the smallest that failed, in steps of 50
            middle = ((best or 0) + failed) // 100 * 50
            if refinements >= args.refine or middle <= (best or 0) or middle >= failed:
                break
            refinements += 1
            calls = middle
    print(f"largest N with < 1 % late packets: {best if best is not None else 'none'} "
          f"({os.cpu_count()} cores shared by the PBX, the caller and the capture; {time.monotonic() - began:.0f} s)")


if __name__ == "__main__":
    main()
