"""Which policy records a call: a pure function of the call, the moment and the policies.

The PBX asks twice per call (sdk.hookspecs.pbx_recording_policy): when the call is answered
("answered") and when an agent takes it from a queue ("connected", `call.queue` and
`call.agent` set). The first policy in the configured order that matches wins:

- `all`: every call; `extension`: the caller or the callee is one of `match`;
- `scenario`: the call runs (or ran) one of the `match` scenarios;
- `queue`: the call waits in, or was answered from, one of the `match` queues (so in practice
  at "connected", when the agent's voice is there to record);
- `sample`: `percent` of calls, picked by a hash of the call id, so the same call always gets
  the same answer (no randomness: testable, and the same on every node);
- `on-demand`: never by itself (it names the retention of recordings started on demand).

No I/O, no clock, no randomness.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

from sdk import CallInfo, RecordingDecision

from .config import Policy


def sample_point(call_id: str) -> float:
    """Where a call falls in [0, 100): the first 32 bits of SHA-256 of its id, scaled. A sample
    policy of `percent` p takes the calls below p."""
    digest = hashlib.sha256(call_id.encode()).digest()
    return int.from_bytes(digest[:4], "big") / 2**32 * 100.0


def matches(policy: Policy, call: CallInfo, moment: str) -> bool:
    """Does `policy` want `call` recorded at `moment`?"""
    kind = policy.record
    if kind == "all":
        return True
    if kind == "extension":
        return call.caller in policy.match or call.callee in policy.match
    if kind == "scenario":
        return call.scenario is not None and call.scenario in policy.match
    if kind == "queue":
        return call.queue is not None and call.queue in policy.match
    if kind == "sample":
        return policy.percent is not None and sample_point(call.call_id) < policy.percent
    return False  # on-demand


def choose(policies: Sequence[Policy], call: CallInfo, moment: str) -> Policy | None:
    """The first policy, in configured order, that records `call` at `moment`."""
    return next((policy for policy in policies if matches(policy, call, moment)), None)


def decide(policies: Sequence[Policy], call: CallInfo, moment: str) -> RecordingDecision | None:
    """The hook's answer: record under the chosen policy's name and layout, or None."""
    policy = choose(policies, call, moment)
    if policy is None:
        return None
    return RecordingDecision(policy=policy.name, layout=policy.layout)
