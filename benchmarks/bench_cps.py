"""Call setup on one core: the PBX and Sippy B2BUA stepped through rising call rates, scored strictly.

The PBX runs pinned to core 0 (`taskset`), every sipp to core 1. At each rate of `--rates`, for
`--step-seconds`, sipp's authenticated caller (tests/e2e/sipp/cps_uac_auth.xml: every INVITE
challenged with 407 and answered with digest, 1 s calls) calls extension 1002, a sipp callee
(call_uas.xml) registered afresh for the step. A step fails when failed or unfinished calls
exceed 0.1% of its calls, or when the callee completed fewer than 99.9% of them; the stepper
stops at the first failing step and says why.

Per step: the PBX's CPU per call (utime + stime of its process tree from /proc/<pid>/stat, the
delta over the step divided by the calls), that CPU as a share of one core over the step's wall
time, setup time p50/p99 (first INVITE to 200, the 407 round included: sipp's "setup" timer,
one line per call from -trace_rtt), peak RSS (VmHWM from /proc/<pid>/status, since the start),
retransmissions (caller and callee, sipp's Retransmissions(C)) and 180s that arrived after the
200 (the caller counts them instead of failing the call; RFC 3261 13.3.1: none may).

Then the same load, pinning and scoring against Sippy B2BUA (PyPI `sippy`, its `b2bua_radius`
without authentication or accounting, a static route to the sipp callee cps_uas_plain.xml), installed in a
throwaway venv (`--sippy-venv`, outside the project), with a caller that is not challenged
(cps_uac.xml). Printed: a table per B2BUA and the ratios of their maximum rates and of their
CPU per call at the highest rate both passed.

`--both-cores` leaves the PBX (and Sippy) unpinned, sipp still on core 1.

    .venv/bin/python benchmarks/bench_cps.py [--rates 100,200,300,...] [--step-seconds 20]
        [--both-cores] [--workers N] [--no-sippy] [--sippy-venv /tmp/bench_cps_sippy] [--keep DIR (sipp's files)]
"""

from __future__ import annotations

import argparse
import csv
import math
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.peers import (  # noqa: E402
    NO_RATE_LIMITS, SIPP_DIR, free_port, pbx_process, registered_callee, terminate, wait_until_answering,
)

HOLD_MS = 1000
FAILURE_SHARE = 0.001  # the strict scoring: more than 0.1% failed or unfinished fails a step
CALLEE_SHARE = 0.999  # ... and so does a callee that completed fewer than 99.9%
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
PBX_CORE, SIPP_CORE = "0", "1"
DEFAULT_RATES = "100,200,300,400,500,600,700,800,900,1000"


@dataclass(frozen=True)
class SippTotals:
    """The cumulative counters of sipp's last -trace_stat line."""

    successful: int
    failed: int
    retransmissions: int


@dataclass(frozen=True)
class Verdict:
    passed: bool
    reason: str


@dataclass(frozen=True)
class Step:
    rate: int
    calls: int
    caller: SippTotals
    callee_completed: int
    callee_retransmissions: int
    wall_seconds: float
    cpu_seconds: float
    setup_p50_ms: float
    setup_p99_ms: float
    peak_rss_mb: float
    late_ringing: int
    verdict: Verdict
    sipp_core_percent: float = 0.0  # how busy core 1 (both sipps) was: is the load generator the limit?

    @property
    def cpu_per_call_us(self) -> float:
        return self.cpu_seconds / self.calls * 1e6

    @property
    def cpu_percent(self) -> float:
        return self.cpu_seconds / self.wall_seconds * 100


# -- the pure parts: sipp's files, percentiles, the score, the table ------------------------------

def read_sipp_totals(text: str) -> SippTotals:
    """The last line of a -trace_stat file (semicolon-separated, a header line first)."""
    rows = list(csv.DictReader(text.splitlines(), delimiter=";"))
    if not rows:
        raise ValueError("sipp's statistics file has no data line")
    last = rows[-1]
    return SippTotals(int(last["SuccessfulCall(C)"]), int(last["FailedCall(C)"]), int(last["Retransmissions(C)"]))


def read_setup_times_ms(text: str) -> list[float]:
    """The "setup" response times of a -trace_rtt file (Date_ms;response_time_ms;rtd_no)."""
    return [float(row["response_time_ms"]) for row in csv.DictReader(text.splitlines(), delimiter=";")
            if (row.get("rtd_no") or "").strip() == "setup"]


