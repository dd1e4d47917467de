"""Functions a scenario can `invoke`, found by import path from the config ("module:callable").

Plugins register functions through the `pbx_ivr_functions` hook; this is the shortcut for a
site's own code: the config names a module, found on the Python path or in the config file's
directory. Loading fails loudly at start-up, naming the function, the path and why, so a typo
never surfaces as "unknown function" in the middle of a call.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any


class FunctionError(Exception):
    """A configured function cannot be loaded."""


def load_functions(paths: dict[str, str], base: str | Path | None = None) -> dict[str, Callable[..., Any]]:
    """`paths` by name; modules not on the Python path are looked for in `base` (the config's directory)."""
    functions: dict[str, Callable[..., Any]] = {}
    for name, target in paths.items():
        module_name, _, attribute = target.partition(":")
        try:
            module = _import(module_name, base)
        except ImportError as error:
            raise FunctionError(f"function {name!r}: cannot import {module_name!r} ({error})") from None
        function = getattr(module, attribute, None)
        if not callable(function):
            raise FunctionError(f"function {name!r}: {module_name!r} has no callable {attribute!r}")
        functions[name] = function
    return functions


def _import(module_name: str, base: str | Path | None) -> Any:
    try:
        return importlib.import_module(module_name)
    except ModuleNotFoundError as error:
        top = module_name.partition(".")[0]
        if base is None or error.name != top or not (Path(base) / top).exists() and \
                not (Path(base) / f"{top}.py").exists():
            raise
    sys.path.append(str(base))  # the site's own modules, beside its config
    return importlib.import_module(module_name)
