"""Tests for pbx.media.latching: symmetric RTP (RFC 4961) and its guard against stolen streams (RFC 7362 5).

Time is a plain float; the defaults are a 1 s learning window after each
`expect`, and a move to a new source after 3 consecutive packets while the
latched source has been silent for 0.5 s.
"""

import pytest

from pbx.media.latching import Latch

SDP = ("192.168.1.20", 4000)  # the phone's private address, as its SDP says
NAT = ("203.0.113.7", 61000)  # where its packets really come from
NAT_REBOUND = ("203.0.113.7", 61002)  # the same phone after its NAT binding changed
ATTACKER = ("198.51.100.66", 5555)
T0 = 1000.0
AFTER_WINDOW = T0 + 1.0


def latched_after_window() -> Latch:
    """A latch on NAT whose learning window has closed, NAT last heard at AFTER_WINDOW."""
    latch = Latch()
    latch.expect(*SDP, T0)
    assert latch.accept(NAT, T0 + 0.1)
    assert latch.accept(NAT, AFTER_WINDOW)
    return latch


def test_nothing_to_send_to_before_sdp_or_packets():
    latch = Latch()
    assert latch.destination is None
    assert latch.source is None
    assert latch.expected is None


def test_sdp_address_is_the_destination_until_a_packet_arrives():
    latch = Latch()
    latch.expect(*SDP, T0)
    assert latch.destination == SDP
    assert latch.is_learning(T0)
    assert latch.is_learning(T0 + 0.999)
    assert not latch.is_learning(T0 + 1.0)


def test_first_packet_latches_its_source():
    latch = Latch()
    latch.expect(*SDP, T0)
    assert latch.accept(NAT, T0 + 5.0)  # long after the window: the first packet still latches
    assert latch.source == NAT
    assert latch.destination == NAT
    assert latch.moves == 0


def test_first_packet_latches_even_without_sdp():
    latch = Latch()
    assert latch.accept(NAT, T0)
    assert latch.destination == NAT


def test_a_new_source_takes_over_at_once_inside_the_learning_window():
    latch = Latch()
    latch.expect(*SDP, T0)
    assert latch.accept(NAT, T0 + 0.1)
    assert latch.accept(NAT_REBOUND, T0 + 0.2)
    assert latch.destination == NAT_REBOUND
    assert latch.moves == 1
    assert latch.accept(NAT, T0 + 0.3)  # inside the window the last sender wins
    assert latch.destination == NAT


def test_an_injected_packet_is_dropped_while_the_phone_talks():
    latch = latched_after_window()
    for step in range(10):
        now = AFTER_WINDOW + 0.02 * step
        assert latch.accept(NAT, now)
        assert not latch.accept(ATTACKER, now + 0.01)
    assert latch.destination == NAT
    assert latch.moves == 0


def test_a_flood_does_not_take_over_while_the_phone_talks():
    latch = latched_after_window()
    for step in range(100):
        assert not latch.accept(ATTACKER, AFTER_WINDOW + 0.001 * step)
    assert latch.destination == NAT


def test_a_new_source_takes_over_after_silence_and_three_packets():
    latch = latched_after_window()
    silent_since = AFTER_WINDOW
    assert not latch.accept(NAT_REBOUND, silent_since + 0.5)
    assert not latch.accept(NAT_REBOUND, silent_since + 0.52)
    assert latch.destination == NAT
    assert latch.accept(NAT_REBOUND, silent_since + 0.54)
    assert latch.destination == NAT_REBOUND
    assert latch.moves == 1
    assert not latch.accept(NAT, silent_since + 0.56)  # the old source is now the stranger


def test_silence_shorter_than_half_a_second_keeps_the_latch():
    latch = latched_after_window()
    for offset in (0.1, 0.2, 0.3, 0.499):
        assert not latch.accept(NAT_REBOUND, AFTER_WINDOW + offset)
    assert latch.destination == NAT


def test_packets_before_the_silence_do_not_count_towards_the_three():
    latch = latched_after_window()
    assert not latch.accept(NAT_REBOUND, AFTER_WINDOW + 0.4)
    assert not latch.accept(NAT_REBOUND, AFTER_WINDOW + 0.45)
    assert not latch.accept(NAT_REBOUND, AFTER_WINDOW + 0.5)  # first one that counts
    assert not latch.accept(NAT_REBOUND, AFTER_WINDOW + 0.52)
    assert latch.accept(NAT_REBOUND, AFTER_WINDOW + 0.54)


