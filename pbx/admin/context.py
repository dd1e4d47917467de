"""What the admin API's endpoints are given: the running PBX's services, by name.

The composition root (pbx/app.py) builds one AdminContext; each endpoint module takes it and
returns its endpoints (`live_endpoints(context) -> list[Endpoint]`). A service the PBX runs
without (no queues configured, no recording) is None, and its endpoints answer 404 with a
message saying so.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from sdk.types import Metric


@dataclass
class AdminContext:
    clock: Callable[[], float]  # the PBX's wall clock (epoch seconds)
    status: Callable[[], dict[str, Any]]  # the /api/status document
    registrar: Any  # pbx.sip.registrar.Registrar
    calls: Any = None  # pbx.calls.manager.CallManager: the live calls
    recordings: Any = None  # pbx.calls.recordings: recording control of a live call
    queues: Any = None  # pbx.acd.service.AcdService (its `.acd` is the pure Acd)
    reload_scenarios: Callable[[], Any] | None = None  # read the scenario directory again (as SIGHUP)
    plugin_metrics: Callable[[], Awaitable[list[Metric]]] | None = None
    events: Any = None  # pbx.admin.stream.EventJournal
    app: Any = None  # the pbx.app.Pbx itself, for what has no narrower handle yet
    monitors: Any = None  # pbx.calls.supervision.Monitors: supervisors listening, whispering, barging
    execute: Callable[[list[Any]], None] | None = None  # send SIP and bus actions (None: app.transport's)
    load_config: Callable[[], Any] | None = None  # the config file read again, with the start's overrides
