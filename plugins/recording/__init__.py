"""Built-in plugin: call recording policies, PCI pauses, retention, legal hold, audit and index.

What it does, through the public SDK only:

- decides which calls the PBX records (`pbx_recording_policy`): named policies by queue,
  scenario, extension, all calls or a deterministic sample (policy.py, config.py);
- indexes every recording in the PBX database with its call's caller, callee, scenario, queue
  and agent, and its pauses as intervals of the file with their reason ("sensitive" while a
  card number was keyed), and publishes RecordingIndexed (fold.py, index.py);
- deletes recordings past their policy's retention unless under legal hold, and on request
  (GDPR), publishing RecordingDeleted; every access and deletion is in an audit log (archive.py);
- serves all that on the admin API (admin.py) and the command line, `pbx recording ...` (cli.py).

The recorder itself (files, stereo channels, pausing while a scenario collects a `sensitive`
entry) is the PBX's; this plugin chooses, indexes and keeps. It is the module the PBX loads
(`plugins.recording`): the hooks are the module's functions, and each PbxApi it is handed gets
its own `LiveRecordings` (live.py), kept here by the api object itself.
"""

from __future__ import annotations

import weakref

from sdk import CallInfo, PbxApi, RecordingDecision, hookimpl, subscribe
from sdk.events import (
    AgentConnected,
    CallEnded,
    CallStarted,
    Event,
    IvrStarted,
    QueueJoined,
    RecordingPaused,
    RecordingResumed,
    RecordingStarted,
    RecordingStopped,
)

from . import admin, cli
from .archive import RecordingArchive, RecordingNotFound, RecordingRefused
from .config import Config, Policy, parse_duration
from .fold import Pause, RecordingFold, RecordingRow
from .index import AuditEntry, AuditLog, RecordingIndex, Search
from .live import LiveRecordings
from .policy import choose, decide, sample_point

__all__ = [
    "AuditEntry", "AuditLog", "Config", "LiveRecordings", "Pause", "Policy", "RecordingArchive", "RecordingFold",
    "RecordingIndex", "RecordingNotFound", "RecordingRefused", "RecordingRow", "Search", "choose", "decide",
    "parse_duration", "sample_point",
]

# One LiveRecordings per api: the PBX hands this module one PbxApi, the test harness one per
# harness. Keyed weakly by the api, so a finished harness takes its state with it.
_running: weakref.WeakKeyDictionary[PbxApi, LiveRecordings] = weakref.WeakKeyDictionary()


def live(api: PbxApi) -> LiveRecordings:
    found = _running.get(api)
    if found is None:
        found = _running[api] = LiveRecordings(api)
    return found


@hookimpl
async def pbx_startup(api: PbxApi) -> None:
    await live(api).start()


@hookimpl
async def pbx_shutdown(api: PbxApi) -> None:
    found = _running.get(api)
    if found is not None:
        found.stop()  # no more sweeps; events still queued are indexed (the state goes with the api)


@hookimpl
async def pbx_recording_policy(call: CallInfo, moment: str, api: PbxApi) -> RecordingDecision | None:
    # async: it runs on the event loop, where api.play (the consent announcement) must be called
    return live(api).decide(call, moment)


@hookimpl
@subscribe(CallStarted, IvrStarted, QueueJoined, AgentConnected, CallEnded, RecordingStarted, RecordingPaused,
           RecordingResumed, RecordingStopped)
async def pbx_event(event: Event, api: PbxApi) -> None:
    await live(api).on_event(event)


@hookimpl
async def pbx_admin_routes(api: PbxApi) -> list:
    recordings = live(api)
    await recordings.ready()
    return admin.endpoints(recordings.archive, api.now)


@hookimpl
def pbx_cli_commands() -> list:
    return cli.commands()
