"""`pbx run --workers N`: N worker processes on one SIP port, started and watched from here.

The supervisor is a small parent that holds no call. It chooses what the workers must agree
on (the SIP ports when the config says 0, a loopback channel socket per worker, the digest
secret), starts the workers one after the other (each waits for the one before to be ready,
so database migrations never race), forwards SIGTERM, SIGINT and SIGHUP to them, and starts
again a worker that dies (its calls are lost, the others' are not). It exits when every worker
has exited after a stop, with the worst exit status.
"""

from __future__ import annotations

import contextlib
import logging
import os
import select
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Sequence

from ..config import Listen
from .place import ENVIRONMENT_VARIABLE, WorkerPlace

log = logging.getLogger("pbx.workers")

READY_TIMEOUT = 120.0  # seconds a worker may take to start (prompts rendered, database migrated)
RESTART_DELAY = 1.0
EXIT_WAIT = 5.0  # seconds for a worker's exit status once its readiness pipe closed without "ready"
CHANNEL_BUFFER = 4 * 1024 * 1024


def chosen_ports(listen: Sequence[Listen]) -> list[tuple[str, str, int]]:
    """Every listener with a real port: port 0 asks the system for a free one now, so that all
    workers bind the same."""
    chosen = []
    for entry in listen:
        port = entry.port
        if port == 0:
            kind = socket.SOCK_DGRAM if entry.transport == "udp" else socket.SOCK_STREAM
            family = socket.AF_INET6 if ":" in entry.host else socket.AF_INET
            with socket.socket(family, kind) as probe:
                probe.bind((entry.host, 0))
                port = probe.getsockname()[1]
        chosen.append((entry.transport, entry.host, port))
    return chosen


class Supervisor:
    def __init__(self, argv: Sequence[str], listen: Sequence[Listen], count: int) -> None:
        self.argv = list(argv)
        self.count = count
        self.listen = chosen_ports(listen)
        self.secret = os.urandom(32).hex()
        self.channels = [_channel_socket() for _ in range(count)]
        self.channel_ports = [channel.getsockname()[1] for channel in self.channels]
        self.workers: list[subprocess.Popen | None] = [None] * count
        self.stopping = False
        self.failed_status = 0  # the exit status of a worker that could not start (the PBX exits with it)

    def run(self) -> int:
        for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            signal.signal(signum, self._on_signal)
        try:
            for index in range(self.count):
                if self.stopping or not self._start(index):
                    stopped_by_signal = self.stopping  # SIGTERM or SIGINT while starting: a clean stop
                    self.stopping = True
                    self._signal_all(signal.SIGTERM)
                    worst = self._watch()
                    return worst if stopped_by_signal else max(worst, self.failed_status, 1)
            else:
                log.info("event=workers_ready count=%d sip=%s", self.count,
                         " ".join(f"{kind}:{host}:{port}" for kind, host, port in self.listen))
            return self._watch()
        finally:
            for channel in self.channels:
                channel.close()

    def _start(self, index: int) -> bool:
        """Start worker `index` and wait until it is ready; False when it exits or hangs first."""
        read_end, write_end = os.pipe()
        channel = self.channels[index]
        place = WorkerPlace(index=index, count=self.count, channel_ports=self.channel_ports,
                            channel_fd=channel.fileno(), ready_fd=write_end, listen=self.listen, secret=self.secret)
        environment = {**os.environ, ENVIRONMENT_VARIABLE: place.encode()}
        worker = subprocess.Popen([sys.executable, "-m", "pbx", *self.argv], env=environment,
                                  pass_fds=(channel.fileno(), write_end))
        os.close(write_end)
        self.workers[index] = worker
        try:
            deadline = time.monotonic() + READY_TIMEOUT
            while time.monotonic() < deadline and worker.poll() is None and not self.stopping:
                readable, _, _ = select.select([read_end], [], [], 0.2)
                if readable:
                    if os.read(read_end, 16).startswith(b"ready"):
                        log.info("event=worker_ready worker=%d pid=%d", index, worker.pid)
                        return True
                    # The pipe closed: the worker is exiting before it was ready. Its exit status
                    # comes a moment after its descriptors close: wait for it, to report it.
                    with contextlib.suppress(subprocess.TimeoutExpired):
                        worker.wait(EXIT_WAIT)
                    break
        finally:
            os.close(read_end)
        if not self.stopping:
            self.failed_status = abs(worker.poll() or 1)
            log.error("event=worker_not_ready worker=%d status=%s", index, worker.poll())
        return False

    def _watch(self) -> int:
        worst = 0
        while any(worker is not None for worker in self.workers):
            time.sleep(0.2)
            for index, worker in enumerate(self.workers):
                if worker is None or (status := worker.poll()) is None:
                    continue
                self.workers[index] = None
                if self.stopping:
                    log.info("event=worker_stopped worker=%d status=%d", index, status)
                    worst = max(worst, abs(status))
                    continue
                log.error("event=worker_died worker=%d status=%d restarting_in=%s", index, status, RESTART_DELAY)
                time.sleep(RESTART_DELAY)
                if not self.stopping and not self._start(index):
                    self.stopping = True
                    worst = 1
                    self._signal_all(signal.SIGTERM)
        return worst

    def _on_signal(self, signum: int, _frame) -> None:
        if signum != signal.SIGHUP:
            self.stopping = True
        self._signal_all(signum)

    def _signal_all(self, signum: int) -> None:
        for worker in self.workers:
            if worker is not None and worker.poll() is None:
                worker.send_signal(signum)


def _channel_socket() -> socket.socket:
    channel = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    channel.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, CHANNEL_BUFFER)
    channel.bind(("127.0.0.1", 0))
    channel.set_inheritable(True)
    return channel
