"""Helpers for the ACD end-to-end tests (``tests/e2e/test_acd_distribution.py``, ``test_acd_soak.py``).

- ``queue_config``: the PBX configuration of a queue fed by a small IVR scenario (route 800 -> ``answer``,
  ``queue support``), and the agents 1001-1003.
- ``events``: the PBX's ``event=...`` log lines with their timestamps, and waits on their counts.
- ``callers``: Python UAC callers (``tests/e2e/media/uac.py``) driven from synchronous tests.
- ``load``: many such callers at once with random hang-up times (the soak test).
"""

from .callers import CallerThread
from .events import agent_sequence, count_events, timed_events, wait_count
from .queue_config import AGENTS, acd_pbx, scenario_dir

__all__ = ["AGENTS", "CallerThread", "acd_pbx", "agent_sequence", "count_events", "scenario_dir", "timed_events",
           "wait_count"]
