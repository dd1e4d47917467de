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

    .venv/bin/python benchmarks/bench_held_calls.py [--calls 10000] [--hold-seconds 60] [--rate 200]

It does not send RTP (the media relay's sockets are open but idle) and measures one process, one core.
"""

from __future__ import annotations

import argparse
import json
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

TARGET_KIB = 11
PAGE_BYTES = os.sysconf("SC_PAGE_SIZE")
# RFC 3261 17.2.1 (Timer H) and 17.2.2 (Timer J) are 64*T1 = 32 s, Timer K (17.1.2.2) is T4 = 5 s.
RELEASE_SECONDS = 64 * 0.5 + 5
PORTS_PER_CALL = 4  # two legs, each an RTP and an RTCP socket (RFC 3550 11)
ADMIN_TOKEN = "pbx_bench-held-calls-token"
WARM_CALLS = 50


@dataclass(frozen=True, eq=False)  # compared by identity: a round's settled reading may be its all-up one
class Reading:
    moment: str
    rss_kib: int
    status: dict


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


def api_status(admin_port: int) -> dict:
    request = urllib.request.Request(f"http://127.0.0.1:{admin_port}/api/status",
                                     headers={"Authorization": f"Bearer {ADMIN_TOKEN}"})
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read())


def read(moment: str, pid: int, admin_port: int) -> Reading:
    return Reading(moment, rss_kib(pid), api_status(admin_port))


def place_calls(port: int, workdir: Path, calls: int, rate: int, hold_ms: int, name: str,
                timeout: float) -> tuple[float, int]:
    args = argparse.Namespace(calls=calls, rate=rate, concurrent=calls + 10, hold_ms=hold_ms)
    # The shared caller arguments carry -timeout 300s; the last one on sipp's command line wins.
    return run_sipp([*caller_arguments(port, write_caller(workdir), args), "-timeout", f"{int(timeout)}s"],
                    workdir, name, timeout=timeout + 30)


def measure(calls: int, hold_seconds: float, rate: int, rtp_ports: tuple[int, int], rounds_wanted: int) -> None:
    admin_port = free_port()
    os.environ["PBX_ADMIN_TOKEN"] = ADMIN_TOKEN  # pbx_process hands the environment over
    lifetime = rounds_wanted * int(calls / rate + hold_seconds + RELEASE_SECONDS + 60)
    with tempfile.TemporaryDirectory() as name:
        workdir = Path(name)
        config = write_config(workdir, admin_port, *rtp_ports)
        with pbx_process(config, workdir) as (port, pbx, log_path), \
                registered_callee(port, workdir, WARM_CALLS + rounds_wanted * calls,
                                  extra_arguments=("-timeout", f"{lifetime + 60}s")):
            place_calls(port, workdir, WARM_CALLS, 50, 100, "warm", timeout=60)
            time.sleep(RELEASE_SECONDS)  # the warm calls' transactions gone too: idle means idle
            idle = read("idle (after warm calls)", pbx.pid, admin_port)

            rounds = [hold_round(port, workdir, pbx.pid, admin_port, calls, hold_seconds, rate, number)
                      for number in range(1, rounds_wanted + 1)]
            peak = peak_rss_kib(pbx.pid)
            ports_exhausted = log_path.read_text(errors="replace").count("PortsExhausted")
    report(calls, hold_seconds, rate, rtp_ports, idle, rounds, peak, ports_exhausted)


@dataclass(frozen=True)
class Round:
    up: Reading  # when every call is up (or the ramp is over)
    settled: Reading  # later in the hold, once the INVITE transactions' Timer H/J and K have run, if the hold allows
    after: Reading  # RELEASE_SECONDS after the last call
    sipp: str  # what sipp said
    ended_after: float


def hold_round(port: int, workdir: Path, pid: int, admin_port: int, calls: int, hold_seconds: float, rate: int,
               number: int) -> Round:
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
        if api_status(admin_port)["calls"] >= calls:
            break
    up = read(f"round {number}: all up ({time.monotonic() - started:.0f} s)", pid, admin_port)
    # The last INVITE's server transaction lingers 64*T1 after its 2xx (RFC 6026 8.7, Timer L / RFC 3261
    # 17.2.1); the first calls end at hold_seconds. Read between the two when there is room.
    settle_at = min(ramp + RELEASE_SECONDS, hold_seconds - 2)
    settled = up
    if settle_at > time.monotonic() - started + 1:
        time.sleep(settle_at - (time.monotonic() - started))
        settled = read(f"round {number}: held, {time.monotonic() - started:.0f} s", pid, admin_port)
    caller.join()
    ended_after = time.monotonic() - started
    time.sleep(RELEASE_SECONDS)
    after = read(f"round {number}: {RELEASE_SECONDS:.0f} s after the last call", pid, admin_port)
    return Round(up, settled, after, outcome[0] if outcome else "sipp did not finish", ended_after)


def report(calls: int, hold_seconds: float, rate: int, rtp_ports: tuple[int, int], idle: Reading,
           rounds: list[Round], peak: int, ports_exhausted: int) -> None:
    print(f"\n{calls:,} calls at {rate}/s held {hold_seconds:g} s, {len(rounds)} round(s), "
          f"RTP ports {rtp_ports[0]}-{rtp_ports[1]}")
    for number, load in enumerate(rounds, 1):
        print(f"  round {number}: sipp done after {load.ended_after:.0f} s, {load.sipp}")
    if ports_exhausted:
        print(f"  the PBX logged PortsExhausted {ports_exhausted} times")
    print(f"  {'moment':<38} {'RSS MiB':>8} {'calls':>6} {'dialogs':>8} {'transactions':>13} {'rtp ports':>10}")
    readings = [idle] + [r for load in rounds for r in dict.fromkeys((load.up, load.settled, load.after))]
    for reading in readings:
        s = reading.status
        print(f"  {reading.moment:<38} {reading.rss_kib / 1024:8.1f} {s.get('calls', '?'):>6} "
              f"{s.get('dialogs', '?'):>8} {s.get('transactions', '?'):>13} {s.get('rtp_ports', '?'):>10}")
    print(f"  peak RSS (VmHWM): {peak / 1024:.1f} MiB")
    first = rounds[0]
    settled_label = ("held, transactions gone" if first.settled.status.get("transactions") == 0
                     else "later in the hold")
    moments = [("all up", first.up)] + ([(settled_label, first.settled)] if first.settled is not first.up else [])
    for label, held in moments:
        up = held.status.get("calls", 0)
        if not up:
            print(f"  {label}: no call was up")
            continue
        per_call = (held.rss_kib - idle.rss_kib) / up
        verdict = "PASS" if per_call <= TARGET_KIB and up >= calls else "FAIL"
        print(f"  per held call ({label}): ({held.rss_kib:,} - {idle.rss_kib:,}) KiB / {up:,} = {per_call:.1f} KiB "
              f"(target {TARGET_KIB} KiB{'' if up >= calls else f', only {up:,} of {calls:,} up'}) -> {verdict}")
    for number, load in enumerate(rounds, 1):
        s = load.after.status
        released = s.get("calls") == 0 and s.get("dialogs") == 0 and s.get("transactions") == 0
        print(f"  after round {number}: RSS {load.after.rss_kib - idle.rss_kib:+,} KiB against idle, "
              f"{s.get('calls')} calls, {s.get('dialogs')} dialogs, {s.get('transactions')} transactions, "
              f"{s.get('rtp_ports')} RTP ports -> {'released' if released else 'NOT released'}")
    if len(rounds) > 1:
        growth = rounds[-1].after.rss_kib - rounds[0].after.rss_kib
        print(f"  growth from the end of round 1 to the end of round {len(rounds)}: {growth:+,} KiB "
              f"({growth / calls / (len(rounds) - 1):+.2f} KiB per call placed) -> "
              f"{'flat' if growth <= 0.02 * rounds[0].after.rss_kib else 'GROWING'}")


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
    args = parser.parse_args()
    if not shutil.which("sipp"):
        raise SystemExit("sipp is not installed (apt-get install sip-tester)")
    rtp_ports = args.rtp_ports or default_rtp_ports()
    fitting = (rtp_ports[1] - rtp_ports[0] + 1) // PORTS_PER_CALL
    calls = args.calls
    if calls > fitting:
        print(f"{calls:,} calls need {calls * PORTS_PER_CALL:,} RTP/RTCP ports; {rtp_ports[0]}-{rtp_ports[1]} "
              f"holds {fitting:,} calls (the ephemeral range starts at {ephemeral_low()}): measuring {fitting:,}. "
              "--rtp-ports LOW-HIGH overrides the range.")
        calls = fitting
    limit = raise_file_limit(calls * PORTS_PER_CALL + 1024)
    if limit < calls * PORTS_PER_CALL + 256:
        calls = (limit - 256) // PORTS_PER_CALL
        print(f"RLIMIT_NOFILE is {limit}: measuring {calls:,} calls")
    measure(calls, args.hold_seconds, args.rate, rtp_ports, args.rounds)


if __name__ == "__main__":
    main()
