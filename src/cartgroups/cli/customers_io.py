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

The formula guard is tabular's (``guard``/``unguard``), on the text columns of a CSV file.

JSON: an array of Customer objects exactly as the API sends them, written one object at a time.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import TextIO

import orjson

from cartgroups.cli.tabular import CsvIn, CsvOut, FileProblem, JsonArrayOut, json_array, read_text
from cartgroups.customer_model import CUSTOMER_FIELDS, EMAIL, Customer, customer_object
from cartgroups.model import decimal_text

WIRE_NAMES = [f.wire for f in CUSTOMER_FIELDS]


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
        self._out = CsvOut(out, CUSTOMER_FIELDS, formula_guard=formula_guard)

    def write(self, customers: Sequence[Customer]) -> None:
        for customer in customers:
            self._out.row(_cell(v) for v in customer)  # Customer.password is always ""

    def close(self) -> None:
        pass


class JsonWriter:
    """A JSON array of wire objects, one object per line, written as the pages come."""

    def __init__(self, out: TextIO, *, formula_guard: bool = True) -> None:
        self._array = JsonArrayOut(out)

    def write(self, customers: Sequence[Customer]) -> None:
        for customer in customers:
            self._array.add(orjson.dumps(customer_object(customer)).decode())

    def close(self) -> None:
        self._array.close()


def read_rows(path: Path, fmt: str, *, formula_guard: bool = True, need_email: bool = True) -> list[Row]:
    """The file's customers in file order. A problem with the file as a whole is a FileProblem:
    unreadable, not UTF-8, not CSV or JSON, an unknown or repeated column, a row with the wrong
    number of cells, or (``need_email``: every row creates a customer) no Email column."""
    text = read_text(path)
    if fmt == "csv":
        return list(_csv_rows(text, path, formula_guard, need_email))
    body = json_array(text, path, "Customer")
    return [Row(number, None, item) for number, item in enumerate(body, start=1)]


def _csv_rows(text: str, path: Path, formula_guard: bool, need_email: bool) -> Iterator[Row]:
    file = CsvIn(text, path, CUSTOMER_FIELDS)
    if need_email and EMAIL not in file.specs:
        raise FileProblem(f"{path}: no {EMAIL.wire} column (every new customer needs one)")
    for number, line, cells in file.rows(show_line=True):
        yield Row(number, line, file.wire_object(cells, formula_guard=formula_guard, keep_empty_text=False))
