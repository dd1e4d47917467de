"""What the admin API costs call setup: the same sipp load with and without API clients attached.

The same sipp load (authenticated caller 1001 -> sipp callee 1002, `--rate` calls/s, each held
`--hold-ms`) runs through a PBX without the admin API (`admin.listen: null`) and through one with
it and its clients at work, in the same run, alternated:
- `--streams` WebSocket clients on /api/events taking every event (a wallboard each; at 300
  calls/s that is some 2,000 events/s for each of them),
- `--pollers` clients reading /api/calls and /api/status once a second (supervisor pages).
For each: the PBX's CPU seconds per call (/proc/<pid>/stat, all threads), setup time (sipp's
INVITE-to-200 "setup" timer, mean and p99), calls/s achieved and failed calls. The clients run
in this process and share the machine's 2 cores with sipp and the PBX.

    .venv/bin/python benchmarks/bench_admin_api.py [--calls 6000] [--rate 300] [--streams 20] [--pollers 5]
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import shutil
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.bench_plugins import (  # noqa: E402
    BUILT_INS_OFF, alternated, call_config, cpu_seconds, run_caller, setup_times_ms, summary,
)
from benchmarks.peers import free_port, pbx_process, registered_callee  # noqa: E402

SECRET = "pbx_bench-admin-api"


@dataclass
class Run:
    cpu_seconds: float
    calls: int
    failed: int
    elapsed: float
    setup_mean_ms: float
    setup_p99_ms: float
    frames: int = 0
    polls: int = 0

    @property
    def cpu_per_call_us(self) -> float:
        return self.cpu_seconds / self.calls * 1e6


def write_config(workdir: Path, args: argparse.Namespace, admin_port: int | None) -> Path:
    config = call_config(workdir, args.concurrent, BUILT_INS_OFF)
    if admin_port is not None:
        digest = hashlib.sha256(SECRET.encode()).hexdigest()
        text = config.read_text().replace(
            "admin: {listen: null}",
            f"admin: {{listen: {{host: 127.0.0.1, port: {admin_port}}}, "
            f"tokens: [{{name: bench, role: supervisor, sha256: {digest}}}]}}")
        config.write_text(text)
    return config


class Clients:
    """The API's clients, on an event loop in a thread of their own while sipp runs."""

    def __init__(self, port: int, streams: int, pollers: int) -> None:
        self.port, self.streams, self.pollers = port, streams, pollers
        self.frames = self.polls = 0
        self.errors: list[str] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=lambda: asyncio.run(self._run()), daemon=True)
        self._connected = threading.Event()

    def __enter__(self) -> Clients:
        self._thread.start()
        if not self._connected.wait(10):
            raise SystemExit(f"the API clients did not connect: {self.errors}")
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join(10)

    async def _run(self) -> None:
        import aiohttp

        base = f"http://127.0.0.1:{self.port}"
        headers = {"Authorization": f"Bearer {SECRET}"}
        async with aiohttp.ClientSession(headers=headers, connector=aiohttp.TCPConnector(limit=0)) as session:
            sockets = [await session.ws_connect(f"{base}/api/events", max_msg_size=0) for _ in range(self.streams)]

            async def stream(socket) -> None:
                async for message in socket:
                    self.frames += message.data.count("\n") + 1

            async def poll() -> None:
                while not self._stop.is_set():
                    for path in ("/api/calls", "/api/status"):
                        async with session.get(base + path) as answer:
                            if answer.status != 200:
                                self.errors.append(f"{path}: {answer.status}")
                            await answer.read()
                    self.polls += 1
                    await asyncio.sleep(1.0)

            tasks = [asyncio.create_task(stream(socket)) for socket in sockets]
            tasks += [asyncio.create_task(poll()) for _ in range(self.pollers)]
            self._connected.set()
            while not self._stop.is_set():
                await asyncio.sleep(0.1)
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            for socket in sockets:
                await socket.close()


def one_run(workdir: Path, args: argparse.Namespace, with_api: bool) -> Run:
    workdir.mkdir(parents=True)
    admin_port = free_port() if with_api else None
    config = write_config(workdir, args, admin_port)
    with pbx_process(config, workdir) as (port, pbx, log_path):
        with registered_callee(port, workdir, args.calls):
            clients = Clients(admin_port, args.streams, args.pollers) if with_api else None
            if clients is not None:
                clients.__enter__()
            try:
                before = cpu_seconds(pbx.pid)
                elapsed, failed = run_caller(port, workdir, args)
                after = cpu_seconds(pbx.pid)
            finally:
                if clients is not None:
                    clients.__exit__(None, None, None)
    if clients is not None and clients.errors:
        raise SystemExit(f"API errors during the run: {clients.errors[:5]}")
    mean, _, p99 = setup_times_ms(workdir)
    return Run(after - before, args.calls, failed, elapsed, mean, p99,
               clients.frames if clients else 0, clients.polls if clients else 0)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--calls", type=int, default=6000)
    parser.add_argument("--rate", type=int, default=300, help="calls started per second")
    parser.add_argument("--concurrent", type=int, default=400, help="sipp -l: most calls up at once")
    parser.add_argument("--hold-ms", type=int, default=500, help="how long each call stays up")
    parser.add_argument("--streams", type=int, default=20, help="WebSocket clients taking every event")
    parser.add_argument("--pollers", type=int, default=5, help="clients reading /api/calls and /api/status each second")
    parser.add_argument("--rounds", type=int, default=2, help="without/with pairs, alternated")
    args = parser.parse_args()
    if not shutil.which("sipp"):
        raise SystemExit("sipp is not installed (apt-get install sip-tester)")
    labels = ("none", "api")
    runs = alternated(args.rounds, labels, lambda workdir, on: one_run(workdir, args, on),
                      lambda run, on: f"; {run.frames:,} event frames to {args.streams} streams, {run.polls} polls"
                      if on else "")
    print(f"\n{args.calls} calls x {args.rounds} rounds at -r {args.rate}, -l {args.concurrent}, {args.hold_ms} ms each; "
          f"API: {args.streams} event streams + {args.pollers} pollers")
    mean = summary(runs, labels)
    cpu = mean(True, "cpu_per_call_us") - mean(False, "cpu_per_call_us")
    setup = (mean(True, "setup_mean_ms") - mean(False, "setup_mean_ms")) * 1000
    print(f"admin API per call: {cpu:+.0f} us CPU in the PBX, {setup:+.0f} us setup (mean)")


if __name__ == "__main__":
    main()
