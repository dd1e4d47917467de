"""Memory per held call: N calls held at once through the PBX, its resident memory read before, during and after.

Issue 16 asks for at most 11 KiB of resident memory (RSS) per held call, measured with 10,000 calls held
for 60 s, and for transaction and dialog state to be released on time (RFC 3261 timers), nothing growing
after the calls end. This measures exactly that:

1. `pbx run` with the rate limits lifted, `media.inactivity_timeout: 0` (sipp sends no RTP, and the
   RTP-inactivity timeout would end every held call) and an RTP port range that holds every call: each
   call has two legs, each with an RTP and an RTCP socket, so 4 UDP ports and 4 file descriptors per call.
   The range stays below the kernel's ephemeral range (/proc/sys/net/ipv4/ip_local_port_range), so
   sipp's and the PBX's own sockets never race the relay; `--rtp-ports LOW-HIGH` overrides it. The
   PBX inherits a RLIMIT_NOFILE raised here for those descriptors. The admin API is on, with a token.
2. A few warm calls (parsers, caches and pools warm), then the idle RSS.
3. sipp's authenticated caller (tests/e2e/sipp/call_uac_auth.xml: every INVITE challenged and answered
   with digest) places `--calls` calls at `--rate` calls/s to a registered sipp callee, each held
   `--hold-seconds`. Once /api/status counts every call up, the held RSS is read:
   (held - idle) / N is the figure per held call.
   When the hold leaves room, a second reading once the INVITE transactions are gone (64*T1 after
   the last 2xx) shows a held call alone: its dialogs, legs and sockets.
4. After the last BYE, 64*T1 + T4 = 37 s (Timer H/J, RFC 3261 17.2.1/17.2.2; Timer K, 17.1.2.2, is
   T4), the RSS again and /api/status's calls, dialogs and transactions, which must all be 0.
5. `--rounds` (default 2) repeats 3-4 on the same PBX: CPython rarely gives freed memory back to the
   system, so the RSS after round 1 stays near the peak; what matters is that round 2 does not add to it.

`--workers N` (default 1) runs `pbx run --workers N` (pbx/workers/): a supervisor and N worker
processes, each holding about calls/N calls. RLIMIT_NOFILE is per process, so N workers hold N times
the calls one process can (each worker also has its 1/N share of the RTP range). The RSS is then the
sum over the supervisor and every process below it (/proc/<pid>/task/*/children), shown per process
too, and the counts are /api/status's `worker.all`: worker 0's own plus the others' latest tallies
(each up to a second old). With one worker the RSS is the PBX process's and the counts are
/api/status's top level, as before. When the calls do not fit, it measures as many as each process's
RTP share and RLIMIT_NOFILE hold, times N, less a margin for the uneven split of calls by the hash of
their Call-ID, and says so.

    .venv/bin/python benchmarks/bench_held_calls.py [--calls 10000] [--hold-seconds 60] [--rate 200] [--workers N]

It does not send RTP (the media relay's sockets are open but idle).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import resource
import shutil
import sys
import tempfile
import threading
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.bench_calls import caller_arguments, write_caller  # noqa: E402
from benchmarks.peers import NO_RATE_LIMITS, free_port, pbx_process, registered_callee, run_sipp  # noqa: E402
from pbx.workers.place import ENVIRONMENT_VARIABLE, port_range_of  # noqa: E402

TARGET_KIB = 11
PAGE_BYTES = os.sysconf("SC_PAGE_SIZE")
# RFC 3261 17.2.1 (Timer H) and 17.2.2 (Timer J) are 64*T1 = 32 s, Timer K (17.1.2.2) is T4 = 5 s.
RELEASE_SECONDS = 64 * 0.5 + 5
PORTS_PER_CALL = 4  # two legs, each an RTP and an RTCP socket (RFC 3550 11)
ADMIN_TOKEN = "pbx_bench-held-calls-token"
WARM_CALLS = 50
FD_HEADROOM = 256  # a process's descriptors besides the relay's: SIP, admin, database, logs
SPLIT_SIGMAS = 4  # calls go to workers by a hash of their Call-ID: leave room for an uneven split


@dataclass(frozen=True, eq=False)  # compared by identity: a round's settled reading may be its all-up one
class Reading:
    moment: str
    processes: dict[str, int]  # RSS KiB by process ("pbx"; or "supervisor", "worker 0", ...)
    status: dict  # GET /api/status as it came
    counts: dict  # its top level (one process) or its worker.all (workers)

    @property
    def rss_kib(self) -> int:
        return sum(self.processes.values())

    @property
    def workers(self) -> list[dict]:
        """/api/status's worker.workers rows (worker mode), else none."""
        return self.status.get("worker", {}).get("workers", [])


