"""A worker's counts for worker 0 (pbx/workers/tally.py): bytes in and out, sums at a given `now`."""

from __future__ import annotations

import ast
import logging
from pathlib import Path

import msgspec
import pytest

from pbx.workers.channel import WorkerChannel
from pbx.workers.place import WorkerPlace
from pbx.workers.tally import COUNTS, BadTally, Tallies, Tally, decode_tally, encode_tally, tally_of

NOW = 1_800_000_000.0
STATUS = {  # what Pbx._counts gives, with the channel's two counts
    "transactions": 7, "registrations": 2, "received": 900, "malformed": 1, "dropped": 2, "sent_stateless": 30,
    "banned": 0, "refused": 4, "calls": 3, "legs": 6, "dialogs": 6, "rtp_ports": 24, "call_timers": 5,
    "tcp_connections": 0, "events_published": 120, "handed_on": 40, "handed_over": 11,
}


def test_a_tally_takes_the_status_counts_by_name_but_registrations():
    tally = tally_of(1, STATUS)
    assert tally == Tally(worker=1, calls=3, legs=6, dialogs=6, transactions=7, rtp_ports=24, call_timers=5,
                          tcp_connections=0, received=900, malformed=1, dropped=2, sent_stateless=30, banned=0,
                          refused=4, events_published=120, handed_on=40, handed_over=11)
    assert "registrations" not in COUNTS  # every worker holds every binding: not summed
    assert tally_of(2, {"calls": 1, "trunks": {"x": 1}, "dialogs": "2"}) == Tally(worker=2, calls=1)


def test_a_tally_travels_as_a_msgpack_map_and_back():
    tally = tally_of(1, STATUS)
    payload = encode_tally(tally)
    assert msgspec.msgpack.decode(payload) == {"worker": 1, **{name: STATUS[name] for name in COUNTS}}
    assert decode_tally(payload) == tally
    # Written by hand: a count left out is 0 (an older worker's tally still reads).
    assert decode_tally(b"\x82\xa6worker\x02\xa5calls\x05") == Tally(worker=2, calls=5)


@pytest.mark.parametrize(("payload", "reason"), [
    (b"", "truncated"),
    (b"\xc1", "invalid opcode"),
    (b"\x92\x01\x02", "Expected `object`, got `array`"),
    (b"\x81\xa5calls\x05", "missing required field `worker`"),
    (b"\x82\xa6worker\x01\xa5calls\xff", "Expected `int` >= 0 - at `$.calls`"),
    (b"\x82\xa6worker\x01\xa5calla\x05", "unknown field `calla`"),
    (b"\x81\xa6worker\xa1x", "Expected `int`, got `str` - at `$.worker`"),
])
def test_bytes_that_are_not_a_tally_say_what_is_wrong(payload, reason):
    with pytest.raises(BadTally) as caught:
        decode_tally(payload)
    assert reason in str(caught.value)


def test_worker_0_sums_its_own_counts_and_every_others_latest():
    tallies = Tallies(4, stale_after=5.0)
    tallies.received(Tally(worker=1, calls=10, dialogs=20, transactions=3), NOW - 8.0)
    tallies.received(Tally(worker=1, calls=12, dialogs=24, transactions=1), NOW - 0.4)  # replaces the first
    tallies.received(Tally(worker=3, calls=5, dialogs=10, rtp_ports=40), NOW - 6.25)  # went quiet
    report = tallies.report(Tally(worker=0, calls=2, dialogs=4, received=50), NOW)

    zero = dict.fromkeys(COUNTS, 0)
    assert report["workers"] == [
        {"index": 0, "age_seconds": 0.0, "stale": False, **zero, "calls": 2, "dialogs": 4, "received": 50},
        {"index": 1, "age_seconds": 0.4, "stale": False, **zero, "calls": 12, "dialogs": 24, "transactions": 1},
        {"index": 2, "age_seconds": None, "stale": True},  # not heard from yet: no counts
        {"index": 3, "age_seconds": 6.2, "stale": True, **zero, "calls": 5, "dialogs": 10, "rtp_ports": 40},
    ]
    assert report["all"] == {**zero, "calls": 19, "dialogs": 38, "transactions": 1, "rtp_ports": 40, "received": 50}


def test_a_worker_alone_or_its_tally_from_the_future_is_no_trouble():
    assert Tallies(1).report(Tally(worker=0, calls=1), NOW)["all"]["calls"] == 1
    tallies = Tallies(2)
    tallies.received(Tally(worker=1, calls=1), NOW + 3)  # the wall clock stepped back
    assert tallies.report(Tally(worker=0), NOW)["workers"][1]["age_seconds"] == 0.0


def test_only_worker_0_keeps_tallies_and_only_of_the_others():
    tallies = Tallies(2)
    for worker in (0, 2):
        with pytest.raises(ValueError, match=f"worker {worker} sends no tally"):
            tallies.received(Tally(worker=worker), NOW)
    with pytest.raises(ValueError, match="worker 1 keeps no tallies"):
        tallies.report(Tally(worker=1), NOW)


def test_the_tally_core_does_no_io():
    source = Path(__file__).resolve().parents[3] / "pbx" / "workers" / "tally.py"
    modules = {alias.name.split(".")[0] for node in ast.walk(ast.parse(source.read_text()))
               if isinstance(node, ast.Import) for alias in node.names}
    modules |= {node.module.split(".")[0] for node in ast.walk(ast.parse(source.read_text()))
                if isinstance(node, ast.ImportFrom) and node.module and node.level == 0}
    assert not modules & {"asyncio", "socket", "time", "random", "threading"}, modules


# On the channel: a `T` datagram from a worker's port reaches worker 0's tallies -----------------------

CHANNEL_PORTS = [40100, 40102, 40104]


def first_worker_channel(now: list[float]) -> WorkerChannel:
    place = WorkerPlace(index=0, count=3, channel_ports=CHANNEL_PORTS, channel_fd=-1, ready_fd=-1, listen=[],
                        secret="00")
    return WorkerChannel(place, dispatcher=None, transport=None, registrar=None, publish=None,
                         clock=lambda: now[0])


def test_worker_0_takes_a_tally_from_the_worker_it_names(caplog):
    now = [NOW]
    channel = first_worker_channel(now)
    channel.on_datagram(b"T" + encode_tally(Tally(worker=2, calls=4)), ("127.0.0.1", 40104))
    now[0] += 1.5
    [_, _, second] = channel.tallies.report(Tally(worker=0), now[0])["workers"]
    assert (second["calls"], second["age_seconds"], second["stale"]) == (4, 1.5, False)
    assert channel.received == 0  # `handed_over` counts SIP and registrations, not tallies
    assert not caplog.records


def test_worker_0_logs_and_drops_a_bad_tally(caplog):
    channel = first_worker_channel([NOW])
    with caplog.at_level(logging.WARNING, logger="pbx.workers"):
        channel.on_datagram(b"T\x92\x01\x02", ("127.0.0.1", 40102))
        channel.on_datagram(b"T" + encode_tally(Tally(worker=2, calls=4)), ("127.0.0.1", 40102))  # not its own
        channel.on_datagram(b"T" + encode_tally(Tally(worker=1, calls=4)), ("127.0.0.1", 40999))  # not a worker
    assert [record.getMessage() for record in caplog.records] == [
        "event=channel_bad_tally worker=1 reason='Expected `object`, got `array`'",
        "event=channel_bad_tally worker=1 reason='names worker 2'",
        "event=channel_stranger address=127.0.0.1:40999",
    ]
    assert [row["stale"] for row in channel.tallies.report(Tally(worker=0), NOW)["workers"]] == [False, True, True]
