"""Tests for pbx.media.ports: even RTP ports with RTCP above (RFC 3550 11), handed out round-robin."""

import pytest

from pbx.media.ports import PortPool, PortsExhausted


def test_hands_out_even_ports_in_order():
    pool = PortPool(30000, 30009)
    assert [pool.allocate() for _ in range(5)] == [30000, 30002, 30004, 30006, 30008]
    assert pool.in_use == 5
    assert pool.capacity == 5


def test_an_odd_low_end_starts_at_the_next_even_port():
    pool = PortPool(30001, 30006)
    assert [pool.allocate() for _ in range(2)] == [30002, 30004]
    assert pool.capacity == 2  # 30006 has no 30007 for its RTCP inside the range


def test_the_last_pair_needs_its_rtcp_port_inside_the_range():
    assert PortPool(30000, 30001).capacity == 1
    assert PortPool(30000, 30002).capacity == 1
    assert PortPool(30000, 30003).capacity == 2


@pytest.mark.parametrize(("low", "high"), [(30000, 30000), (30001, 30002), (0, 10), (30010, 30000), (65534, 65536)])
def test_a_range_without_a_pair_is_our_mistake(low, high):
    with pytest.raises(ValueError, match=f"{low}-{high}"):
        PortPool(low, high)


def test_exhaustion_names_the_range():
    pool = PortPool(40000, 40003)
    pool.allocate()
    pool.allocate()
    with pytest.raises(PortsExhausted, match="no free RTP/RTCP port pair in 40000-40003: all 2 pairs are in use"):
        pool.allocate()


def test_a_released_port_is_reused_only_after_every_other_free_port():
    pool = PortPool(30000, 30007)  # four pairs
    first = pool.allocate()
    pool.release(first)
    assert [pool.allocate() for _ in range(4)] == [30002, 30004, 30006, 30000]
    assert pool.in_use == 4


def test_round_robin_continues_across_releases():
    pool = PortPool(30000, 30005)  # three pairs
    a, b = pool.allocate(), pool.allocate()
    pool.release(b)
    pool.release(a)
    assert [pool.allocate() for _ in range(3)] == [30004, 30002, 30000]


def test_release_frees_the_pair():
    pool = PortPool(30000, 30001)
    port = pool.allocate()
    pool.release(port)
    assert pool.in_use == 0
    assert pool.allocate() == port


@pytest.mark.parametrize("port", [30002, 30001, 29998])
def test_releasing_a_port_not_handed_out_is_our_mistake(port):
    pool = PortPool(30000, 30009)
    pool.allocate()
    with pytest.raises(ValueError, match=f"RTP port {port} was not allocated from 30000-30009"):
        pool.release(port)


def test_releasing_twice_is_our_mistake():
    pool = PortPool(30000, 30009)
    port = pool.allocate()
    pool.release(port)
    with pytest.raises(ValueError):
        pool.release(port)


def test_a_busy_port_is_skipped_and_tried_again_last():
    pool = PortPool(30000, 30005)
    busy = pool.allocate()
    pool.skip(busy)
    assert pool.skipped == 1
    assert pool.in_use == 0
    assert [pool.allocate() for _ in range(3)] == [30002, 30004, 30000]


def test_skipping_a_port_not_handed_out_is_our_mistake():
    with pytest.raises(ValueError):
        PortPool(30000, 30005).skip(30000)
