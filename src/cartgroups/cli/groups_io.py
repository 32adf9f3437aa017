"""Reading and writing CustomerGroup files for ``cartgroups groups export|import``.

CSV: UTF-8 (a byte-order mark is accepted on input), RFC 4180 quoting, one header row of
3dcart wire names in wire order (CustomerGroupID, Name, ..., PriceLevel). Booleans are
``true``/``false``, MinimumOrder is the decimal's own digits (never through a float). On input
header names match case-insensitively and columns may be left out; an empty cell counts as
absent, except in a text column (Description, RegistrationMessage), where it is the empty text.

The formula guard (on by default, CSV only; OWASP's defence against CSV injection): a spreadsheet
runs a cell that starts with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return as a formula
(``=HYPERLINK(...)`` in a group's Name). So export writes a ``'`` before such a text cell, which a
spreadsheet shows as text and hides, and import takes that ``'`` off again. To keep this exact for
every text, a text that already starts with apostrophes followed by one of those characters (a
Name that truly is ``'=x``) gets one more (``''=x``), and import takes off exactly one ``'``, and
only from a cell that would be guarded without it; any other leading ``'`` is kept as data. Numbers
and booleans are never changed (none is a formula: a negative PriceLevel such as -5 is a
number to a spreadsheet too). With the guard off
(``--no-formula-guard``) every cell is written and read as it is.

JSON: an array of CustomerGroup objects, exactly as the API sends them; MinimumOrder is a JSON
number with the decimal's own digits, and is read back as an exact decimal.
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Iterable, Iterator
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any, TextIO

import orjson

from cartgroups.client import CustomerGroup
from cartgroups.model import FIELDS

WIRE_NAMES = [f.wire for f in FIELDS]
_BY_KEY = {f.key: f for f in FIELDS}
_TEXT_KINDS = frozenset({"string"})


# A text cell a spreadsheet would run as a formula (after any apostrophes already in front).
_FORMULA = re.compile(r"'*[=+\-@\t\r]")


def guard(text: str) -> str:
    """A text cell as the formula guard writes it: ``'`` in front when a spreadsheet would run
    it (or it already looks guarded), so that unguard gives back exactly ``text``."""
    return "'" + text if _FORMULA.match(text) else text


def unguard(cell: str) -> str:
    """A text cell the formula guard wrote, as the text it guarded (the inverse of guard)."""
    return cell[1:] if cell.startswith("'") and _FORMULA.match(cell, 1) else cell


class FileProblem(Exception):
    """The file as a whole cannot be read (not a row-level problem)."""


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
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(WIRE_NAMES)
    guarded = [formula_guard and f.kind in _TEXT_KINDS for f in FIELDS]
    count = 0
    for group in groups:
        cells = (_cell(v) for v in group.to_wire().values())
        writer.writerow([guard(c) if g else c for c, g in zip(cells, guarded, strict=True)])
        count += 1
    return count


def write_json(groups: Iterable[CustomerGroup], out: TextIO, *, formula_guard: bool = True) -> int:
    """A JSON array, written one object at a time so a large export needs no extra memory
    (exact: the formula guard is for CSV, which spreadsheets open)."""
    count = 0
    out.write("[")
    for group in groups:
        out.write(",\n  " if count else "\n  ")
        out.write(dumps(group.to_wire(), indent=False))
        count += 1
    out.write("\n]\n" if count else "]\n")
    return count


def detect_format(path: Path, fmt: str) -> str:
    if fmt != "auto":
        return fmt
    suffix = path.suffix.lower()
    if suffix in (".csv", ".json"):
        return suffix[1:]
    raise FileProblem(f"cannot tell the format of {path} from its name: give --format csv or --format json")


def read_rows(path: Path, fmt: str, *, formula_guard: bool = True) -> list[dict[str, Any]]:
    """The file's rows as wire-named objects, in file order (row 1 is the first data row); the
    formula guard taken off a CSV file's text cells unless ``formula_guard`` is False."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise FileProblem(f"cannot read {path}: {exc.strerror or exc}") from None
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise FileProblem(f"{path} is not UTF-8 text (byte {exc.start})") from None
    if detect_format(path, fmt) == "csv":
        return list(_csv_rows(text, path, formula_guard))
    return _json_rows(text, path)


def _csv_rows(text: str, path: Path, formula_guard: bool) -> Iterator[dict[str, Any]]:
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    try:
        header = next(reader, None)
        if header is None:
            raise FileProblem(f"{path} is empty: expected a header row ({','.join(WIRE_NAMES)})")
        specs = []
        for name in header:
            spec = _BY_KEY.get(name.strip().lower())
            if spec is None:
                raise FileProblem(f"{path}: unknown column {name!r} (known: {', '.join(WIRE_NAMES)})")
            if spec in specs:
                raise FileProblem(f"{path}: column {spec.wire} appears twice")
            specs.append(spec)
        number = 0
        for cells in reader:
            if not cells:  # an empty line
                continue
            number += 1
            if len(cells) != len(specs):
                raise FileProblem(f"{path}: row {number} has {len(cells)} cells, the header {len(specs)}")
            yield {
                spec.wire: unguard(cell) if formula_guard and spec.kind in _TEXT_KINDS else cell
                for spec, cell in zip(specs, cells, strict=True)
                if cell != "" or spec.kind in _TEXT_KINDS
            }
    except csv.Error as exc:
        raise FileProblem(f"{path}: not valid CSV (line {reader.line_num}): {exc}") from None


def _json_rows(text: str, path: Path) -> list[dict[str, Any]]:
    try:
        body = json.loads(text, parse_float=Decimal)
    except ValueError as exc:
        raise FileProblem(f"{path} is not valid JSON: {exc}") from None
    except InvalidOperation:  # Decimal() of an exponent past 10**18, such as 1e99999999999999999999
        raise FileProblem(f"{path} is not valid JSON: a number in it is too long") from None
    if not isinstance(body, list):
        raise FileProblem(f"{path}: expected a JSON array of CustomerGroup objects")
    return body