def ephemeral_low() -> int:
    return int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])


def default_rtp_ports() -> tuple[int, int]:
    """From 1024 up to just below the kernel's ephemeral ports."""
    return 1024, ephemeral_low() - 1


def write_config(workdir: Path, admin_port: int, rtp_low: int, rtp_high: int) -> Path:
    config = workdir / "pbx.yaml"
    config.write_text(
        NO_RATE_LIMITS +
        f"realm: pbx.test\nadmin: {{listen: {{host: 127.0.0.1, port: {admin_port}}}}}\nlog: {{level: warning}}\n"
        f"media: {{rtp_host: 127.0.0.1, rtp_ports: {{low: {rtp_low}, high: {rtp_high}}}, inactivity_timeout: 0}}\n"
        'extensions:\n  "1001": {password: secret1001}\n  "1002": {password: secret1002}\n'
    )
    return config


def raise_file_limit(needed: int) -> int:
    """Raise RLIMIT_NOFILE (soft, and hard when allowed) for this process and the PBX it starts."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft >= needed:
        return soft
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (needed, max(hard, needed)))
    except (ValueError, OSError):  # not allowed above the hard limit: take what there is
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def rss_kib(pid: int) -> int:
    """Resident pages from /proc/<pid>/statm (proc(5)), in KiB."""
    return int(Path(f"/proc/{pid}/statm").read_text().split()[1]) * PAGE_BYTES // 1024


def peak_rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    return 0


def process_tree(root: int) -> dict[int, int]:
    """`root` and every process below it, each with its parent, from each thread's list of
    children (/proc/<pid>/task/<tid>/children, proc(5))."""
    tree = {root: 0}
    waiting = [root]
    while waiting:
        parent = waiting.pop()
        for children in Path(f"/proc/{parent}/task").glob("*/children"):
            try:
                found = [int(child) for child in children.read_text().split()]
            except FileNotFoundError:  # the thread or the process ended meanwhile
                continue
            tree.update(dict.fromkeys(found, parent))
            waiting += found
    return tree


def process_label(pid: int, parent: int, root: int) -> str:
    """"supervisor", "worker K" (a child of the supervisor, from the PBX_WORKER it was given), or
    "child PID" (what a worker started, such as a plugin's writer)."""
    if pid == root:
        return "supervisor"
    if parent == root:
        for entry in Path(f"/proc/{pid}/environ").read_bytes().split(b"\0"):
            name, _, value = entry.partition(b"=")
            if name == ENVIRONMENT_VARIABLE.encode():
                return f"worker {json.loads(value)['index']}"
    return f"child {pid}"


def memory(pid: int, workers: int) -> dict[str, int]:
    """RSS KiB by process: the PBX alone, or the supervisor and everything below it."""
    if workers == 1:
        return {"pbx": rss_kib(pid)}
    by_process = {}
    for member, parent in process_tree(pid).items():
        try:
            by_process[process_label(member, parent, pid)] = rss_kib(member)
        except (FileNotFoundError, ProcessLookupError):  # it exited between the listing and the reading
            continue
    return dict(sorted(by_process.items(), key=lambda item: _label_order(item[0])))


def _label_order(label: str) -> tuple[int, int]:
    kind, _, number = label.partition(" ")
    return ["supervisor", "worker", "child"].index(kind), int(number or 0)


def peak_memory_kib(pid: int, workers: int) -> int:
    """VmHWM of the PBX, or the sum of each process's (their peaks need not coincide: an upper bound)."""
    return sum(peak_rss_kib(member) for member in (process_tree(pid) if workers > 1 else [pid]))


def api_status(admin_port: int) -> dict:
    request = urllib.request.Request(f"http://127.0.0.1:{admin_port}/api/status",
                                     headers={"Authorization": f"Bearer {ADMIN_TOKEN}"})
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read())


