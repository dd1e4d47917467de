"""Process and port plumbing for the end-to-end tests.

Starts the PBX as a real subprocess (``python -m pbx run``) on free loopback ports, runs peers
(sipp, baresip, svwar, pyVoIP scripts) in the foreground under a hard timeout with their output
in files, and reads the admin API.  It deliberately knows nothing about SIP: raw SIP lives in
``sipmsg.py``, sipp command lines in ``sipp_runner.py``, baresip in ``baresip.py``.

Everything binds 127.0.0.1.  Ports come from the kernel (bind to port 0), never 5060 and never
sipp's default control port 8888.
"""

from __future__ import annotations

import ctypes
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Self

import pytest
import yaml

REPO_ROOT = Path(__file__).resolve().parents[2]
LOOPBACK = "127.0.0.1"
READY_MARKER = "event=ready"


# --------------------------------------------------------------------------------------------
# ports


class PortPicker:
    """Hands out loopback ports that are free for both UDP and TCP at the time of asking.

    The kernel picks the port (bind to 0); a port is never handed out twice in one session, so
    two peers started in the same test cannot collide on a port we chose ourselves. Under
    pytest-xdist the ports are dealt in chunks of CHUNK by worker, so a port one worker picked
    (and released until its peer binds it) is never picked by another.
    """

    CHUNK = 64

    def __init__(self) -> None:
        self._handed_out: set[int] = set()
        worker = os.environ.get("PYTEST_XDIST_WORKER", "")
        self._workers = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1")) if worker.startswith("gw") else 1
        self._worker = int(worker[2:]) if self._workers > 1 else 0

    def _ours(self, port: int) -> bool:
        return port // self.CHUNK % self._workers == self._worker

    def port(self) -> int:
        """A port free for UDP and TCP on 127.0.0.1."""
        for _ in range(200 * self._workers):
            candidate = self._kernel_port(socket.SOCK_DGRAM)
            if not self._ours(candidate) or candidate in self._handed_out or not _is_free(candidate, socket.SOCK_STREAM):
                continue
            self._handed_out.add(candidate)
            return candidate
        raise RuntimeError("no loopback port free for both UDP and TCP after 200 tries")

    def block(self, size: int) -> int:
        """The first of ``size`` consecutive ports, all free for UDP and TCP.

        sipp's media port (-mp) also opens the ports just above it, and baresip wants an RTP range.
        """
        for _ in range(200 * self._workers * 4):
            first = self._kernel_port(socket.SOCK_DGRAM)
            block = range(first, first + size)
            if first + size > 65535 or not all(self._ours(p) for p in block) or any(p in self._handed_out for p in block):
                continue
            if all(_is_free(p, socket.SOCK_DGRAM) and _is_free(p, socket.SOCK_STREAM) for p in block):
                self._handed_out.update(block)
                return first
        raise RuntimeError(f"no block of {size} free loopback ports after 200 tries")

    @staticmethod
    def _kernel_port(kind: int) -> int:
        with socket.socket(socket.AF_INET, kind) as sock:
            sock.bind((LOOPBACK, 0))
            return sock.getsockname()[1]


def _is_free(port: int, kind: int) -> bool:
    with socket.socket(socket.AF_INET, kind) as sock:
        if kind == socket.SOCK_STREAM:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((LOOPBACK, port))
        except OSError:
            return False
        return True


# --------------------------------------------------------------------------------------------
# peers


# Linux prctl, looked up once in the parent so the child runs no import or library lookup.
_PRCTL = ctypes.CDLL(None, use_errno=True).prctl if sys.platform == "linux" else None
_PR_SET_PDEATHSIG = 1


def _die_with_parent() -> None:
    """Runs in the child before exec: SIGKILL it when the test process dies (PR_SET_PDEATHSIG).

    Our own teardown normally stops every child; this covers pytest itself being killed, so a
    PBX or a peer never outlives the run and keeps its ports.
    """
    if _PRCTL is not None:
        _PRCTL(_PR_SET_PDEATHSIG, signal.SIGKILL)


