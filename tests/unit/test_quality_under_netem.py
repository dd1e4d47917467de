"""Loss and jitter figures over a netem-like link, with a fake clock (issue 15, "Faults").

The e2e test (tests/e2e/test_netem.py) spoils a real link; this one runs the same impairment
(userspace_netem.NetemQueue: 30 ms +- 15 ms uniform delay, 5 % loss, 10 % reordered) between a
20 ms G.711 sender and `StreamQuality`, so the figures can be checked exactly: every drop the
highest received sequence number has passed is counted once, no reordered packet is counted
as lost, and the jitter is in milliseconds near E|d_j - d_i| = 2 x 15 / 3 = 10 ms.
"""

from __future__ import annotations

import random

from pbx.media.quality import StreamQuality
from tests.e2e.userspace_netem import Impairment, NetemQueue

NETEM = Impairment(delay_ms=30, jitter_ms=15, loss_percent=5, reorder_percent=10, reorder_correlation=50)
PACKETS = 1000


def run_link(impairment: Impairment, seed: int) -> tuple[StreamQuality, list[int], int]:
    """Send PACKETS 20 ms apart through the queue; (quality, arrival order, drops)."""
    link = NetemQueue(random.Random(seed))
    link.impair(impairment)
    quality = StreamQuality(8000)
    arrived: list[int] = []
    for tick in range(PACKETS * 20 + 200):  # 1 ms steps, and time for the last ones to land
        now = tick / 1000
        if tick % 20 == 0 and tick // 20 < PACKETS:
            link.submit((tick // 20).to_bytes(2, "big"), now)
        for packet in link.due(now + 1e-9):  # due times are float sums of the same milliseconds
            sequence = int.from_bytes(packet, "big")
            arrived.append(sequence)
            quality.on_packet(sequence, sequence * 160, now)
    return quality, arrived, link.dropped


def test_loss_is_the_drops_and_reordering_is_not_loss():
    quality, arrived, dropped = run_link(NETEM, seed=15)
    reordered = sum(1 for before, after in zip(arrived, arrived[1:]) if after < before)
    assert reordered > 50  # the link really did reorder
    missing = set(range(max(arrived) + 1)) - set(arrived)
    assert quality.packets_lost == len(missing) == dropped - (PACKETS - 1 - max(arrived))
    assert 0.03 < quality.loss_fraction < 0.07


def test_jitter_is_in_milliseconds_near_two_thirds_of_the_jitter_range():
    quality, _, _ = run_link(NETEM, seed=15)
    assert 8.0 < quality.jitter_ms < 16.0
    clean, _, _ = run_link(Impairment(delay_ms=30), seed=15)
    assert clean.jitter_ms < 1e-6 and clean.packets_lost == 0


def test_mos_falls_with_the_impairment():
    spoiled, _, _ = run_link(NETEM, seed=15)
    clean, _, _ = run_link(Impairment(delay_ms=30), seed=15)
    assert round(clean.mos(), 2) == 4.41
    assert 3.6 < spoiled.mos() < 4.2