def counts_of(status: dict) -> dict:
    """The counts of the whole PBX: worker.all with workers, else the top level."""
    return status["worker"]["all"] if "worker" in status else status


def read(moment: str, pid: int, admin_port: int, workers: int) -> Reading:
    status = api_status(admin_port)
    return Reading(moment, memory(pid, workers), status, counts_of(status))


def place_calls(port: int, workdir: Path, calls: int, rate: int, hold_ms: int, name: str,
                timeout: float) -> tuple[float, int]:
    args = argparse.Namespace(calls=calls, rate=rate, concurrent=calls + 10, hold_ms=hold_ms)
    # The shared caller arguments carry -timeout 300s; the last one on sipp's command line wins.
    return run_sipp([*caller_arguments(port, write_caller(workdir), args), "-timeout", f"{int(timeout)}s"],
                    workdir, name, timeout=timeout + 30)


def measure(calls: int, hold_seconds: float, rate: int, rtp_ports: tuple[int, int], rounds_wanted: int,
            workers: int) -> None:
    admin_port = free_port()
    os.environ["PBX_ADMIN_TOKEN"] = ADMIN_TOKEN  # pbx_process hands the environment over
    lifetime = rounds_wanted * int(calls / rate + hold_seconds + RELEASE_SECONDS + 60)
    with tempfile.TemporaryDirectory() as name:
        workdir = Path(name)
        config = write_config(workdir, admin_port, *rtp_ports)
        with pbx_process(config, workdir, workers) as (port, pbx, log_path), \
                registered_callee(port, workdir, WARM_CALLS + rounds_wanted * calls,
                                  extra_arguments=("-timeout", f"{lifetime + 60}s")):
            place_calls(port, workdir, WARM_CALLS, 50, 100, "warm", timeout=60)
            time.sleep(RELEASE_SECONDS)  # the warm calls' transactions gone too: idle means idle
            idle = read("idle (after warm calls)", pbx.pid, admin_port, workers)

            rounds = [hold_round(port, workdir, pbx.pid, admin_port, workers, calls, hold_seconds, rate, number)
                      for number in range(1, rounds_wanted + 1)]
            peak = peak_memory_kib(pbx.pid, workers)
            ports_exhausted = log_path.read_text(errors="replace").count("PortsExhausted")
    report(calls, hold_seconds, rate, rtp_ports, workers, idle, rounds, peak, ports_exhausted)


@dataclass(frozen=True)
class Round:
    up: Reading  # when every call is up (or the ramp is over)
    settled: Reading  # later in the hold, once the INVITE transactions' Timer H/J and K have run, if the hold allows
    after: Reading  # RELEASE_SECONDS after the last call
    sipp: str  # what sipp said
    ended_after: float


def hold_round(port: int, workdir: Path, pid: int, admin_port: int, workers: int, calls: int, hold_seconds: float,
               rate: int, number: int) -> Round:
    """One load: `calls` calls placed at `rate`, each held `hold_seconds`; the PBX read three times."""
    ramp = calls / rate
    lifetime = int(ramp + hold_seconds + 120)
    outcome: list[str] = []

    def run_caller() -> None:
        try:
            _, failed = place_calls(port, workdir, calls, rate, int(hold_seconds * 1000), f"held{number}",
                                    timeout=lifetime)
            outcome.append(f"{failed} failed")
        except SystemExit as error:  # sipp exits 1 when a call failed
            outcome.append(str(error).splitlines()[0])

    caller = threading.Thread(target=run_caller, daemon=True)
    started = time.monotonic()
    caller.start()
    while time.monotonic() - started < ramp + min(hold_seconds / 2, 30) and caller.is_alive():
        time.sleep(1)
        if counts_of(api_status(admin_port))["calls"] >= calls:
            break
    up = read(f"round {number}: all up ({time.monotonic() - started:.0f} s)", pid, admin_port, workers)
    # The last INVITE's server transaction lingers 64*T1 after its 2xx (RFC 6026 8.7, Timer L / RFC 3261
    # 17.2.1); the first calls end at hold_seconds. Read between the two when there is room.
    settle_at = min(ramp + RELEASE_SECONDS, hold_seconds - 2)
    settled = up
    if settle_at > time.monotonic() - started + 1:
        time.sleep(settle_at - (time.monotonic() - started))
        settled = read(f"round {number}: held, {time.monotonic() - started:.0f} s", pid, admin_port, workers)
    caller.join()
    ended_after = time.monotonic() - started
    time.sleep(RELEASE_SECONDS)
    after = read(f"round {number}: {RELEASE_SECONDS:.0f} s after the last call", pid, admin_port, workers)
    return Round(up, settled, after, outcome[0] if outcome else "sipp did not finish", ended_after)


