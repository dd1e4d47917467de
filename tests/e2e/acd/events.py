"""The PBX's bus events as its log shows them, with the line's timestamp (``at`` is not logged)."""

from __future__ import annotations

import time
from datetime import datetime

import pytest

from ..calls.fixtures import _FIELD, bus_events


def timed_events(pbx, name: str) -> list[tuple[float, dict[str, str]]]:
    """(seconds since the epoch from the line's ISO timestamp, fields) for every ``event=<name>`` line."""
    found = []
    for line in pbx.log_text().splitlines():
        if f"event={name}" not in line:
            continue
        fields = {key: value.strip("'\"") for key, value in _FIELD.findall(line)}
        if fields.get("event") == name:
            stamp = line.split(" ", 1)[0].replace("Z", "+00:00")
            found.append((datetime.fromisoformat(stamp).timestamp(), fields))
    return found


def count_events(pbx, name: str, **expected: str) -> int:
    return sum(all(event.get(key) == value for key, value in expected.items()) for event in bus_events(pbx, name))


def wait_count(pbx, name: str, count: int, *, timeout: float = 10.0, **expected: str) -> list[dict[str, str]]:
    """Until at least ``count`` ``event=<name>`` lines match ``expected``; returns the matching events."""
    deadline = time.monotonic() + timeout
    while True:
        matching = [event for event in bus_events(pbx, name)
                    if all(event.get(key) == value for key, value in expected.items())]
        if len(matching) >= count:
            return matching
        if time.monotonic() >= deadline:
            pytest.fail(f"{len(matching)} event={name} with {expected} within {timeout:.0f}s, wanted {count}:"
                        f" {matching}\n{pbx.log_tail(40)}")
        time.sleep(0.05)


def agent_sequence(pbx, queue: str = "support") -> list[str]:
    """The agents of every AgentConnected in the order they connected."""
    return [event["agent"] for event in bus_events(pbx, "AgentConnected") if event.get("queue") == queue]
