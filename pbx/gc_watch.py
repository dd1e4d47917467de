"""Python's cyclic garbage collector kept from stopping the PBX: what survives is frozen, pauses timed.

CPython starts a young collection when allocations minus deallocations of tracked objects pass
a threshold. Under load every ended call's objects are deallocated as new ones are made, so the
count hardly grows while the young generation fills with everything the calls in progress hold:
at 500 calls/s young collections walked that and took 60-370 ms each, and a full collection
of a large heap took 1,074 ms at 400 calls/s, long enough for every phone to retransmit.
Calls free their objects by reference counting alone (tests/unit/test_call_garbage.py: a call
leaves no cyclic garbage), so the collector need not walk what is alive:

- every `freeze_seconds` (0.2 s) the young generation is collected (what became cyclic
  garbage since the last tick goes) and what is left moves to the permanent generation
  (`gc.freeze`), so a collection walks at most what was made since; frozen objects are still
  freed when their last reference goes;
- a cycle that became garbage after it was frozen waits for a full collection: one runs,
  unfrozen, once `full_every_seconds` (an hour) have passed and no call is up, or after
  `full_at_most_seconds` (six hours) whatever is up, its pause logged;
- every collection is timed through `gc.callbacks`, and one longer than `pause_warning_ms` is
  logged with its generation, so a stall in the logs can be told from a slow network.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import time
from collections.abc import Callable

log = logging.getLogger("pbx.gc")


class PauseWatch:
    """A `gc.callbacks` entry: counts collections by generation and logs the long ones."""

    def __init__(self, threshold_ms: float) -> None:
        self.threshold = threshold_ms / 1000
        self.collections = [0, 0, 0]
        self.longest_ms = 0.0
        self._started = 0.0

    def __call__(self, phase: str, info: dict) -> None:
        if phase == "start":
            self._started = time.perf_counter()
            return
        elapsed = time.perf_counter() - self._started
        generation = info["generation"]
        self.collections[generation] += 1
        self.longest_ms = max(self.longest_ms, elapsed * 1000)
        if elapsed >= self.threshold:
            log.warning("event=gc_pause generation=%d ms=%.1f collected=%d uncollectable=%d",
                        generation, elapsed * 1000, info["collected"], info["uncollectable"])


class CollectorPolicy:
    def __init__(self, calls_up: Callable[[], int], *, freeze_seconds: float = 0.2,
                 full_every_seconds: float = 3600.0, full_at_most_seconds: float = 6 * 3600.0,
                 pause_warning_ms: float = 50.0) -> None:
        self.calls_up = calls_up
        self.freeze_seconds = freeze_seconds
        self.full_every_seconds = full_every_seconds
        self.full_at_most_seconds = full_at_most_seconds
        self.watch = PauseWatch(pause_warning_ms)
        self.full_collections = 0
        self._last_full = time.monotonic()

    def tick(self) -> None:
        """Freeze what survived so far, or, when idle and due, collect everything first."""
        now = time.monotonic()
        since = now - self._last_full
        if (since >= self.full_every_seconds and self.calls_up() == 0) or since >= self.full_at_most_seconds:
            gc.unfreeze()
            gc.collect()
            self._last_full = now
            self.full_collections += 1
        else:
            # What became garbage since the last tick (a handled exception's traceback, a task's
            # cycle) is collected before the rest is frozen: at most one tick of allocations.
            gc.collect(0)
        gc.freeze()

    async def run(self) -> None:
        gc.callbacks.append(self.watch)
        try:
            while True:
                self.tick()
                await asyncio.sleep(self.freeze_seconds)
        finally:
            gc.callbacks.remove(self.watch)
