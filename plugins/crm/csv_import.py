"""Reading contacts from a CSV file (`pbx crm import contacts.csv`): text in, contacts and
problems out.

The first row names the columns: `number` is required; `name`, `tier`, `language`, `vip`,
`preferred_agent` and `customer_id` fill the contact; every other column becomes one of its
fields (`customer.<column>` in scenarios). A bad row (no number, a `vip` that is not yes/no,
the wrong number of cells, a number already seen) is reported as `FILE:LINE: why` and skipped;
the good rows are still imported. Pure: it neither opens the file nor touches the database.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable
from dataclasses import dataclass, field

from .contacts import Contact, normalize_number
from .mapping import CrmAnswerError, as_flag

__all__ = ["ImportResult", "read_contacts"]

KNOWN = ("number", "name", "tier", "language", "vip", "preferred_agent", "customer_id")


@dataclass
class ImportResult:
    contacts: list[Contact] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)  # "FILE:LINE: why", in file order
    fatal: bool = False  # the file cannot be read at all (no header, no number column)


def read_contacts(lines: Iterable[str], source: str) -> ImportResult:
    """Contacts from CSV text (an open file or a list of lines); `source` names it in problems."""
    result = ImportResult()
    reader = csv.reader(lines)
    try:
        header = [_column(name) for name in next(reader)]
    except StopIteration:
        result.problems.append(f"{source}:1: the file is empty; expected a header row such as "
                               f"{','.join(KNOWN)}")
        result.fatal = True
        return result
    except csv.Error as error:
        return _fatal(result, f"{source}:1: {error}")
    if "number" not in header:
        return _fatal(result, f"{source}:1: the header has no 'number' column (found: {','.join(header)})")
    duplicates = sorted({name for name in header if header.count(name) > 1})
    if duplicates:
        return _fatal(result, f"{source}:1: column {duplicates[0]!r} appears twice")
    seen: dict[str, int] = {}
    while True:
        line = reader.line_num + 1  # where the next record starts (a quoted cell may span lines)
        try:
            cells = next(reader)
        except StopIteration:
            break
        except csv.Error as error:
            result.problems.append(f"{source}:{line}: {error}")
            continue
        if not any(cell.strip() for cell in cells):
            continue  # blank lines are allowed
        problem = _read_row(header, cells, seen, line, result)
        if problem:
            result.problems.append(f"{source}:{line}: {problem}")
    return result


def _column(name: str) -> str:
    """A column name as a scenario variable can spell it: "Account Manager" is account_manager."""
    return "_".join(name.strip().lower().replace("-", " ").split())


def _fatal(result: ImportResult, problem: str) -> ImportResult:
    result.problems.append(problem)
    result.fatal = True
    return result


def _read_row(header: list[str], cells: list[str], seen: dict[str, int], line: int,
              result: ImportResult) -> str | None:
    """Adds the row's contact to `result`, or returns why it cannot."""
    if len(cells) != len(header):
        return f"expected {len(header)} cells ({','.join(header)}), got {len(cells)}"
    row = {name: cell.strip() for name, cell in zip(header, cells, strict=True)}
    number = normalize_number(row["number"])
    if not number:
        return "the number is empty"
    if number in seen:
        return f"number {number} is already on line {seen[number]}"
    try:
        vip = as_flag(row.get("vip"))
    except CrmAnswerError:
        return f"vip must be yes/no/true/false/1/0, got {row['vip']!r}"
    seen[number] = line
    result.contacts.append(Contact(
        number=number, customer_id=row.get("customer_id") or None, name=row.get("name") or None,
        tier=row.get("tier") or None, language=row.get("language") or None, vip=vip,
        preferred_agent=row.get("preferred_agent") or None,
        fields={name: value for name, value in row.items() if name not in KNOWN and value},
    ))  # fmt: skip
    return None
