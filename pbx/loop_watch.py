"""Event-loop stalls, measured from inside: a timer that should wake every `interval` and
logs when it wakes late by more than `threshold_ms`.

Whatever stops the loop (a long callback, a collection, the process not being scheduled)
delays every phone's answer by as much: phones retransmit after 500 ms (RFC 3261 T1). A
stall in the log (`event=loop_stall ms=...`) says the PBX was the one late, and when.
"""

from __future__ import annotations

import asyncio
import logging
import time

log = logging.getLogger("pbx.loop")


class StallWatch:
    def __init__(self, interval: float = 0.05, threshold_ms: float = 100.0) -> None:
        self.interval = interval
        self.threshold = threshold_ms / 1000
        self.stalls = 0
        self.longest_ms = 0.0

    def late(self, expected: float, woke: float) -> None:
        lateness = woke - expected
        if lateness > self.threshold:
            self.stalls += 1
            self.longest_ms = max(self.longest_ms, lateness * 1000)
            log.warning("event=loop_stall ms=%.0f", lateness * 1000)

    async def run(self) -> None:
        while True:
            expected = time.monotonic() + self.interval
            await asyncio.sleep(self.interval)
            self.late(expected, time.monotonic())
