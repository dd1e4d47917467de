"""`pbx crm ...`: the CRM plugin's commands, run without a live PBX (an `sdk.PluginContext`).

    pbx crm import contacts.csv --config config.yaml   # fill the contact store from a CSV
    pbx crm lookup +48600100200 --config config.yaml   # who would the PBX say is calling?

`import` prints how many contacts it imported and each bad row as FILE:LINE: why (exit 1 when
some rows were bad, 2 when nothing could be read). `lookup` asks the connectors in the
configured order, as the PBX would, and prints the CallerInfo as JSON (exit 1: unknown caller;
2: the CRM failed).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from pathlib import Path
from typing import Any

import msgspec

from sdk import CliCommand, PluginContext

from .config import Config
from .contacts import ContactStore
from .csv_import import ImportResult, read_contacts
from .service import CrmService

__all__ = ["commands"]


def _read(path: Path) -> ImportResult:
    with path.open(newline="", encoding="utf-8-sig") as lines:  # a BOM from a spreadsheet is not a column
        return read_contacts(lines, str(path))


def _import_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("file", help="CSV with a header row: number,name,tier,language,vip,preferred_agent,"
                                     "customer_id and any other columns (they become fields)")


async def _import(args: argparse.Namespace, context: PluginContext) -> int:
    path = Path(args.file)
    try:
        result = await asyncio.to_thread(_read, path)
    except (OSError, UnicodeDecodeError) as error:
        print(f"error: {path}: cannot read it: {error}", file=sys.stderr)
        return 2
    for problem in result.problems:
        print(f"{problem}", file=sys.stderr)
    if result.fatal:
        print(f"error: {path}: nothing imported", file=sys.stderr)
        return 2
    imported = await ContactStore(context.database).put_many(result.contacts)
    config: Config = context.config or Config()
    skipped = f"; {len(result.problems)} bad rows skipped" if result.problems else ""
    print(f"imported {imported} contacts from {path}{skipped}")
    if not config.contacts.enabled:
        print(f"note: plugins.crm.config.contacts.enabled is false in {args.config}: "
              f"the PBX will not look these contacts up until it is true", file=sys.stderr)
    return 1 if result.problems else 0


def _lookup_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("number", help="the caller's number")
    parser.add_argument("--callee", default="", help="the number called (for a URL template with {callee})")


async def _lookup(args: argparse.Namespace, context: PluginContext) -> int:
    config: Config = context.config or Config()
    service = CrmService(config, database=context.database, log=context.log, clock=time.time)
    try:
        found = await service.find(args.number, args.callee)
    finally:
        await service.close()
    if found is not None:
        print(msgspec.json.format(msgspec.json.encode(found)).decode())
        return 0
    if service.http.failures:
        print(f"error: the CRM did not answer: {service.http.last_failure}", file=sys.stderr)
        return 2
    asked = ", ".join(connector.name for connector in service.connectors) or "no connector is configured"
    print(f"{args.number}: unknown caller (asked: {asked})")
    return 1


def commands() -> list[Any]:
    return [
        CliCommand("import", "import contacts from a CSV file into the contact store", _import_arguments, _import),
        CliCommand("lookup", "look a caller up as the PBX would and print what is found", _lookup_arguments,
                   _lookup),
    ]
