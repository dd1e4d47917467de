"""Functions a scenario can `invoke`, found by import path from the config ("module:callable").

The plugin SDK will register functions through hooks; until then (and for a site's own code
afterwards) the config names them. Loading fails loudly at start-up, naming the function, the
path and why, so a typo never surfaces as "unknown function" in the middle of a call.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any


class FunctionError(Exception):
    """A configured function cannot be loaded."""


def load_functions(paths: dict[str, str]) -> dict[str, Callable[..., Any]]:
    functions: dict[str, Callable[..., Any]] = {}
    for name, target in paths.items():
        module_name, _, attribute = target.partition(":")
        try:
            module = importlib.import_module(module_name)
        except ImportError as error:
            raise FunctionError(f"function {name!r}: cannot import {module_name!r} ({error})") from None
        function = getattr(module, attribute, None)
        if not callable(function):
            raise FunctionError(f"function {name!r}: {module_name!r} has no callable {attribute!r}")
        functions[name] = function
    return functions