def read_late_ringing(text: str) -> int:
    """180s received after the 200, from a -trace_counts file of cps_uac*.xml: the last line's
    Recv count of the 180 recv just before the UNREACHABLE one (the optional="global" recv that
    only a 180 behind the call's progress reaches)."""
    header, *rows = list(csv.reader(text.splitlines(), delimiter=";"))
    names = {name: index for index, name in enumerate(header)}
    late = [index for name, index in names.items() if name.endswith("_180_Recv")
            and f"{int(name.split('_')[0]) + 1}_UNREACHABLE_Recv" in names]
    if len(late) != 1:
        raise ValueError(f"no 180 recv before an UNREACHABLE one in sipp's counts: {header}")
    return int(rows[-1][late[0]]) if rows else 0


def percentile(values: list[float], share: float) -> float:
    """Nearest-rank percentile (`share` 0.5 for p50, 0.99 for p99); nan for no values."""
    if not values:
        return math.nan
    ordered = sorted(values)
    return ordered[max(0, math.ceil(share * len(ordered)) - 1)]


def score(calls: int, caller: SippTotals, callee_completed: int) -> Verdict:
    """The issue's strict scoring: any failed or unfinished call counts against the 0.1%."""
    unfinished = max(0, calls - caller.successful - caller.failed)
    if caller.failed + unfinished > calls * FAILURE_SHARE:
        return Verdict(False, f"{caller.failed} failed + {unfinished} unfinished of {calls} calls (> 0.1%)")
    if callee_completed < calls * CALLEE_SHARE:
        return Verdict(False, f"the callee completed {callee_completed} of {calls} calls (< 99.9%)")
    return Verdict(True, "")


def maximum_rate(steps: list[Step]) -> int:
    """The highest rate passed before the first failing step (0 when the first one failed)."""
    best = 0
    for step in steps:
        if not step.verdict.passed:
            break
        best = step.rate
    return best


