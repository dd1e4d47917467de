"""Receive RTP on N loopback sockets in a process of its own, with kernel receive timestamps.

The PBX's pacing is what is measured, so the receiver must not add its own: each socket has
SO_TIMESTAMPNS set, and the time recorded for a packet is the one the kernel stamped when the
datagram reached the socket (CLOCK_REALTIME, ns), read from recvmsg's ancillary data. How
late this process then gets round to reading it does not matter, as long as the socket
buffers do not overflow: SO_RXQ_OVFL reports drops, which are counted and returned. So it
reads in 20 ms batches, which keeps it from waking (and preempting the PBX) for every packet.

Run as a script (``RtpCapture`` does this), stdlib only:

    rtp_capture.py --count N --out FILE [--payloads] [--max-seconds S] [--fds FD,FD,...]

It binds N RTP sockets and one RTCP sink on 127.0.0.1 (each call's SDP names the sink with
RFC 3605 ``a=rtcp``), prints ``READY <rtcp port> <rtp port> ...``, records until a line on
stdin (or stdin closing, or ``--max-seconds``), writes a pickle to FILE, prints ``DONE ...``.
It parses only the RTP fixed header (RFC 3550 5.1); RTCP is counted and dropped.
"""

from __future__ import annotations

import argparse
import os
import pickle
import select
import socket
import struct
import subprocess
import sys
import time
from array import array
from dataclasses import dataclass, field
from pathlib import Path
from typing import Self

LOOPBACK = "127.0.0.1"
SO_TIMESTAMPNS = getattr(socket, "SO_TIMESTAMPNS", 35)  # Linux asm-generic/socket.h
SO_RXQ_OVFL = getattr(socket, "SO_RXQ_OVFL", 40)
TIMESPEC = struct.Struct("@qq")  # struct timespec on 64-bit Linux
RTP_HEADER = struct.Struct("!BBHII")
RECEIVE_BUFFER = 1 << 20
# Read in batches: wake at most every 20 ms and drain every socket. Waking for each packet would
# preempt the PBX in the middle of its tick (the two share the CPUs) and so pollute the very
# pacing being measured; the kernel timestamps make the delay in reading harmless.
BATCH_SECONDS = 0.020


@dataclass
class Capture:
    """What the capture process saw. Record i: stream[i] is the index of the socket (the call)."""

    ports: list[int]
    stream: array = field(default_factory=lambda: array("I"))
    sequence: array = field(default_factory=lambda: array("H"))
    timestamp: array = field(default_factory=lambda: array("I"))
    ssrc: array = field(default_factory=lambda: array("I"))
    payload_type: array = field(default_factory=lambda: array("B"))
    arrival_ns: array = field(default_factory=lambda: array("q"))  # kernel receive time, CLOCK_REALTIME
    payloads: list[bytes] | None = None
    dropped_by_kernel: int = 0  # SO_RXQ_OVFL: datagrams the socket buffers had no room for
    rtcp_packets: int = 0
    not_rtp: int = 0

    def __len__(self) -> int:
        return len(self.stream)


# --------------------------------------------------------------------------------------------
# the capture process


def _bind(count: int) -> tuple[socket.socket, list[socket.socket]]:
    def udp() -> socket.socket:
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, RECEIVE_BUFFER)
        sock.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
        sock.setsockopt(socket.SOL_SOCKET, SO_RXQ_OVFL, 1)
        sock.setblocking(False)
        sock.bind((LOOPBACK, 0))
        return sock

    return udp(), [udp() for _ in range(count)]


def _adopt(fds: list[int]) -> tuple[socket.socket, list[socket.socket]]:
    """Sockets handed down by the parent (``--fds``): the parent may send from them (so a peer
    that latches onto the source address keeps sending here), this process only receives."""
    rtcp_sink, _ = _bind(0)
    sockets = []
    for fd in fds:
        sock = socket.socket(fileno=fd)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, RECEIVE_BUFFER)
        sock.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
        sock.setsockopt(socket.SOL_SOCKET, SO_RXQ_OVFL, 1)
        sock.setblocking(False)
        sockets.append(sock)
    return rtcp_sink, sockets


