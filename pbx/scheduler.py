"""A pure timer queue: callbacks due at given times, fired when the owner is told `now`.

The asyncio adapter asks `next_deadline()` and calls `fire(now)`; nothing
here reads a clock. Cancelled entries stay in the heap and are skipped.
"""

from __future__ import annotations

import heapq
import itertools
from collections.abc import Callable
from typing import Any


def _cancelled(now: float) -> list[Any]:
    return []


COMPACT_AT_LEAST = 1024  # entries, live or cancelled, before the heap is first cleaned


class TimerHandle:
    __slots__ = ("deadline", "callback", "cancelled")

    def __init__(self, deadline: float, callback: Callable[[float], list[Any]]) -> None:
        self.deadline = deadline
        self.callback = callback
        self.cancelled = False

    def cancel(self) -> None:
        # The entry stays in the heap until its deadline: let go of what the callback holds (a
        # 2xx and its transaction, for one) now, not then.
        self.cancelled = True
        self.callback = _cancelled


class Scheduler:
    def __init__(self) -> None:
        self._heap: list[tuple[float, int, TimerHandle]] = []
        self._order = itertools.count()
        self._compact_at = COMPACT_AT_LEAST

    def call_at(self, deadline: float, callback: Callable[[float], list[Any]]) -> TimerHandle:
        handle = TimerHandle(deadline, callback)
        heap = self._heap
        if len(heap) >= self._compact_at:
            self._compact()
            heap = self._heap
        heapq.heappush(heap, (deadline, next(self._order), handle))
        return handle

    def _compact(self) -> None:
        """Drop the cancelled entries. A call's ring timer, cancelled when it is answered, would
        otherwise stay until its deadline (30 s and more; issue 16). The heap has doubled since
        the last time, so this is O(1) a timer, amortized."""
        self._heap = [entry for entry in self._heap if not entry[2].cancelled]
        heapq.heapify(self._heap)
        self._compact_at = max(COMPACT_AT_LEAST, 2 * len(self._heap))

    def next_deadline(self) -> float | None:
        while self._heap and self._heap[0][2].cancelled:
            heapq.heappop(self._heap)
        return self._heap[0][0] if self._heap else None

    def fire(self, now: float) -> list[Any]:
        """Run every callback due by `now`, in deadline order; return what they returned."""
        actions: list[Any] = []
        while self._heap and self._heap[0][0] <= now:
            _, _, handle = heapq.heappop(self._heap)
            if not handle.cancelled:
                handle.cancelled = True
                callback, handle.callback = handle.callback, _cancelled
                actions.extend(callback(now))
        return actions

    def __len__(self) -> int:
        return sum(1 for _, _, handle in self._heap if not handle.cancelled)
