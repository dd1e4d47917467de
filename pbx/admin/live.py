"""The live endpoints of the admin API: queues, agents and calls, read and changed on the running PBX.

`live_endpoints(context)` is what the admin app mounts (pbx/admin/api.py). The queues and
agents are live_queues.py's, the calls live_calls.py's, their types views.py's. Actions are
carried out at once with the context's `execute` (the SIP transport's), so a supervisor's
hang-up reaches the phones before the answer reaches the supervisor.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sdk.admin import Endpoint

from .context import AdminContext
from .live_calls import call_endpoints
from .live_queues import agent_endpoints, queue_endpoints

__all__ = ["live_endpoints"]


def live_endpoints(context: AdminContext) -> list[Endpoint]:
    execute = _executor(context)
    return [*queue_endpoints(context), *agent_endpoints(context, execute), *call_endpoints(context, execute)]


def _executor(context: AdminContext) -> Callable[[list[Any]], None]:
    if context.execute is not None:
        return context.execute

    def execute(actions: list[Any]) -> None:
        if actions:
            context.app.transport.execute(actions)

    return execute
