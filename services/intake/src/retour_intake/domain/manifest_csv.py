"""A manifest's people as a spreadsheet exports them: CSV with a header row.

Spreadsheets in French locales write ``;`` between cells (the comma is their decimal
separator), some add a UTF-8 byte order mark, and many leave blank lines: all are read. A
problem names the row (data rows counted from 1) or the column's position, never a cell's
text: the cells are personal data, and a manifest sent without its header row would make the
first person's names look like column names.
"""

from __future__ import annotations

import csv
import io
import re
from typing import Any

LIST_COLUMNS = frozenset({"vulnerabilities"})
DATE_COLUMNS = frozenset({"date_of_birth"})
# 21/08/1995: how a spreadsheet in a French locale writes a date it recognised.
_DAY_MONTH_YEAR = re.compile(r"^(\d{1,2})/(\d{1,2})/(\d{4})$")
_LIST_SEPARATORS = (";", ",")


class CsvProblem(Exception):
    """Where the file cannot be read as a manifest: ``field`` is ``body``, ``header`` or
    ``rows[N]``."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


def parse_people(data: bytes, *, columns: frozenset[str]) -> list[dict[str, Any]]:
    """One dict per non-blank data row, holding the non-empty cells by column; the
    ``vulnerabilities`` cell becomes a list. Raises CsvProblem."""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise CsvProblem("body", "is not UTF-8 text") from None
    lines = [line for line in text.splitlines() if line.strip()]
    if not lines:
        raise CsvProblem("header", "the file is empty: a header row naming the columns comes first")
    delimiter = ";" if lines[0].count(";") > lines[0].count(",") else ","
    reader = csv.reader(io.StringIO("\n".join(lines)), delimiter=delimiter)
    try:
        rows = list(reader)
    except csv.Error:
        raise CsvProblem("body", "is not well-formed CSV (an unclosed quote?)") from None
    header = [_column_name(cell) for cell in rows[0]]
    _check_header(header, columns)
    return [_person(header, cells, number) for number, cells in enumerate(rows[1:], start=1)]


def _column_name(cell: str) -> str:
    return cell.strip().lower().replace(" ", "_").replace("-", "_")


def _check_header(header: list[str], columns: frozenset[str]) -> None:
    known = ", ".join(sorted(columns))
    for position, name in enumerate(header, start=1):
        if name not in columns:
            raise CsvProblem("header", f"column {position} is not one of: {known}")
    if len(set(header)) != len(header):
        raise CsvProblem("header", "a column is named twice")


def _person(header: list[str], cells: list[str], number: int) -> dict[str, Any]:
    if len(cells) > len(header):
        raise CsvProblem(f"rows[{number}]", f"has {len(cells)} cells for {len(header)} columns")
    person: dict[str, Any] = {}
    for name, cell in zip(header, cells, strict=False):
        value = cell.strip()
        if not value:
            continue
        if name in LIST_COLUMNS:
            person[name] = _split_list(value)
        elif name in DATE_COLUMNS:
            person[name] = _iso_date(value)
        else:
            person[name] = value
    return person


def _iso_date(value: str) -> str:
    """``21/08/1995`` as ``1995-08-21``; anything else as written, for validation to judge."""
    found = _DAY_MONTH_YEAR.match(value)
    if found is None:
        return value
    day, month, year = found.groups()
    return f"{year}-{int(month):02d}-{int(day):02d}"


def _split_list(value: str) -> list[str]:
    for separator in _LIST_SEPARATORS:
        value = value.replace(separator, " ")
    return value.split()
