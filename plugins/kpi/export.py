"""Report rows as files a spreadsheet opens: CSV, and XLSX with typed cells (XlsxWriter).

`export(rows, row_type, format, zone, name)` answers the rows of one report or search as an
attachment: `Content-Disposition: attachment; filename="<name>.csv"` (or `.xlsx`). The
columns are the row type's fields, in order, with a header line even when there are no rows.

What the cells hold:
- numbers stay numbers (an XLSX number cell; a CSV number as Python writes it), booleans are
  booleans (TRUE/FALSE; `true`/`false` in CSV), None is an empty cell;
- times, the fields named `*_at` and `interval_start` (seconds since the epoch in the rows),
  are local times in the plugin's time zone: an Excel date-time with a date format in XLSX (Excel
  has no zones, so the zone is written in the header: "interval_start (Europe/Paris)"), ISO
  8601 with the offset in CSV ("2026-12-06T09:15:00+01:00");
- lists and mappings (a journey's IVR path, pause time by reason) are JSON text.

The XLSX is one sheet, header bold and frozen, with an autofilter, written row by row
(`constant_memory`) into memory in a worker thread, so a 100,000-row export neither holds the
event loop nor keeps every cell object alive. What this module does not do: choose the rows
(admin.py and the report do) or stream a file larger than memory.
"""

from __future__ import annotations

import asyncio
import csv
import io
import math
from collections.abc import Sequence
from datetime import datetime
from typing import Any, Literal
from zoneinfo import ZoneInfo

import msgspec
import xlsxwriter
from aiohttp import web

__all__ = ["CSV_TYPE", "FILE_TYPES", "XLSX_TYPE", "Format", "as_csv", "as_xlsx", "export", "is_time"]

Format = Literal["json", "csv", "xlsx"]
CSV_TYPE = "text/csv"
XLSX_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
FILE_TYPES = (CSV_TYPE, XLSX_TYPE)
DATE_FORMAT = "yyyy-mm-dd hh:mm:ss"
_SHEET_FORBIDDEN = str.maketrans({character: "-" for character in "[]:*?/\\"})


def is_time(name: str) -> bool:
    """A field holding seconds since the epoch (the naming rule of records.py and figures.py)."""
    return name.endswith("_at") or name == "interval_start"


def columns(row_type: type) -> list[str]:
    return [field.encode_name for field in msgspec.structs.fields(row_type)]


def _records(rows: Sequence[Any]) -> list[dict[str, Any]]:
    return [msgspec.to_builtins(row) for row in rows]


def _json_text(value: Any) -> str:
    return msgspec.json.encode(value).decode()


def _local(seconds: float, zone: ZoneInfo) -> datetime:
    return datetime.fromtimestamp(seconds, zone)


def as_csv(rows: Sequence[Any], row_type: type, zone: str) -> str:
    """RFC 4180 text: a header line, then one line per row."""
    names, local = columns(row_type), ZoneInfo(zone)
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")  # RFC 4180 2.1: lines end in CRLF
    writer.writerow(names)
    for record in _records(rows):
        writer.writerow([_csv_cell(name, record.get(name), local) for name in names])
    return out.getvalue()


def _csv_cell(name: str, value: Any, zone: ZoneInfo) -> Any:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if is_time(name) and isinstance(value, (int, float)):
        return _local(value, zone).isoformat(timespec="seconds")
    if isinstance(value, (dict, list)):
        return _json_text(value)
    return value


def as_xlsx(rows: Sequence[Any], row_type: type, zone: str, sheet: str) -> bytes:
    """One worksheet named `sheet`; see the module's docstring for the cell types."""
    names, local = columns(row_type), ZoneInfo(zone)
    out = io.BytesIO()
    workbook = xlsxwriter.Workbook(out, {"in_memory": True, "constant_memory": True})
    bold = workbook.add_format({"bold": True})
    when = workbook.add_format({"num_format": DATE_FORMAT})
    worksheet = workbook.add_worksheet(sheet.translate(_SHEET_FORBIDDEN)[:31] or "rows")
    for column, name in enumerate(names):
        worksheet.write_string(0, column, f"{name} ({zone})" if is_time(name) else name, bold)
        worksheet.set_column(column, column, 20 if is_time(name) else max(10, len(name) + 2))
    worksheet.freeze_panes(1, 0)
    records = _records(rows)
    for line, record in enumerate(records, start=1):
        for column, name in enumerate(names):
            value = record.get(name)
            if value is None:
                continue
            if isinstance(value, bool):
                worksheet.write_boolean(line, column, value)
            elif isinstance(value, (int, float)) and is_time(name):
                worksheet.write_datetime(line, column, _local(value, local).replace(tzinfo=None), when)
            elif isinstance(value, (int, float)) and math.isfinite(value):
                worksheet.write_number(line, column, value)
            elif isinstance(value, (dict, list)):
                worksheet.write_string(line, column, _json_text(value))
            else:
                worksheet.write_string(line, column, str(value))
    worksheet.autofilter(0, 0, len(records), max(len(names) - 1, 0))
    workbook.close()
    return out.getvalue()


async def export(rows: Sequence[Any], row_type: type, file_format: Format, zone: str, name: str,
                 sheet: str) -> web.Response:
    """The rows as a CSV or XLSX attachment `<name>.csv` or `<name>.xlsx` (the name kept to letters,
    digits, `-`, `_` and `.`: it goes into a header)."""
    filename = "".join(c if (c.isascii() and c.isalnum()) or c in "-_." else "-" for c in name)
    if file_format == "csv":
        body, content_type = as_csv(rows, row_type, zone).encode(), f"{CSV_TYPE}; charset=utf-8"
    elif file_format == "xlsx":
        body, content_type = await asyncio.to_thread(as_xlsx, rows, row_type, zone, sheet), XLSX_TYPE
    else:
        raise ValueError(f"export answers csv or xlsx, not {file_format!r}")
    return web.Response(body=body, headers={"Content-Type": content_type,
                                            "Content-Disposition": f'attachment; filename="{filename}.{file_format}"'})
