"""The shared media clock on a real event loop: one timer paces many streams at 20 ms."""

from __future__ import annotations

import asyncio
import time

import pytest

from pbx.media.clock import MediaClock

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(20)]


class Recorder:
    def __init__(self) -> None:
        self.times: list[float] = []

    def tick(self, now: float) -> None:
        self.times.append(now)


async def test_hundred_streams_share_one_20ms_tick():
    clock = MediaClock(time.monotonic)
    streams = [Recorder() for _ in range(100)]
    for stream in streams:
        clock.add(stream)
    await asyncio.sleep(1.0)
    for stream in streams:
        clock.remove(stream)
    ticks = streams[0].times
    assert 45 <= len(ticks) <= 51, len(ticks)
    assert all(stream.times == ticks for stream in streams)  # one tick serves every stream
    start = ticks[0]
    deviations = sorted(abs(t - (start + 0.02 * round((t - start) / 0.02))) for t in ticks)
    assert deviations[int(0.99 * (len(deviations) - 1))] < 0.010, deviations[-5:]
    assert clock.ticks == len(ticks) and len(clock) == 0


async def test_a_failing_stream_is_dropped_and_the_others_keep_ticking():
    clock = MediaClock(time.monotonic)

    class Broken:
        def tick(self, now):
            raise RuntimeError("boom")

    good = Recorder()
    clock.add(Broken())
    clock.add(good)
    await asyncio.sleep(0.2)
    clock.remove(good)
    assert len(good.times) >= 5


async def test_a_stream_removed_by_another_during_a_tick_is_not_ticked_and_the_clock_goes_on():
    """An IVR prompt ends, the scenario hangs up, the call's recorder leaves the clock: all in one tick."""
    clock = MediaClock(time.monotonic)
    recorder, survivor, late = Recorder(), Recorder(), Recorder()

    class EndsTheCall(Recorder):
        def tick(self, now: float) -> None:
            super().tick(now)
            if len(self.times) == 3:
                clock.remove(self)
                clock.remove(recorder)  # ticked after us in the same tick, had it stayed
                clock.add(late)  # and something new starts at once

    ender = EndsTheCall()
    for stream in (ender, recorder, survivor):
        clock.add(stream)
    await asyncio.sleep(0.3)
    assert len(ender.times) == 3 and len(recorder.times) == 2, (ender.times, recorder.times)
    assert len(survivor.times) >= 12 and len(late.times) >= 9
    clock.remove(survivor)
    clock.remove(late)
    await asyncio.sleep(0.05)
    ticks = clock.ticks
    await asyncio.sleep(0.1)
    assert clock.ticks == ticks  # no stream left: no timer either (one chain, never two)