def format_table(steps: list[Step]) -> str:
    lines = ["| rate | passed | CPU/call us | CPU % | sipp core % | setup p50/p99 ms | peak RSS MB | retrans | 180-after-200 |",
             "| ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for step in steps:
        passed = "yes" if step.verdict.passed else f"**no**: {step.verdict.reason}"
        lines.append(
            f"| {step.rate} | {passed} | {step.cpu_per_call_us:,.0f} | {step.cpu_percent:.0f}% | "
            f"{step.sipp_core_percent:.0f}% | "
            f"{step.setup_p50_ms:.0f} / {step.setup_p99_ms:.0f} | {step.peak_rss_mb:.0f} | "
            f"{step.caller.retransmissions + step.callee_retransmissions} | {step.late_ringing} |")
    return "\n".join(lines)


def compare(pbx: list[Step], sippy: list[Step]) -> str:
    """The ratios PBX / Sippy: maximum rates, and CPU per call at the highest rate both passed."""
    pbx_max, sippy_max = maximum_rate(pbx), maximum_rate(sippy)
    rate_ratio = f"{pbx_max / sippy_max:.2f}" if sippy_max else "n/a (Sippy passed no step)"
    both = sorted({s.rate for s in pbx if s.verdict.passed} & {s.rate for s in sippy if s.verdict.passed})
    if not both:
        return f"maximum rate PBX {pbx_max} / Sippy {sippy_max} calls/s: {rate_ratio}; no rate passed by both"
    rate = both[-1]
    pbx_cpu = next(s.cpu_per_call_us for s in pbx if s.rate == rate)
    sippy_cpu = next(s.cpu_per_call_us for s in sippy if s.rate == rate)
    return (f"maximum rate PBX {pbx_max} / Sippy {sippy_max} calls/s: {rate_ratio}; "
            f"CPU per call at {rate} calls/s PBX {pbx_cpu:,.0f} / Sippy {sippy_cpu:,.0f} us: {pbx_cpu / sippy_cpu:.2f}")


# -- /proc: CPU and peak memory of a process and its children (proc(5)) -----------------------------

def process_tree(pid: int) -> list[int]:
    found, pending = [], [pid]
    while pending:
        current = pending.pop()
        found.append(current)
        for task in Path(f"/proc/{current}/task").glob("*"):
            try:
                pending.extend(int(child) for child in (task / "children").read_text().split())
            except OSError:
                continue
    return found


def cpu_seconds(pid: int) -> float:
    total = 0
    for member in process_tree(pid):
        try:
            fields = Path(f"/proc/{member}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])  # utime, stime: fields 14 and 15
    return total / CLOCK_TICKS


def core_times(core: int) -> tuple[int, int]:
    """(busy, total) clock ticks of one core from /proc/stat (proc(5)): idle and iowait are not busy."""
    for line in Path("/proc/stat").read_text().splitlines():
        if line.startswith(f"cpu{core} "):
            ticks = [int(field) for field in line.split()[1:]]
            return sum(ticks) - ticks[3] - ticks[4], sum(ticks)
    return 0, 0


def peak_rss_mb(pid: int) -> float:
    total_kib = 0
    for member in process_tree(pid):
        try:
            status = Path(f"/proc/{member}/status").read_text()
        except OSError:
            continue
        total_kib += next((int(line.split()[1]) for line in status.splitlines() if line.startswith("VmHWM:")), 0)
    return total_kib / 1024


def pin(pid: int, cores: str) -> None:
    """Pin every thread of a running process (its children inherit it)."""
    subprocess.run(["taskset", "-a", "-p", "-c", cores, str(pid)], check=True, capture_output=True)


# -- one step: a callee, a caller, the measurements --------------------------------------------------

@dataclass(frozen=True)
class CallerRun:
    totals: SippTotals
    wall_seconds: float
    cpu_seconds: float  # the B2BUA's, over the caller's run
    sipp_core_percent: float  # core 1's busy share over the caller's run


def run_caller(b2bua_pid: int, target: str, scenario: str, extra: list[str], calls: int, rate: int,
               stepdir: Path, step_seconds: int) -> CallerRun:
    """sipp's caller on core 1, in the foreground, with the B2BUA's CPU measured around it; its
    trace files land in `stepdir`."""
    command = ["taskset", "-c", SIPP_CORE, "sipp", target, "-sf", str(SIPP_DIR / scenario), *extra,
               "-i", "127.0.0.1", "-p", str(free_port()), "-cp", str(free_port()), "-mp", str(free_port()),
               "-m", str(calls), "-r", str(rate), "-l", str(4 * rate), "-d", str(HOLD_MS),
               "-timeout", f"{step_seconds + 30}s", "-nostdin", "-trace_rtt", "-rtt_freq", "1",
               "-trace_counts", "-trace_stat", "-stf", "caller_stat.csv", "-fd", "1"]
    cpu_before, core_before, started = cpu_seconds(b2bua_pid), core_times(int(SIPP_CORE)), time.monotonic()
    result = subprocess.run(command, cwd=stepdir, capture_output=True, text=True, timeout=step_seconds + 90)
    wall, cpu = time.monotonic() - started, cpu_seconds(b2bua_pid) - cpu_before
    core_after = core_times(int(SIPP_CORE))
    busy, total = core_after[0] - core_before[0], core_after[1] - core_before[1]
    stat = stepdir / "caller_stat.csv"
    if not stat.exists():
        raise SystemExit(f"sipp's caller wrote no statistics (rc {result.returncode}):\n{result.stderr[-1500:]}")
    return CallerRun(read_sipp_totals(stat.read_text()), wall, cpu, 100 * busy / total if total else 0.0)


def measure_step(b2bua_pid: int, rate: int, step_seconds: int, stepdir: Path, place_calls) -> Step:
    """`place_calls(calls)` runs the caller against a callee and returns once the callee's
    statistics are written."""
    calls = rate * step_seconds
    run = place_calls(calls)
    caller = run.totals
    callee = read_sipp_totals((stepdir / "callee_stat.csv").read_text())
    times = read_setup_times_ms("\n".join(path.read_text() for path in stepdir.glob("*_rtt.csv")))
    counts = next(stepdir.glob("*_counts.csv"), None)
    return Step(rate, calls, caller, callee.successful, callee.retransmissions, run.wall_seconds, run.cpu_seconds,
                percentile(times, 0.5), percentile(times, 0.99), peak_rss_mb(b2bua_pid),
                read_late_ringing(counts.read_text()) if counts else 0, score(calls, caller, callee.successful),
                run.sipp_core_percent)


CALLEE_STATS = ("-trace_stat", "-stf", "callee_stat.csv", "-fd", "1")
CALLEE_SETTLE_SECONDS = 2.5  # the callee's last calls end (its 500 ms timewait) and its -fd 1 line lands


def pbx_step(port: int, pbx_pid: int, rate: int, step_seconds: int, stepdir: Path) -> Step:
    users = stepdir / "caller.csv"
    users.write_text("SEQUENTIAL\n1001;[authentication username=1001 password=secret1001];1002\n")

    def place_calls(calls: int) -> CallerRun:
        with registered_callee(port, stepdir, calls, extra_arguments=CALLEE_STATS) as callee:
            pin(callee.pid, SIPP_CORE)
            run = run_caller(pbx_pid, f"127.0.0.1:{port}", "cps_uac_auth.xml", ["-inf", str(users)], calls, rate,
                             stepdir, step_seconds)
            time.sleep(CALLEE_SETTLE_SECONDS)
            return run

    return measure_step(pbx_pid, rate, step_seconds, stepdir, place_calls)


def sippy_step(port: int, sippy_pid: int, callee_port: int, rate: int, step_seconds: int, stepdir: Path) -> Step:
    def place_calls(calls: int) -> CallerRun:
        callee = subprocess.Popen(
            ["taskset", "-c", SIPP_CORE, "sipp", "-sf", str(SIPP_DIR / "cps_uas_plain.xml"), "-i", "127.0.0.1",
             "-p", str(callee_port), "-cp", str(free_port()), "-mp", str(free_port()), "-m", str(calls),
             "-nostdin", *CALLEE_STATS], cwd=stepdir, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            run = run_caller(sippy_pid, f"127.0.0.1:{port}", "cps_uac.xml", ["-s", "1002"], calls, rate, stepdir,
                             step_seconds)
            time.sleep(CALLEE_SETTLE_SECONDS)
            return run
        finally:
            callee.kill()
            callee.wait(10)

    return measure_step(sippy_pid, rate, step_seconds, stepdir, place_calls)


def stepper(rates: list[int], run_step, workdir: Path, name: str) -> list[Step]:
    steps = []
    for rate in rates:
        stepdir = workdir / f"{name}-{rate}"
        stepdir.mkdir()
        step = run_step(rate, stepdir)
        steps.append(step)
        print(f"{name} {rate} calls/s: {step.caller.successful}/{step.calls} ok, callee {step.callee_completed}, "
              f"{step.cpu_per_call_us:,.0f} us/call, {step.cpu_percent:.0f}% CPU, sipp core "
              f"{step.sipp_core_percent:.0f}%, setup p50/p99 "
              f"{step.setup_p50_ms:.0f}/{step.setup_p99_ms:.0f} ms, RSS {step.peak_rss_mb:.0f} MB -> "
              f"{'pass' if step.verdict.passed else 'FAIL: ' + step.verdict.reason}", flush=True)
        if not step.verdict.passed:
            break
    return steps


# -- the two B2BUAs ----------------------------------------------------------------------------------

def measure_pbx(rates: list[int], step_seconds: int, pinned: bool, workdir: Path,
                profile: Path | None = None, workers: int = 1) -> list[Step]:
    # Relay ports below Linux's ephemeral range (32768-60999), where sipp's ports are picked:
    # 8 per call up at once (two legs, RTP and RTCP, both sides), about 2 s of calls at the top rate.
    high = min(32000, 10000 + 16 * max(rates))
    config = workdir / "pbx.yaml"
    config.write_text(
        NO_RATE_LIMITS +
        "realm: pbx.test\nadmin: {listen: null}\nlog: {level: warning}\n"
        f"media: {{rtp_host: 127.0.0.1, rtp_ports: {{low: 10000, high: {high}}}}}\n"
        'extensions:\n  "1001": {password: secret1001}\n  "1002": {password: secret1002}\n'
    )
    with pbx_process(config, workdir, workers) as (port, pbx, _):
        if pinned:
            pin(pbx.pid, PBX_CORE)
        with sampled(pbx.pid, profile):
            return stepper(rates, lambda rate, stepdir: pbx_step(port, pbx.pid, rate, step_seconds, stepdir),
                           workdir, "pbx")


@contextmanager
def sampled(pid: int, output: Path | None):
    """py-spy samples the PBX (from core 1, without pausing it) into ``output``: collapsed stacks,
    one line per stack with its sample count, for flamegraph tools or a sort by self time."""
    if output is None:
        yield
        return
    spy = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
    sampler = subprocess.Popen(["taskset", "-c", SIPP_CORE, spy, "record", "--pid", str(pid), "--nonblocking",
                                "--rate", "200", "--format", "raw", "--subprocesses", "--output", str(output)],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        yield
    finally:
        sampler.send_signal(signal.SIGINT)
        sampler.wait(30)


def sippy_command(venv: Path) -> Path:
    """`b2bua_radius` from a throwaway venv, made (and `sippy` installed from PyPI) when missing."""
    script = venv / "bin" / "b2bua_radius"
    if not script.exists():
        print(f"installing sippy into {venv} ...", flush=True)
        subprocess.run([sys.executable, "-m", "venv", "--clear", str(venv)], check=True)
        subprocess.run([str(venv / "bin" / "pip"), "install", "-q", "sippy"], check=True)
    return script


@contextmanager
def sippy_process(script: Path, callee_port: int, pinned: bool, workdir: Path):
    """Sippy B2BUA in the foreground: no RADIUS authentication (-u) or accounting (-A 0), every call
    routed to the sipp callee (-s); yields (SIP port, process)."""
    port, log_path = free_port(), workdir / "sippy.log"
    prefix = ["taskset", "-c", PBX_CORE] if pinned else []
    with log_path.open("w") as log:
        sippy = subprocess.Popen(
            [*prefix, str(script), "-f", "-u", "-A", "0", "-l", "127.0.0.1", "-p", str(port),
             "-s", f"127.0.0.1:{callee_port}", "-c", str(workdir / "b2bua.sock"), "-P", str(workdir / "b2bua.pid"),
             "-L", str(log_path)], cwd=workdir, stdout=log, stderr=log,
            env={**os.environ, "SIPLOG_LVL": "WARN"})  # not every message to its log: the PBX logs warnings only
    try:
        wait_until_answering(port, sippy, log_path)
        yield port, sippy
    finally:
        terminate(sippy, grace=10)


def measure_sippy(rates: list[int], step_seconds: int, pinned: bool, venv: Path, workdir: Path) -> list[Step]:
    script, callee_port = sippy_command(venv), free_port()
    with sippy_process(script, callee_port, pinned, workdir) as (port, sippy):
        return stepper(
            rates, lambda rate, stepdir: sippy_step(port, sippy.pid, callee_port, rate, step_seconds, stepdir),
            workdir, "sippy")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rates", default=DEFAULT_RATES, help="calls/s per step, comma-separated")
    parser.add_argument("--step-seconds", type=int, default=20)
    parser.add_argument("--both-cores", action="store_true", help="leave the B2BUA unpinned (sipp stays on core 1)")
    parser.add_argument("--workers", type=int, default=1, help="pbx run --workers N (pbx/workers/)")
    parser.add_argument("--no-sippy", action="store_true", help="measure the PBX only")
    parser.add_argument("--sippy-venv", type=Path, default=Path(tempfile.gettempdir()) / "bench_cps_sippy")
    parser.add_argument("--keep", type=Path, help="keep sipp's files in this directory")
    parser.add_argument("--profile", type=Path, help="sample the PBX with py-spy into this file (collapsed stacks)")
    args = parser.parse_args()
    rates = [int(rate) for rate in args.rates.split(",")]
    for tool in ("sipp", "taskset"):
        if not shutil.which(tool):
            raise SystemExit(f"{tool} is not installed")
    if os.cpu_count() < 2:
        raise SystemExit("the stepper needs two cores: the B2BUA on one, sipp on the other")
    pinned = not args.both_cores
    with tempfile.TemporaryDirectory() as name:
        workdir = args.keep or Path(name)
        workdir.mkdir(parents=True, exist_ok=True)
        (workdir / "pbx").mkdir()
        pbx = measure_pbx(rates, args.step_seconds, pinned, workdir / "pbx", args.profile, args.workers)
        sippy = []
        if not args.no_sippy:
            (workdir / "sippy").mkdir()
            sippy = measure_sippy(rates, args.step_seconds, pinned, args.sippy_venv, workdir / "sippy")
    where = "PBX unpinned (both cores)" if args.both_cores else "PBX pinned to core 0"
    if args.workers > 1:
        where += f", {args.workers} workers"
    print(f"\n{where}, sipp on core 1, {args.step_seconds} s per step, {HOLD_MS} ms calls\n")
    print(f"PBX (authenticated calls), maximum {maximum_rate(pbx)} calls/s\n{format_table(pbx)}\n")
    if sippy:
        print(f"Sippy B2BUA (no authentication), maximum {maximum_rate(sippy)} calls/s\n{format_table(sippy)}\n")
        print(compare(pbx, sippy))


if __name__ == "__main__":
    main()
