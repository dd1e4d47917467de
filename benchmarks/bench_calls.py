"""Call throughput through the B2BUA, with sipp calling sipp directly as the yardstick.

sipp's authenticated caller (tests/e2e/sipp/call_uac_auth.xml: INVITE -> 407
-> INVITE with credentials -> 180 -> 200 -> ACK -> pause -> BYE) calls
extension 1002, which a sipp callee (call_uas.xml) registered from its own
port. Every call is two SIP legs, two dialogs and two relay port pairs in
the PBX. Then the same caller runs against a sipp stub that challenges and
answers by itself (call_uas_auth_stub.xml): "sipp alone". Printed: completed
calls per second both ways, failed calls, and the ratio.

    .venv/bin/python benchmarks/bench_calls.py [--calls 2000] [--rate 200] [--concurrent 200] [--hold-ms 1000]
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.peers import NO_RATE_LIMITS, SIPP_DIR, free_port, registered_callee, run_sipp, running_pbx  # noqa: E402


def caller_arguments(port: int, users: Path, args: argparse.Namespace) -> list[str]:
    return [f"127.0.0.1:{port}", "-sf", str(SIPP_DIR / "call_uac_auth.xml"), "-inf", str(users), "-i", "127.0.0.1",
            "-p", str(free_port()), "-cp", str(free_port()), "-mp", str(free_port()), "-m", str(args.calls),
            "-r", str(args.rate), "-l", str(args.concurrent), "-d", str(args.hold_ms), "-timeout", "300s"]


def write_caller(workdir: Path) -> Path:
    users = workdir / "caller.csv"
    users.write_text("SEQUENTIAL\n1001;[authentication username=1001 password=secret1001];1002\n")
    return users


def through_pbx(workdir: Path, args: argparse.Namespace) -> tuple[float, int]:
    (workdir / "pbx.yaml").write_text(
        NO_RATE_LIMITS +
        "realm: pbx.test\nadmin: {listen: null}\nlog: {level: warning}\n"
        f"media: {{rtp_host: 127.0.0.1, rtp_ports: {{low: 30000, high: {30000 + 8 * args.concurrent + 100}}}}}\n"
        'extensions:\n  "1001": {password: secret1001}\n  "1002": {password: secret1002}\n'
    )
    caller_users = write_caller(workdir)
    with running_pbx(workdir / "pbx.yaml", workdir) as port, registered_callee(port, workdir, args.calls):
        elapsed, failed = run_sipp(caller_arguments(port, caller_users, args), workdir, "caller", timeout=400)
    return args.calls / elapsed, failed


def sipp_alone(workdir: Path, args: argparse.Namespace) -> tuple[float, int]:
    stub_users = workdir / "stub_users.csv"
    stub_users.write_text("RANDOM\n1001;secret1001\n")
    caller_users = write_caller(workdir)
    port = free_port()
    stub = subprocess.Popen(
        ["sipp", "-sf", str(SIPP_DIR / "call_uas_auth_stub.xml"), "-inf", str(stub_users), "-infindex",
         stub_users.name, "0", "-i", "127.0.0.1", "-p", str(port), "-cp", str(free_port()), "-mp", str(free_port()),
         "-nostdin", "-timeout", "300s"],
        cwd=workdir, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    try:
        elapsed, failed = run_sipp(caller_arguments(port, caller_users, args), workdir, "direct", timeout=400)
    finally:
        stub.kill()
        stub.wait(10)
    return args.calls / elapsed, failed


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--calls", type=int, default=2000)
    parser.add_argument("--rate", type=int, default=200, help="calls started per second")
    parser.add_argument("--concurrent", type=int, default=200, help="sipp -l: most calls up at once")
    parser.add_argument("--hold-ms", type=int, default=1000, help="how long each call stays up")
    args = parser.parse_args()
    if not shutil.which("sipp"):
        raise SystemExit("sipp is not installed (apt-get install sip-tester)")
    with tempfile.TemporaryDirectory() as name:
        pbx_rate, pbx_failed = through_pbx(Path(name), args)
    with tempfile.TemporaryDirectory() as name:
        direct_rate, direct_failed = sipp_alone(Path(name), args)
    print(f"sipp -> pbx -> sipp: {pbx_rate:,.0f} calls/s ({args.calls} calls at -r {args.rate}, -l {args.concurrent}, "
          f"{args.hold_ms} ms each), {pbx_failed} failed")
    print(f"sipp -> sipp stub:   {direct_rate:,.0f} calls/s, {direct_failed} failed")
    print(f"ratio pbx / sipp alone: {pbx_rate / direct_rate:.2f}")


if __name__ == "__main__":
    main()
