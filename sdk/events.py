"""Typed events published on the PBX event bus.

Frozen msgspec Structs, named in the past tense, tagged by class name so a
stream of them encodes to JSON and decodes back into the same types. The PBX
publishes them; plugins, CDR/KPI folds and the admin stream consume them.
This module depends on nothing of the PBX: plugins import it freely.

Later issues add call, media, IVR and queue events to the `Event` union.
"""

from __future__ import annotations

from typing import Literal

import msgspec


class Event(msgspec.Struct, frozen=True, tag=True, kw_only=True, gc=False):
    """Base of every event; `at` is the PBX clock (seconds since the epoch)."""

    at: float


class RegistrationAdded(Event, frozen=True, kw_only=True):
    """A new contact was bound to an address of record (RFC 3261 10.3)."""

    aor: str
    extension: str
    contact: str
    instance: str | None
    expires: int
    transport: str
    source: str
    user_agent: str | None


class RegistrationRefreshed(Event, frozen=True, kw_only=True):
    """An existing binding was renewed by a new REGISTER."""

    aor: str
    extension: str
    contact: str
    expires: int


class RegistrationRemoved(Event, frozen=True, kw_only=True):
    """A binding ended: `reason` is "unregistered" (Expires: 0 or `*`) or "replaced"."""

    aor: str
    extension: str
    contact: str
    reason: str


class RegistrationExpired(Event, frozen=True, kw_only=True):
    """A binding reached its expiry without being refreshed."""

    aor: str
    extension: str
    contact: str


class AuthenticationFailed(Event, frozen=True, kw_only=True):
    """Credentials were wrong (or the user unknown) after a challenge."""

    username: str | None
    method: str
    source: str
    reason: str


class SourceBanned(Event, frozen=True, kw_only=True):
    """A source address failed authentication too often: what it sends is dropped until `until`."""

    source: str  # the IP address
    reason: str
    until: float


class SourceUnbanned(Event, frozen=True, kw_only=True):
    """A source address's ban ran its time: it is answered again."""

    source: str


class CallStarted(Event, frozen=True, kw_only=True):
    """A caller's INVITE was accepted for routing (after authentication), or the PBX placed a
    call itself (`direction` "outbound": a queue callback, a plugin's originate)."""

    call_id: str
    caller: str
    callee: str
    caller_name: str | None = None
    direction: str = "inbound"  # "inbound" | "outbound"
    # The customer contact this call continues: a queue callback carries the id of the call
    # that asked for it, so records fold both into one journey. None for a new contact.
    linked_id: str | None = None


class CallRinging(Event, frozen=True, kw_only=True):
    """The callee's phone rings (180/183 from at least one contact)."""

    call_id: str
    callee: str
    early_media: bool


class CallAnswered(Event, frozen=True, kw_only=True):
    call_id: str
    callee: str
    codec: str
    ring_seconds: float


class CallHeld(Event, frozen=True, kw_only=True):
    """`by` put the other party on hold (re-INVITE with sendonly/inactive)."""

    call_id: str
    by: str


class CallResumed(Event, frozen=True, kw_only=True):
    call_id: str
    by: str


class CallTransferred(Event, frozen=True, kw_only=True):
    """`transferor` handed `transferee` to `target`; kind is "blind" or "attended"."""

    call_id: str
    kind: str
    transferor: str
    transferee: str
    target: str


class CallEnded(Event, frozen=True, kw_only=True):
    """The call is over. `cause` is a pbx.calls Cause value ("normal", "busy", "no_answer",
    "cancelled", "not_found", "unavailable", "rejected", "failure", "timeout"); `hangup_by` is
    "caller", "callee" or "system"; durations in seconds (talk is 0 when never answered)."""

    call_id: str
    caller: str
    callee: str
    cause: str
    status: int
    hangup_by: str
    answered: bool
    total_seconds: float
    ring_seconds: float
    talk_seconds: float


