"""A worker's counts for worker 0 (`T` on the channel), and worker 0's sums over every worker.

Each worker k > 0 sends worker 0 a `Tally` about once a second: how many calls, legs, dialogs,
transactions and RTP ports it holds now, and what its SIP endpoint has counted since it
started. Worker 0 keeps the latest one per worker with when it arrived (`Tallies`), and its
GET /api/status lists them with its own and sums them, so the admin API sees the whole PBX
and not only worker 0's share.

Pure: a Tally goes to bytes and back (`encode_tally`, `decode_tally`), and the sums take `now`;
channel.py sends and receives, app.py builds the tallies from the services' counts.
Registrations are not in a tally: every worker holds every binding (channel.py), so worker 0's
own count is already the PBX's.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any

import msgspec

STALE_SECONDS = 5.0  # a tally older than this (five missed sends) marks its worker stale

Count = Annotated[int, msgspec.Meta(ge=0)]


class Tally(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """One worker's counts at one moment. The names are /api/status's top-level ones."""

    worker: Count  # the worker's index
    # What the worker holds now.
    calls: Count = 0
    legs: Count = 0
    dialogs: Count = 0
    transactions: Count = 0
    rtp_ports: Count = 0
    call_timers: Count = 0
    tcp_connections: Count = 0
    # Since the worker (re)started.
    received: Count = 0
    malformed: Count = 0
    dropped: Count = 0
    sent_stateless: Count = 0
    banned: Count = 0
    refused: Count = 0
    events_published: Count = 0
    handed_on: Count = 0
    handed_over: Count = 0


COUNTS: tuple[str, ...] = tuple(name for name in Tally.__struct_fields__ if name != "worker")


class BadTally(ValueError):
    """The sender's fault: bytes on the channel that are not a tally (or another version's)."""


def tally_of(worker: int, counts: Mapping[str, Any]) -> Tally:
    """The tally of worker `worker` from its status counts (the keys of /api/status); a count the
    status does not have is 0."""
    return Tally(worker, **{name: counts[name] for name in COUNTS if isinstance(counts.get(name), int)})


_encoder = msgspec.msgpack.Encoder()
_decoder = msgspec.msgpack.Decoder(Tally)


def encode_tally(tally: Tally) -> bytes:
    return _encoder.encode(tally)


def decode_tally(payload: bytes) -> Tally:
    try:
        return _decoder.decode(payload)
    except msgspec.MsgspecError as error:
        raise BadTally(str(error)) from None


class Tallies:
    """Worker 0's latest tally from each other worker, and when it came."""

    def __init__(self, count: int, stale_after: float = STALE_SECONDS) -> None:
        self.count = count
        self.stale_after = stale_after
        self._latest: dict[int, tuple[Tally, float]] = {}

    def received(self, tally: Tally, now: float) -> None:
        if not 0 < tally.worker < self.count:
            raise ValueError(f"worker {tally.worker} sends no tally to worker 0 of {self.count}")
        self._latest[tally.worker] = (tally, now)

    def report(self, own: Tally, now: float) -> dict[str, Any]:
        """`workers`: one row per worker in index order, with `age_seconds` (0 for worker 0, whose
        counts are read now; None for a worker not heard from yet, whose row has no counts) and
        `stale` (older than `stale_after`, or never heard); `all`: each count summed over worker
        0's own and every other worker's latest tally, a stale one's included (its last word)."""
        if own.worker != 0:
            raise ValueError(f"worker {own.worker} keeps no tallies: worker 0 does")
        rows: list[dict[str, Any]] = [{"index": 0, "age_seconds": 0.0, "stale": False, **_counts(own)}]
        totals = _counts(own)
        for index in range(1, self.count):
            if index not in self._latest:
                rows.append({"index": index, "age_seconds": None, "stale": True})
                continue
            tally, received_at = self._latest[index]
            age = max(0.0, now - received_at)
            rows.append({"index": index, "age_seconds": round(age, 1), "stale": age > self.stale_after,
                         **_counts(tally)})
            for name in COUNTS:
                totals[name] += getattr(tally, name)
        return {"workers": rows, "all": totals}


def _counts(tally: Tally) -> dict[str, int]:
    return {name: getattr(tally, name) for name in COUNTS}