def require_binary(name: str, apt_package: str) -> str:
    """Path of a peer binary; skip the test (fail under CI) when it is not installed."""
    path = shutil.which(name)
    if path is not None:
        return path
    message = f"{name} not found on PATH; install it with: apt-get install {apt_package}"
    if os.environ.get("CI"):
        pytest.fail(message)
    pytest.skip(message)


@dataclass(frozen=True)
class PeerResult:
    """How a foreground peer run ended, and where its output went."""

    command: list[str]
    returncode: int
    timed_out: bool
    elapsed: float
    stdout_path: Path
    stderr_path: Path

    @property
    def stdout(self) -> str:
        return self.stdout_path.read_text(errors="replace")

    @property
    def stderr(self) -> str:
        return self.stderr_path.read_text(errors="replace")

    def describe(self, tail_lines: int = 40) -> str:
        """A failure message: command, rc and the tail of both output streams."""
        return (
            f"command: {' '.join(self.command)}\n"
            f"rc={self.returncode} timed_out={self.timed_out} elapsed={self.elapsed:.1f}s\n"
            f"--- stdout ({self.stdout_path}) ---\n{tail(self.stdout, tail_lines)}\n"
            f"--- stderr ({self.stderr_path}) ---\n{tail(self.stderr, tail_lines)}"
        )


def run_peer(
    command: list[str],
    *,
    timeout: float,
    workdir: Path,
    name: str | None = None,
    env: dict[str, str] | None = None,
    stdin_data: bytes | None = None,
) -> PeerResult:
    """Run a peer in the foreground, in its own process group, killed after ``timeout`` seconds.

    Output goes to ``workdir/<name>.stdout`` and ``.stderr``.  On timeout the whole process group
    gets SIGTERM, then SIGKILL two seconds later, so a peer that forks cannot outlive the test.
    """
    name = name or Path(command[0]).name
    workdir.mkdir(parents=True, exist_ok=True)
    stdout_path = workdir / f"{name}.stdout"
    stderr_path = workdir / f"{name}.stderr"
    started = time.monotonic()
    with stdout_path.open("wb") as out, stderr_path.open("wb") as err:
        process = subprocess.Popen(
            command,
            cwd=workdir,
            stdin=subprocess.PIPE if stdin_data is not None else subprocess.DEVNULL,
            stdout=out,
            stderr=err,
            env=env,
            start_new_session=True,
            preexec_fn=_die_with_parent,  # noqa: PLW1509 - the test process starts no threads
        )
        timed_out = False
        try:
            process.communicate(stdin_data, timeout=timeout)
        except subprocess.TimeoutExpired:
            timed_out = True
            stop_process_group(process, grace=2.0)
        except BaseException:
            # the test's own time bound (SIGALRM) or ^C: never leave the peer behind
            stop_process_group(process, grace=2.0)
            raise
    return PeerResult(
        command=list(command),
        returncode=process.returncode,
        timed_out=timed_out,
        elapsed=time.monotonic() - started,
        stdout_path=stdout_path,
        stderr_path=stderr_path,
    )


def stop_process_group(process: subprocess.Popen, *, grace: float, first: int = signal.SIGTERM) -> int:
    """Signal a process started with ``start_new_session=True`` and its group; SIGKILL after ``grace``."""
    if process.poll() is None:
        _signal_group(process, first)
        try:
            return process.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            _signal_group(process, signal.SIGKILL)
    return process.wait(timeout=5)


def _signal_group(process: subprocess.Popen, signum: int) -> None:
    try:
        os.killpg(process.pid, signum)
    except ProcessLookupError:
        pass


def tail(text: str, lines: int) -> str:
    return "\n".join(text.splitlines()[-lines:])


