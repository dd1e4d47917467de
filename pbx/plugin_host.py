"""Finds, configures and runs the plugins: the PBX side of the SDK.

Plugins come from three places, in this order: the built-ins (plugins/), Python entry points
in the group `pbx.plugins` (installed packages), and `path:` entries in the config (a site's
own .py file or package). A built-in runs when the config has a section for it; the others run
once installed or named, unless their section says `enabled: false`. A plugin's `config:` is
decoded into its `Config` Struct, and a bad key is reported with file:line.

pluggy checks every implementation against sdk/hookspecs.py when it is registered (a typo in
a hook name is an error at start-up, not a hook silently never called). Calling them is
sdk.runner's job: timeouts, worker threads, PluginFailed.
"""

from __future__ import annotations

import asyncio
import importlib
import importlib.metadata
import importlib.util
import logging
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pluggy

import sdk.hookspecs
from sdk import CallerInfo, CallInfo, Metric, RecordingDecision, RoutingInputs
from sdk.database import Database, SqliteDatabase
from sdk.database import open_database as sdk_open_database
from sdk.events import Event, PluginFailed
from sdk.plugins import PluginConfigError, decode_plugin_config, plugin_name
from sdk.runner import LoadedPlugin, PluginRunner

from .config import PluginSection, config_line

log = logging.getLogger("pbx.plugins")

ENTRY_POINT_GROUP = "pbx.plugins"
BUILT_IN = ("plugins.recording", "plugins.crm", "plugins.kpi", "plugins.dialer")


class PluginError(Exception):
    """A plugin cannot be loaded or configured; the message says which, where and why."""


def discover(sections: dict[str, PluginSection], *, entry_points: bool = True) -> dict[str, Any]:
    """Every plugin known to this PBX, by name: built-ins, installed, and the config's own."""
    found: dict[str, Any] = {}
    for module in BUILT_IN:
        hooks = importlib.import_module(module)
        found[plugin_name(hooks)] = hooks
    if entry_points:
        for entry in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP):
            try:
                hooks = entry.load()
            except Exception as error:  # a broken installed package must not stop the PBX
                log.error("event=plugin_not_loaded entry_point=%s reason=%r", entry.value, f"{type(error).__name__}: {error}")
                continue
            found[entry.name] = hooks
    for name, section in sections.items():
        if section.path:
            found[name] = _load_path(name, Path(section.path))
    return found


def _load_path(name: str, path: Path) -> Any:
    target = path / "__init__.py" if path.is_dir() else path
    if not target.is_file():
        raise PluginError(f"plugin {name!r}: no such file {target}")
    module_name = f"pbx_site_plugins.{name}"
    spec = importlib.util.spec_from_file_location(module_name, target,
                                                  submodule_search_locations=[str(path)] if path.is_dir() else None)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    try:
        spec.loader.exec_module(module)
    except Exception as error:
        raise PluginError(f"plugin {name!r}: {target}: {type(error).__name__}: {error}") from None
    module.name = name  # known by its config key, whatever the file is called
    return module


