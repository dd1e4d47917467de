"""netem in user space: a wire between two TUN devices that delays, jitters, drops and reorders.

For kernels built without ``sch_netem`` (CONFIG_NET_SCH_NETEM unset, as on some CI microVMs)
netns.py joins the namespaces with two TUN devices instead of a veth pair and runs this wire
between them. `NetemQueue` is the sans-IO part and follows tc-netem(8)'s semantics, per
direction: a packet is lost with ``loss_percent``; otherwise, when reordering is on, it is sent
at once with ``reorder_percent`` (correlated with the previous choice as netem's get_crandom
does) and else it waits ``delay`` plus a uniform draw in ``[-jitter, +jitter]``; packets leave
in order of their due time (netem's tfifo), so jitter larger than the packet spacing reorders
too. `TunWire` is the thread that moves packets between the two devices.

It does not model rate limits, duplication, corruption or loss correlation.
"""

from __future__ import annotations

import fcntl
import heapq
import os
import random
import select
import struct
import threading
import time
from dataclasses import dataclass

TUNSETIFF = 0x400454CA  # linux/if_tun.h
IFF_TUN = 0x0001
IFF_NO_PI = 0x1000
MTU = 65535


@dataclass(frozen=True)
class Impairment:
    """netem parameters (tc-netem(8)): one-way delay with uniform jitter, random loss, reordering.

    netem reorders by sending ``reorder_percent`` of packets at once while the rest wait out the
    delay (``reorder_correlation`` ties each choice to the last), so reordering needs a delay.
    """

    delay_ms: float = 0.0
    jitter_ms: float = 0.0
    loss_percent: float = 0.0
    reorder_percent: float = 0.0
    reorder_correlation: float = 0.0

    def netem_arguments(self) -> list[str]:
        """The same, as arguments of ``tc qdisc ... netem``."""
        arguments = ["delay", f"{self.delay_ms}ms", f"{self.jitter_ms}ms"]
        if self.loss_percent:
            arguments += ["loss", f"{self.loss_percent}%"]
        if self.reorder_percent:
            arguments += ["reorder", f"{self.reorder_percent}%", f"{self.reorder_correlation}%"]
        return arguments


class NetemQueue:
    """One direction of the wire: packets and ``now`` in, packets due by ``now`` out."""

    def __init__(self, draw: random.Random) -> None:
        self.draw = draw
        self.impairment = Impairment()
        self.sent = 0  # packets passed on (now or later), as netem's "Sent ... pkt"
        self.dropped = 0
        self._queue: list[tuple[float, int, bytes]] = []
        self._order = 0
        self._last_reorder_draw = 0.0

    def impair(self, impairment: Impairment) -> None:
        """New parameters; the counters start again, as for a new qdisc."""
        self.impairment = impairment
        self.sent = self.dropped = 0

    def submit(self, packet: bytes, now: float) -> None:
        spec = self.impairment
        if spec.loss_percent and self.draw.random() * 100 < spec.loss_percent:
            self.dropped += 1
            return
        self.sent += 1
        if spec.reorder_percent and self._reorder_draw() * 100 < spec.reorder_percent:
            due = now  # netem: "sent immediately", ahead of the packets still waiting
        else:
            jitter = self.draw.uniform(-spec.jitter_ms, spec.jitter_ms) if spec.jitter_ms else 0.0
            due = now + max(0.0, spec.delay_ms + jitter) / 1000
        self._order += 1
        heapq.heappush(self._queue, (due, self._order, packet))

    def _reorder_draw(self) -> float:
        # netem get_crandom(): value = (1 - rho) * fresh + rho * last.
        rho = self.impairment.reorder_correlation / 100
        self._last_reorder_draw = (1 - rho) * self.draw.random() + rho * self._last_reorder_draw
        return self._last_reorder_draw

    def due(self, now: float) -> list[bytes]:
        ready = []
        while self._queue and self._queue[0][0] <= now:
            ready.append(heapq.heappop(self._queue)[2])
        return ready

    def next_due(self) -> float | None:
        return self._queue[0][0] if self._queue else None


def open_tun(name: str) -> int:
    """A new TUN device (IP packets, no packet-information header) in our namespace; its fd."""
    fd = os.open("/dev/net/tun", os.O_RDWR | os.O_NONBLOCK)
    try:
        fcntl.ioctl(fd, TUNSETIFF, struct.pack("16sH", name.encode(), IFF_TUN | IFF_NO_PI))
    except OSError:
        os.close(fd)
        raise
    return fd


class TunWire:
    """Moves packets between two TUN fds through a `NetemQueue` per direction, on a thread."""

    def __init__(self, host_fd: int, phone_fd: int, seed: int) -> None:
        draw = random.Random(seed)
        self.fds = (host_fd, phone_fd)
        self.to_phone = NetemQueue(draw)  # what the host (the PBX) sends
        self.to_host = NetemQueue(draw)  # what the phone sends
        self._lock = threading.Lock()
        self._stop_read, self._stop_write = os.pipe()
        self._thread = threading.Thread(target=self._run, name="userspace-netem", daemon=True)
        self._thread.start()

    def impair(self, impairment: Impairment) -> None:
        with self._lock:
            self.to_phone.impair(impairment)
            self.to_host.impair(impairment)

    def counters(self) -> tuple[int, int]:
        """(sent, dropped) of the phone-to-host direction."""
        with self._lock:
            return self.to_host.sent, self.to_host.dropped

    def _run(self) -> None:
        host_fd, phone_fd = self.fds
        routes = {host_fd: (self.to_phone, phone_fd), phone_fd: (self.to_host, host_fd)}
        while True:
            with self._lock:
                deadlines = [d for d in (self.to_phone.next_due(), self.to_host.next_due()) if d is not None]
            wait = max(0.0, min(deadlines) - time.monotonic()) if deadlines else 1.0
            readable, _, _ = select.select([host_fd, phone_fd, self._stop_read], [], [], wait)
            if self._stop_read in readable:
                return
            now = time.monotonic()
            with self._lock:
                for fd in readable:
                    queue, _ = routes[fd]
                    try:
                        while True:
                            queue.submit(os.read(fd, MTU), now)
                    except BlockingIOError:
                        pass
                for queue, out_fd in routes.values():
                    for packet in queue.due(now):
                        try:
                            os.write(out_fd, packet)
                        except OSError:
                            pass  # the device is down or going away: a lost packet, as on a wire

    def stop(self) -> None:
        os.write(self._stop_write, b"x")
        self._thread.join(timeout=5)
        for fd in (*self.fds, self._stop_read, self._stop_write):
            os.close(fd)
