"""What plugin hook dispatch costs per call: the same sipp load through a PBX with no plugins
and through one with three, in the same run.

sipp's authenticated caller (tests/e2e/sipp/call_uac_auth.xml) calls extension 1002, a sipp
callee registered from its own port, at `--rate` calls/s. The PBX runs twice per round:

- "none": `plugins: {recording: {enabled: false}, crm: {enabled: false}}`, so no plugin at all;
- "3 plugins": the same, plus three small but realistic site plugins loaded by `path:`:
  a sync `pbx_event` folding CallEnded into talk-time totals (run in its worker thread, in
  batches), an async `pbx_event` following each call from CallStarted to CallEnded, and an
  async `pbx_lookup_caller` answering a CallerInfo from a dict (which puts every call through
  the lookup before routing, and publishes CallerIdentified).

Measured around the caller's run: the PBX's CPU seconds (utime + stime of every thread, from
/proc/<pid>/stat) per call, and the setup time (first INVITE to 200, through the 407 challenge:
sipp's "setup" timer, per call from its -trace_rtt file). Printed: both figures for each
configuration and the difference per call in microseconds.

    .venv/bin/python benchmarks/bench_plugins.py [--calls 3000] [--rate 300] [--concurrent 400] [--hold-ms 500]
        [--rounds 2] [--plugins talk_time,live_calls,contacts]   # a subset: what each one costs
"""

from __future__ import annotations

import argparse
import csv
import os
import shutil
import statistics
import sys
import tempfile
import textwrap
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.peers import NO_RATE_LIMITS, SIPP_DIR, free_port, pbx_process, registered_callee, run_sipp  # noqa: E402

PLUGINS = {
    "talk_time": """
        # A sync pbx_event: talk-time totals per callee, folded from CallEnded (in its worker thread).
        from collections import Counter

        from sdk import hookimpl
        from sdk.events import CallEnded

        talk_seconds = Counter()
        calls = Counter()


        @hookimpl
        def pbx_event(event):
            if isinstance(event, CallEnded):
                talk_seconds[event.callee] += event.talk_seconds
                calls[event.callee] += 1


        @hookimpl
        def pbx_shutdown(api):  # what it saw, for the benchmark to check
            api.data_dir.mkdir(parents=True, exist_ok=True)
            (api.data_dir / "seen").write_text(str(sum(calls.values())))
    """,
    "live_calls": """
        # An async pbx_event: the calls up now, by caller, from CallStarted to CallEnded.
        from sdk import hookimpl
        from sdk.events import CallEnded, CallStarted

        live = {}
        longest = 0.0
        ended = [0]


        @hookimpl
        async def pbx_event(event):
            global longest
            if isinstance(event, CallStarted):
                live[event.call_id] = (event.caller, event.at)
            elif isinstance(event, CallEnded):
                started = live.pop(event.call_id, None)
                if started is not None:
                    longest = max(longest, event.at - started[1])
                    ended[0] += 1


        @hookimpl
        def pbx_shutdown(api):
            api.data_dir.mkdir(parents=True, exist_ok=True)
            (api.data_dir / "seen").write_text(str(ended[0]))
    """,
    "contacts": """
        # An async pbx_lookup_caller: who is calling, from a dict.
        from sdk import CallerInfo, hookimpl

        CONTACTS = {
            "1001": {"customer_id": "C-1001", "name": "Ann Smith", "tier": "gold", "vip": True},
            "1003": {"customer_id": "C-1003", "name": "Bob Jones", "tier": "silver", "vip": False},
        }


        asked = [0]


        @hookimpl
        async def pbx_lookup_caller(call):
            asked[0] += 1
            contact = CONTACTS.get(call.caller)
            if contact is None:
                return None
            return CallerInfo(source="contacts", fields={"account": contact["customer_id"]}, **contact)


        @hookimpl
        def pbx_shutdown(api):
            api.data_dir.mkdir(parents=True, exist_ok=True)
            (api.data_dir / "seen").write_text(str(asked[0]))
    """,
}

BUILT_INS_OFF = "  recording: {enabled: false}\n  crm: {enabled: false}\n"


@dataclass
class Run:
    cpu_seconds: float
    calls: int
    elapsed: float
    setup_mean_ms: float
    setup_p50_ms: float
    setup_p99_ms: float
    plugins_seen: str

    @property
    def cpu_per_call_us(self) -> float:
        return self.cpu_seconds / self.calls * 1e6