def wait_for(predicate, *, timeout: float, interval: float = 0.1, what: str = "condition"):
    """Poll ``predicate`` until it returns a truthy value; fail the test after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() >= deadline:
            pytest.fail(f"timed out after {timeout:.1f}s waiting for {what}")
        time.sleep(interval)


# --------------------------------------------------------------------------------------------
# the PBX


def extensions_config(numbers, password=lambda number: f"secret{number}") -> dict[str, dict[str, str]]:
    """``extensions:`` mapping for the given extension numbers."""
    return {str(number): {"password": password(number)} for number in numbers}


def pbx_config(sip_port: int, admin_port: int, extensions: dict[str, dict[str, Any]], **overrides) -> dict:
    """A complete PBX config document (the contract's example, on our ports)."""
    config = {
        "realm": "pbx.test",
        "sip": {
            "listen": [
                {"transport": "udp", "host": LOOPBACK, "port": sip_port},
                {"transport": "tcp", "host": LOOPBACK, "port": sip_port},
            ]
        },
        "registrar": {"min_expires": 60, "max_expires": 7200, "default_expires": 3600},
        "auth": {"nonce_lifetime": 300},
        "admin": {"listen": {"host": LOOPBACK, "port": admin_port}},
        "extensions": extensions,
    }
    config.update(overrides)
    return config


# The admin API token every PBX started by the tests knows (role admin): PbxProcess.start hands
# it over in PBX_ADMIN_TOKEN, as a container's secret would be (the config is left alone).
ADMIN_TOKEN = "pbx_e2e-admin-token-used-by-the-tests-only"


@dataclass
class PbxProcess:
    """A running ``python -m pbx run`` with its ports, log file and admin API."""

    config_path: Path
    log_path: Path
    sip_port: int
    admin_port: int
    process: subprocess.Popen | None = None
    returncode: int | None = None
    extra_args: list[str] = field(default_factory=list)
    # How the PBX is started: `python -m pbx` from the repository by default; a test of the
    # installed console script gives its path and another working directory.
    program: list[str] = field(default_factory=lambda: [sys.executable, "-m", "pbx"])
    cwd: Path = REPO_ROOT

    @property
    def host(self) -> str:
        return LOOPBACK

    @property
    def sip_address(self) -> tuple[str, int]:
        return (LOOPBACK, self.sip_port)

    @property
    def admin_url(self) -> str:
        return f"http://{LOOPBACK}:{self.admin_port}"

    def command(self) -> list[str]:
        return [
            *self.program, "run",
            "--config", str(self.config_path),
            "--sip-listen", f"{LOOPBACK}:{self.sip_port}",
            "--admin-listen", f"{LOOPBACK}:{self.admin_port}",
            "--sip-trace",
            *self.extra_args,
        ]  # fmt: skip

    def start(self, ready_timeout: float = 15.0) -> None:
        env = dict(os.environ)
        env["PBX_ADMIN_TOKEN"] = ADMIN_TOKEN
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO_ROOT), env.get("PYTHONPATH")]))
        env["PYTHONUNBUFFERED"] = "1"
        with self.log_path.open("wb") as log:
            self.process = subprocess.Popen(
                self.command(),
                cwd=self.cwd,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=env,
                start_new_session=True,
                preexec_fn=_die_with_parent,  # noqa: PLW1509 - the test process starts no threads
            )
        deadline = time.monotonic() + ready_timeout
        while time.monotonic() < deadline:
            if READY_MARKER in self.log_text():
                return
            if self.process.poll() is not None:
                self.returncode = self.process.returncode
                raise PbxStartError(f"PBX exited with rc={self.returncode} before '{READY_MARKER}'", self)
            time.sleep(0.05)
        self.stop()
        raise PbxStartError(f"PBX did not log '{READY_MARKER}' within {ready_timeout:.0f}s", self)

    def stop(self, signum: int = signal.SIGTERM, grace: float = 5.0) -> int | None:
        """SIGTERM (or ``signum``), then SIGKILL after ``grace`` seconds; returns the exit code."""
        if self.process is None:
            return None
        if self.returncode is None:
            if self.process.poll() is None:
                # Signal the PBX itself first: a clean shutdown is part of the contract. A first
                # SIGTERM drains calls in progress (calls.drain_seconds); a second stops at once.
                self.process.send_signal(signum)
                try:
                    self.process.wait(timeout=min(grace, 2.0) if signum == signal.SIGTERM else grace)
                except subprocess.TimeoutExpired:
                    try:
                        if signum != signal.SIGTERM:
                            raise
                        self.process.send_signal(signal.SIGTERM)
                        self.process.wait(timeout=max(grace - 2.0, 1.0))
                    except subprocess.TimeoutExpired:
                        _signal_group(self.process, signal.SIGKILL)
                        self.process.wait(timeout=5)
            self.returncode = self.process.returncode
        return self.returncode

    def is_alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def log_text(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def log_tail(self, lines: int = 60) -> str:
        return tail(self.log_text(), lines)

    def api(self, path: str, timeout: float = 5.0) -> Any:
        """GET an admin API path (with the test's admin token) and decode its JSON body."""
        with urllib.request.urlopen(self.admin_request(path), timeout=timeout) as response:
            return json.loads(response.read())

    def admin_request(self, path: str, method: str = "GET", body: Any = None,
                      token: str = ADMIN_TOKEN) -> urllib.request.Request:
        """A request to the admin API carrying `token` (the test's admin token by default)."""
        data = None if body is None else json.dumps(body).encode()
        headers = {"Authorization": f"Bearer {token}"}
        if data is not None:
            headers["Content-Type"] = "application/json"
        return urllib.request.Request(self.admin_url + path, data=data, method=method, headers=headers)

    def registrations(self) -> list[dict[str, Any]]:
        return self.api("/api/registrations")


class PbxStartError(Exception):
    def __init__(self, message: str, pbx: PbxProcess) -> None:
        super().__init__(f"{message}\ncommand: {' '.join(pbx.command())}\n--- log tail ---\n{pbx.log_tail()}")


def write_config(path: Path, config: dict) -> Path:
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


class BackgroundPeer:
    """A peer running beside the test (a sipp stub, baresip, a pyVoIP script), output in files.

    It runs in its own process group.  ``lifetime`` is a hard bound: ``stop()`` (or leaving the
    ``with`` block) ends it, and ``wait()`` never waits longer than what is left of the lifetime.
    """

    def __init__(
        self, command: list[str], *, workdir: Path, name: str, lifetime: float, env: dict[str, str] | None = None
    ) -> None:
        workdir.mkdir(parents=True, exist_ok=True)
        self.command = list(command)
        self.name = name
        self.stdout_path = workdir / f"{name}.stdout"
        self.stderr_path = workdir / f"{name}.stderr"
        self.deadline = time.monotonic() + lifetime
        with self.stdout_path.open("wb") as out, self.stderr_path.open("wb") as err:
            self.process = subprocess.Popen(
                self.command, cwd=workdir, stdin=subprocess.DEVNULL, stdout=out, stderr=err,
                env=env, start_new_session=True,
                preexec_fn=_die_with_parent,  # noqa: PLW1509 - the test process starts no threads
            )  # fmt: skip

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info) -> None:
        self.stop()

    @property
    def stdout(self) -> str:
        return self.stdout_path.read_text(errors="replace")

    @property
    def stderr(self) -> str:
        return self.stderr_path.read_text(errors="replace")

    def is_alive(self) -> bool:
        return self.process.poll() is None

    def wait(self) -> int:
        """Wait for the peer to exit on its own, but not past its lifetime; then stop it."""
        try:
            return self.process.wait(timeout=max(0.1, self.deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            return self.stop()

    def stop(self, first: int = signal.SIGTERM, grace: float = 2.0) -> int:
        return stop_process_group(self.process, grace=grace, first=first)

    def describe(self, tail_lines: int = 40) -> str:
        return (
            f"command: {' '.join(self.command)}\nrc={self.process.poll()}\n"
            f"--- stdout ({self.stdout_path}) ---\n{tail(self.stdout, tail_lines)}\n"
            f"--- stderr ({self.stderr_path}) ---\n{tail(self.stderr, tail_lines)}"
        )
