"""RTP relay throughput and added latency, with phone-to-phone as the yardstick, in one run.

N calls are 2N streams of RTP (20 ms, 172-byte G.711 packets by default)
sent by plain UDP sockets in this process, paced by one asyncio timer that
sends a tenth of the streams every 2 ms (so streams are spread over the
20 ms as real calls are). The payload carries the send time, so each
receiver measures one-way latency.

1. direct: each phone sends straight to the other (no relay);
2. relay: the same traffic through one `MediaRelay`, which runs in a child
   process on its own core, as in the PBX.

Printed for both: packets received per second, loss, latency p50/p99;
then what the relay adds and what it costs (CPU of one core, us/packet).

    .venv/bin/python benchmarks/bench_relay.py [--calls 100] [--seconds 5] [--loop uvloop]
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import random
import socket
import struct
import sys
import time
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from pbx.media import MediaRelay  # noqa: E402

LOOPBACK = "127.0.0.1"
HEADER = struct.Struct("!BBHII")  # RFC 3550 5.1 fixed header
STAMP = struct.Struct("!QI")  # send time (ns) and stream number, at the start of the payload
SLICES = 10


def new_loop(name: str) -> asyncio.AbstractEventLoop:
    if name == "uvloop":
        import uvloop

        return uvloop.new_event_loop()
    return asyncio.new_event_loop()


# The relay, in a child process ------------------------------------------------------------------


def relay_process(conn: Connection, loop_name: str, calls: int) -> None:
    loop = new_loop(loop_name)
    # Below Linux's ephemeral ports (32768 up), where the phones' sockets land.
    size = 4 * calls + 64
    low = random.randrange(10000, max(10002, 32768 - size), 2)
    relay = MediaRelay(LOOPBACK, low, low + size - 1, clock=time.monotonic, loop=loop)
    endpoints = [relay.open_endpoint(f"leg{n}") for n in range(2 * calls)]
    conn.send([endpoint.port for endpoint in endpoints])
    for endpoint, phone in zip(endpoints, conn.recv()):
        endpoint.expect(LOOPBACK, phone)
    for a, b in zip(endpoints[::2], endpoints[1::2]):
        relay.link(a, b)
    loop.add_reader(conn.fileno(), loop.stop)
    conn.send("ready")
    cpu_before = time.process_time()
    loop.run_forever()
    cpu = time.process_time() - cpu_before
    conn.recv()
    relayed = sum(endpoint.stats.packets_out for endpoint in endpoints)
    dropped = sum(endpoint.stats.dropped for endpoint in endpoints)
    relay.close()
    loop.close()
    conn.send((relayed, dropped, cpu))


# The phones, in this process ------------------------------------------------------------------


@dataclass
class Result:
    sent: int = 0
    received: int = 0
    latencies: list[float] = field(default_factory=list)  # milliseconds
    seconds: float = 0.0

    def percentile(self, fraction: float) -> float:
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))] if ordered else float("nan")

    @property
    def loss(self) -> float:
        return 1 - self.received / self.sent if self.sent else 0.0


class Phones:
    """2N UDP sockets; stream k goes from socket k to socket k^1 (through `targets[k]`)."""

    def __init__(self, calls: int) -> None:
        self.sockets = []
        for _ in range(2 * calls):
            sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            sock.setblocking(False)
            sock.bind((LOOPBACK, 0))
            self.sockets.append(sock)
        self.ports = [sock.getsockname()[1] for sock in self.sockets]

    def close(self) -> None:
        for sock in self.sockets:
            sock.close()


async def run_traffic(phones: Phones, targets: list[int], seconds: float, ptime: float, payload: int) -> Result:
    loop = asyncio.get_running_loop()
    result = Result()
    streams = len(phones.sockets)
    packets = [bytearray(HEADER.size + payload) for _ in range(streams)]
    for number, packet in enumerate(packets):
        HEADER.pack_into(packet, 0, 0x80, 0, 0, 0, 0x10000 + number)
    addresses = [(LOOPBACK, port) for port in targets]
    measuring = True

    def on_readable(sock: socket.socket) -> None:
        while True:
            try:
                data = sock.recv(2048)
            except BlockingIOError:
                return
            if measuring:
                sent_at, _ = STAMP.unpack_from(data, HEADER.size)
                result.latencies.append((time.perf_counter_ns() - sent_at) / 1e6)
                result.received += 1

    for sock in phones.sockets:
        loop.add_reader(sock.fileno(), on_readable, sock)

    tick = ptime / SLICES
    start = loop.time()
    sequence = 0
    done = loop.create_future()

    def on_tick(slot: int) -> None:
        nonlocal sequence
        if slot == 0:
            sequence += 1
        for number in range(slot, streams, SLICES):
            packet = packets[number]
            HEADER.pack_into(packet, 0, 0x80, 0, sequence & 0xFFFF, sequence * 160 & 0xFFFFFFFF, 0x10000 + number)
            STAMP.pack_into(packet, HEADER.size, time.perf_counter_ns(), number)
            try:
                phones.sockets[number].sendto(packet, addresses[number])
                result.sent += 1
            except BlockingIOError:
                result.sent += 1  # counted as lost
        deadline = start + (sequence - 1) * ptime + (slot + 1) * tick
        if deadline - start >= seconds:
            done.set_result(None)
            return
        loop.call_at(deadline, on_tick, (slot + 1) % SLICES)

    loop.call_at(start, on_tick, 0)
    await done
    result.seconds = loop.time() - start
    await asyncio.sleep(0.3)  # stragglers
    measuring = False
    for sock in phones.sockets:
        loop.remove_reader(sock.fileno())
    return result


def direct(calls: int, args: argparse.Namespace) -> Result:
    phones = Phones(calls)
    targets = [phones.ports[number ^ 1] for number in range(2 * calls)]
    loop = new_loop(args.loop)
    try:
        return loop.run_until_complete(run_traffic(phones, targets, args.seconds, args.ptime, args.payload))
    finally:
        loop.close()
        phones.close()


def from_child(conn: Connection, child: multiprocessing.Process, timeout: float = 15.0):
    if not conn.poll(timeout):
        child.kill()
        raise SystemExit(f"the relay process did not answer in {timeout:.0f} s")
    try:
        return conn.recv()
    except EOFError:
        raise SystemExit(f"the relay process died (exit code {child.exitcode}); see its traceback above") from None


def through_relay(calls: int, args: argparse.Namespace) -> tuple[Result, int, int, float]:
    conn, child_conn = multiprocessing.Pipe()
    child = multiprocessing.get_context("fork").Process(target=relay_process, args=(child_conn, args.loop, calls))
    child.start()
    child_conn.close()  # so that recv() sees EOF if the child dies
    relay_ports = from_child(conn, child)
    phones = Phones(calls)
    conn.send(phones.ports)
    assert from_child(conn, child) == "ready"
    loop = new_loop(args.loop)
    try:
        result = loop.run_until_complete(run_traffic(phones, relay_ports, args.seconds, args.ptime, args.payload))
    finally:
        loop.close()
        phones.close()
        conn.send("stop")
        conn.send("report")
    relayed, dropped, cpu = from_child(conn, child)
    child.join(5)
    return result, relayed, dropped, cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=100, help="calls; each is two streams (default 100)")
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--ptime", type=float, default=0.020, help="packet interval in seconds (default 0.020)")
    parser.add_argument("--payload", type=int, default=160, help="payload bytes (default 160: G.711, 20 ms)")
    parser.add_argument("--loop", choices=["uvloop", "asyncio"], default="uvloop")
    args = parser.parse_args()
    streams = 2 * args.calls
    print(
        f"{args.calls} calls = {streams} streams x {1 / args.ptime:.0f} packets/s of {12 + args.payload} bytes, "
        f"{args.seconds:.0f} s, {args.loop}, relay in a child process"
    )

    baseline = direct(args.calls, args)
    relayed_result, relayed, dropped, cpu = through_relay(args.calls, args)

    print(f"{'path':<22}{'sent':>10}{'received':>10}{'loss':>9}{'packets/s':>11}{'p50 ms':>9}{'p99 ms':>9}")
    for name, result in (("direct (no relay)", baseline), ("through the relay", relayed_result)):
        print(
            f"{name:<22}{result.sent:>10,}{result.received:>10,}{result.loss:>9.3%}"
            f"{result.received / result.seconds:>11,.0f}{result.percentile(0.5):>9.3f}{result.percentile(0.99):>9.3f}"
        )
    rate = relayed / relayed_result.seconds
    print(f"relay: {rate:,.0f} packets/s relayed, {dropped} dropped by the relay")
    print(
        f"added latency: p50 {relayed_result.percentile(0.5) - baseline.percentile(0.5):+.3f} ms, "
        f"p99 {relayed_result.percentile(0.99) - baseline.percentile(0.99):+.3f} ms"
    )
    print(
        f"delivered through the relay / direct: {relayed_result.received / max(baseline.received, 1):.3f}; "
        f"relay CPU {cpu / relayed_result.seconds:.0%} of one core, {cpu / max(relayed, 1) * 1e6:.1f} us per packet"
    )


if __name__ == "__main__":
    main()
