"""The media clock's tick grid on a fake clock, and RTP packets of our own audio."""

from __future__ import annotations

import pytest

from pbx.media.clock import TickSchedule
from pbx.media.g711 import ulaw_decode
from pbx.media.rtp import RtpPacket
from pbx.media.sender import RtpSender


def test_ticks_stay_on_the_grid_when_wakeups_are_a_little_late():
    schedule = TickSchedule(start=100.0)
    deadlines = []
    for lateness in (0.0, 0.004, 0.011, 0.0, 0.019):
        now = schedule.deadline + lateness
        deadlines.append(round(schedule.deadline, 3))
        assert schedule.advance(now) == 0
    assert deadlines == [100.0, 100.02, 100.04, 100.06, 100.08]
    assert round(schedule.deadline, 3) == 100.1


def test_a_wakeup_later_than_a_tick_skips_instead_of_bursting():
    schedule = TickSchedule(start=0.0)
    assert schedule.advance(0.065) == 3  # deadline 0.0, woke at 65 ms: ticks 1, 2, 3 are gone
    assert round(schedule.deadline, 3) == 0.08 and schedule.skipped == 3


def test_sender_numbers_packets_and_marks_talkspurts():
    sender = RtpSender("PCMU", 0, ssrc=0x1234, sequence=65535, timestamp=1000)
    frame = b"\x00\x00" * 160
    first, second = (RtpPacket.parse(sender.packet(frame)) for _ in range(2))
    assert (first.marker, first.sequence, first.timestamp, first.ssrc, len(first.payload)) == (True, 65535, 1000, 0x1234, 160)
    assert (second.marker, second.sequence, second.timestamp) == (False, 0, 1160)
    assert ulaw_decode(first.payload) == frame
    sender.pause(2)
    third = RtpPacket.parse(sender.packet(frame))
    assert (third.marker, third.timestamp) == (True, 1640)


def test_sender_refuses_codecs_it_cannot_encode():
    with pytest.raises(ValueError, match="cannot send G729"):
        RtpSender("G729", 18, ssrc=1)
