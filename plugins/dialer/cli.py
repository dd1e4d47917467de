"""`pbx dialer ...`: the dialer's report and its imports from a shell, on the PBX database.

    pbx dialer report CAMPAIGN [--hours 24] [--time-zone Europe/Warsaw] [--json]
    pbx dialer import-leads CAMPAIGN FILE.csv      every bad line reported as FILE:LINE: why
    pbx dialer import-dnc FILE.csv [--campaign C]  the global list without --campaign

They run without a live PBX, with the plugin's config and database (sdk.PluginContext); a
running PBX sees imported leads at its next dialling round. Exit status: 0 done, 1 some lines
refused or no such campaign, 2 bad input.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import msgspec

from sdk import CliCommand, PluginContext

from .config import CampaignSpec, Config
from .leads import read_leads, read_numbers
from .report import DialerReport, Figures, build_report
from .store import GLOBAL, DialerStore


async def _campaign(store: DialerStore, context: PluginContext, name: str) -> CampaignSpec | None:
    config: Config = context.config if context.config is not None else Config()
    known = {spec.id: spec for spec, _, _ in await store.campaigns()}
    known.update({spec.id: spec for spec in config.campaigns})
    return known.get(name)


def _line(key: str, figures: Figures) -> str:
    return (f"{key:<17} {figures.attempts:>8} {figures.live_answers:>6} {figures.contacts:>8} "
            f"{figures.right_party_contacts:>5} {figures.conversions:>5} {figures.abandoned:>5} "
            f"{figures.abandonment_rate:>7.1%} {figures.conversion_rate:>7.1%}")


def render(report: DialerReport) -> str:
    header = f"{'':<17} {'attempts':>8} {'live':>6} {'contacts':>8} {'rpc':>5} {'conv':>5} {'aband':>5} " \
             f"{'aband%':>7} {'conv%':>7}"
    lines = [f"campaign {report.campaign} (hours in {report.time_zone})", header, _line("total", report.total)]
    lines += [_line(row.key, row.figures) for row in report.hours]
    if report.agents:
        lines += ["", "per agent", header] + [_line(row.key, row.figures) for row in report.agents]
    return "\n".join(lines)


async def _report(args: argparse.Namespace, context: PluginContext) -> int:
    try:
        ZoneInfo(args.time_zone)
    except (ValueError, ZoneInfoNotFoundError):
        print(f"error: --time-zone {args.time_zone!r} is not an IANA time zone", file=sys.stderr)
        return 2
    if args.hours <= 0:
        print("error: --hours must be more than 0", file=sys.stderr)
        return 2
    store = DialerStore(context.database)
    await store.migrate()
    spec = await _campaign(store, context, args.campaign)
    if spec is None:
        print(f"error: no campaign {args.campaign!r}", file=sys.stderr)
        return 1
    until = context.now()
    since = until - args.hours * 3600
    report = build_report(await store.attempts(spec.id, since, until), campaign=spec.id, since=since, until=until,
                          right_party=spec.right_party, conversion=spec.conversion, time_zone=args.time_zone)
    print(msgspec.json.format(msgspec.json.encode(report), indent=2).decode() if args.json else render(report))
    return 0


async def _import_leads(args: argparse.Namespace, context: PluginContext) -> int:
    store = DialerStore(context.database)
    await store.migrate()
    if await _campaign(store, context, args.campaign) is None:
        print(f"error: no campaign {args.campaign!r}", file=sys.stderr)
        return 1
    try:
        text = Path(args.file).read_text(encoding="utf-8-sig")
    except OSError as error:
        print(f"error: {args.file}: {error.strerror or error}", file=sys.stderr)
        return 2
    result = read_leads(args.campaign, text, now=context.now())
    for error in result.errors:
        print(error.where(args.file), file=sys.stderr)
    added = await store.add_leads(result.leads)
    print(f"{added} lead(s) added, {len(result.leads) - added} already there, {len(result.errors)} line(s) refused")
    return 1 if result.errors else 0


async def _import_dnc(args: argparse.Namespace, context: PluginContext) -> int:
    store = DialerStore(context.database)
    await store.migrate()
    try:
        text = Path(args.file).read_text(encoding="utf-8-sig")
    except OSError as error:
        print(f"error: {args.file}: {error.strerror or error}", file=sys.stderr)
        return 2
    numbers, errors = read_numbers(text)
    for error in errors:
        print(error.where(args.file), file=sys.stderr)
    added = await store.add_dnc(numbers, args.campaign or GLOBAL, context.now())
    print(f"{added} number(s) on the {args.campaign or 'global'} do-not-call list, {len(errors)} line(s) refused")
    return 1 if errors else 0


def _report_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("campaign")
    parser.add_argument("--hours", type=float, default=24.0, help="the last HOURS hours (24)")
    parser.add_argument("--time-zone", default="UTC", help="the hours' time zone (IANA)")
    parser.add_argument("--json", action="store_true")


def _lead_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("campaign")
    parser.add_argument("file")


def _dnc_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("file")
    parser.add_argument("--campaign", help="the campaign's own list (default: the global list)")


def commands() -> list[CliCommand]:
    return [
        CliCommand("report", "dialer report: attempts, contacts, RPC, abandonment, conversion per hour and agent",
                   _report_arguments, _report),
        CliCommand("import-leads", "add leads to a campaign from CSV (bad lines reported as file:line)",
                   _lead_arguments, _import_leads),
        CliCommand("import-dnc", "add numbers to a do-not-call list from CSV", _dnc_arguments, _import_dnc),
    ]