def test_the_three_packets_must_be_consecutive():
    latch = latched_after_window()
    start = AFTER_WINDOW + 1.0
    assert not latch.accept(NAT_REBOUND, start)
    assert not latch.accept(NAT_REBOUND, start + 0.02)
    assert not latch.accept(ATTACKER, start + 0.03)  # interleaved: NAT_REBOUND starts again
    assert not latch.accept(NAT_REBOUND, start + 0.04)
    assert not latch.accept(NAT_REBOUND, start + 0.06)
    assert latch.destination == NAT
    assert latch.accept(NAT_REBOUND, start + 0.08)
    assert latch.destination == NAT_REBOUND


def test_the_latched_source_speaking_again_resets_the_count():
    latch = latched_after_window()
    start = AFTER_WINDOW + 1.0
    assert not latch.accept(NAT_REBOUND, start)
    assert not latch.accept(NAT_REBOUND, start + 0.02)
    assert latch.accept(NAT, start + 0.03)
    assert not latch.accept(NAT_REBOUND, start + 0.04)  # NAT is not silent any more
    assert not latch.accept(NAT_REBOUND, start + 0.6)
    assert not latch.accept(NAT_REBOUND, start + 0.62)
    assert latch.accept(NAT_REBOUND, start + 0.64)


@pytest.mark.parametrize("packets", [1, 2, 5])
def test_packets_to_move_is_a_setting(packets):
    latch = Latch(packets_to_move=packets, silence=2.0, learning_window=0.0)
    assert latch.accept(NAT, T0)
    for count in range(1, packets):
        assert not latch.accept(NAT_REBOUND, T0 + 2.0 + count)
    assert latch.accept(NAT_REBOUND, T0 + 2.0 + packets)


def test_a_reinvite_with_the_same_address_keeps_the_latch_and_reopens_the_window():
    latch = latched_after_window()
    later = AFTER_WINDOW + 60.0
    latch.expect(*SDP, later)
    assert latch.destination == NAT
    assert latch.accept(NAT_REBOUND, later + 0.3)  # e.g. the phone reopened its socket after hold
    assert latch.destination == NAT_REBOUND
    assert not latch.accept(NAT, later + 1.0)  # window closed, NAT_REBOUND not silent


def test_a_new_sdp_address_forgets_the_latched_source():
    latch = latched_after_window()
    transferred_to = ("192.168.1.30", 5000)
    latch.expect(*transferred_to, AFTER_WINDOW + 30.0)
    assert latch.source is None
    assert latch.destination == transferred_to
    assert latch.accept(("203.0.113.9", 40000), AFTER_WINDOW + 30.1)
    assert latch.destination == ("203.0.113.9", 40000)


@pytest.mark.parametrize("unspecified", ["0.0.0.0", "::"])
def test_hold_with_the_unspecified_address_keeps_where_to_send(unspecified):
    # RFC 3264 8.4: c=0.0.0.0 is the RFC 2543 way to hold; sending there would reach ourselves.
    latch = latched_after_window()
    latch.expect(unspecified, 4000, AFTER_WINDOW + 10.0)
    assert (latch.expected, latch.destination) == (SDP, NAT)
    latch.expect(*SDP, AFTER_WINDOW + 20.0)  # taken off hold
    assert latch.destination == NAT


def test_hold_with_the_unspecified_address_before_any_address():
    latch = Latch()
    latch.expect("0.0.0.0", 4000, T0)
    assert latch.destination is None
    assert latch.accept(NAT, T0 + 0.1)
    assert latch.destination == NAT


def test_expect_clears_a_half_counted_candidate():
    latch = latched_after_window()
    start = AFTER_WINDOW + 1.0
    assert not latch.accept(ATTACKER, start)
    assert not latch.accept(ATTACKER, start + 0.02)
    latch.expect(*SDP, start + 0.03)
    # The window is open, so the next packet of anyone moves the latch; after it closes,
    # counting starts from zero.
    assert latch.accept(NAT, start + 0.04)
    closed = start + 0.03 + 1.0 + 0.5
    assert not latch.accept(ATTACKER, closed)
    assert not latch.accept(ATTACKER, closed + 0.02)
    assert latch.accept(ATTACKER, closed + 0.04)
