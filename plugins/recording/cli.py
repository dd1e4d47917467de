"""`pbx recording <command> ... --config config.yaml`: the index and its audit log from a shell.

    pbx recording list [--call-id ID] [--queue Q] [--agent A] [--since T] [--until T] [--limit N] [--json]
    pbx recording show CALL_ID
    pbx recording hold CALL_ID          pbx recording release CALL_ID
    pbx recording delete CALL_ID        (a GDPR request: file and index row go, the audit entry stays)
    pbx recording sweep                 (delete what is past its retention, as the PBX does every sweep_every)
    pbx recording audit [--call-id ID] [--action A] [--limit N] [--json]

They run without a live PBX, on its database (sdk.PluginContext), and are audited under
`--actor` ("cli:<login name>" by default). Exit status: 0 done, 1 no such recording or refused
(legal hold, still recording), 2 bad input. Nothing is published on the bus from here: no PBX
is listening.
"""

from __future__ import annotations

import argparse
import getpass
import sys
import time
from collections.abc import Awaitable, Callable
from datetime import datetime, timezone
from typing import Any

import msgspec

from sdk import CliCommand, PluginContext

from .archive import RecordingArchive, RecordingNotFound, RecordingRefused
from .fold import RecordingRow
from .index import AuditLog, RecordingIndex, Search
from .query import BadInput, parse_limit, parse_time

Run = Callable[[RecordingArchive, argparse.Namespace, str, float], Awaitable[int]]


def _default_actor() -> str:
    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):
        return "cli"


def _when(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    return datetime.fromtimestamp(seconds, timezone.utc).strftime("%Y-%m-%d %H:%M:%S")


def _print_json(value: Any) -> None:
    print(msgspec.json.format(msgspec.json.encode(value), indent=2).decode())


def _print_table(rows: list[RecordingRow]) -> None:
    print(f"{'call id':<20} {'started (UTC)':<19} {'secs':>7} {'policy':<12} {'queue':<10} {'agent':<8} "
          f"{'keep until (UTC)':<19} hold")
    for row in rows:
        seconds = "-" if row.seconds is None else f"{row.seconds:.1f}"
        print(f"{row.call_id:<20} {_when(row.started_at):<19} {seconds:>7} {row.policy:<12} {row.queue or '-':<10} "
              f"{row.agent or '-':<8} {_when(row.keep_until):<19} {'yes' if row.legal_hold else 'no'}")


async def _list(archive: RecordingArchive, args: argparse.Namespace, actor: str, now: float) -> int:
    search = Search(call_id=args.call_id, queue=args.queue, agent=args.agent,
                    since=None if args.since is None else parse_time(args.since, "since"),
                    until=None if args.until is None else parse_time(args.until, "until"),
                    limit=parse_limit(args.limit))
    rows = await archive.search(search, actor=actor, now=now)
    _print_json(rows) if args.json else _print_table(rows)
    return 0


async def _show(archive: RecordingArchive, args: argparse.Namespace, actor: str, now: float) -> int:
    _print_json(await archive.show(args.call_id, actor=actor, now=now))
    return 0


def _hold(hold: bool) -> Run:
    async def run(archive: RecordingArchive, args: argparse.Namespace, actor: str, now: float) -> int:
        row = await archive.hold(args.call_id, hold, actor=actor, now=now)
        print(f"{row.call_id}: legal hold {'on' if row.legal_hold else 'off'}")
        return 0

    return run


async def _delete(archive: RecordingArchive, args: argparse.Namespace, actor: str, now: float) -> int:
    row = await archive.delete(args.call_id, actor=actor, now=now, reason="request")
    print(f"{row.call_id}: deleted {row.path}")
    return 0


async def _sweep(archive: RecordingArchive, args: argparse.Namespace, actor: str, now: float) -> int:
    deleted = await archive.sweep(now, actor=actor)
    for row in deleted:
        print(f"{row.call_id}: deleted {row.path} (kept until {_when(row.keep_until)})")
    print(f"{len(deleted)} recording(s) past their retention deleted")
    return 0


async def _audit(archive: RecordingArchive, args: argparse.Namespace, actor: str, now: float) -> int:
    entries = await archive.audit_entries(call_id=args.call_id, action=args.action, limit=parse_limit(args.limit))
    if args.json:
        _print_json(entries)
        return 0
    for entry in entries:
        reason = f" reason={entry.reason}" if entry.reason else ""
        print(f"{_when(entry.at)} {entry.actor} {entry.action} {entry.call_id or '-'}{reason} {entry.detail}".rstrip())
    return 0


def _runner(run: Run) -> Callable[[argparse.Namespace, PluginContext], Awaitable[int]]:
    async def command(args: argparse.Namespace, context: PluginContext) -> int:
        index = RecordingIndex(context.database)
        await index.migrate()
        archive = RecordingArchive(index, AuditLog(context.database), log=context.log)
        try:
            return await run(archive, args, args.actor, time.time())
        except BadInput as error:
            print(f"error: {error}", file=sys.stderr)
            return 2
        except (RecordingNotFound, RecordingRefused) as error:
            print(f"error: {error}", file=sys.stderr)
            return 1

    return command


def _options(*adders: Callable[[argparse.ArgumentParser], None]) -> Callable[[argparse.ArgumentParser], None]:
    def add(parser: argparse.ArgumentParser) -> None:
        parser.add_argument("--actor", default=_default_actor(), help="who is asking, for the audit log")
        for adder in adders:
            adder(parser)

    return add


def _call_id(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("call_id", help="the call id of the recording")


def _filters(parser: argparse.ArgumentParser) -> None:
    for name in ("call-id", "queue", "agent"):
        parser.add_argument(f"--{name}")
    parser.add_argument("--since", help="started at or after (epoch seconds or ISO 8601)")
    parser.add_argument("--until", help="started before (epoch seconds or ISO 8601)")
    parser.add_argument("--limit", default="100")
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")


def _audit_filters(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--call-id")
    parser.add_argument("--action", help="list, view, download, hold, release, delete, delete-refused, delete-failed")
    parser.add_argument("--limit", default="100")
    parser.add_argument("--json", action="store_true")


def commands() -> list[CliCommand]:
    return [
        CliCommand("list", "list recordings in the index, newest first", _options(_filters), _runner(_list)),
        CliCommand("show", "one recording's index entry (JSON)", _options(_call_id), _runner(_show)),
        CliCommand("hold", "put a recording under legal hold", _options(_call_id), _runner(_hold(True))),
        CliCommand("release", "release a recording's legal hold", _options(_call_id), _runner(_hold(False))),
        CliCommand("delete", "erase a recording (GDPR request)", _options(_call_id), _runner(_delete)),
        CliCommand("sweep", "delete recordings past their retention", _options(), _runner(_sweep)),
        CliCommand("audit", "the access audit log, newest first", _options(_audit_filters), _runner(_audit)),
    ]
