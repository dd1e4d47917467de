"""Where one worker process stands among the PBX's workers: what the supervisor tells it.

The supervisor (supervisor.py) passes it in the environment as JSON: the worker's index and
the count, each worker's channel port on 127.0.0.1 (channel.py), the inherited file
descriptors of this worker's channel socket and of its readiness pipe, the SIP listeners with
their ports resolved, and the digest secret all workers share (a nonce one worker issued is
good at any other, RFC 7616 3.3 leaves its making to the server).
"""

from __future__ import annotations

import os

import msgspec

ENVIRONMENT_VARIABLE = "PBX_WORKER"


class WorkerPlace(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    index: int
    count: int
    channel_ports: list[int]
    channel_fd: int
    ready_fd: int
    listen: list[tuple[str, str, int]]  # (transport, host, port), ports already chosen
    secret: str  # hex

    @property
    def is_first(self) -> bool:
        """Worker 0 holds what is not shared: the ACD, the admin API, TCP and TLS."""
        return self.index == 0

    def encode(self) -> str:
        return msgspec.json.encode(self).decode()

    @classmethod
    def from_environment(cls) -> WorkerPlace | None:
        text = os.environ.get(ENVIRONMENT_VARIABLE)
        return msgspec.json.decode(text, type=cls) if text else None


def port_range_of(low: int, high: int, index: int, count: int) -> tuple[int, int]:
    """Worker `index`'s share of the RTP range low..high: an equal run of even/odd pairs, so
    workers never try each other's ports."""
    first = low + (low % 2)
    pairs = (high - first + 1) // 2
    share = pairs // count
    if share < 1:
        raise ValueError(f"RTP port range {low}-{high} has {pairs} pairs: too few for {count} workers")
    start = first + 2 * share * index
    return start, start + 2 * share - 1
