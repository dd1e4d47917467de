"""Concurrent call recordings one PBX process sustains with fewer than 1% late frames.

For N = 50, 100, 200, 400, ... recordings: a child process plays 2N phones,
each sending 20 ms PCMU packets to its own relay endpoint on 127.0.0.1 (a
tenth of the streams every 2 ms, so the streams are spread over the 20 ms
as real calls are). This process is the PBX: one `MediaRelay` with the 2N
endpoints linked in pairs (so it also relays every packet, as in a call),
one `MediaClock`, N `CallRecorder`s writing stereo WAV files to a temporary
directory through one `WavWriter` thread, on uvloop when it is installed.

A tick is late when the media clock ran it more than 10 ms after its
deadline; ticks the clock had to skip count as late too. Every tick writes
one frame of every recording, so the late fraction of ticks is that of
recorded frames. Measured over a window after a warm-up; printed per N:
late ticks, packets the recorders got too late to play (the jitter
buffers' count), concealed frames, CPU of this process (all threads, from
`time.process_time`, as a share of one core, over the window) and the
bytes of audio written over the whole run (warm-up included). The run
stops at the first N with 1% late or more, refines once between the last
good N and that one, and prints the largest N below 1%.

    .venv/bin/python benchmarks/bench_recording.py [--seconds 5] [--max-calls 1600] [--loop uvloop]
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import math
import multiprocessing
import random
import shutil
import socket
import struct
import sys
import tempfile
import time
from dataclasses import dataclass
from multiprocessing.connection import Connection
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from pbx.media.clock import MediaClock
from pbx.media.g711 import ulaw_encode
from pbx.media.recorder import CallRecorder
from pbx.media.relay import MediaRelay
from pbx.media.wav_writer import WavWriter

LOOPBACK = "127.0.0.1"
HEADER = struct.Struct("!BBHII")  # RFC 3550 5.1 fixed header
TICK = 0.020
LATE_AFTER = 0.010
SLICES = 10
WARM_UP = 1.0
LATE_LIMIT = 0.01


def new_loop(name: str) -> asyncio.AbstractEventLoop:
    if name == "uvloop":
        try:
            import uvloop
        except ImportError:
            return asyncio.new_event_loop()
        return uvloop.new_event_loop()
    return asyncio.new_event_loop()


def tone(frequency: float) -> bytes:
    """One 20 ms PCMU frame of a tone whose period divides 20 ms, so it repeats seamlessly."""
    samples = [int(8000 * math.sin(2 * math.pi * frequency * n / 8000)) for n in range(160)]
    return ulaw_encode(struct.pack("<160h", *samples))


# The phones, in a child process ---------------------------------------------------------------


def phones_process(conn: Connection, streams: int) -> None:
    sockets = []
    for _ in range(streams):
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        sock.setblocking(False)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # what the relay sends back is dropped
        sock.bind((LOOPBACK, 0))
        sockets.append(sock)
    conn.send([sock.getsockname()[1] for sock in sockets])
    targets = [(LOOPBACK, port) for port in conn.recv()]
    payloads = [tone(400), tone(1000)]  # caller, callee
    packets = [bytearray(HEADER.size) + payloads[number % 2] for number in range(streams)]
    sent = errors = 0
    sequence = 0
    start = time.monotonic()
    slot = 0
    while not conn.poll():
        if slot == 0:
            sequence += 1
        for number in range(slot, streams, SLICES):
            packet = packets[number]
            HEADER.pack_into(packet, 0, 0x80, 0, sequence & 0xFFFF, sequence * 160 & 0xFFFFFFFF, 0x10000 + number)
            try:
                sockets[number].sendto(packet, targets[number])
            except OSError:
                errors += 1
            sent += 1
        slot = (slot + 1) % SLICES
        deadline = start + (sequence - 1) * TICK + (slot if slot else SLICES) * TICK / SLICES
        delay = deadline - time.monotonic()
        if delay > 0:
            time.sleep(delay)
    conn.recv()
    for sock in sockets:
        sock.close()
    conn.send((sent, errors))


# The PBX, in this process ---------------------------------------------------------------------


class LatenessProbe:
    """First on the media clock: how late each tick ran against its deadline on the 20 ms grid."""

    def __init__(self, media_clock: MediaClock, start: float) -> None:
        self.media_clock = media_clock
        self.start = start
        self.measuring = False
        self.ticks = self.late = 0
        self.skipped_before = 0
        self.worst = 0.0

    def begin(self) -> None:
        self.measuring = True
        self.skipped_before = self.media_clock.skipped

    def tick(self, now: float) -> None:
        if not self.measuring:
            return
        # During the tick, the clock has counted it but not advanced its schedule past it.
        index = self.media_clock.ticks - 1 + self.media_clock.skipped
        lateness = now - (self.start + index * TICK)
        self.ticks += 1
        self.worst = max(self.worst, lateness)
        if lateness > LATE_AFTER:
            self.late += 1

    @property
    def skipped(self) -> int:
        return self.media_clock.skipped - self.skipped_before


@dataclass
class Level:
    calls: int
    ticks: int
    late_ticks: int
    skipped: int
    worst_ms: float
    packets_sent: int
    packets_received: int
    late_packets: int
    concealed: int
    cpu: float  # share of one core
    bytes_written: int
    write_errors: int

    @property
    def late_fraction(self) -> float:
        total = self.ticks + self.skipped
        return (self.late_ticks + self.skipped) / total if total else 1.0


def run_level(calls: int, args: argparse.Namespace, directory: Path, *, record: bool = True) -> Level:
    """One run with ``calls`` calls; without ``record``, the same relayed traffic and clock, no recorders."""
    streams = 2 * calls
    conn, child_conn = multiprocessing.Pipe()
    child = multiprocessing.get_context("fork").Process(target=phones_process, args=(child_conn, streams))
    child.start()  # before this process makes its event loop
    child_conn.close()
    if not conn.poll(30):
        child.kill()
        raise SystemExit("the phones process did not answer")
    phone_ports = conn.recv()
    loop = new_loop(args.loop)
    asyncio.set_event_loop(loop)
    size = 4 * calls + 64
    low = random.randrange(10000, max(10002, 32768 - size), 2)  # below the ephemeral ports of the phones
    relay = MediaRelay(LOOPBACK, low, low + size - 1, clock=time.monotonic, loop=loop)
    writer = WavWriter()
    try:
        endpoints = [relay.open_endpoint(f"leg{n}") for n in range(streams)]
        for endpoint, port in zip(endpoints, phone_ports):
            endpoint.expect(LOOPBACK, port)
        for caller, callee in zip(endpoints[::2], endpoints[1::2]):
            relay.link(caller, callee)
        media_clock = MediaClock(time.monotonic, loop)
        level_directory = directory / f"n{calls}"
        recorders = [
            CallRecorder(caller, callee, media_clock=media_clock, writer=writer,
                         path=level_directory / f"call-{index}.wav", layout="stereo")
            for index, (caller, callee) in enumerate(zip(endpoints[::2], endpoints[1::2]))
            if record
        ]  # fmt: skip

        async def scenario() -> tuple[LatenessProbe, float]:
            probe = LatenessProbe(media_clock, time.monotonic())
            media_clock.add(probe)
            conn.send([endpoint.port for endpoint in endpoints])
            for recorder in recorders:
                recorder.start()
            await asyncio.sleep(WARM_UP)
            cpu_before = time.process_time()
            wall_before = time.monotonic()
            probe.begin()
            await asyncio.sleep(args.seconds)
            probe.measuring = False
            cpu = (time.process_time() - cpu_before) / (time.monotonic() - wall_before)
            return probe, cpu

        probe, cpu = loop.run_until_complete(scenario())
        conn.send("stop")
        summaries = [recorder.stop() for recorder in recorders]
        media_clock.remove(probe)
        received = sum(endpoint.stats.packets_in for endpoint in endpoints)
        late_packets = sum(r.stats.caller.late + r.stats.callee.late for r in recorders)
        concealed = sum(r.stats.caller.concealed + r.stats.callee.concealed for r in recorders)
    finally:
        relay.close()
        writer.close_all()
        writer.join(30)
        loop.close()
        asyncio.set_event_loop(None)
    sent, _ = conn.recv() if conn.poll(10) else (0, 0)
    child.join(5)
    if child.is_alive():
        child.kill()
    level = Level(
        calls=calls, ticks=probe.ticks, late_ticks=probe.late, skipped=probe.skipped, worst_ms=probe.worst * 1000,
        packets_sent=sent, packets_received=received, late_packets=late_packets, concealed=concealed, cpu=cpu,
        bytes_written=sum(summary.bytes_written for summary in summaries), write_errors=writer.errors,
    )  # fmt: skip
    shutil.rmtree(level_directory, ignore_errors=True)
    return level


def print_level(level: Level, label: str = "") -> None:
    print(
        f"{label or level.calls:>6}{level.ticks:>7}{level.late_ticks:>6}{level.skipped:>6}{level.late_fraction:>8.2%}"
        f"{level.worst_ms:>9.1f}{level.packets_received / max(level.packets_sent, 1):>9.2%}"
        f"{level.late_packets:>9,}{level.concealed:>9,}{level.cpu:>7.0%}{level.bytes_written / 1e6:>9.1f}"
        f"{level.write_errors:>5}",
        flush=True,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=5.0, help="measured window per N (default 5)")
    parser.add_argument("--start", type=int, default=50, help="first N (default 50); N doubles each step")
    parser.add_argument("--max-calls", type=int, default=1600)
    parser.add_argument("--loop", choices=["uvloop", "asyncio"], default="uvloop")
    args = parser.parse_args()
    # As pbx/app.py does once the PBX has started: fewer, shorter collections on the hot path.
    gc.freeze()
    gc.set_threshold(50_000, 50, 100)
    loop_name = args.loop
    if loop_name == "uvloop":
        try:
            import uvloop  # noqa: F401
        except ImportError:
            loop_name = "asyncio (uvloop missing)"
    print(f"stereo recordings of 2 x 20 ms PCMU streams each, {args.seconds:.0f} s measured after {WARM_UP:.0f} s, "
          f"{loop_name}, phones in a child process, late = tick > {LATE_AFTER * 1000:.0f} ms after its deadline")
    print(f"{'calls':>6}{'ticks':>7}{'late':>6}{'skip':>6}{'late%':>8}{'worst ms':>9}{'pkts in':>9}"
          f"{'late pkt':>9}{'conceal':>9}{'CPU':>7}{'MB':>9}{'errs':>5}")
    directory = Path(tempfile.mkdtemp(prefix="bench-recording-"))
    good: Level | None = None
    baseline: Level | None = None
    try:
        calls = args.start
        bad: int | None = None
        while calls <= args.max_calls:
            level = run_level(calls, args, directory)
            print_level(level)
            if level.late_fraction >= LATE_LIMIT:
                bad = calls
                break
            good = level
            calls *= 2
        if bad is not None and good is not None and bad - good.calls > good.calls // 4:
            middle = (good.calls + bad) // 2
            level = run_level(middle, args, directory)
            print_level(level)
            if level.late_fraction < LATE_LIMIT:
                good = level
        if good is not None:
            baseline = run_level(good.calls, args, directory, record=False)
            print_level(baseline, f"{good.calls}*")
            print("* the same calls relayed and the same clock ticking, without recorders: the baseline")
    finally:
        shutil.rmtree(directory, ignore_errors=True)
    if good is None or baseline is None:
        print(f"not even {args.start} recordings stayed under {LATE_LIMIT:.0%} late")
    else:
        print(
            f"largest N with < {LATE_LIMIT:.0%} late frames: {good.calls} concurrent recordings "
            f"({good.late_fraction:.2%} late, CPU {good.cpu:.0%} of one core, "
            f"{good.cpu / good.calls * 1000:.2f} ms of CPU per second of one call, relay included; "
            f"recording adds {(good.cpu - baseline.cpu) / good.calls * 1000:.2f} ms)"
        )


if __name__ == "__main__":
    main()
