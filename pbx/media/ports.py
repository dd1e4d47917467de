"""The pool of RTP/RTCP port pairs the relay hands to call legs.

RFC 3550 11: RTP uses an even port and RTCP the next (odd) one, so the pool
deals in pairs and names each by its even RTP port. Ports are handed out
round-robin: a released pair goes to the back of the line, so the late
packets of a call that just ended reach a closed port instead of leaking
into the next call.

Pure: it does not bind anything. The adapter binds the sockets and calls
`skip` for a port that turns out to be busy on the host.
"""

from __future__ import annotations

from collections import deque


class PortsExhausted(Exception):
    """No RTP/RTCP pair is free in the configured range: the range is too small for the load."""


class PortPool:
    """Even RTP ports in ``low..high`` (both inclusive), each with RTCP on the port above it."""

    def __init__(self, low: int, high: int) -> None:
        if not (0 < low <= high <= 65535):
            raise ValueError(f"RTP port range {low}-{high} is not within 1-65535 with low <= high")
        first = low + (low % 2)
        if first + 1 > high:
            raise ValueError(f"RTP port range {low}-{high} holds no even/odd RTP/RTCP pair")
        self.low = low
        self.high = high
        self._first = first
        self._free: deque[int] = deque(range(first, high, 2))
        self.capacity = len(self._free)
        # One byte per pair, 1 while handed out: the range's size once, not a set entry (and an
        # int) per pair in use, which at 10,000 held calls is 20,000 of them (issue 16).
        self._allocated = bytearray(self.capacity)
        self._in_use = 0
        self.skipped = 0

    @property
    def in_use(self) -> int:
        """Pairs handed out and not yet released."""
        return self._in_use

    @property
    def free(self) -> int:
        return len(self._free)

    def allocate(self) -> int:
        """The RTP port of a free pair (RTCP is the returned port + 1)."""
        if not self._free:
            raise PortsExhausted(
                f"no free RTP/RTCP port pair in {self.low}-{self.high}: "
                f"all {self.capacity} pairs are in use; widen the RTP port range"
            )
        port = self._free.popleft()
        self._allocated[(port - self._first) >> 1] = 1
        self._in_use += 1
        return port

    def release(self, port: int) -> None:
        """Give a pair back; it is handed out again only after every other free pair."""
        self._take_back(port)
        self._free.append(port)

    def skip(self, port: int) -> None:
        """Give back a pair that could not be bound (another program holds it); it is tried again last."""
        self._take_back(port)
        self._free.append(port)
        self.skipped += 1

    def _take_back(self, port: int) -> None:
        index = (port - self._first) >> 1
        if port % 2 != self._first % 2 or not 0 <= index < self.capacity or not self._allocated[index]:
            raise ValueError(f"RTP port {port} was not allocated from {self.low}-{self.high}")
        self._allocated[index] = 0
        self._in_use -= 1