def report(calls: int, hold_seconds: float, rate: int, rtp_ports: tuple[int, int], workers: int, idle: Reading,
           rounds: list[Round], peak: int, ports_exhausted: int) -> None:
    print(f"\n{calls:,} calls at {rate}/s held {hold_seconds:g} s, {len(rounds)} round(s), "
          f"RTP ports {rtp_ports[0]}-{rtp_ports[1]}" + (f", {workers} workers" if workers > 1 else ""))
    if workers > 1:
        print("  RSS: the sum over the supervisor and every process below it (/proc/<pid>/statm), per process below;\n"
              "  counts: /api/status's worker.all, worker 0's own plus the other workers' latest tallies "
              "(each up to 1 s old)")
    else:
        print("  RSS: the PBX process (/proc/<pid>/statm); counts: /api/status's top level")
    for number, load in enumerate(rounds, 1):
        print(f"  round {number}: sipp done after {load.ended_after:.0f} s, {load.sipp}")
    if ports_exhausted:
        print(f"  the PBX logged PortsExhausted {ports_exhausted} times")
    print(f"  {'moment':<38} {'RSS MiB':>8} {'calls':>6} {'dialogs':>8} {'transactions':>13} {'rtp ports':>10}")
    readings = [idle] + [r for load in rounds for r in dict.fromkeys((load.up, load.settled, load.after))]
    for reading in readings:
        s = reading.counts
        print(f"  {reading.moment:<38} {reading.rss_kib / 1024:8.1f} {s.get('calls', '?'):>6} "
              f"{s.get('dialogs', '?'):>8} {s.get('transactions', '?'):>13} {s.get('rtp_ports', '?'):>10}")
    if workers > 1:
        print("  per process, RSS MiB (calls in the worker's latest tally):")
        for reading in readings:
            print(f"    {reading.moment:<38} {per_process(reading)}")
    print(f"  peak RSS (VmHWM): {peak / 1024:.1f} MiB" + (", the sum of each process's" if workers > 1 else ""))
    first = rounds[0]
    settled_label = ("held, transactions gone" if first.settled.counts.get("transactions") == 0
                     else "later in the hold")
    moments = [("all up", first.up)] + ([(settled_label, first.settled)] if first.settled is not first.up else [])
    for label, held in moments:
        up = held.counts.get("calls", 0)
        if not up:
            print(f"  {label}: no call was up")
            continue
        per_call = (held.rss_kib - idle.rss_kib) / up
        verdict = "PASS" if per_call <= TARGET_KIB and up >= calls else "FAIL"
        print(f"  per held call ({label}): ({held.rss_kib:,} - {idle.rss_kib:,}) KiB / {up:,} = {per_call:.1f} KiB "
              f"(target {TARGET_KIB} KiB{'' if up >= calls else f', only {up:,} of {calls:,} up'}) -> {verdict}")
    for number, load in enumerate(rounds, 1):
        s = load.after.counts
        released = s.get("calls") == 0 and s.get("dialogs") == 0 and s.get("transactions") == 0
        print(f"  after round {number}: RSS {load.after.rss_kib - idle.rss_kib:+,} KiB against idle, "
              f"{s.get('calls')} calls, {s.get('dialogs')} dialogs, {s.get('transactions')} transactions, "
              f"{s.get('rtp_ports')} RTP ports -> {'released' if released else 'NOT released'}")
    if len(rounds) > 1:
        growth = rounds[-1].after.rss_kib - rounds[0].after.rss_kib
        print(f"  growth from the end of round 1 to the end of round {len(rounds)}: {growth:+,} KiB "
              f"({growth / calls / (len(rounds) - 1):+.2f} KiB per call placed) -> "
              f"{'flat' if growth <= 0.02 * rounds[0].after.rss_kib else 'GROWING'}")
    stale = sorted({row["index"] for reading in readings for row in reading.workers if row["stale"]})
    if stale:
        print(f"  worker(s) {', '.join(map(str, stale))} had stale or missing counts in some reading: "
              "worker.all holds their last word")


