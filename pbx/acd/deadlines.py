"""Keyed deadlines for the ACD core: at most one deadline per key, earliest first.

Setting a key again moves its deadline; cancelled and moved entries stay in the
heap and are skipped. Nothing here reads a clock: the owner passes `now`.
"""

from __future__ import annotations

import heapq
import itertools
from collections.abc import Hashable


class Deadlines:
    def __init__(self) -> None:
        self._heap: list[tuple[float, int, Hashable]] = []
        self._live: dict[Hashable, int] = {}  # key -> sequence number of its live heap entry
        self._sequence = itertools.count()

    def set(self, key: Hashable, when: float) -> None:
        sequence = next(self._sequence)
        self._live[key] = sequence
        heapq.heappush(self._heap, (when, sequence, key))

    def cancel(self, key: Hashable) -> None:
        self._live.pop(key, None)

    def __contains__(self, key: object) -> bool:
        return key in self._live

    def next(self) -> float | None:
        heap = self._heap
        while heap and self._live.get(heap[0][2]) != heap[0][1]:
            heapq.heappop(heap)
        return heap[0][0] if heap else None

    def pop_due(self, now: float) -> list[Hashable]:
        """The keys due by `now`, earliest first; they are no longer set."""
        due = []
        heap = self._heap
        while heap and heap[0][0] <= now:
            _, sequence, key = heapq.heappop(heap)
            if self._live.get(key) == sequence:
                del self._live[key]
                due.append(key)
        return due
