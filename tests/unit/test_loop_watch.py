"""Event-loop stalls are counted and logged past the threshold (pbx/loop_watch.py)."""

from __future__ import annotations

import logging

from pbx.loop_watch import StallWatch


def test_a_wakeup_later_than_the_threshold_is_a_stall_and_a_punctual_one_is_not(caplog):
    watch = StallWatch(interval=0.05, threshold_ms=100)
    with caplog.at_level(logging.WARNING, logger="pbx.loop"):
        watch.late(expected=10.0, woke=10.02)
        watch.late(expected=20.0, woke=20.35)
    assert watch.stalls == 1
    assert round(watch.longest_ms) == 350
    assert "event=loop_stall ms=350" in caplog.text