class PluginHost:
    """The enabled plugins, their APIs and the runner that calls them."""

    def __init__(self, sections: dict[str, PluginSection], *, config_file: str = "config.yaml",
                 make_api: Callable[[str, Any], Any], report: Callable[[PluginFailed], None],
                 clock: Callable[[], float], entry_points: bool = True) -> None:
        self.manager = pluggy.PluginManager(sdk.hookspecs.PROJECT)
        self.manager.add_hookspecs(sdk.hookspecs)
        known = discover(sections, entry_points=entry_points)
        unknown = sorted(set(sections) - set(known))
        if unknown:
            where = config_line(config_file, ["plugins", unknown[0]])
            raise PluginError(f"{where}: no plugin named {unknown[0]!r}; known: {', '.join(sorted(known))} "
                              f"(install it, or give its `path:`)")
        self.plugins: list[LoadedPlugin] = []
        built_in = {plugin_name(importlib.import_module(module)) for module in BUILT_IN}
        for name, hooks in known.items():
            section = sections.get(name, PluginSection())
            # Built-ins run where the config asks for them (a CRM with no connector has nothing to do);
            # an installed package or a site file runs once it is there, unless `enabled: false`.
            if not section.enabled or (name in built_in and name not in sections):
                log.info("event=plugin_disabled plugin=%s", name)
                continue
            try:
                self.manager.register(hooks, name=name)
            except (pluggy.PluginValidationError, ValueError) as error:
                raise PluginError(f"plugin {name!r}: {error}") from None
            try:
                config = decode_plugin_config(hooks, section.config, f"plugins.{name}.config")
            except PluginConfigError as error:
                where = config_line(config_file, ["plugins", name, "config", *error.path])
                raise PluginError(f"{where}: {error}") from None
            self.plugins.append(LoadedPlugin(name, hooks, make_api(name, config), timeout=section.timeout,
                                             queue_limit=section.queue_limit))
        try:
            self.manager.check_pending()  # a pbx_* function with no such hook is a typo
        except pluggy.PluginValidationError as error:
            raise PluginError(str(error)) from None
        self.runner = PluginRunner(self.plugins, report, clock)
        self.has = {hook: any(plugin.implementation(hook) for plugin in self.plugins)
                    for hook in ("pbx_lookup_caller", "pbx_routing_inputs", "pbx_recording_policy", "pbx_event",
                                 "pbx_metrics")}

    @property
    def names(self) -> list[str]:
        return [plugin.name for plugin in self.plugins]

    # Life cycle ----------------------------------------------------------------------------------

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        for plugin in self.plugins:
            bind = getattr(plugin.api, "bind_loop", None)
            if bind is not None:
                bind(loop)
        self.runner.start()
        for plugin in self.plugins:
            await self.runner.ask(plugin, "pbx_startup")
        log.info("event=plugins_started plugins=%s", ",".join(self.names) or "-")

    async def stop(self) -> None:
        await self.runner.drain(2.0)  # every event published so far reaches its plugins first
        for plugin in reversed(self.plugins):
            await self.runner.ask(plugin, "pbx_shutdown")
        await self.runner.drain(2.0)
        await self.runner.stop()

    def on_event(self, event: Event) -> None:
        """The bus subscriber: queue the event for the plugins that take events."""
        self.runner.deliver(event)

    # What plugins add ----------------------------------------------------------------------------

    async def ivr_functions(self) -> dict[str, Any]:
        functions: dict[str, Any] = {}
        for plugin, answer in await self.runner.ask_all("pbx_ivr_functions"):
            if not isinstance(answer, dict):
                log.error("event=plugin_functions_ignored plugin=%s reason='pbx_ivr_functions must return a dict'",
                          plugin.name)
                continue
            for name, function in answer.items():
                if not callable(function):
                    log.error("event=plugin_function_ignored plugin=%s function=%s reason='not callable'",
                              plugin.name, name)
                    continue
                functions[name] = function
        return functions

    async def admin_routes(self) -> dict[str, list[Any]]:
        return {plugin.name: list(answer) for plugin, answer in await self.runner.ask_all("pbx_admin_routes")}

    async def metrics(self) -> list[Any]:
        """Every plugin's figures for a Prometheus scrape (a plugin answering wrong is skipped)."""
        figures: list[Any] = []
        for plugin, answer in await self.runner.ask_all("pbx_metrics"):
            if not isinstance(answer, list) or not all(isinstance(metric, Metric) for metric in answer):
                log.error("event=plugin_metrics_ignored plugin=%s reason='pbx_metrics must return a list of Metric'",
                          plugin.name)
                continue
            figures += answer
        return figures

    def cli_commands(self) -> dict[str, list[Any]]:
        commands: dict[str, list[Any]] = {}
        for plugin in self.plugins:
            function = plugin.implementation("pbx_cli_commands")
            if function is not None:
                commands[plugin.name] = list(function())
        return commands

    # The call path -------------------------------------------------------------------------------

    async def lookup(self, call: CallInfo) -> tuple[CallerInfo | None, RoutingInputs]:
        """Who is calling and how the queues should treat them, each plugin bounded by its timeout."""
        caller: CallerInfo | None = None
        if self.has["pbx_lookup_caller"]:
            _, caller = await self.runner.ask_first("pbx_lookup_caller", CallerInfo, call.call_id, call=call)
        priority, preferred, language = 0, None, None
        if caller is not None:
            priority, preferred, language = caller.priority, caller.preferred_agent, caller.language
        if self.has["pbx_routing_inputs"]:
            for _, inputs in await self.runner.ask_all("pbx_routing_inputs", RoutingInputs, call.call_id,
                                                       call=call, caller=caller):
                priority += inputs.priority
                preferred = preferred or inputs.preferred_agent
                language = language or inputs.language
        return caller, RoutingInputs(priority=priority, preferred_agent=preferred, language=language)

    async def recording_policy(self, call: CallInfo, moment: str) -> RecordingDecision | None:
        if not self.has["pbx_recording_policy"]:
            return None
        _, decision = await self.runner.ask_first("pbx_recording_policy", RecordingDecision, call.call_id,
                                                  call=call, moment=moment)
        return decision


def open_database(data_dir: str, url: str | None = None) -> Database:
    """The PBX database: `url` (postgresql://...) when given, else SQLite in `data_dir`."""
    if url:
        return sdk_open_database(url)
    return SqliteDatabase(Path(data_dir) / "pbx.sqlite")
