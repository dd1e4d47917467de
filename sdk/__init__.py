"""The public SDK for PBX plugins: hooks, the API handed to plugins, typed events and values,
the database interface, and a test harness for plugin authors.

Plugins import only from `sdk`; it depends on nothing else of the project. docs/plugins.md
has a worked example; the hooks' docstrings (sdk/hookspecs.py) are the reference.
"""

from . import events, hookspecs, types
from .api import ActionRefused, CliCommand, PbxApi, PluginContext
from .durations import parse_duration
from .database import Database, KeyValueStore, PostgresDatabase, SqliteDatabase, open_database
from .events import Event, PluginFailed
from .hookspecs import hookimpl, hookspec, subscribe
from .plugins import PluginConfigError, decode_plugin_config, plugin_name
from .types import (
    AcdSnapshot,
    AgentSnapshot,
    CallerInfo,
    CallerSnapshot,
    CallInfo,
    Metric,
    QueueSnapshot,
    RecordingDecision,
    RoutingInputs,
)

__all__ = [
    "AcdSnapshot", "ActionRefused", "AgentSnapshot", "CallInfo", "CallerInfo", "CallerSnapshot", "CliCommand",
    "Database", "Event", "KeyValueStore", "Metric", "PbxApi", "PluginConfigError", "PluginContext", "PluginFailed",
    "PostgresDatabase", "QueueSnapshot", "RecordingDecision", "RoutingInputs", "SqliteDatabase", "decode_plugin_config",
    "events", "hookimpl", "hookspec", "hookspecs", "open_database", "parse_duration", "plugin_name", "subscribe",
    "types",
]
