"""`pbx kpi report KIND ...` (and `pbx report KIND ...`): the historical report from a shell.

    pbx kpi report queues   [--from D] [--to D] [--interval 15min|hour|day] [--queue Q] [--format table|csv]
    pbx kpi report agents   [... --agent A]
    pbx kpi report contacts [... --queue Q]       (--queue: per queue, that queue only)
    pbx kpi report ivr      [...]                  (drop-off by scenario node)
    pbx kpi report availability [...]

--from/--to are local times in the configured time zone: a date (2024-06-03) or a date and time
(2024-06-03T10:00 or "2024-06-03 10:00"). A date alone as --to includes that whole day. Without
--from the range is today; --from alone is one day from it. The table shows rates as
percentages (83.3%) and seconds with one decimal; CSV gives the raw numbers, the interval as a
local ISO 8601 time. Exit status: 0 done, 2 bad input.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import sys
from collections.abc import Callable
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import msgspec

from sdk import CliCommand, PluginContext

from . import planning
from .config import Config
from .intervals import INTERVALS, local_text
from .report import Report
from .schema import MIGRATIONS

__all__ = ["KINDS", "commands", "parse_range", "render"]

KINDS = ("queues", "agents", "contacts", "ivr", "availability", "staffing", "adherence")
RATES = {"goal", "sl", "sl_answered", "sl_no_short", "sl_abandons", "abandon_rate", "abandon_rate_no_short",
         "transfer_rate", "occupancy", "utilization", "repeat_rate", "fcr", "blocked_rate", "csat_satisfied", "nps",
         "poor_quality_share", "containment", "availability", "pause_share", "service_level", "abandonment",
         "adherence"}
SECONDS = {"asa", "avg_wait", "longest_wait", "aht", "target_seconds", "seconds", "out_of_adherence"}


class BadInput(ValueError):
    """The user's input: said on stderr with exit status 2."""


def _parse_local(text: str, zone: ZoneInfo, name: str) -> tuple[datetime, bool]:
    """(local datetime, whether only a date was given)."""
    try:
        return datetime.combine(date.fromisoformat(text), time(0), tzinfo=zone), True
    except ValueError:
        pass
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise BadInput(f"--{name} {text!r}: expected a date (2024-06-03) or a local time (2024-06-03T10:00)") from None
    return (moment.replace(tzinfo=zone) if moment.tzinfo is None else moment), False


def _next_day(moment: datetime, zone: ZoneInfo) -> datetime:
    day = moment.date() + timedelta(days=1)
    return datetime.combine(day, time(0), tzinfo=zone)


def parse_range(start: str | None, end: str | None, zone: ZoneInfo, now: float) -> tuple[float, float]:
    """[start, end) in seconds since the epoch from the --from/--to texts (see the module doc)."""
    if start is None:
        began = datetime.combine(datetime.fromtimestamp(now, zone).date(), time(0), tzinfo=zone)
        only_date = True
    else:
        began, only_date = _parse_local(start, zone, "from")
    if end is None:
        ended = _next_day(began, zone) if only_date else began + timedelta(days=1)
    else:
        ended, end_date = _parse_local(end, zone, "to")
        if end_date:
            ended = _next_day(ended, zone)
    if ended.timestamp() <= began.timestamp():
        raise BadInput(f"--to ({ended.isoformat()}) must be after --from ({began.isoformat()})")
    return began.timestamp(), ended.timestamp()


def _cell(name: str, value: Any, zone: ZoneInfo, table: bool) -> str:
    if name == "interval_start":
        return local_text(value, zone)
    if value is None:
        return "-" if table else ""
    if isinstance(value, dict):
        if not table:
            return json.dumps(value, sort_keys=True)
        return " ".join(f"{key}={_cell(name, item, zone, table)}" for key, item in value.items()) or "-"
    if not table or isinstance(value, (bool, int, str)):
        return str(value)
    if name in RATES:
        return f"{value * 100:.1f}%"
    if name in SECONDS or name.endswith("_seconds") or name == "pause_by_reason":
        return f"{value:.1f}"
    return f"{value:.2f}" if abs(value) < 100 else f"{value:.1f}"


