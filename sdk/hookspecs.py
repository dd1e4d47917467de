"""The hooks a plugin may implement. These docstrings are the plugin documentation.

A plugin is a module or an object with functions named after these hooks, marked with
`@sdk.hookimpl`. It implements only the hooks it needs, and each implementation may take only
the arguments it needs (pluggy matches them by name). Any hook may be written `async def`.

How the PBX calls them (pbx/plugin_host.py, with sdk.runner doing the isolating):

- One plugin never breaks or delays a call. A hook that raises, returns the wrong type or
  overruns its timeout is skipped for that call and a `PluginFailed` event says so.
- Hooks the call path waits for (caller lookup, routing inputs, recording policy) are awaited
  with the plugin's `timeout` (config `plugins.<name>.timeout`, 2 s by default); a synchronous
  implementation runs in the plugin's own worker thread, so a blocking HTTP client stalls
  only that plugin.
- `pbx_event` is not on the call path at all: events queue per plugin and a worker delivers
  them in order, synchronous implementations in the plugin's thread. A plugin that falls
  more than `queue_limit` events behind loses the oldest (counted in a PluginFailed).
- pluggy cannot await; the host awaits results itself, and never uses `firstresult` for async
  hooks: where one answer is needed (caller lookup), the first plugin in order that answers
  something other than None wins.
"""

from __future__ import annotations

from typing import Any

import pluggy

from .api import PbxApi
from .events import Event
from .types import CallerInfo, CallInfo, Metric, RecordingDecision, RoutingInputs

PROJECT = "pbx"
hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)


def subscribe(*event_types: type[Event]):
    """Limit a `pbx_event` implementation to these event types (and their subclasses):

        @hookimpl
        @subscribe(CallStarted, CallEnded)
        async def pbx_event(event, api): ...

    The PBX then queues only those for the plugin: every event a plugin does not take costs it
    nothing (a call publishes a dozen)."""

    def mark(function):
        function.pbx_event_types = tuple(event_types)
        return function

    return mark


# Life cycle ------------------------------------------------------------------------------------


@hookspec
def pbx_startup(api: PbxApi) -> None:
    """The PBX is starting: called before SIP listens and scenarios load (so the functions a
    plugin registers are there for them). Open connections, start background tasks (with
    `api.spawn`, which the PBX cancels at shutdown). `api.config` is this plugin's section of the
    config, decoded into the plugin's `Config` Struct."""


@hookspec
def pbx_shutdown(api: PbxApi) -> None:
    """The PBX is stopping: close what `pbx_startup` opened."""


# Events ----------------------------------------------------------------------------------------


@hookspec
def pbx_event(event: Event, api: PbxApi) -> None:
    """Every event published on the bus (sdk.events), in publication order, after the fact.

    Say which events you take with `@subscribe(CallStarted, ...)` under `@hookimpl` (the others
    are then never queued for you), or take them all and filter with `isinstance`. This is how
    a plugin folds calls into records, counts KPIs, indexes recordings or writes call results
    back to a CRM."""


# The call path: awaited with the plugin's timeout ------------------------------------------------


@hookspec
def pbx_lookup_caller(call: CallInfo, api: PbxApi) -> CallerInfo | None:
    """Who is calling? Asked for every inbound call before it is routed. Return a CallerInfo
    (it becomes the IVR's `customer.*` variables and the queues' priority and preferred agent)
    or None when unknown. The first plugin that answers wins; a slow one is cut off at its
    timeout and the call routes without it."""


@hookspec
def pbx_routing_inputs(call: CallInfo, caller: CallerInfo | None, api: PbxApi) -> RoutingInputs | None:
    """How the queues should treat this call: priority (added up over plugins), preferred agent
    and language (first answer wins). Asked after the lookup, before routing."""


@hookspec
def pbx_recording_policy(call: CallInfo, moment: str, api: PbxApi) -> RecordingDecision | None:
    """Should this call be recorded? Asked when the call is answered (`moment` "answered") and
    when an agent takes it from a queue ("connected", with `call.queue` and `call.agent`). The
    first decision starts the recording; later ones are ignored while it runs."""


# What plugins add to the PBX -----------------------------------------------------------------------


@hookspec
def pbx_ivr_functions(api: PbxApi) -> dict[str, Any]:
    """Functions scenarios may `invoke`, by name: {"bank.balance": callable}. A function takes the
    scenario's keyword arguments and returns a value (a dict becomes fields), directly or as a
    coroutine; raising takes the scenario's `on error` branch. Asked once at start-up."""


@hookspec
def pbx_admin_routes(api: PbxApi) -> list[Any]:
    """`sdk.admin.Endpoint`s (the `@endpoint(...)` decorator) served under
    `/api/plugins/<plugin name>/` on the admin port, behind the admin API's gate (token, role,
    typed query and body, audit) and listed in its OpenAPI document. Plain aiohttp route
    definitions are still served, for the admin role only and undocumented."""


@hookspec
def pbx_metrics(api: PbxApi) -> list[Metric]:
    """Figures for Prometheus, asked at every scrape of `/metrics` on the admin port: return
    `sdk.Metric`s (name, value, "gauge" or "counter", labels such as {"queue": "sales"}, help).
    Names are prefixed `pbx_`; keep the work small (a scrape every few seconds)."""


@hookspec
def pbx_cli_commands() -> list[Any]:
    """`sdk.CliCommand`s offered as `pbx <plugin name> <command>`: for example
    `pbx crm import contacts.csv`. They run without a live PBX, with the plugin's config and
    store (`sdk.PluginContext`)."""
