"""Tests for pbx.media.quality: RFC 3550 A.3 loss, A.8 jitter and the simplified G.107 E-model.

Expected values are worked out by hand from the formulas in the module docstring.
"""

import msgspec
import pytest

from pbx.media.quality import InterarrivalJitter, QualityReport, StreamQuality, mos_from_r, r_factor


def mos_of(r: float) -> float:
    """G.107 Annex B, written out again so the test does not trust the code under test."""
    return 1 + 0.035 * r + r * (r - 60) * (100 - r) * 7e-6


def steady_stream(sequences, *, first_sequence=0) -> StreamQuality:
    """Packets every 20 ms (160 samples at 8 kHz), arriving exactly on time."""
    quality = StreamQuality()
    for sequence in sequences:
        index = (sequence - first_sequence) % 65536
        quality.on_packet(sequence, index * 160, index / 50)
    return quality


def test_no_loss_no_jitter_is_r_93_2_and_mos_4_41():
    quality = steady_stream(range(100))
    assert quality.packets_received == 100
    assert quality.packets_expected == 100
    assert quality.packets_lost == 0
    assert quality.jitter_ms == pytest.approx(0.0, abs=1e-9)
    assert quality.mos(jitter_buffer_ms=0) == pytest.approx(mos_of(93.2))
    assert round(quality.mos(), 2) == 4.41


def test_five_percent_loss_with_and_without_concealment():
    lost = {7, 23, 45, 61, 88}  # a fixed, scattered pattern: 5 of 100
    quality = steady_stream([s for s in range(100) if s not in lost])
    assert (quality.packets_received, quality.packets_expected, quality.packets_lost) == (95, 100, 5)
    assert quality.loss_fraction == pytest.approx(0.05)
    # G.711 with PLC: Ie_eff = 0 + 95 * 5 / (5 / 1 + 25.1) = 15.78073...; R = 77.41927...
    r_plc = 93.2 - 95 * 5 / (5 + 25.1)
    assert r_plc == pytest.approx(77.41927, abs=1e-5)
    assert quality.mos(jitter_buffer_ms=0) == pytest.approx(mos_of(r_plc))
    # MOS = 1 + 0.035 R + R (R - 60)(100 - R) 7e-6 = 1 + 2.70967 + 0.21316 = 3.92284
    assert quality.mos(jitter_buffer_ms=0) == pytest.approx(3.9228, abs=1e-4)
    # Without PLC: Ie_eff = 95 * 5 / (5 + 4.3) = 51.0753...; R = 42.1247...
    r_bare = 93.2 - 95 * 5 / (5 + 4.3)
    assert quality.mos(jitter_buffer_ms=0, concealment=False) == pytest.approx(mos_of(r_bare))
    assert quality.mos(jitter_buffer_ms=0, concealment=False) < quality.mos(jitter_buffer_ms=0) < mos_of(93.2)


def test_jitter_follows_rfc3550_a8_by_hand():
    quality = StreamQuality()
    # timestamps every 160 samples; arrivals 0, 20, 45, 55 ms
    quality.on_packet(0, 0, 0.000)
    quality.on_packet(1, 160, 0.020)  # D = 160 - 160 = 0        -> J = 0
    assert quality.jitter_ms == pytest.approx(0.0, abs=1e-9)
    quality.on_packet(2, 320, 0.045)  # D = 200 - 160 = 40       -> J = 40 / 16 = 2.5
    assert quality.jitter_ms == pytest.approx(2.5 / 8)
    quality.on_packet(3, 480, 0.055)  # D = 80 - 160 = -80       -> J = 2.5 + (80 - 2.5) / 16 = 7.34375
    assert quality.jitter_ms == pytest.approx(7.34375 / 8)


def test_jitter_estimator_takes_timestamp_wrap_as_a_small_step():
    estimator = InterarrivalJitter(8000)
    estimator.update(2**32 - 160, 0.0)
    estimator.update(0, 0.020)
    estimator.update(160, 0.040)
    assert estimator.jitter == pytest.approx(0.0, abs=1e-9)