def render(rows: list[msgspec.Struct], zone: ZoneInfo, form: str) -> str:
    """The figures as an aligned table or CSV (one line per figure row, a header first)."""
    if not rows:
        return "(no data in this range)\n" if form == "table" else ""
    names = [field.name for field in msgspec.structs.fields(type(rows[0]))]
    cells = [[_cell(name, getattr(row, name), zone, form == "table") for name in names] for row in rows]
    if form == "csv":
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(names)
        writer.writerows(cells)
        return out.getvalue()
    widths = [max(len(name), *(len(line[column]) for line in cells)) for column, name in enumerate(names)]
    numeric = [all(_is_numeric(line[column]) for line in cells) for column in range(len(names))]
    lines = ["  ".join(name.rjust(width) if right else name.ljust(width)
                       for name, width, right in zip(names, widths, numeric, strict=True)).rstrip()]
    for line in cells:
        lines.append("  ".join(cell.rjust(width) if right else cell.ljust(width)
                               for cell, width, right in zip(line, widths, numeric, strict=True)).rstrip())
    return "\n".join(lines) + "\n"


def _is_numeric(text: str) -> bool:
    return text == "-" or text.rstrip("%").replace(".", "", 1).lstrip("-+").isdigit()


def _arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("kind", choices=KINDS, help="which report")
    parser.add_argument("--from", dest="start", help="local date or time (default: today)")
    parser.add_argument("--to", dest="end", help="local date (inclusive) or time (exclusive)")
    parser.add_argument("--interval", choices=[*INTERVALS, "none"], default="none",
                        help="bucket the range (default: the whole range)")
    parser.add_argument("--queue", help="queues, contacts: this queue only")
    parser.add_argument("--agent", help="agents: this agent only")
    parser.add_argument("--scenario", help="contacts: per scenario, this one only ('all' for every scenario)")
    parser.add_argument("--format", choices=("table", "csv"), default="table")
    parser.add_argument("--model", choices=("c", "a"), default="c",
                        help="staffing: Erlang C, or Erlang A (with --patience)")
    parser.add_argument("--patience", type=float, help="staffing, Erlang A: the callers' mean patience, seconds")
    parser.add_argument("--calls", type=float, help="staffing: forecast calls per interval (default: those seen)")
    parser.add_argument("--aht", type=float, help="staffing: forecast handle time, seconds (default: that seen)")


async def figures_for(report: Report, args: argparse.Namespace, start: float, end: float) -> list[Any]:
    interval = None if args.interval == "none" else args.interval
    kinds: dict[str, Callable[[], Any]] = {
        "queues": lambda: report.queues(start, end, interval, queue=args.queue),
        "agents": lambda: report.agents(start, end, interval, agent=args.agent),
        "contacts": lambda: report.contacts(start, end, interval, by_queue=args.queue is not None,
                                            by_scenario=args.scenario is not None),
        "ivr": lambda: report.ivr_dropoff(start, end, interval),
        "availability": lambda: report.availability(start, end, interval),
        "staffing": lambda: planning.staffing(report, start, end, interval, queue=args.queue, model=args.model,
                                              patience=args.patience, calls=args.calls, aht=args.aht),
        "adherence": lambda: planning.adherence(report.database, report.config, start, end, interval,
                                                agent=args.agent),
    }
    rows = await kinds[args.kind]()
    if args.kind == "contacts" and args.scenario not in (None, "all"):
        rows = [row for row in rows if row.scope == f"scenario:{args.scenario}"]
    elif args.kind == "contacts" and args.queue is not None and args.scenario is None:
        rows = [row for row in rows if row.scope == args.queue]
    return rows


async def _report(args: argparse.Namespace, context: PluginContext) -> int:
    config: Config = context.config or Config()
    try:
        zone = ZoneInfo(config.timezone)
    except (ZoneInfoNotFoundError, ValueError):
        print(f"error: plugins.kpi.config.timezone {config.timezone!r} is not an IANA time zone", file=sys.stderr)
        return 2
    try:
        start, end = parse_range(args.start, args.end, zone, context.now())
    except BadInput as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    if args.kind == "staffing" and args.model == "a" and args.patience is None:
        print("error: --model a (Erlang A) needs --patience SECONDS", file=sys.stderr)
        return 2
    await context.database.migrate("kpi", MIGRATIONS)
    rows = await figures_for(Report(context.database, config), args, start, end)
    sys.stdout.write(render(rows, zone, args.format))
    return 0


def commands() -> list[CliCommand]:
    return [CliCommand("report", "KPI report: queues, agents, contacts, ivr, availability, staffing or adherence over a range",
                       _arguments, _report, top_level=True)]
