"""REGISTER + digest auth throughput, in process and over UDP with sipp, with sipp's own stub as the yardstick.

1. In process: the pure SipEndpoint answers REGISTER -> 401 -> REGISTER with
   credentials -> 200 for rotating users; registrations (two transactions
   each) per second of one core.
2. Over UDP: sipp (the shipped reg_uac_auth.xml scenario, N users from CSV)
   against `pbx run`, then the same sipp run against a sipp registrar stub
   that also verifies the digest (reg_uas_stub.xml). Printed: completed
   registrations per second for both, and the ratio PBX / sipp stub.

    .venv/bin/python benchmarks/bench_register.py [--calls 5000] [--rate 3000]
"""

from __future__ import annotations

import argparse
import itertools
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.peers import NO_RATE_LIMITS, SIPP_DIR, free_port, run_sipp, running_pbx  # noqa: E402
from pbx.sip.transaction import Peer  # noqa: E402
from tests.unit.sipkit import authorization, challenge_params, make_endpoint, only_response, register, wire  # noqa: E402


def in_process(seconds: float) -> float:
    """Registrations per second of endpoint time: only `SipEndpoint.receive` is timed,
    not the test client that builds requests and answers challenges."""
    endpoint = make_endpoint(max_bindings=1000)
    users = ["1001", "1002"]
    now = 1_000_000.0
    count = 0
    in_endpoint = 0.0
    clock = time.perf_counter
    start = clock()
    for number in itertools.count():
        user = users[number % 2]
        call_id = f"bench-{number}"
        peer = Peer("udp", "127.0.0.1", 10000 + number % 50000)
        challenge_request = wire(register(user, call_id=call_id))
        began = clock()
        actions = endpoint.receive(challenge_request, peer, now)
        in_endpoint += clock() - began
        extra = authorization(challenge_params(only_response(actions)), user, f"secret{user}")
        answer = wire(register(user, call_id=call_id, cseq=2, extra=extra))
        began = clock()
        actions = endpoint.receive(answer, peer, now)
        in_endpoint += clock() - began
        assert only_response(actions).status == 200
        count += 1
        if number % 200 == 0:
            now += 1.0
            began = clock()
            endpoint.handle_timer(now)
            in_endpoint += clock() - began
            if clock() - start > seconds:
                break
    rate = count / in_endpoint
    print(f"in-process REGISTER+auth: {rate:,.0f} registrations/s of endpoint time ({2 * rate:,.0f} transactions/s, "
          f"{1e6 / rate:.0f} us per registration)")
    return rate


def write_users(directory: Path, count: int) -> tuple[Path, Path]:
    numbers = [str(3000 + index) for index in range(count)]
    uac = directory / "users.csv"
    uac.write_text("SEQUENTIAL\n" + "".join(f"{n};[authentication username={n} password=secret{n}];\n" for n in numbers))
    stub = directory / "registrar_users.csv"
    stub.write_text("RANDOM\n" + "".join(f"{n};secret{n}\n" for n in numbers))
    config = directory / "pbx.yaml"
    config.write_text(NO_RATE_LIMITS + "realm: pbx.test\nadmin: {listen: null}\nlog: {level: warning}\nregistrar: {max_bindings: 1000}\n"
                      "extensions:\n" + "".join(f'  "{n}": {{password: secret{n}}}\n' for n in numbers))
    return uac, stub


def run_sipp_uac(port: int, users: Path, calls: int, rate: int, workdir: Path) -> float:
    elapsed, _ = run_sipp(
        [f"127.0.0.1:{port}", "-sf", str(SIPP_DIR / "reg_uac_auth.xml"), "-inf", str(users), "-i", "127.0.0.1",
         "-p", str(free_port()), "-cp", str(free_port()), "-m", str(calls), "-r", str(rate), "-l", "400",
         "-timeout", "120s"],
        workdir, "register",
    )
    return calls / elapsed


def over_udp(calls: int, rate: int) -> None:
    if not shutil.which("sipp"):
        print("sipp not installed: skipping the over-the-wire measurement (apt-get install sip-tester)")
        return
    with tempfile.TemporaryDirectory() as name:
        workdir = Path(name)
        users, stub_users = write_users(workdir, min(calls, 1000))
        with running_pbx(workdir / "pbx.yaml", workdir) as port:
            pbx_rate = run_sipp_uac(port, users, calls, rate, workdir)
        stub_port = free_port()
        stub = subprocess.Popen(
            ["sipp", "-sf", str(SIPP_DIR / "reg_uas_stub.xml"), "-inf", str(stub_users), "-infindex",
             "registrar_users.csv", "0", "-i", "127.0.0.1", "-p", str(stub_port), "-cp", str(free_port()),
             "-nostdin", "-timeout", "150s"],
            cwd=workdir, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        try:
            time.sleep(0.5)
            stub_rate = run_sipp_uac(stub_port, users, calls, rate, workdir)
        finally:
            stub.kill()
            stub.wait(10)
    print(f"sipp -> pbx      REGISTER+auth: {pbx_rate:,.0f} registrations/s ({calls} calls at -r {rate}, 0 failed)")
    print(f"sipp -> sipp stub REGISTER+auth: {stub_rate:,.0f} registrations/s")
    print(f"ratio pbx / sipp stub: {pbx_rate / stub_rate:.2f}")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--calls", type=int, default=5000)
    parser.add_argument("--rate", type=int, default=3000)
    args = parser.parse_args()
    in_process(args.seconds)
    over_udp(args.calls, args.rate)


if __name__ == "__main__":
    main()