def test_sequence_wraparound_counts_cycles():
    sequences = [65530, 65531, 65532, 65533, 65534, 65535, 0, 1, 2, 3, 4, 5]
    quality = steady_stream(sequences, first_sequence=65530)
    assert quality.extended_highest_sequence == 65536 + 5
    assert (quality.packets_expected, quality.packets_received, quality.packets_lost) == (12, 12, 0)

    quality = steady_stream([s for s in sequences if s != 1], first_sequence=65530)
    assert (quality.packets_expected, quality.packets_received, quality.packets_lost) == (12, 11, 1)


def test_duplicates_make_loss_negative_but_the_report_clamps_it():
    quality = steady_stream([1, 2, 2, 3], first_sequence=1)
    assert (quality.packets_expected, quality.packets_received, quality.packets_lost) == (3, 4, -1)
    assert quality.loss_fraction == 0.0
    report = quality.report()
    assert (report.packets, report.lost, report.loss_percent) == (4, 0, 0.0)


def test_reordered_packets_are_not_loss():
    quality = steady_stream([0, 1, 3, 2, 4])
    assert (quality.packets_expected, quality.packets_received, quality.packets_lost) == (5, 5, 0)


def test_a_single_large_jump_is_set_aside_and_two_in_a_row_restart():
    quality = steady_stream([0, 1, 2])
    quality.on_packet(20000, 0, 1.0)
    assert (quality.packets_expected, quality.packets_received) == (3, 3)
    quality.on_packet(20001, 160, 1.02)  # follows the jump: the sender restarted (RFC 3550 A.3)
    assert (quality.packets_expected, quality.packets_received) == (1, 1)


def test_delay_beyond_177_3_ms_adds_the_h_term():
    # d = 150: Id = 0.024 * 150 = 3.6; no H() term
    assert r_factor(0, 150) == pytest.approx(93.2 - 3.6)
    # d = 200: Id = 0.024 * 200 + 0.11 * (200 - 177.3) = 4.8 + 2.497 = 7.297
    assert r_factor(0, 200) == pytest.approx(93.2 - 7.297)
    quality = steady_stream(range(50))
    assert quality.mos(one_way_delay_ms=180, jitter_buffer_ms=20) == pytest.approx(mos_of(93.2 - 7.297))
    assert quality.mos(one_way_delay_ms=200, jitter_buffer_ms=0) < quality.mos(one_way_delay_ms=150, jitter_buffer_ms=0)


def test_jitter_buffer_delay_defaults_to_twice_the_jitter():
    quality = StreamQuality()
    quality.on_packet(0, 0, 0.000)
    quality.on_packet(1, 160, 0.020)
    quality.on_packet(2, 320, 0.045)  # J = 2.5 samples = 0.3125 ms
    assert quality.mos(one_way_delay_ms=100) == pytest.approx(mos_of(93.2 - 0.024 * (100 + 0.625)))


def test_mos_is_clamped():
    assert mos_from_r(-5) == 1.0
    assert mos_from_r(120) == 4.5
    assert mos_from_r(0) == 1.0
    assert mos_from_r(100) == pytest.approx(4.5)


def test_unknown_codec_is_our_error():
    with pytest.raises(ValueError, match="G722"):
        StreamQuality().mos("G722")


def test_report_is_a_frozen_struct():
    lost = {10, 30}
    report = steady_stream([s for s in range(40) if s not in lost]).report(jitter_buffer_ms=0)
    assert isinstance(report, QualityReport)
    assert (report.packets, report.lost, report.loss_percent) == (38, 2, 5.0)
    assert report.mos == pytest.approx(mos_of(93.2 - 95 * 5 / (5 + 25.1)))
    with pytest.raises(AttributeError):
        report.mos = 5.0  # type: ignore[misc]
    assert msgspec.json.decode(msgspec.json.encode(report), type=QualityReport) == report


def test_empty_stream():
    quality = StreamQuality()
    assert (quality.packets_expected, quality.packets_lost, quality.loss_fraction) == (0, 0, 0.0)
