"""The call-record writer at load: does the kpi plugin keep up, and what does it cost call setup?

The same sipp load (authenticated caller 1001 -> sipp callee 1002, `--rate` calls/s, each held
`--hold-ms`) runs through a PBX without plugins and through one with the kpi plugin, in the
same run, alternated. For each: the PBX's CPU seconds per call (/proc/<pid>/stat, all threads;
the kpi plugin's writer process, on the other core, counted apart),
setup time (sipp's INVITE-to-200 "setup" timer), and with the plugin how many journeys are in
the SQLite file when sipp's last call ends and how long until every call's record is there
(the writer's lag). The records are read from the database itself, by a second connection,
while the PBX runs.

    .venv/bin/python benchmarks/bench_kpi_writer.py [--calls 10000] [--rate 500] [--concurrent 600] [--hold-ms 500]
"""

from __future__ import annotations

import argparse
import shutil
import sqlite3
import statistics
import sys
import time
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.bench_plugins import (  # noqa: E402
    BUILT_INS_OFF, alternated, call_config, cpu_seconds, run_caller, setup_times_ms, summary,
)
from benchmarks.peers import pbx_process, registered_callee  # noqa: E402


def children_cpu_seconds(pid: int) -> float:
    """utime + stime of the process's child processes still running (the kpi writer process)."""
    total = 0.0
    for task in Path(f"/proc/{pid}/task").iterdir():
        for child in (task / "children").read_text().split():
            try:
                total += cpu_seconds(int(child))
            except FileNotFoundError:
                pass
    return total


@dataclass
class Run:
    writer_cpu_seconds: float
    cpu_seconds: float
    calls: int
    failed: int
    elapsed: float
    setup_mean_ms: float
    setup_p99_ms: float
    records_at_end: int | None
    lag_seconds: float | None

    @property
    def cpu_per_call_us(self) -> float:
        return self.cpu_seconds / self.calls * 1e6


def write_config(workdir: Path, args: argparse.Namespace, with_kpi: bool) -> Path:
    return call_config(workdir, args.concurrent, BUILT_INS_OFF + ("  kpi: {config: {node: bench}}\n" if with_kpi else ""))


def count_records(database: Path) -> int:
    try:
        with sqlite3.connect(f"file:{database}?mode=ro", uri=True, timeout=5) as connection:
            return connection.execute("SELECT COUNT(*) FROM kpi_journeys WHERE state = 'complete'").fetchone()[0]
    except sqlite3.OperationalError:  # not created yet
        return 0


def one_run(workdir: Path, args: argparse.Namespace, with_kpi: bool) -> Run:
    workdir.mkdir(parents=True)
    config = write_config(workdir, args, with_kpi)
    database = workdir / "var" / "pbx.sqlite"
    records_at_end = lag = None
    with pbx_process(config, workdir) as (port, pbx, log_path):
        with registered_callee(port, workdir, args.calls):
            before, writer_before = cpu_seconds(pbx.pid), children_cpu_seconds(pbx.pid)
            elapsed, failed = run_caller(port, workdir, args)
            ended = time.monotonic()
            after = cpu_seconds(pbx.pid)
            if with_kpi:
                records_at_end = count_records(database)
                expected = args.calls - failed
                while (found := count_records(database)) < expected and time.monotonic() - ended < 30:
                    time.sleep(0.01)
                lag = time.monotonic() - ended
                if found < expected:
                    raise SystemExit(f"only {found} of {expected} records after 30 s; see {log_path}")
            writer_after = children_cpu_seconds(pbx.pid)
        if "event=plugin_failed" in log_path.read_text():
            raise SystemExit(f"a plugin failed during the run; see {log_path}")
    mean, _, p99 = setup_times_ms(workdir)
    return Run(writer_after - writer_before, after - before, args.calls, failed, elapsed, mean, p99, records_at_end, lag)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--calls", type=int, default=10000)
    parser.add_argument("--rate", type=int, default=500, help="calls started per second")
    parser.add_argument("--concurrent", type=int, default=600, help="sipp -l: most calls up at once")
    parser.add_argument("--hold-ms", type=int, default=500, help="how long each call stays up")
    parser.add_argument("--rounds", type=int, default=2, help="none/kpi pairs, alternated")
    args = parser.parse_args()
    if not shutil.which("sipp"):
        raise SystemExit("sipp is not installed (apt-get install sip-tester)")
    labels = ("none", "kpi")

    def records(run: Run, on: bool) -> str:
        if not on:
            return ""
        return (f"; {run.records_at_end} records when sipp ended, all {run.calls - run.failed} "
                f"{run.lag_seconds:.2f} s later; writer process {run.writer_cpu_seconds / run.calls * 1e6:.0f} us CPU/call")

    runs = alternated(args.rounds, labels, lambda workdir, on: one_run(workdir, args, on), records)
    print(f"\n{args.calls} calls x {args.rounds} rounds at -r {args.rate}, -l {args.concurrent}, {args.hold_ms} ms each")
    mean = summary(runs, labels)
    cpu = mean(True, "cpu_per_call_us") - mean(False, "cpu_per_call_us")
    setup = (mean(True, "setup_mean_ms") - mean(False, "setup_mean_ms")) * 1000
    writer = statistics.fmean(run.writer_cpu_seconds / run.calls * 1e6 for run in runs[True])
    print(f"kpi plugin per call: {cpu:+.0f} us CPU in the PBX (+{writer:.0f} us in its writer process), "
          f"{setup:+.0f} us setup (mean); "
          f"writer lag after the last call: {max(run.lag_seconds for run in runs[True]):.2f} s at most")


if __name__ == "__main__":
    main()
