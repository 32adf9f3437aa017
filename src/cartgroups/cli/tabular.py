"""Files of rows, as ``groups export|import`` and ``customers export|import`` read and write them:
CSV with one header row of wire names, or a JSON array of wire objects.

The formula guard (on by default, CSV only; OWASP's defence against CSV injection): a spreadsheet
runs a cell that starts with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return as a formula
(``=HYPERLINK(...)`` in a group's Name). So export writes a ``'`` before such a text cell, which a
spreadsheet shows as text and hides, and import takes that ``'`` off again. To keep this exact for
every text, a text that already starts with apostrophes followed by one of those characters (a
Name that truly is ``'=x``) gets one more (``''=x``), and import takes off exactly one ``'``, and
only from a cell that would be guarded without it; any other leading ``'`` is kept as data. Numbers
and booleans are never changed. With the guard off (``--no-formula-guard``) every cell is written
and read as it is.

What each resource puts in a cell, and which cells it keeps, is its own (groups_io, customers_io).
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any, TextIO

from cartgroups.model import FieldSpec

TEXT_KIND = "string"  # the kind of field whose cells carry the formula guard

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


def detect_format(path: Path, fmt: str) -> str:
    if fmt != "auto":
        return fmt
    suffix = path.suffix.lower()
    if suffix in (".csv", ".json"):
        return suffix[1:]
    raise FileProblem(f"cannot tell the format of {path} from its name: give --format csv or --format json")


# --- writing -----------------------------------------------------------------------------------


class CsvOut:
    """A CSV file of one resource: the header of its wire names at once, then a row at a time,
    its text cells guarded (``formula_guard``)."""

    def __init__(self, out: TextIO, fields: Sequence[FieldSpec], *, formula_guard: bool = True) -> None:
        self._writer = csv.writer(out, lineterminator="\r\n")
        self._guarded = [formula_guard and f.kind == TEXT_KIND for f in fields]
        self._writer.writerow([f.wire for f in fields])

    def row(self, cells: Iterable[str]) -> None:
        self._writer.writerow([guard(c) if g else c for c, g in zip(cells, self._guarded, strict=True)])


class JsonArrayOut:
    """A JSON array written one object (already JSON text) at a time, one per line, so that a
    large export needs no extra memory."""

    def __init__(self, out: TextIO) -> None:
        self._out = out
        self.count = 0
        out.write("[")

    def add(self, obj_json: str) -> None:
        self._out.write(",\n  " if self.count else "\n  ")
        self._out.write(obj_json)
        self.count += 1

    def close(self) -> None:
        self._out.write("\n]\n" if self.count else "]\n")


# --- reading -----------------------------------------------------------------------------------


def read_text(path: Path) -> str:
    """The file's text (UTF-8, a byte-order mark accepted)."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise FileProblem(f"cannot read {path}: {exc.strerror or exc}") from None
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise FileProblem(f"{path} is not UTF-8 text (byte {exc.start})") from None


def json_array(text: str, path: Path, entity: str) -> list[Any]:
    """The JSON array of ``entity`` objects the file holds (numbers with a fraction as exact
    decimals); the items are not checked."""
    try:
        body: Any = json.loads(text, parse_float=Decimal)
    except ValueError as exc:
        raise FileProblem(f"{path} is not valid JSON: {exc}") from None
    except InvalidOperation:  # Decimal() of an exponent past 10**18, such as 1e99999999999999999999
        raise FileProblem(f"{path} is not valid JSON: a number in it is too long") from None
    if not isinstance(body, list):
        raise FileProblem(f"{path}: expected a JSON array of {entity} objects")
    return body


class CsvIn:
    """A CSV file of one resource: ``specs``, its columns (the header's names in any case, each
    a known field at most once), then ``rows()``."""

    def __init__(self, text: str, path: Path, fields: Sequence[FieldSpec]) -> None:
        self.path = path
        self._reader = csv.reader(io.StringIO(text, newline=""), strict=True)
        wire_names = [f.wire for f in fields]
        by_key = {f.key: f for f in fields}
        with self._csv_errors():
            header = next(self._reader, None)
        if header is None:
            raise FileProblem(f"{path} is empty: expected a header row ({','.join(wire_names)})")
        self.specs: list[FieldSpec] = []
        for name in header:
            spec = by_key.get(name.strip().lower())
            if spec is None:
                raise FileProblem(f"{path}: unknown column {name!r} (known: {', '.join(wire_names)})")
            if spec in self.specs:
                raise FileProblem(f"{path}: column {spec.wire} appears twice")
            self.specs.append(spec)

    @contextmanager
    def _csv_errors(self) -> Iterator[None]:
        try:
            yield
        except csv.Error as exc:
            raise FileProblem(f"{self.path}: not valid CSV (line {self._reader.line_num}): {exc}") from None

    def rows(self, *, show_line: bool) -> Iterator[tuple[int, int, list[str]]]:
        """(number, line, cells) of each data row: ``number`` counts rows from 1, ``line`` is
        the line it starts on; empty lines are skipped. A row with another number of cells than
        the header is a FileProblem (which names the line too when ``show_line``)."""
        with self._csv_errors():
            number, ended = 0, self._reader.line_num
            for cells in self._reader:
                start, ended = ended + 1, self._reader.line_num
                if not cells:  # an empty line
                    continue
                number += 1
                if len(cells) != len(self.specs):
                    where = f"row {number}" + (f" (line {start})" if show_line else "")
                    raise FileProblem(
                        f"{self.path}: {where} has {len(cells)} cells, the header {len(self.specs)}"
                    )
                yield number, start, cells

    def wire_object(
        self, cells: Sequence[str], *, formula_guard: bool, keep_empty_text: bool
    ) -> dict[str, Any]:
        """One row as a wire-named object: the guard taken off its text cells (``formula_guard``);
        an empty cell left out, unless it is text and ``keep_empty_text``."""
        return {
            spec.wire: unguard(cell) if formula_guard and spec.kind == TEXT_KIND else cell
            for spec, cell in zip(self.specs, cells, strict=True)
            if cell != "" or (keep_empty_text and spec.kind == TEXT_KIND)
        }
