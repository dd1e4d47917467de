"""The kpi plugin's config (`plugins: kpi: config: ...` in the PBX config), decoded at the edge.

    plugins:
      kpi:
        config:
          timezone: Europe/Paris
          service_level: {seconds: 20, goal: 0.8}
          targets: {sales: {seconds: 30, goal: 0.9}}
          short_abandon: 5
          rates: [{prefix: "33", per_minute: 0.02, setup: 0.01, increment: 60}]
          schedules:
            alice: [{days: [mon, tue, wed, thu, fri], start: "09:00", end: "17:00",
                     breaks: [{start: "12:00", end: "12:30", reason: lunch}]}]
          alerts: [{kpi: sl, queue: sales, below: 0.8}]
"""

from __future__ import annotations

from typing import Literal

import msgspec

Weekday = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]


class ServiceTarget(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    seconds: float = 20.0  # answered within this many seconds...
    goal: float = 0.8  # ...for this share of calls (80/20)


class Rate(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """A rate table line: the longest matching prefix of the number billed wins."""

    prefix: str
    per_minute: float
    setup: float = 0.0
    increment: int = 1  # billed in steps of this many seconds (60: per started minute)
    direction: Literal["inbound", "outbound", "any"] = "any"


class Break(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    start: str  # "HH:MM", local time
    end: str
    reason: str = "break"


class Shift(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    days: list[Weekday]
    start: str  # "HH:MM", local time
    end: str  # may be past midnight ("02:00" after "22:00")
    breaks: list[Break] = []


class Alert(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """Raise KpiThresholdCrossed when a live figure goes below or above a threshold."""

    kpi: str  # a QueueFigures field: sl, asa, abandon_rate, longest_wait, ...
    queue: str | None = None  # None: every queue
    below: float | None = None
    above: float | None = None


class Config(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    node: str = "pbx1"  # written in every row: several PBX nodes may share one database
    timezone: str = "UTC"  # IANA name; intervals are local time in it
    service_level: ServiceTarget = ServiceTarget()
    targets: dict[str, ServiceTarget] = {}  # per queue
    short_abandon: float = 5.0  # seconds
    repeat_window: float = 86400.0  # seconds: the same caller again within it is a repeat
    window: float = 900.0  # seconds: the live figures' sliding window
    rates: list[Rate] = []
    schedules: dict[str, list[Shift]] = {}  # per agent
    adherence_grace: float = 300.0  # seconds out of adherence before an AdherenceAlert
    alerts: list[Alert] = []
    # "process": records are written by a process of their own (writer_process.py), off the PBX's
    # core, handed over at the end of each event-loop turn; "thread": by a task in the PBX (an
    # in-memory SQLite database needs it). Either gathers rows `batch_seconds` per transaction.
    batch_seconds: float = 0.02
    writer: Literal["process", "thread"] = "process"

    def __post_init__(self) -> None:
        _check(self)  # a bad zone, time of day or alert is a config error, with its line

    def target(self, queue: str) -> ServiceTarget:
        return self.targets.get(queue, self.service_level)


def _check_clock(text: str, where: str) -> None:
    hours, _, minutes = text.partition(":")
    if not (hours.isdigit() and minutes.isdigit() and int(hours) < 24 and int(minutes) < 60 and len(minutes) == 2):
        raise ValueError(f"{where} {text!r} is not a time of day like 09:30")


def _check(config: Config) -> None:
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    from .figures import QueueFigures

    try:
        ZoneInfo(config.timezone)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"timezone {config.timezone!r} is not an IANA time zone (Europe/Paris, UTC, ...)") from None
    for agent, shifts in config.schedules.items():
        for shift in shifts:
            _check_clock(shift.start, f"schedules.{agent}: start")
            _check_clock(shift.end, f"schedules.{agent}: end")
            for pause in shift.breaks:
                _check_clock(pause.start, f"schedules.{agent}: break start")
                _check_clock(pause.end, f"schedules.{agent}: break end")
    figures = set(QueueFigures.__struct_fields__) - {"queue", "interval_start"}
    for alert in config.alerts:
        if alert.kpi not in figures:
            raise ValueError(f"alerts: unknown kpi {alert.kpi!r}; one of {', '.join(sorted(figures))}")
        if (alert.below is None) == (alert.above is None):
            raise ValueError(f"alerts: {alert.kpi} needs one of below or above")

