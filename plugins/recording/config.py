"""The recording plugin's configuration: named policies, their retention, and the sweep period.

    plugins:
      recording:
        config:
          sweep_every: 60            # seconds between retention sweeps
          default_retention: 30d     # for recordings no policy of ours started (config, API)
          policies:
            - {name: payments, record: scenario, match: [pay], retention: 90d}
            - {name: support, record: queue, match: [support], retention: 12h, consent: "say:This call is recorded."}
            - {name: quality, record: sample, percent: 10, retention: 7d}
            - {name: agents, record: on-demand, retention: 30d}

Decoded by the PBX (msgspec, unknown keys refused, errors with a `$.path`) into `Config`.
Durations are seconds or a string of number-unit pairs ("90d", "12h", "1h30m", "5s"); null
keeps a recording until someone deletes it. This module only checks shapes; which call a policy
takes is policy.py's business.
"""

from __future__ import annotations

from typing import Literal

import msgspec

from sdk.durations import parse_duration as sdk_parse_duration

RecordKind = Literal["all", "queue", "scenario", "extension", "sample", "on-demand"]
Layout = Literal["stereo", "mixed"]
Duration = float | str | None

# Names the PBX itself writes in RecordingStarted.policy: a policy may not take them.
RESERVED_NAMES = frozenset({"config"})
NEEDS_MATCH: frozenset[str] = frozenset({"queue", "scenario", "extension"})


def parse_duration(value: Duration) -> float | None:
    """Seconds in a retention (sdk.durations); None (keep forever) stays None. Raises ValueError
    saying what is wrong."""
    if value is None:
        return None
    seconds = sdk_parse_duration(value)
    if seconds <= 0:
        raise ValueError(f"duration {value!r} must be more than 0 seconds (null keeps recordings forever)")
    return seconds


class Policy(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """One named rule: which calls to record, how, for how long, and what to announce.

    `record`: all | queue | scenario | extension | sample | on-demand. `match` names the queues,
    scenarios or extensions (caller or callee) it takes; `percent` is the share of calls a
    sample takes; an on-demand policy never starts a recording by itself but gives recordings
    started on demand (the agent, the API) their retention."""

    name: str
    record: RecordKind
    match: list[str] = []
    percent: float | None = None
    layout: Layout | None = None  # the PBX's recording.layout when None
    retention: Duration = None  # None: kept until deleted
    consent: str | None = None  # a prompt name, or "say:<text>", announced to the caller

    def __post_init__(self) -> None:
        if not self.name.strip():
            raise ValueError("a policy needs a name")
        if self.name in RESERVED_NAMES:
            raise ValueError(f"policy name {self.name!r} is reserved (the PBX's own recording.calls)")
        if self.record in NEEDS_MATCH and not self.match:
            raise ValueError(f"policy {self.name!r}: record {self.record} needs `match:` (the {self.record} names)")
        if self.record not in NEEDS_MATCH and self.match:
            raise ValueError(f"policy {self.name!r}: record {self.record} takes no `match:`")
        if self.record == "sample":
            if self.percent is None or not 0 < self.percent <= 100:
                raise ValueError(f"policy {self.name!r}: record sample needs `percent:` between 0 and 100")
        elif self.percent is not None:
            raise ValueError(f"policy {self.name!r}: `percent:` is only for record sample")
        if self.consent is not None and not self.consent.strip():
            raise ValueError(f"policy {self.name!r}: `consent:` is empty")
        parse_duration(self.retention)

    @property
    def retention_seconds(self) -> float | None:
        return parse_duration(self.retention)


class Config(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    policies: list[Policy] = []
    sweep_every: float = 60.0  # seconds between retention sweeps
    default_retention: Duration = None  # recordings started by the PBX's config or on demand without a policy

    def __post_init__(self) -> None:
        seen: set[str] = set()
        for policy in self.policies:
            if policy.name in seen:
                raise ValueError(f"two policies are named {policy.name!r}: names must be unique")
            seen.add(policy.name)
        if self.sweep_every <= 0:
            raise ValueError(f"sweep_every must be more than 0 seconds, got {self.sweep_every}")
        parse_duration(self.default_retention)

    def policy_named(self, name: str) -> Policy | None:
        return next((policy for policy in self.policies if policy.name == name), None)

    def retention_for(self, started_by: str) -> float | None:
        """Seconds to keep a recording whose RecordingStarted.policy is `started_by`: the policy of
        that name; for "on-demand", the first on-demand policy; else `default_retention`."""
        policy = self.policy_named(started_by)
        if policy is None and started_by == "on-demand":
            policy = next((p for p in self.policies if p.record == "on-demand"), None)
        if policy is not None:
            return policy.retention_seconds
        return parse_duration(self.default_retention)
