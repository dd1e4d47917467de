"""The one media clock: a single 20 ms tick that paces every stream the PBX sends.

`TickSchedule` (pure) keeps tick deadlines on an absolute grid (start + n x
20 ms), so lateness never accumulates into drift; a wakeup later than one
whole tick skips the missed ticks and counts them instead of bursting.
`MediaClock` is the asyncio adapter: one `call_at` chain for hundreds of
streams, each of which gets `tick(now)` once per 20 ms.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Protocol

log = logging.getLogger("pbx.media.clock")

TICK = 0.020


class TickSchedule:
    def __init__(self, start: float, interval: float = TICK) -> None:
        self.start = start
        self.interval = interval
        self.index = 0
        self.skipped = 0

    @property
    def deadline(self) -> float:
        return self.start + self.index * self.interval

    def advance(self, now: float) -> int:
        """Called at or after `deadline`: move to the next tick; return how many ticks were missed."""
        late_ticks = int((now - self.deadline) // self.interval)
        missed = max(0, late_ticks)
        self.skipped += missed
        self.index += 1 + missed
        return missed


class Ticking(Protocol):
    """A stream the clock paces; one with a true `finished` attribute after a tick leaves the clock."""

    def tick(self, now: float) -> None: ...


class MediaClock:
    def __init__(self, clock: Callable[[], float], loop: asyncio.AbstractEventLoop | None = None,
                 interval: float = TICK) -> None:
        self.clock = clock
        self.interval = interval
        self._loop = loop
        self._streams: list[Ticking] = []
        self._members: set[int] = set()  # ids of the streams, to skip one removed during a tick
        self._ticking = False  # inside _on_tick: it re-arms (or not) when the streams are done
        self._schedule: TickSchedule | None = None
        self._handle: asyncio.TimerHandle | None = None
        self.ticks = 0

    def add(self, stream: Ticking) -> None:
        self._streams.append(stream)
        self._members.add(id(stream))
        if self._handle is None and not self._ticking:
            self._loop = self._loop or asyncio.get_running_loop()
            self._schedule = TickSchedule(self.clock(), self.interval)
            self._arm()

    def remove(self, stream: Ticking) -> None:
        if id(stream) in self._members:
            self._members.discard(id(stream))
            self._streams.remove(stream)
        if not self._streams and self._handle is not None and not self._ticking:
            self._handle.cancel()
            self._handle = None

    @property
    def skipped(self) -> int:
        return self._schedule.skipped if self._schedule else 0

    def __len__(self) -> int:
        return len(self._streams)

    def _arm(self) -> None:
        assert self._schedule is not None and self._loop is not None
        delay = self._schedule.deadline - self.clock()
        self._handle = self._loop.call_at(self._loop.time() + max(0.0, delay), self._on_tick)

    def _on_tick(self) -> None:
        now = self.clock()
        self.ticks += 1
        members = self._members
        self._ticking = True
        try:
            for stream in list(self._streams):
                # A stream's tick may end a call, and that call's other streams (a recorder)
                # leave the clock at once: they must not be ticked once more.
                if id(stream) not in members:
                    continue
                try:
                    stream.tick(now)
                    if getattr(stream, "finished", False):
                        self.remove(stream)  # e.g. its call's media endpoint was closed under it
                except Exception:
                    # One broken stream must not stop the clock for every other call.
                    log.exception("event=stream_tick_failed stream=%r", stream)
                    self.remove(stream)
        finally:
            self._ticking = False
            if self._schedule is None:
                self._schedule = TickSchedule(now, self.interval)
            self._schedule.advance(now)
            if self._streams:
                self._arm()
            else:
                self._handle = None