def cpu_seconds(pid: int) -> float:
    """utime + stime of the process (all its threads), in seconds."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def write_config(workdir: Path, args: argparse.Namespace, with_plugins: bool) -> Path:
    sections = BUILT_INS_OFF
    if with_plugins:
        for name in args.plugins:
            source = PLUGINS[name]
            (workdir / f"{name}.py").write_text(textwrap.dedent(source).lstrip())
            sections += f"  {name}: {{path: {name}.py}}\n"
    return call_config(workdir, args.concurrent, sections)


def call_config(workdir: Path, concurrent: int, plugin_sections: str) -> Path:
    """The PBX of these call benchmarks: 1001 calls 1002, RTP ports for `concurrent` calls, the
    given `plugins:` sections, no admin API, warnings only in the log."""
    config = workdir / "pbx.yaml"
    config.write_text(
        NO_RATE_LIMITS +
        "realm: pbx.test\nadmin: {listen: null}\nlog: {level: warning}\n"
        f"data_dir: {workdir / 'var'}\n"
        f"media: {{rtp_host: 127.0.0.1, rtp_ports: {{low: 30000, high: {30000 + 8 * concurrent + 100}}}}}\n"
        'extensions:\n  "1001": {password: secret1001}\n  "1002": {password: secret1002}\n'
        f"plugins:\n{plugin_sections}"
    )
    return config


def run_caller(port: int, workdir: Path, args: argparse.Namespace) -> tuple[float, int]:
    """sipp's authenticated caller 1001 -> 1002: `args.calls` calls at `args.rate`/s, each held
    `args.hold_ms`, with per-call setup times (-trace_rtt); returns (seconds, failed calls)."""
    users = workdir / "caller.csv"
    users.write_text("SEQUENTIAL\n1001;[authentication username=1001 password=secret1001];1002\n")
    return run_sipp(
        [f"127.0.0.1:{port}", "-sf", str(SIPP_DIR / "call_uac_auth.xml"), "-inf", str(users),
         "-i", "127.0.0.1", "-p", str(free_port()), "-cp", str(free_port()), "-mp", str(free_port()),
         "-m", str(args.calls), "-r", str(args.rate), "-l", str(args.concurrent), "-d", str(args.hold_ms),
         "-timeout", "300s", "-trace_rtt", "-rtt_freq", "1"],
        workdir, "caller", timeout=400)


def alternated(rounds: int, labels: tuple[str, str], run_once, detail=lambda run, on: "") -> dict[bool, list]:
    """`rounds` pairs of runs without (False) and with (True) the thing measured, alternated so
    that drift on the shared machine falls on both; `run_once(workdir, on)` returns a run with
    the fields of Run above (and `failed`), printed as it ends with `detail(run, on)` after."""
    runs: dict[bool, list] = {False: [], True: []}
    with tempfile.TemporaryDirectory() as name:
        for round_number in range(rounds):
            for on in (False, True):
                run = run_once(Path(name) / f"{labels[on]}-{round_number}", on)
                runs[on].append(run)
                print(f"round {round_number + 1} {labels[on]:>4}: {run.cpu_per_call_us:6.0f} us CPU/call, setup mean "
                      f"{run.setup_mean_ms:.2f} ms (p99 {run.setup_p99_ms:.0f}), {run.calls / run.elapsed:.0f} "
                      f"calls/s, {run.failed} failed{detail(run, on)}", flush=True)
    return runs


def summary(runs: dict[bool, list], labels: tuple[str, str]):
    """Print the means of both sides; returns mean(on, field) for what the caller adds."""

    def mean(on: bool, field: str) -> float:
        return statistics.fmean(getattr(run, field) for run in runs[on])

    print(f"{'':6}{'CPU/call':>12}{'setup mean':>12}{'p99':>6}{'failed':>8}")
    for on in (False, True):
        print(f"{labels[on]:6}{mean(on, 'cpu_per_call_us'):>9.0f} us{mean(on, 'setup_mean_ms'):>9.2f} ms"
              f"{mean(on, 'setup_p99_ms'):>6.0f}{mean(on, 'failed'):>8.0f}")
    return mean


def setup_times_ms(workdir: Path) -> tuple[float, float, float]:
    """Mean, p50 and p99 of the per-call setup times from sipp's -trace_rtt file (each in whole ms;
    the mean of thousands of them resolves well below a millisecond)."""
    times = []
    for path in workdir.glob("call_uac_auth_*_rtt.csv"):
        with path.open(newline="") as stream:
            for row in csv.DictReader(stream, delimiter=";"):
                if row["rtd_no"].strip() == "setup":
                    times.append(float(row["response_time_ms"]))
    if not times:
        raise SystemExit(f"no setup times in {workdir}")
    times.sort()
    return statistics.fmean(times), statistics.median(times), times[min(len(times) - 1, int(len(times) * 0.99))]


def one_run(workdir: Path, args: argparse.Namespace, with_plugins: bool) -> Run:
    workdir.mkdir(parents=True)
    config = write_config(workdir, args, with_plugins)
    with pbx_process(config, workdir) as (port, pbx, log_path):
        with registered_callee(port, workdir, args.calls):
            before = cpu_seconds(pbx.pid)
            elapsed, failed = run_caller(port, workdir, args)
            after = cpu_seconds(pbx.pid)
        if failed != 0:
            raise SystemExit(f"{failed} calls failed ({'plugins' if with_plugins else 'none'})")
        if "event=plugin_failed" in log_path.read_text():
            raise SystemExit(f"a plugin failed during the run; see {log_path}")
    # Each plugin wrote at shutdown how many calls it saw: every call (and the registration's
    # none), or the run did not measure what it says.
    seen = {name: int((workdir / "var" / "plugins" / name / "seen").read_text())
            for name in args.plugins if with_plugins}
    if any(count != args.calls for count in seen.values()):
        raise SystemExit(f"the plugins did not see every call: {seen}; see {log_path}")
    mean, p50, p99 = setup_times_ms(workdir)
    return Run(after - before, args.calls, elapsed, mean, p50, p99,
               ",".join(f"{name}:{count}" for name, count in seen.items()) or "-")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--calls", type=int, default=3000)
    parser.add_argument("--rate", type=int, default=300, help="calls started per second")
    parser.add_argument("--concurrent", type=int, default=400, help="sipp -l: most calls up at once")
    parser.add_argument("--hold-ms", type=int, default=500, help="how long each call stays up")
    parser.add_argument("--rounds", type=int, default=2, help="none/3-plugin pairs, alternated")
    parser.add_argument("--plugins", default=",".join(PLUGINS),
                        help=f"which of the plugins to load in the plugin runs (default all: {','.join(PLUGINS)})")
    args = parser.parse_args()
    args.plugins = [name for name in args.plugins.split(",") if name]
    unknown = set(args.plugins) - set(PLUGINS)
    if unknown:
        parser.error(f"unknown plugins {sorted(unknown)}: choose from {', '.join(PLUGINS)}")
    if not shutil.which("sipp"):
        raise SystemExit("sipp is not installed (apt-get install sip-tester)")
    runs: dict[bool, list[Run]] = {False: [], True: []}
    with tempfile.TemporaryDirectory() as name:
        for round_number in range(args.rounds):
            for with_plugins in (False, True):
                label = f"{len(args.plugins)} plugins" if with_plugins else "none"
                workdir = Path(name) / f"{'plugins' if with_plugins else 'none'}-{round_number}"
                run = one_run(workdir, args, with_plugins)
                runs[with_plugins].append(run)
                print(f"round {round_number + 1} {label:>9}: {run.cpu_per_call_us:6.0f} us CPU/call, setup mean "
                      f"{run.setup_mean_ms:.2f} ms (p50 {run.setup_p50_ms:.0f}, p99 {run.setup_p99_ms:.0f}), "
                      f"{run.calls / run.elapsed:.0f} calls/s; calls seen by plugins: {run.plugins_seen}", flush=True)

    def mean(with_plugins: bool, field: str) -> float:
        return statistics.fmean(getattr(run, field) for run in runs[with_plugins])

    print(f"\n{args.calls} calls x {args.rounds} rounds at -r {args.rate}, -l {args.concurrent}, "
          f"{args.hold_ms} ms each")
    print(f"{'':12}{'CPU/call':>12}{'setup mean':>12}{'p50':>6}{'p99':>6}")
    for with_plugins, label in ((False, "none"), (True, f"{len(args.plugins)} plugins")):
        print(f"{label:12}{mean(with_plugins, 'cpu_per_call_us'):>9.0f} us"
              f"{mean(with_plugins, 'setup_mean_ms'):>9.2f} ms"
              f"{mean(with_plugins, 'setup_p50_ms'):>6.0f}{mean(with_plugins, 'setup_p99_ms'):>6.0f}")
    cpu = mean(True, "cpu_per_call_us") - mean(False, "cpu_per_call_us")
    setup = (mean(True, "setup_mean_ms") - mean(False, "setup_mean_ms")) * 1000
    print(f"difference per call: {cpu:+.0f} us CPU, {setup:+.0f} us setup (mean)")


if __name__ == "__main__":
    main()
