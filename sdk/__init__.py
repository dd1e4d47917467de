"""The public SDK for PBX plugins: typed events (and, later, hooks and APIs).

Plugins import only from `sdk`; it depends on nothing else of the project.
"""

from . import events
from .events import Event

__all__ = ["Event", "events"]
