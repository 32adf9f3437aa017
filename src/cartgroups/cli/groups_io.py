"""Reading and writing CustomerGroup files for ``cartgroups groups export|import``.

CSV: UTF-8 (a byte-order mark is accepted on input), RFC 4180 quoting, one header row of
3dcart wire names in wire order (CustomerGroupID, Name, ..., PriceLevel). Booleans are
``true``/``false``, MinimumOrder is the decimal's own digits (never through a float). On input
header names match case-insensitively and columns may be left out; an empty cell counts as
absent, except in a text column (Description, RegistrationMessage), where it is the empty text.

The formula guard (tabular) is on the text columns (Name, Description, RegistrationMessage) of a
CSV file; numbers and booleans are never changed (a negative PriceLevel such as -5 is a number to
a spreadsheet too).

JSON: an array of CustomerGroup objects, exactly as the API sends them; MinimumOrder is a JSON
number with the decimal's own digits, and is read back as an exact decimal.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any, TextIO

import orjson

from cartgroups.cli.tabular import (
    CsvIn,
    CsvOut,
    FileProblem,
    JsonArrayOut,
    detect_format,
    guard,
    json_array,
    read_text,
    unguard,
)
from cartgroups.client import CustomerGroup
from cartgroups.model import FIELDS

__all__ = [
    "WIRE_NAMES",
    "FileProblem",
    "detect_format",
    "dumps",
    "guard",
    "read_rows",
    "unguard",
    "write_csv",
    "write_json",
]

WIRE_NAMES = [f.wire for f in FIELDS]


def _decimal_fragment(value: object) -> orjson.Fragment:
    if isinstance(value, Decimal):
        return orjson.Fragment(format(value, "f"))
    raise TypeError(f"cannot write {type(value).__name__} as JSON")


def dumps(obj: object, *, indent: bool = True) -> str:
    option = orjson.OPT_INDENT_2 if indent else 0
    return orjson.dumps(obj, default=_decimal_fragment, option=option).decode()


def _cell(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, Decimal):
        return format(value, "f")
    return str(value)


def write_csv(groups: Iterable[CustomerGroup], out: TextIO, *, formula_guard: bool = True) -> int:
    csv_out = CsvOut(out, FIELDS, formula_guard=formula_guard)
    count = 0
    for group in groups:
        csv_out.row(_cell(v) for v in group.to_wire().values())
        count += 1
    return count


def write_json(groups: Iterable[CustomerGroup], out: TextIO, *, formula_guard: bool = True) -> int:
    """A JSON array, written one object at a time so a large export needs no extra memory
    (exact: the formula guard is for CSV, which spreadsheets open)."""
    array = JsonArrayOut(out)
    for group in groups:
        array.add(dumps(group.to_wire(), indent=False))
    array.close()
    return array.count


def read_rows(path: Path, fmt: str, *, formula_guard: bool = True) -> list[dict[str, Any]]:
    """The file's rows as wire-named objects, in file order (row 1 is the first data row); the
    formula guard taken off a CSV file's text cells unless ``formula_guard`` is False."""
    text = read_text(path)
    if detect_format(path, fmt) == "csv":
        return list(_csv_rows(text, path, formula_guard))
    return json_array(text, path, "CustomerGroup")


def _csv_rows(text: str, path: Path, formula_guard: bool) -> Iterator[dict[str, Any]]:
    file = CsvIn(text, path, FIELDS)
    for _, _, cells in file.rows(show_line=False):
        yield file.wire_object(cells, formula_guard=formula_guard, keep_empty_text=True)
