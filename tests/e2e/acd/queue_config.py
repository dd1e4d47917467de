"""The PBX configuration for the ACD end-to-end tests: agents, one queue, an IVR in front of it.

Route 800 runs the scenario ``line`` (``answer``, then ``queue support``; when the caller leaves
the queue without an agent the on-failure branch sets a disposition and hangs up). Route 700
goes straight to the queue. Extensions 1001-1009 exist (password ``secretNNNN``); 1001-1003 are
the agents, the rest are callers.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..calls.fixtures import call_extensions

AGENTS = ("1001", "1002", "1003")

LINE_SCENARIO = """scenario "Line"
end
block start
  answer
  queue support
  on failure
    disposition "left the queue"
    hangup
  end
end
"""


def scenario_dir(base: Path, text: str = LINE_SCENARIO) -> Path:
    directory = base / "scenarios"
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "line.ivr").write_text(text)
    return directory


def acd_pbx(call_pbx, tmp_path: Path, *, agents: tuple[str, ...] = AGENTS, scenario: str = LINE_SCENARIO,
            agent_login: str = "static", extensions: range = range(1001, 1010), calls: dict | None = None,
            plugins: dict | None = None, database: str | None = None, admin: dict | None = None, **queue: Any):
    """A PBX with ``agents`` as the members (in that order) of queue ``support``; ``queue`` overrides its rules."""
    settings = {"strategy": "linear", "ring_timeout": 5, "wrap_up": 0, "retry_delay": 1,
                "members": [{"agent": name} for name in agents], **queue}
    routes = [{"match": "700", "queue": "support"}, {"match": "800", "scenario": "line"}]
    ivr = {"scenarios": str(scenario_dir(tmp_path, scenario)), "prompts": str(tmp_path),
           "tts_cache": str(tmp_path / "tts")}
    overrides: dict[str, Any] = {}
    if calls is not None:
        overrides["calls"] = calls
    if plugins is not None:
        overrides["plugins"] = plugins
    if database is not None:
        overrides["database"] = database
    if admin is not None:
        overrides["admin"] = admin
    return call_pbx(extensions=call_extensions(extensions), agents={name: {"login": agent_login} for name in agents},
                    queues={"support": settings}, routes=routes, ivr=ivr, **overrides)