class DigitReceived(Event, frozen=True, kw_only=True):
    """A key was pressed: `source` is "rfc4733", "info" or "inband" (one event per press);
    `party` is "caller" or "callee", whose phone sent it. While a scenario collects a sensitive
    entry the digit is withheld (`sensitive`, digit "?"); the scenario itself still gets it."""

    call_id: str
    digit: str  # "?" when `sensitive`: a card or account number is never published
    source: str
    party: str = "caller"
    sensitive: bool = False


class CallQuality(Event, frozen=True, kw_only=True):
    """The quality of one leg of a call, published when the leg ends.

    `packets`, `lost`, `loss_percent` and `jitter_ms` (RFC 3550 A.3, A.8) describe what the PBX
    received from that party's phone; `mos` is a simplified ITU-T G.107 E-model estimate from
    them. The `remote_*` figures are the phone's own last RTCP report of what it received, and
    `round_trip_ms` comes from RTCP LSR/DLSR when the PBX itself sent reports (None otherwise).
    """

    call_id: str
    party: str
    number: str
    codec: str | None
    packets: int
    lost: int
    loss_percent: float
    jitter_ms: float
    mos: float
    ssrc_changes: int
    rtcp_reports: int
    remote_loss_percent: float | None
    remote_jitter_ms: float | None
    round_trip_ms: float | None


class RecordingStarted(Event, frozen=True, kw_only=True):
    """A call's audio is being written to `path`: "stereo" (caller left, callee right) or "mixed".
    `policy` says why: "config" (recording.calls / record: true), "on-demand" (the API), or the
    name of the plugin policy that chose it."""

    call_id: str
    path: str
    layout: str
    policy: str = "on-demand"


class RecordingPaused(Event, frozen=True, kw_only=True):
    """The recording goes on with silence: `reason` is "sensitive" while a scenario collects a card
    or account number (PCI), "on-demand" when an agent, the API or a plugin asked."""

    call_id: str
    reason: str = "on-demand"


class RecordingResumed(Event, frozen=True, kw_only=True):
    call_id: str


class RecordingStopped(Event, frozen=True, kw_only=True):
    """The file is complete: `seconds` long, of which `paused_seconds` silence; `failed` when the
    disk refused it (the log says why)."""

    call_id: str
    path: str
    layout: str
    seconds: float
    paused_seconds: float
    failed: bool


class CallDisposition(Event, frozen=True, kw_only=True):
    """The call's outcome for reporting, set by a scenario (`disposition "sold"`) or, later, an agent."""

    call_id: str
    value: str


class IvrStarted(Event, frozen=True, kw_only=True):
    """A call entered `scenario` (the version loaded when it started: reloads do not change it)."""

    call_id: str
    scenario: str
    version: int


class IvrNodeEntered(Event, frozen=True, kw_only=True):
    call_id: str
    scenario: str
    node: str
    kind: str  # "block" or "menu"


class IvrKeyChosen(Event, frozen=True, kw_only=True):
    call_id: str
    scenario: str
    menu: str
    key: str


class IvrNoInput(Event, frozen=True, kw_only=True):
    call_id: str
    scenario: str
    node: str
    attempt: int


class IvrNoMatch(Event, frozen=True, kw_only=True):
    call_id: str
    scenario: str
    node: str
    digits: str  # masked for sensitive entries
    attempt: int


class IvrExited(Event, frozen=True, kw_only=True):
    """The call left the scenario: `how` is hangup, finished, transfer, queue, dial, voicemail,
    caller_hangup or error (containment reports count the hangup/finished ones)."""

    call_id: str
    scenario: str
    how: str
    node: str


