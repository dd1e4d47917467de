"""What the benchmarks share: free ports, starting `pbx run`, running sipp in the foreground."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SIPP_DIR = ROOT / "tests" / "e2e" / "sipp"


def free_port() -> int:
    """A port free for both UDP and TCP on 127.0.0.1."""
    while True:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
            udp.bind(("127.0.0.1", 0))
            port = udp.getsockname()[1]
        with socket.socket() as tcp:
            try:
                tcp.bind(("127.0.0.1", port))
            except OSError:
                continue
        return port


def wait_until_answering(port: int, pbx: subprocess.Popen, log_path: Path) -> None:
    """Send OPTIONS until the PBX answers (it logs at warning level here, so no ready line)."""
    probe = (
        "OPTIONS sip:127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:9;branch=z9hG4bK{n};rport\r\n"
        "From: <sip:bench@127.0.0.1>;tag=b\r\nTo: <sip:127.0.0.1>\r\nCall-ID: probe{n}\r\nCSeq: 1 OPTIONS\r\n"
        "Content-Length: 0\r\n\r\n"
    )
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        sock.settimeout(0.2)
        for attempt in range(75):
            if pbx.poll() is not None:
                break
            sock.sendto(probe.format(n=attempt).encode(), ("127.0.0.1", port))
            try:
                sock.recv(65535)
                return
            except TimeoutError:
                continue
    raise SystemExit(f"the PBX did not start:\n{log_path.read_text()[-2000:]}")


@contextmanager
def pbx_process(config: Path, workdir: Path, workers: int = 1):
    """`pbx run` on a free port for the duration of the block; yields (SIP port, process, log path).
    The log holds its stdout and stderr (the bus events, for benchmarks that count them). With
    `workers`, the process is the supervisor of that many workers (pbx/workers/)."""
    port = free_port()
    log_path = workdir / "pbx.log"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    with log_path.open("w") as log:
        pbx = subprocess.Popen([sys.executable, "-m", "pbx", "run", "--config", str(config),
                                "--sip-listen", f"127.0.0.1:{port}", "--workers", str(workers)],
                               env=env, stdout=log, stderr=log)
    try:
        wait_until_answering(port, pbx, log_path)
        if workers > 1:
            wait_for_workers(pbx, workers)
        yield port, pbx, log_path
    finally:
        terminate(pbx, grace=15)


def wait_for_workers(supervisor: subprocess.Popen, workers: int, timeout: float = 60.0) -> None:
    """Until the supervisor has `workers` children that each wrote their readiness (a worker's
    children, such as a plugin's writer, count too: good enough for a benchmark's config)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        children = Path(f"/proc/{supervisor.pid}/task/{supervisor.pid}/children").read_text().split()
        if len(children) >= workers:
            time.sleep(2.0)  # the last one binds the port right after it starts: let it settle
            return
        time.sleep(0.2)
    raise SystemExit(f"the PBX did not start {workers} workers within {timeout} s")


def terminate(process: subprocess.Popen, grace: float) -> None:
    """SIGTERM, then SIGKILL if it has not exited within `grace` seconds."""
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(grace)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(5)


@contextmanager
def running_pbx(config: Path, workdir: Path):
    """`pbx run` on a free port for the duration of the block; yields the SIP port."""
    with pbx_process(config, workdir) as (port, _, _):
        yield port


@contextmanager
def registered_callee(port: int, workdir: Path, calls: int, extension: str = "1002",
                      extra_arguments: tuple[str, ...] = ()):
    """A sipp UAS registered at the PBX on `port` as `extension` (password secret<extension>),
    answering up to `calls` calls, for the duration of the block. `extra_arguments` go on the
    callee's sipp command line (bench_cps.py: its statistics file)."""
    users = workdir / "callee.csv"
    users.write_text(f"SEQUENTIAL\n{extension};[authentication username={extension} password=secret{extension}];3600\n")
    callee_port = free_port()
    run_sipp([f"127.0.0.1:{port}", "-sf", str(SIPP_DIR / "call_reg_auth.xml"), "-inf", str(users),
              "-i", "127.0.0.1", "-p", str(callee_port), "-cp", str(free_port()), "-m", "1"], workdir, "register")
    callee = subprocess.Popen(
        ["sipp", "-sf", str(SIPP_DIR / "call_uas.xml"), "-i", "127.0.0.1", "-p", str(callee_port),
         "-cp", str(free_port()), "-mp", str(free_port()), "-m", str(calls), "-nostdin", "-timeout", "300s",
         *extra_arguments],
        cwd=workdir, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    try:
        yield callee
    finally:
        callee.kill()
        callee.wait(10)
        # Unregister (Expires: 0 from the same port): a binding left behind would make the next
        # step's calls fork to a dead sipp too, retransmitting INVITEs and CANCELs to it.
        users.write_text(f"SEQUENTIAL\n{extension};[authentication username={extension} password=secret{extension}];0\n")
        run_sipp([f"127.0.0.1:{port}", "-sf", str(SIPP_DIR / "call_reg_auth.xml"), "-inf", str(users),
                  "-i", "127.0.0.1", "-p", str(callee_port), "-cp", str(free_port()), "-m", "1"], workdir, "unregister")


def run_sipp(arguments: list[str], workdir: Path, name: str, timeout: float = 180) -> tuple[float, int]:
    """Run sipp in the foreground; return (seconds it took, failed calls). Exits on a sipp error."""
    screen = workdir / f"{name}.screen"
    command = ["sipp", *arguments, "-nostdin", "-trace_screen", "-screen_file", str(screen)]
    start = time.perf_counter()
    result = subprocess.run(command, cwd=workdir, capture_output=True, text=True, timeout=timeout)
    elapsed = time.perf_counter() - start
    text = screen.read_text(errors="replace") if screen.exists() else result.stdout
    failed = re.search(r"Failed call\s*\|\s*\d+\s*\|\s*(\d+)", text)
    failures = int(failed.group(1)) if failed else -1
    if result.returncode != 0:
        raise SystemExit(f"sipp {name} failed (rc {result.returncode}, failed calls {failures}):\n{result.stderr[-1500:]}")
    return elapsed, failures


# Benchmarks push hundreds of requests a second from one address and one user: a flood by the
# PBX's default limits (security.per_source / per_user, pbx/sip/guard.py). Their configs lift them.
NO_RATE_LIMITS = ("security: {per_source: {invite: 0, register: 0, burst: 1}, "
                  "per_user: {invite: 0, register: 0, burst: 1}}\n")
