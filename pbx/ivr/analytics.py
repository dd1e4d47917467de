"""The interpreter's analytics records as typed bus events (IVR path and containment reports)."""

from __future__ import annotations

import logging

from ivr_dsl import commands as cmd
from sdk.events import Event, IvrExited, IvrKeyChosen, IvrNodeEntered, IvrNoInput, IvrNoMatch

log = logging.getLogger("pbx.ivr")


def bus_event(record: cmd.Analytics, call_id: str, scenario: str, now: float) -> Event | None:
    if isinstance(record, cmd.NodeEntered):
        return IvrNodeEntered(at=now, call_id=call_id, scenario=scenario, node=record.node, kind=record.kind)
    if isinstance(record, cmd.KeyChosen):
        return IvrKeyChosen(at=now, call_id=call_id, scenario=scenario, menu=record.menu, key=record.key)
    if isinstance(record, cmd.NoInput):
        return IvrNoInput(at=now, call_id=call_id, scenario=scenario, node=record.node, attempt=record.attempt)
    if isinstance(record, cmd.NoMatch):
        return IvrNoMatch(at=now, call_id=call_id, scenario=scenario, node=record.node, digits=record.digits,
                          attempt=record.attempt)
    if isinstance(record, cmd.ScenarioExited):
        return IvrExited(at=now, call_id=call_id, scenario=scenario, how=record.how, node=record.node)
    if isinstance(record, cmd.ScenarioFailed):
        log.error("event=scenario_failed call_id=%s scenario=%s node=%s reason=%r", call_id, scenario, record.node,
                  record.reason)
    return None
