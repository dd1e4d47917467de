"""Several worker processes on one SIP port (`pbx run --workers N`), one core each.

- `dispatch.Dispatcher`: which worker owns a SIP datagram (pure, from its bytes).
- `channel.WorkerChannel`: the loopback datagrams between workers (SIP handed on, bindings, tallies).
- `tally.Tally`, `tally.Tallies`: a worker's counts for worker 0, and worker 0's sums over all (pure).
- `supervisor.Supervisor`: the parent that starts, signals and restarts the workers.
- `place.WorkerPlace`: what a worker is told about its place among them.

Shared between workers: the SIP port, registrations, the digest secret, the database.
Worker 0 alone holds the ACD (queues, agents, feature codes), the IVR's calls, the admin API
and SIP over TCP and TLS; the other workers take direct calls between extensions and calls
out on trunks.
"""

from .dispatch import Dispatcher, contact_user, worker_tag
from .place import WorkerPlace, port_range_of

__all__ = ["Dispatcher", "WorkerPlace", "contact_user", "port_range_of", "worker_tag"]
