"""The PBX side of a dialer run: config (trunk to the carrier, agents' queue, the dialer plugin),
lead files, and reading back what the PBX believed about each number.

``dialer_pbx_config`` gives the ``start_pbx``/``call_pbx`` overrides (or a whole config for the
benchmark): a trunk ``carrier`` to the simulator, identified by its address; one outbound route
``world`` (``_+X.``: every E.164 number, unchanged) on it; agents ``2001``... as static members of
queue ``sales``, reached on ``700``; and the dialer plugin with the given campaign.

``attempts_seen_by_pbx`` folds the PBX's ``event=...`` log lines (CallStarted of outbound calls,
CallAnswered, MachineDetectionFinished, AgentConnected, CallEnded) into one record per call, by
number, so the test and the benchmark can put the dialer's belief (the AMD verdict, whether an
agent took the call) beside the carrier's truth (``carrier.py``).

Not here: starting processes (``harness.py``), the dialer's own logic (``plugins/dialer``).
"""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

QUEUE = "sales"
QUEUE_NUMBER = "700"
TRUNK = "carrier"
_FIELD = re.compile(r"(\w+)=('[^']*'|\"[^\"]*\"|\S+)")


def agent_numbers(count: int) -> list[str]:
    return [str(2001 + index) for index in range(count)]


def dialer_pbx_config(carrier: tuple[str, int], agents: list[str], campaign: dict[str, Any], *,
                      dnc: list[str] = (), tick: float = 0.5, channels: int = 60) -> dict[str, Any]:
    """Config sections for a PBX whose dialer calls out through the carrier simulator."""
    return {
        "extensions": {number: {"password": f"secret{number}"} for number in agents},
        "agents": {number: {"login": "static"} for number in agents},
        "queues": {QUEUE: {"strategy": "longest-idle", "ring_timeout": 5, "wrap_up": 0, "retry_delay": 1,
                           "members": [{"agent": number} for number in agents]}},
        "routes": [{"match": QUEUE_NUMBER, "queue": QUEUE}],
        "trunks": {TRUNK: {"host": f"{carrier[0]}:{carrier[1]}", "channels": channels}},
        "outbound_routes": [{"name": "world", "match": "_+X.", "trunks": [TRUNK]}],
        "plugins": {"dialer": {"config": {"tick": tick, "dnc": list(dnc), "campaigns": [campaign]}}},
    }


@dataclass(frozen=True)
class LeadRow:
    id: str
    phone: str
    time_zone: str = "Europe/London"
    priority: int = 0


def write_leads(path: Path, leads: list[LeadRow]) -> Path:
    """A lead CSV (docs/dialer.md): ``id,phone,time_zone,priority``."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["id", "phone", "time_zone", "priority"])
    for lead in leads:
        writer.writerow([lead.id, lead.phone, lead.time_zone, lead.priority])
    path.write_text(out.getvalue())
    return path


def zone_at_local_hour(hour: int, now: float) -> str:
    """A fixed-offset IANA zone (``Etc/GMT-5`` is UTC+5) whose local time is ``hour``:xx at ``now``."""
    utc_hour = datetime.fromtimestamp(now, timezone.utc).hour
    offset = (hour - utc_hour + 12) % 24 - 12  # -12..+11
    return "Etc/GMT" if offset == 0 else f"Etc/GMT{-offset:+d}"


@dataclass
class PbxAttempt:
    """One outbound call as the PBX's bus events tell it."""

    call_id: str
    number: str
    started_at: float
    answered: bool = False
    amd: str | None = None  # MachineDetectionFinished's result
    amd_seconds: float | None = None
    agent: str | None = None  # AgentConnected's agent
    cause: str | None = None  # CallEnded's cause


def attempts_seen_by_pbx(log_text: str) -> list[PbxAttempt]:
    """Outbound calls (CallStarted direction=outbound) in the order they started."""
    attempts: dict[str, PbxAttempt] = {}
    for line in log_text.splitlines():
        if "event=" not in line:
            continue
        fields = {key: value.strip("'\"") for key, value in _FIELD.findall(line)}
        event, call_id = fields.get("event"), fields.get("call_id", "")
        if event == "CallStarted" and fields.get("direction") == "outbound":
            stamp = line.split(" ", 1)[0].replace("Z", "+00:00")  # `at` is not logged: the line's time
            attempts[call_id] = PbxAttempt(call_id=call_id, number=fields.get("caller", ""),
                                           started_at=datetime.fromisoformat(stamp).timestamp())
            continue
        attempt = attempts.get(call_id)
        if attempt is None:
            continue
        if event == "CallAnswered":
            attempt.answered = True
        elif event == "MachineDetectionFinished":
            attempt.amd = fields.get("result")
            attempt.amd_seconds = float(fields.get("seconds", "0") or 0)
        elif event == "AgentConnected":
            attempt.agent = fields.get("agent")
        elif event == "CallEnded":
            attempt.cause = fields.get("cause")
    return list(attempts.values())
