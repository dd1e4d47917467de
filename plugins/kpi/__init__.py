"""Built-in plugin: call records and KPIs (docs/kpi.md is the contract).

Through the public SDK only, it

- folds the bus into one journey per customer contact, an append-only queue log and agent
  state log (journey.py, logs.py), written in batches to the PBX database, SQLite or
  PostgreSQL, with versioned migrations (schema.py, store.py);
- reports every figure of docs/kpi.md per queue, agent, scenario and interval in a time zone
  (report.py, report_agents.py, intervals.py), on the admin API (admin.py), on the command line
  (`pbx report ...`, cli.py) and, live over a sliding window, to Prometheus (live.py);
- sizes staffing with Erlang C and Erlang A (erlang.py), and follows agent schedules and
  adherence, with an AdherenceAlert when an agent strays (schedules.py, adherence.py).

It is the module the PBX loads (`plugins.kpi`) when the config has a `plugins: kpi:` section.
"""

from __future__ import annotations

import weakref

from sdk import PbxApi, hookimpl, subscribe
from sdk.events import (
    AgentConnected,
    AgentNoAnswer,
    AgentOffered,
    AgentStateChanged,
    CallAnswered,
    CallbackCompleted,
    CallbackScheduled,
    CallDisposition,
    CallEnded,
    CallHeld,
    CallQuality,
    CallResumed,
    CallStarted,
    CallTransferred,
    IvrExited,
    IvrNodeEntered,
    IvrStarted,
    QueueAbandoned,
    QueueJoined,
    QueueLeft,
    QueueOverflowed,
    QueueTimedOut,
    RecordingStarted,
)

from . import admin, cli
from .collector import KpiCollector
from .config import Config

__all__ = ["Config", "KpiCollector"]

FOLDED = (
    CallStarted, CallAnswered, CallHeld, CallResumed, CallTransferred, CallEnded, CallQuality, CallDisposition,
    RecordingStarted, IvrStarted, IvrNodeEntered, IvrExited, QueueJoined, AgentOffered, AgentNoAnswer,
    AgentConnected, QueueAbandoned, QueueTimedOut, QueueOverflowed, QueueLeft, CallbackScheduled,
    CallbackCompleted, AgentStateChanged,
)

_running: weakref.WeakKeyDictionary[PbxApi, KpiCollector] = weakref.WeakKeyDictionary()


def collector(api: PbxApi) -> KpiCollector:
    found = _running.get(api)
    if found is None:
        found = _running[api] = KpiCollector(api)
    return found


@hookimpl
async def pbx_startup(api: PbxApi) -> None:
    await collector(api).start()


@hookimpl
async def pbx_shutdown(api: PbxApi) -> None:
    found = _running.get(api)
    if found is not None:
        await found.stop()


@hookimpl
@subscribe(*FOLDED)
async def pbx_event(event, api: PbxApi) -> None:
    await collector(api).on_event(event)


@hookimpl
def pbx_metrics(api: PbxApi) -> list:
    return collector(api).metrics()


@hookimpl
async def pbx_admin_routes(api: PbxApi) -> list:
    found = collector(api)
    await found.ready()
    return admin.endpoints(found)


@hookimpl
def pbx_cli_commands() -> list:
    return cli.commands()
