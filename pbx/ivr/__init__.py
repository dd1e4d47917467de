"""Scenarios on live calls: the scenario library, prompts and speech, and the IVR controller.

- `ScenarioLibrary`, `ScenarioVersion`, `ReloadReport` (library.py): load, check, compile, reload
- `PromptLibrary`, `PromptItem` (prompts.py): recorded prompts per language, speech, digits, dates
- `IvrController` (controller.py), `IvrRuntime`, `QueueService`, `QueueRefused` (runtime.py)
- `load_functions`, `FunctionError` (functions.py): functions scenarios may invoke
"""

from .controller import IvrController
from .functions import FunctionError, load_functions
from .library import ReloadReport, ScenarioLibrary, ScenarioVersion
from .prompts import PromptItem, PromptLibrary
from .runtime import IvrRuntime, QueueRefused, QueueService

__all__ = [
    "FunctionError", "IvrController", "IvrRuntime", "PromptItem", "PromptLibrary", "QueueRefused", "QueueService",
    "ReloadReport", "ScenarioLibrary", "ScenarioVersion", "load_functions",
]  # fmt: skip
