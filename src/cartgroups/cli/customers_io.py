"""Reading and writing Customer files for ``cartgroups customers export|import``.

CSV: UTF-8 (a byte-order mark is accepted on input), RFC 4180 quoting, one header row of the
36 wire names in wire order (CustomerID, Email, Password, ..., TotalStoreCredit, ResetPassword).
Booleans are ``true``/``false``; TotalStoreCredit is the decimal's own digits. A text never set
(null) and an empty text are both an empty cell: CSV cannot tell them apart, so on input an empty
cell counts as absent (null on create, unchanged on update). JSON keeps the difference.

The Password column is always written, always empty (and ``"Password":""`` in JSON, as the API
sends it): a stored password is a one-way hash and never leaves the server. On input a non-empty
Password is a new password, which the service hashes; an empty one sets none (create) or keeps
the customer's (update). TotalStoreCredit is read-only: written on export, ignored on import.

The formula guard is groups_io's (``guard``/``unguard``), on the text columns of a CSV file.

JSON: an array of Customer objects exactly as the API sends them, written one object at a time.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any, TextIO

import orjson

from cartgroups.cli.groups_io import FileProblem, guard, unguard
from cartgroups.customer_model import CUSTOMER_FIELDS, EMAIL, Customer, customer_object
from cartgroups.model import decimal_text

WIRE_NAMES = [f.wire for f in CUSTOMER_FIELDS]
_BY_KEY = {f.key: f for f in CUSTOMER_FIELDS}
_TEXT = [f.kind == "string" for f in CUSTOMER_FIELDS]


@dataclass(frozen=True, slots=True)
class Row:
    """One customer of an import file: ``number`` counts data rows (array items) from 1;
    ``line`` is the CSV line the row starts on (None for JSON)."""

    number: int
    line: int | None
    data: object

    @property
    def where(self) -> str:
        return f"row {self.number}" + (f" (line {self.line})" if self.line is not None else "")


def _cell(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, Decimal):
        return decimal_text(value)
    return str(value)


class CsvWriter:
    """Writes the header at once, then customers as they come (export streams page by page)."""

    def __init__(self, out: TextIO, *, formula_guard: bool = True) -> None:
        self._writer = csv.writer(out, lineterminator="\r\n")
        self._guarded = [formula_guard and text for text in _TEXT]
        self._writer.writerow(WIRE_NAMES)

    def write(self, customers: Sequence[Customer]) -> None:
        for customer in customers:
            cells = (_cell(v) for v in customer)  # Customer.password is always ""
            self._writer.writerow([guard(c) if g else c for c, g in zip(cells, self._guarded, strict=True)])

    def close(self) -> None:
        pass


class JsonWriter:
    """A JSON array of wire objects, one object per line, written as the pages come."""

    def __init__(self, out: TextIO, *, formula_guard: bool = True) -> None:
        self._out = out
        self._count = 0
        out.write("[")

    def write(self, customers: Sequence[Customer]) -> None:
        for customer in customers:
            self._out.write(",\n  " if self._count else "\n  ")
            self._out.write(orjson.dumps(customer_object(customer)).decode())
            self._count += 1

    def close(self) -> None:
        self._out.write("\n]\n" if self._count else "]\n")


def read_rows(path: Path, fmt: str, *, formula_guard: bool = True, need_email: bool = True) -> list[Row]:
    """The file's customers in file order. A problem with the file as a whole is a FileProblem:
    unreadable, not UTF-8, not CSV or JSON, an unknown or repeated column, a row with the wrong
    number of cells, or (``need_email``: every row creates a customer) no Email column."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise FileProblem(f"cannot read {path}: {exc.strerror or exc}") from None
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise FileProblem(f"{path} is not UTF-8 text (byte {exc.start})") from None
    if fmt == "csv":
        return list(_csv_rows(text, path, formula_guard, need_email))
    return _json_rows(text, path)


def _csv_rows(text: str, path: Path, formula_guard: bool, need_email: bool) -> Iterator[Row]:
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
        if need_email and EMAIL not in specs:
            raise FileProblem(f"{path}: no {EMAIL.wire} column (every new customer needs one)")
        number, ended = 0, reader.line_num
        for cells in reader:
            start, ended = ended + 1, reader.line_num
            if not cells:  # an empty line
                continue
            number += 1
            if len(cells) != len(specs):
                raise FileProblem(
                    f"{path}: row {number} (line {start}) has {len(cells)} cells, the header {len(specs)}"
                )
            row = {
                spec.wire: unguard(cell) if formula_guard and spec.kind == "string" else cell
                for spec, cell in zip(specs, cells, strict=True)
                if cell != ""
            }
            yield Row(number, start, row)
    except csv.Error as exc:
        raise FileProblem(f"{path}: not valid CSV (line {reader.line_num}): {exc}") from None


def _json_rows(text: str, path: Path) -> list[Row]:
    try:
        body: Any = json.loads(text, parse_float=Decimal)
    except ValueError as exc:
        raise FileProblem(f"{path} is not valid JSON: {exc}") from None
    except InvalidOperation:
        raise FileProblem(f"{path} is not valid JSON: a number in it is too long") from None
    if not isinstance(body, list):
        raise FileProblem(f"{path}: expected a JSON array of Customer objects")
    return [Row(number, None, item) for number, item in enumerate(body, start=1)]
