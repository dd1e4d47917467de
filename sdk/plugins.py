"""How a plugin names itself and declares its configuration.

A plugin's name is its `name` attribute, else the last part of its module's name
(`plugins.recording` is "recording"). Its configuration is the Struct class in its `Config`
attribute: the PBX decodes the plugin's section of config.yaml into it, unknown keys rejected,
and hands it over as `api.config`. A plugin without `Config` takes no options.
"""

from __future__ import annotations

import types
from typing import Any

import msgspec
import re

class PluginConfigError(Exception):
    """A plugin's section of the config does not fit its `Config` Struct; the message says where."""

    def __init__(self, message: str, path: list[str | int]) -> None:
        super().__init__(message)
        self.path = path

def plugin_name(hooks: Any) -> str:
    name = getattr(hooks, "name", None)
    if isinstance(name, str) and name:
        return name
    module = hooks.__name__ if isinstance(hooks, types.ModuleType) else type(hooks).__module__
    return module.rsplit(".", 1)[-1]

def decode_plugin_config(hooks: Any, raw: Any, where: str) -> Any:
    """`raw` (a mapping from YAML, or already a Struct) as the plugin's `Config`, or None."""
    config_type = getattr(hooks, "Config", None)
    if config_type is None:
        if raw:
            raise PluginConfigError(f"{where}: plugin takes no options, got {sorted(raw)}", [])
        return None
    if isinstance(raw, config_type):
        return raw
    if isinstance(raw, dict) and not config_type.__struct_config__.forbid_unknown_fields:
        # The SDK's rule for every plugin: a typo in config.yaml is an error, not a silent default.
        unknown = sorted(set(raw) - set(config_type.__struct_encode_fields__))
        if unknown:
            raise PluginConfigError(f"{where}: Object contains unknown field `{unknown[0]}`", [unknown[0]])
    try:
        return msgspec.convert(raw or {}, config_type)
    except msgspec.ValidationError as error:
        message = str(error)
        path = error_path(message)
        raise PluginConfigError(f"{where}: {message}", path) from None


def error_path(message: str) -> list[str | int]:
    """msgspec's `... - at `$.sip.listen[0].port`` as ['sip', 'listen', 0, 'port'], the unknown
    key of "Object contains unknown field `x`" appended; a dict's key (`[...]`) is skipped."""
    found = re.search(r"at `\$((?:\.[^.\[`]+|\[\d+\]|\[\.\.\.\])*)`", message)
    path: list[str | int] = []
    for name, index in re.findall(r"\.([^.\[`]+)|\[(\d+)\]", found.group(1) if found else ""):
        path.append(int(index) if index else name)
    unknown = re.search(r"unknown field `([^`]+)`", message)
    if unknown:
        path.append(unknown.group(1))
    return path