class OverflowTarget(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """Where a caller goes when the max wait passes: another queue, a scenario, or voicemail."""

    kind: str  # "queue" | "scenario" | "voicemail"
    name: str


# ACD (queues and agents) ---------------------------------------------------------------------


class QueueJoined(Event, frozen=True, kw_only=True):
    """`resumed`: an abandoned caller came back within the rejoin window and kept their place."""

    call_id: str
    queue: str
    caller_number: str
    priority: int
    position: int
    resumed: bool = False


class AgentOffered(Event, frozen=True, kw_only=True):
    agent: str
    call_id: str
    queue: str


class AgentNoAnswer(Event, frozen=True, kw_only=True):
    """An offer failed: `reason` is "no-answer" (ring timeout), "busy", "rejected" or what the call layer said."""

    agent: str
    call_id: str
    queue: str
    reason: str
    consecutive: int


class AgentConnected(Event, frozen=True, kw_only=True):
    agent: str
    call_id: str
    queue: str
    wait_seconds: float
    ring_seconds: float


class QueueAbandoned(Event, frozen=True, kw_only=True):
    call_id: str
    queue: str
    position: int
    wait_seconds: float


class QueueTimedOut(Event, frozen=True, kw_only=True):
    call_id: str
    queue: str
    wait_seconds: float


class QueueOverflowed(Event, frozen=True, kw_only=True):
    call_id: str
    queue: str
    wait_seconds: float
    target: OverflowTarget


class QueueLeft(Event, frozen=True, kw_only=True):
    """A caller left for a reason other than answer, abandon, timeout or overflow ("left-empty", "exited")."""

    call_id: str
    queue: str
    wait_seconds: float
    reason: str


class CallbackScheduled(Event, frozen=True, kw_only=True):
    call_id: str
    queue: str
    number: str
    position: int


class CallbackCompleted(Event, frozen=True, kw_only=True):
    """The callback entry ended: `outcome` is "answered", "failed" or "abandoned"."""

    call_id: str
    queue: str
    number: str
    outcome: str
    attempts: int
    wait_seconds: float


class AgentStateChanged(Event, frozen=True, kw_only=True):
    """Every agent state change, with why (for occupancy and discipline reports)."""

    agent: str
    old: str
    new: str
    reason: str


class AgentStateRepaired(Event, frozen=True, kw_only=True):
    """The reconciler found the agent's state contradicting the call layer and repaired it.
    `problem`: "offered-without-call", "on-call-without-call" or "unknown-call"."""

    agent: str
    call_id: str
    problem: str



# Plugins ---------------------------------------------------------------------------------------


class PluginFailed(Event, frozen=True, kw_only=True):
    """A plugin's hook raised, overran its timeout or blocked: the call went on without it.
    `hook` names the hook, `reason` says what happened ("raised ValueError: ...", "timed out after
    2.0 s", "blocked for 1.3 s"), `call_id` is the call it was working for, if any."""

    plugin: str
    hook: str
    reason: str
    call_id: str | None = None


class CallerIdentified(Event, frozen=True, kw_only=True):
    """A caller lookup (before routing) found who is calling: `source` is the connector."""

    call_id: str
    caller: str
    source: str
    customer_id: str | None
    name: str | None
    tier: str | None
    vip: bool
    priority: int
    preferred_agent: str | None


class ScreenPop(Event, frozen=True, kw_only=True):
    """What the agent's screen shows when a call reaches them: the CRM's record of the caller."""

    call_id: str
    agent: str
    queue: str | None
    caller: str
    customer_id: str | None
    name: str | None
    fields: dict[str, str]


class MetricPublished(Event, frozen=True, kw_only=True):
    """A plugin's figure (`api.publish_metric`): a gauge value or a counter increment."""

    plugin: str
    name: str
    value: float
    kind: str
    labels: dict[str, str]


class RecordingIndexed(Event, frozen=True, kw_only=True):
    """A finished recording entered the index: kept until `keep_until` (None: forever)."""

    call_id: str
    path: str
    policy: str
    keep_until: float | None


class RecordingDeleted(Event, frozen=True, kw_only=True):
    """A recording left the disk and the index: `reason` is "retention" or "request" (GDPR)."""

    call_id: str
    path: str
    reason: str


class AdherenceAlert(Event, frozen=True, kw_only=True):
    """An agent has been out of their schedule for longer than the grace period: `planned` is
    what the schedule says ("working", "break:lunch", "off"), `actual` the agent's state."""

    agent: str
    planned: str
    actual: str
    since: float
    seconds: float


class KpiThresholdCrossed(Event, frozen=True, kw_only=True):
    """A live KPI crossed its configured threshold (`state` "alert"), or came back ("ok")."""

    kpi: str
    scope: str  # "queue" | "agent" | "pbx"
    name: str  # the queue's or agent's name; "" for the PBX
    value: float
    threshold: float
    state: str



class MonitorStarted(Event, frozen=True, kw_only=True):
    """A supervisor's phone joined a live call: `mode` "listen" (hears both parties), "whisper"
    (the agent hears the supervisor too, the caller does not) or "barge" (three-way). `source` is
    what started it: "phone" (a feature code the supervisor dialled, *2221002) or "api"."""

    monitor_id: str
    call_id: str
    agent: str  # the agent's name, or the extension when it is no queue agent
    supervisor: str  # the supervisor's extension
    mode: str
    source: str


class MonitorModeChanged(Event, frozen=True, kw_only=True):
    """A supervisor switched modes on a live monitor; `source` "phone" (keys 4, 5, 6 on the
    supervisor's phone) or "api"."""

    monitor_id: str
    call_id: str
    agent: str
    supervisor: str
    mode: str  # the new mode
    previous: str
    source: str


class MonitorStopped(Event, frozen=True, kw_only=True):
    """A monitor ended; `source` is who ended it: "phone" (the supervisor hung up), "api", or
    "system" (the monitored call ended, or moved on without the agent)."""

    monitor_id: str
    call_id: str
    agent: str
    supervisor: str
    mode: str  # the mode it was in at the end
    source: str
    seconds: float


AnyEvent = (
    RegistrationAdded | RegistrationRefreshed | RegistrationRemoved | RegistrationExpired | AuthenticationFailed
    | SourceBanned | SourceUnbanned
    | CallStarted | CallRinging | CallAnswered | CallHeld | CallResumed | CallTransferred | CallEnded
    | DigitReceived
    | CallQuality
    | RecordingStarted | RecordingPaused | RecordingResumed | RecordingStopped
    | CallDisposition | IvrStarted | IvrNodeEntered | IvrKeyChosen | IvrNoInput | IvrNoMatch | IvrExited
    | QueueJoined | AgentOffered | AgentNoAnswer | AgentConnected | QueueAbandoned | QueueTimedOut | QueueOverflowed | QueueLeft | CallbackScheduled | CallbackCompleted | AgentStateChanged | AgentStateRepaired
    | PluginFailed | CallerIdentified | ScreenPop | MetricPublished | RecordingIndexed | RecordingDeleted
    | AdherenceAlert | KpiThresholdCrossed
    | MonitorStarted | MonitorModeChanged | MonitorStopped
)


class TrunkRegistered(Event, frozen=True, kw_only=True):
    """Our registration at a trunk's provider succeeded (RFC 3261 10.2): first, refreshed, or on
    another server after a failover. `expires` is what the provider granted."""

    trunk: str
    server: str
    expires: int
    refresh: bool


class TrunkRegistrationFailed(Event, frozen=True, kw_only=True):
    """A registration attempt failed: `status` is the provider's answer (0 when it did not
    answer); the client tries `next_server`, or all of them again in `retry_in` seconds."""

    trunk: str
    server: str
    status: int
    reason: str
    next_server: str | None
    retry_in: float | None


AnyEvent = AnyEvent | TrunkRegistered | TrunkRegistrationFailed


class MachineDetectionFinished(Event, frozen=True, kw_only=True):
    """Answering-machine detection on a call placed with `api.originate(..., amd=True)` reached
    its verdict: `result` is "human" (a short greeting, then a pause), "machine" (a long greeting,
    or many words without a pause), "silence" (no voice at all) or "unknown" (no verdict by the
    analysis cap). `reason` names the rule that decided ("short-greeting", "long-greeting",
    "max-words", "initial-silence", "analysis-cap"); `seconds` runs from the answer to the
    verdict, `greeting_seconds` from the first word to the last (0 without voice). The call was
    connected on answer and stays so: the plugin decides (hang up a machine...). A call that
    ends before a verdict gets none (CallEnded says it ended)."""

    call_id: str
    number: str  # the number that was called
    result: Literal["human", "machine", "silence", "unknown"]
    reason: str
    seconds: float
    greeting_seconds: float
    words: int


AnyEvent = AnyEvent | MachineDetectionFinished
