"""Event fan-out of the admin API's WebSocket stream: N clients, R events/s, delivery latency.

The server is a process of its own running the real admin app (pbx.admin.make_admin_app: the
gate, tokens, the EventJournal on a real EventBus) on uvloop as `pbx run` does, publishing
QueueJoined events at the given rate, each stamped with the wall clock when published. This
process connects the clients over TCP on 127.0.0.1, each with a token, and measures for every
frame received `received - published`. Both share the machine's 2 cores, as a PBX and the
wallboards' browsers would not: the figure is pessimistic.

    .venv/bin/python benchmarks/bench_event_stream.py --clients 200 --rate 500 --seconds 10

It prints the latency percentiles, the frames delivered against those expected (a gap is a
failure) and the server's CPU share.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import msgspec

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

SECRET = "pbx_bench-event-stream"


class Stamp(msgspec.Struct):
    at: float


class Frame(msgspec.Struct):
    id: int
    event: Stamp


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


# The server process -----------------------------------------------------------------------------


async def serve(port: int, rate: float) -> None:
    from aiohttp import web

    from pbx.admin import AdminContext, AuditLog, Tokens, make_admin_app
    from pbx.admin.stream import EventJournal
    from pbx.admin.tokens import TokenRecord, hash_secret
    from pbx.bus import EventBus
    from pbx.sip.registrar import Registrar, RegistrarSettings
    from sdk.events import Event, QueueJoined

    bus, journal = EventBus(), EventJournal()
    bus.subscribe(Event, journal.on_event)
    context = AdminContext(clock=time.time, status=dict, registrar=Registrar(RegistrarSettings(), "bench"),
                           events=journal)
    tokens = Tokens([TokenRecord("wallboard", "read-only", hash_secret(SECRET))])
    runner = web.AppRunner(make_admin_app(context, tokens=tokens, audit=AuditLog()), access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    print("ready", flush=True)
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)  # "go"
    interval, sent, started = 1.0 / rate, 0, time.monotonic()
    while True:  # publish on schedule: late ticks publish what is due, so the rate holds
        due = int((time.monotonic() - started) / interval) + 1
        while sent < due:
            sent += 1
            bus.publish(QueueJoined(at=time.time(), call_id=f"c{sent}", queue="sales", caller_number="555",
                                    priority=0, position=1))
        await asyncio.sleep(max(0.0, started + sent * interval - time.monotonic()))


# The clients ------------------------------------------------------------------------------------------


async def measure(port: int, clients: int, seconds: float, warmup: float, server: subprocess.Popen) -> dict:
    import aiohttp

    decoder = msgspec.json.Decoder(Frame)
    latencies: list[float] = []
    counted: list[int] = [0] * clients
    window = {"start": float("inf"), "end": float("inf")}

    async def client(number: int, session: aiohttp.ClientSession) -> None:
        async with session.ws_connect(f"http://127.0.0.1:{port}/api/events?types=QueueJoined&access_token={SECRET}",
                                      max_msg_size=0) as socket:
            async for message in socket:
                now = time.time()
                for line in message.data.split("\n"):
                    frame = decoder.decode(line)
                    if window["start"] <= frame.event.at < window["end"]:
                        latencies.append(now - frame.event.at)
                        counted[number] += 1

    connector = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(connector=connector) as session:
        tasks = [asyncio.create_task(client(number, session)) for number in range(clients)]
        await asyncio.sleep(1.0)  # every client connected
        cpu_before = _cpu_seconds(server.pid)
        server.stdin.write(b"go\n")
        server.stdin.flush()
        window["start"] = time.time() + warmup
        window["end"] = window["start"] + seconds
        await asyncio.sleep(warmup + seconds + 0.5)
        cpu = _cpu_seconds(server.pid) - cpu_before
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    latencies.sort()
    return {"latencies": latencies, "per_client": counted, "server_cpu": cpu / (warmup + seconds + 0.5)}


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def percentile(values: list[float], share: float) -> float:
    return values[min(len(values) - 1, int(share * len(values)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=200)
    parser.add_argument("--rate", type=float, default=500.0, help="events published per second")
    parser.add_argument("--seconds", type=float, default=10.0, help="the measured window")
    parser.add_argument("--warmup", type=float, default=2.0)
    parser.add_argument("--serve", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    try:
        import uvloop
    except ImportError:
        uvloop = None
    if args.serve:
        (uvloop.run if uvloop else asyncio.run)(serve(args.serve, args.rate))
        return
    port = free_port()
    server = subprocess.Popen([sys.executable, __file__, "--serve", str(port), "--rate", str(args.rate)],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, cwd=ROOT)
    try:
        assert server.stdout.readline().strip() == b"ready", "the server did not start"
        result = (uvloop.run if uvloop else asyncio.run)(
            measure(port, args.clients, args.seconds, args.warmup, server))
    finally:
        server.kill()
        server.wait()
    latencies, per_client = result["latencies"], result["per_client"]
    expected = int(args.rate * args.seconds)
    print(f"{args.clients} clients, {args.rate:.0f} events/s for {args.seconds:.0f} s "
          f"({args.clients * args.rate:,.0f} frames/s delivered in all)")
    print(f"  frames delivered per client: min {min(per_client)}, max {max(per_client)} (expected ~{expected})")
    print(f"  delivery latency: p50 {percentile(latencies, 0.50) * 1000:.1f} ms, "
          f"p99 {percentile(latencies, 0.99) * 1000:.1f} ms, max {latencies[-1] * 1000:.1f} ms")
    print(f"  server process CPU: {result['server_cpu'] * 100:.0f}% of one core")
    short = [count for count in per_client if count < expected * 0.98]
    if short:
        print(f"  FAIL: {len(short)} clients got fewer than 98% of the frames")
        sys.exit(1)


if __name__ == "__main__":
    main()