def record(count: int, keep_payloads: bool, max_seconds: float, out: Path, fds: list[int] | None = None) -> Capture:
    rtcp_sink, sockets = _bind(count) if fds is None else _adopt(fds)
    capture = Capture(ports=[sock.getsockname()[1] for sock in sockets])
    if keep_payloads:
        capture.payloads = []
    print("READY", rtcp_sink.getsockname()[1], *capture.ports, flush=True)

    poller = select.epoll()
    by_fd = {sock.fileno(): index for index, sock in enumerate(sockets)}
    for fd in by_fd:
        poller.register(fd, select.EPOLLIN)
    poller.register(rtcp_sink.fileno(), select.EPOLLIN)
    stdin = sys.stdin.fileno()
    poller.register(stdin, select.EPOLLIN | select.EPOLLHUP)
    ancillary_size = socket.CMSG_SPACE(TIMESPEC.size) + socket.CMSG_SPACE(4)
    overflow = {}
    deadline = time.monotonic() + max_seconds
    append_stream, append_seq = capture.stream.append, capture.sequence.append
    append_ts, append_ssrc = capture.timestamp.append, capture.ssrc.append
    append_pt, append_arrival = capture.payload_type.append, capture.arrival_ns.append
    running = True
    while running:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            break
        time.sleep(BATCH_SECONDS)
        for fd, _ in poller.poll(min(remaining, 0.5)):
            if fd == stdin:
                running = False
                continue
            if fd == rtcp_sink.fileno():
                while True:
                    try:
                        rtcp_sink.recv(2048)
                    except BlockingIOError:
                        break
                    capture.rtcp_packets += 1
                continue
            index = by_fd[fd]
            sock = sockets[index]
            while True:
                try:
                    data, ancillary, _, _ = sock.recvmsg(2048, ancillary_size)
                except BlockingIOError:
                    break
                arrival = None
                for level, kind, value in ancillary:
                    if level != socket.SOL_SOCKET:
                        continue
                    if kind == SO_TIMESTAMPNS:
                        seconds, nanoseconds = TIMESPEC.unpack_from(value)
                        arrival = seconds * 1_000_000_000 + nanoseconds
                    elif kind == SO_RXQ_OVFL:
                        overflow[index] = int.from_bytes(value[:4], sys.byteorder)
                if arrival is None:  # no kernel stamp: fall back on our own clock (counted nowhere)
                    arrival = time.time_ns()
                if len(data) < RTP_HEADER.size or data[0] >> 6 != 2:
                    capture.not_rtp += 1
                    continue
                first, second, sequence, timestamp, ssrc = RTP_HEADER.unpack_from(data)
                if 200 <= second <= 204:  # RFC 5761 4: RTCP packet types on the RTP port
                    capture.rtcp_packets += 1
                    continue
                append_stream(index)
                append_seq(sequence)
                append_ts(timestamp)
                append_ssrc(ssrc)
                append_pt(second & 0x7F)
                append_arrival(arrival)
                if keep_payloads:
                    # RFC 3550 5.1: skip CSRCs (and assume no header extension or padding:
                    # the PBX sends neither)
                    capture.payloads.append(data[RTP_HEADER.size + 4 * (first & 0x0F) :])
    capture.dropped_by_kernel = sum(overflow.values())
    for sock in (*sockets, rtcp_sink):
        sock.close()
    with out.open("wb") as file:
        # a plain dict: in this process Capture lives in __main__, which the test cannot unpickle
        fields = {name: getattr(capture, name) for name in Capture.__dataclass_fields__}
        pickle.dump(fields, file, protocol=pickle.HIGHEST_PROTOCOL)
    return capture


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, required=True)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--payloads", action="store_true")
    parser.add_argument("--max-seconds", type=float, default=120.0)
    parser.add_argument("--fds", default=None, help="comma-separated inherited UDP sockets to use instead")
    options = parser.parse_args()
    fds = [int(fd) for fd in options.fds.split(",")] if options.fds else None
    capture = record(options.count, options.payloads, options.max_seconds, options.out, fds)
    print(f"DONE packets={len(capture)} dropped_by_kernel={capture.dropped_by_kernel} "
          f"rtcp={capture.rtcp_packets} not_rtp={capture.not_rtp}", flush=True)
    return 0


# --------------------------------------------------------------------------------------------
# the driver, in the test process


class RtpCapture:
    """Starts the capture process, hands out its ports, stops it and loads what it recorded.

    ``with RtpCapture(count, workdir) as capture: ... capture.stop()`` -> `Capture`.
    """

    def __init__(self, count: int, workdir: Path, *, payloads: bool = False, max_seconds: float = 120.0,
                 start_timeout: float = 20.0, sockets: list[socket.socket] | None = None) -> None:
        """``sockets``: bound UDP sockets of this process to record on (``count`` of them) instead
        of new ones; this process keeps them and may send from them."""
        workdir.mkdir(parents=True, exist_ok=True)
        inherited = [sock.fileno() for sock in sockets] if sockets is not None else []
        extra = ["--fds", ",".join(map(str, inherited))] if inherited else []
        self.out = workdir / f"rtp_capture_{os.getpid()}_{time.monotonic_ns()}.pickle"
        self.stderr_path = workdir / "rtp_capture.stderr"
        with self.stderr_path.open("wb") as stderr:
            self.process = subprocess.Popen(
                [sys.executable, str(Path(__file__).resolve()), "--count", str(count), "--out", str(self.out),
                 "--max-seconds", str(max_seconds), *(["--payloads"] if payloads else []), *extra],
                stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=stderr, start_new_session=True,
                pass_fds=inherited,
            )  # fmt: skip
        ready = self._line(start_timeout)
        if not ready.startswith("READY "):
            self.kill()
            raise RuntimeError(f"rtp_capture did not start: {ready!r}\n{self.stderr_path.read_text()[-2000:]}")
        numbers = [int(word) for word in ready.split()[1:]]
        self.rtcp_port, self.ports = numbers[0], numbers[1:]
        self.result: Capture | None = None

    def _line(self, timeout: float) -> str:
        ready, _, _ = select.select([self.process.stdout], [], [], timeout)
        return self.process.stdout.readline().decode().strip() if ready else ""

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info) -> None:
        self.kill()

    def stop(self, timeout: float = 30.0) -> Capture:
        """Tell the process to stop, wait for its file, and load it."""
        if self.result is not None:
            return self.result
        try:
            self.process.stdin.write(b"stop\n")
            self.process.stdin.close()
        except BrokenPipeError:
            pass
        done = self._line(timeout)
        self.process.wait(timeout=5)
        if not done.startswith("DONE"):
            raise RuntimeError(f"rtp_capture failed: {done!r}\n{self.stderr_path.read_text()[-2000:]}")
        with self.out.open("rb") as file:
            self.result = Capture(**pickle.load(file))
        self.out.unlink()
        return self.result

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=5)


if __name__ == "__main__":
    sys.exit(main())
