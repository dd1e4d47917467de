"""The plugins on the command line: `pbx <plugin> <command>` for the commands plugins offer
(`pbx crm import contacts.csv --config config.yaml`), and what `pbx check` needs to know of
them (their config decodes; the IVR functions they register).

These run without a live PBX: a plugin gets a `sdk.PluginContext` (its config, its store and
the database) instead of the PbxApi.
"""

from __future__ import annotations

import argparse
import asyncio
import inspect
import logging
import sys
from pathlib import Path
from typing import Any

from sdk import KeyValueStore, PluginContext
from sdk.database import Database
from sdk.events import PluginFailed

from .config import Config, ConfigError, load_config
from .plugin_host import PluginError, PluginHost, discover, open_database

__all__ = ["PluginError", "add_plugin_commands", "plugin_functions", "run_plugin_command"]


def _offline_host(config: Config, config_file: str, database: Database) -> PluginHost:
    def make_context(name: str, plugin_config: Any) -> PluginContext:
        return PluginContext(plugin=name, config=plugin_config, store=KeyValueStore(database, name),
                             database=database, data_dir=Path(config.data_dir) / "plugins" / name,
                             log=logging.getLogger(f"pbx.plugins.{name}"))

    def report(failure: PluginFailed) -> None:
        print(f"warning: plugin {failure.plugin}: {failure.hook} {failure.reason}", file=sys.stderr)

    return PluginHost(config.plugins, config_file=config_file, make_api=make_context, report=report,
                      clock=lambda: 0.0)


def plugin_functions(config: Config, config_file: str) -> set[str]:
    """The names of the IVR functions the enabled plugins register (their configs checked on the way)."""
    database = open_database(config.data_dir, config.database)
    try:
        host = _offline_host(config, config_file, database)
        return set(asyncio.run(host.ivr_functions()))
    finally:
        database.close()


def add_plugin_commands(parser: argparse.ArgumentParser) -> dict[str, dict[str, Any]]:
    """Subcommands for every plugin that offers CLI commands (installed or built in)."""
    commands = next(action for action in parser._actions if isinstance(action, argparse._SubParsersAction))
    offered: dict[str, dict[str, Any]] = {}
    for name, hooks in discover({}).items():
        function = getattr(hooks, "pbx_cli_commands", None)
        if function is None or name in commands.choices:
            continue
        try:
            found = {command.name: command for command in function()}
        except Exception as error:
            print(f"warning: plugin {name}: pbx_cli_commands raised {type(error).__name__}: {error}", file=sys.stderr)
            continue
        if not found:
            continue
        plugin_parser = commands.add_parser(name, help=f"commands of the {name} plugin")
        inner = plugin_parser.add_subparsers(dest="plugin_command", required=True)
        for command in found.values():
            sub = inner.add_parser(command.name, help=command.help)
            sub.add_argument("--config", required=True, help="the PBX's YAML configuration file")
            command.arguments(sub)
        offered[name] = found
    for name, found in list(offered.items()):
        for command in found.values():
            if command.top_level and command.name not in commands.choices:
                sub = commands.add_parser(command.name, help=f"{command.help} (the {name} plugin)")
                sub.add_argument("--config", required=True, help="the PBX's YAML configuration file")
                command.arguments(sub)
                sub.set_defaults(top_level_of=name)
    return offered


def run_plugin_command(args: argparse.Namespace, commands: dict[str, Any]) -> int:
    try:
        config = load_config(args.config)
    except ConfigError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    database = open_database(config.data_dir, config.database)
    try:
        host = _offline_host(config, args.config, database)
        plugin = next((p for p in host.plugins if p.name == args.command), None)
        if plugin is None:
            print(f"error: plugin {args.command} is disabled in {args.config}", file=sys.stderr)
            return 2
        plugin.api.data_dir.mkdir(parents=True, exist_ok=True)
        result = commands[args.plugin_command].run(args, plugin.api)
        if inspect.isawaitable(result):
            result = asyncio.run(_awaited(result))
        return int(result or 0)
    except PluginError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    finally:
        database.close()


async def _awaited(result: Any) -> Any:
    return await result