def per_process(reading: Reading) -> str:
    """`supervisor 30.1 | worker 0 95.2 (1,650) | worker 1 93.8 (1,702) | ...`."""
    rows = {f"worker {row['index']}": row for row in reading.workers}
    parts = []
    for label, kib in reading.processes.items():
        row = rows.get(label)
        held = ("" if row is None else " (no counts)" if "calls" not in row
                else f" ({row['calls']:,}{', stale' if row['stale'] else ''})")
        parts.append(f"{label} {kib / 1024:.1f}{held}")
    return " | ".join(parts)


def parse_ports(text: str) -> tuple[int, int]:
    low, high = (int(part) for part in text.split("-"))
    return low, high


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=10_000)
    parser.add_argument("--hold-seconds", type=float, default=60)
    parser.add_argument("--rate", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=2,
                        help="loads one after the other on the same PBX: the second shows whether memory keeps growing")
    parser.add_argument("--rtp-ports", type=parse_ports, metavar="LOW-HIGH",
                        help="the PBX's RTP range (default: 1024 up to the kernel's ephemeral ports)")
    parser.add_argument("--workers", type=int, default=1,
                        help="pbx run --workers N (pbx/workers/): each worker holds about calls/N calls")
    args = parser.parse_args()
    if not shutil.which("sipp"):
        raise SystemExit("sipp is not installed (apt-get install sip-tester)")
    rtp_ports = args.rtp_ports or default_rtp_ports()
    limit = raise_file_limit(args.calls * PORTS_PER_CALL + 1024)  # per process: a worker never needs more
    calls = most_calls(args.calls, args.workers, rtp_ports, limit)
    measure(calls, args.hold_seconds, args.rate, rtp_ports, args.rounds, args.workers)


def most_calls(wanted: int, workers: int, rtp_ports: tuple[int, int], file_limit: int) -> int:
    """`wanted`, or fewer when a process's share of the RTP range or its RLIMIT_NOFILE cannot hold
    its share of the calls (4 ports and 4 descriptors a call); says why when it is fewer."""
    low, high = rtp_ports
    shares = [port_range_of(low, high, index, workers) for index in range(workers)]
    by_ports = min(last - first + 1 for first, last in shares) // PORTS_PER_CALL
    by_files = (file_limit - FD_HEADROOM) // PORTS_PER_CALL
    per_process = min(by_ports, by_files)
    most = evenly_enough(per_process, workers)
    if wanted <= most:
        return wanted
    each = "" if workers == 1 else " per worker"
    print(f"{wanted:,} calls need {wanted * PORTS_PER_CALL:,} RTP/RTCP ports and as many file descriptors. "
          f"RTP ports {low}-{high} hold {by_ports:,} calls{each} (the ephemeral range starts at {ephemeral_low()}; "
          f"--rtp-ports LOW-HIGH overrides the range); RLIMIT_NOFILE {file_limit:,} holds {by_files:,}{each}.")
    if workers > 1:
        print(f"{workers} workers x {per_process:,} = {workers * per_process:,}, less {workers * per_process - most:,} "
              f"for an uneven split of the calls by their Call-ID's hash ({SPLIT_SIGMAS} sigma).")
    print(f"Measuring {most:,} calls.")
    return most


def evenly_enough(per_process: int, workers: int) -> int:
    """The most calls whose busiest worker stays within `per_process`: each call picks a worker by
    a hash of its Call-ID, so a worker's share of x calls is binomial, x/N + SPLIT_SIGMAS * sigma at
    worst; solved for x (a quadratic in sqrt(x))."""
    if workers == 1:
        return per_process
    share = 1 / workers
    spread = SPLIT_SIGMAS * math.sqrt(share * (1 - share))
    root = (-spread + math.sqrt(spread * spread + 4 * share * per_process)) / (2 * share)
    return int(root * root)

if __name__ == "__main__":
    main()
