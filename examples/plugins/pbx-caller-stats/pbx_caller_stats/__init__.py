"""caller_stats: an example PBX plugin, installed with pip and found through its entry point.

It counts the calls each caller number has made (from `CallStarted` on the bus, kept in the
plugin's key-value store in the PBX database) and puts the count to use:

- scenarios can `invoke stats.calls(number = caller) into stats` and read `stats.count`,
  `stats.frequent` and `stats.greeting`;
- a caller with at least `vip_after` earlier calls gets `priority` added in the queues
  (`pbx_routing_inputs`);
- `GET /api/plugins/caller_stats/callers/<number>` on the admin port returns the count;
- `pbx caller_stats show <number> --config config.yaml` prints it without a running PBX;
- every counted call is published as a `MetricPublished` counter, `calls`.

It imports only `sdk` (and aiohttp, which the PBX brings, for its admin route). It deliberately
keeps no state in memory: the store is the one source, so a restart loses nothing.
"""

from __future__ import annotations

from typing import Any

import msgspec

from sdk import CallInfo, CliCommand, PbxApi, PluginContext, RoutingInputs, hookimpl
from sdk.events import CallStarted, Event

# The name the PBX knows this plugin by: its key under `plugins:` in the config. The entry
# point's name says the same; the test harness reads this attribute.
name = "caller_stats"


class Config(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """`plugins: {caller_stats: {config: {...}}}`. A key not listed here is a config error."""

    greeting: str = "Welcome back"  # handed to scenarios with the count
    vip_after: int = 3  # calls from a number (counted so far) that make it a frequent caller
    priority: int = 1  # added to a frequent caller's queue priority

    def __post_init__(self) -> None:
        if self.vip_after < 1:
            raise ValueError("vip_after must be at least 1")


def _key(number: str) -> str:
    return f"calls:{number}"


async def calls_from(store: Any, number: str) -> int:
    """How many calls `number` has made, as counted so far."""
    return int(await store.get(_key(number), 0))


def is_frequent(count: int, config: Config) -> bool:
    return count >= config.vip_after


# The bus -------------------------------------------------------------------------------------------


@hookimpl
async def pbx_event(event: Event, api: PbxApi) -> None:
    """Count each call once, when it starts. Events come in order, one at a time, so the
    read-then-write below never races with itself."""
    if not isinstance(event, CallStarted):
        return
    count = await calls_from(api.store, event.caller) + 1
    await api.store.set(_key(event.caller), count)
    api.publish_metric("calls", 1, kind="counter",
                       labels={"frequent": "yes" if is_frequent(count, api.config) else "no"})


# The call path -------------------------------------------------------------------------------------


@hookimpl
async def pbx_routing_inputs(call: CallInfo, api: PbxApi) -> RoutingInputs | None:
    """Frequent callers go ahead in the queues. The PBX asks before it routes the call, and
    events reach plugins after the fact, so the count read here may not include this very call."""
    if is_frequent(await calls_from(api.store, call.caller), api.config):
        return RoutingInputs(priority=api.config.priority)
    return None


# What the plugin adds ------------------------------------------------------------------------------


@hookimpl
def pbx_ivr_functions(api: PbxApi) -> dict[str, Any]:
    config: Config = api.config

    async def calls(number: str) -> dict[str, Any]:
        """`invoke stats.calls(number = caller) into stats`: stats.count, .frequent, .greeting."""
        count = await calls_from(api.store, str(number))
        return {"count": count, "frequent": is_frequent(count, config), "greeting": config.greeting}

    return {"stats.calls": calls}


@hookimpl
def pbx_admin_routes(api: PbxApi) -> list[Any]:
    from aiohttp import web

    async def caller(request: web.Request) -> web.Response:
        number = request.match_info["number"]
        count = await calls_from(api.store, number)
        return web.json_response({"number": number, "calls": count, "frequent": is_frequent(count, api.config),
                                  "greeting": api.config.greeting})

    return [web.get("/callers/{number}", caller)]


@hookimpl
def pbx_cli_commands() -> list[CliCommand]:
    def arguments(parser: Any) -> None:
        parser.add_argument("number", help="a caller's number")

    async def show(args: Any, context: PluginContext) -> int:
        count = await calls_from(context.store, args.number)
        print(f"{args.number}: {count} calls")
        return 0

    return [CliCommand("show", "how many calls a number has made", arguments, show)]
