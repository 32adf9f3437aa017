"""What the subcommands share: settings, opening the database, one-line errors, printing rows and
items, progress bars, and the parts of export/import that groups and customers have in common."""

from __future__ import annotations

import csv
import json
import os
import sys
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from decimal import Decimal
from enum import StrEnum
from pathlib import Path
from typing import Any, NoReturn

import typer
from pydantic import ValidationError
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table
from rich.text import Text

from cartgroups.cli.tabular import guard
from cartgroups.client import CartgroupsAPIError, CartgroupsConnectionError, ClientError, Unauthorized
from cartgroups.config import Settings
from cartgroups.errors import CartgroupsError, DatabaseUnavailable, Invalid
from cartgroups.model import FieldSpec
from cartgroups.service.validation import as_integer
from cartgroups.storage import dialect, migrate
from cartgroups.storage.database import Database

DATABASE_OPTION = typer.Option(
    None, "--database", help="Database URL (default: $CARTGROUPS_DATABASE_URL or sqlite:///./cartgroups.db)."
)
JSON_OPTION = typer.Option(False, "--json", help="Print JSON instead of a table (same as --format json).")


class OutputFormat(StrEnum):
    table = "table"
    json = "json"
    csv = "csv"


FORMAT_OPTION = typer.Option(
    None, "--format", help="table (default), json, or csv (a header row, then one row per item)."
)


def output_format(
    fmt: OutputFormat | None, as_json: bool, default: OutputFormat = OutputFormat.table
) -> OutputFormat:
    """The format asked for by --format, or by --json (kept as its alias)."""
    if as_json and fmt not in (None, OutputFormat.json):
        fail(f"--json and --format {fmt} contradict each other; give one")
    return OutputFormat.json if as_json else fmt or default


def iso_time(raw: str | None, option: str) -> datetime | None:
    """An option's ISO 8601 time (a date, or a date and time; no offset means UTC), in UTC;
    anything else is a one-line error naming ``option``."""
    if raw is None:
        return None
    try:
        parsed = datetime.fromisoformat(raw.strip())
    except ValueError:
        fail(f"{option} must be an ISO 8601 time such as 2026-11-28 or 2026-11-28T14:30:00Z (got {raw!r})")
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


def iso_utc(value: datetime) -> str:
    """A stored time as ISO 8601 in UTC (``2026-11-28T14:30:00.000000Z``), for JSON and CSV;
    SQLite gives back naive times, which are UTC."""
    at = value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    return at.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def print_table(table: Table) -> None:
    """Print a table without losing data: no cell is cut short with an ellipsis (long ones fold
    onto more lines on a terminal), and into a pipe or file, where no screen width applies, every
    row is one line however wide (Rich would otherwise wrap and cut it to 80 columns)."""
    for column in table.columns:
        column.overflow = "fold"
    console = Console()
    if not console.is_terminal:
        width = Console(width=1_000_000).measure(table).maximum
        console = Console(width=max(width, 20))
    console.print(table)


def _machine_cell(value: object) -> object:
    if isinstance(value, datetime):
        return iso_utc(value)
    if isinstance(value, Decimal):
        return format(value, "f")
    return value


def _csv_cell(value: object) -> str:
    value = _machine_cell(value)
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict | list):
        return json.dumps(value, ensure_ascii=False)
    return guard(value) if isinstance(value, str) else str(value)  # a spreadsheet runs no formula


def _table_cell(value: object) -> Text:
    if value is None:
        return shown("")
    if isinstance(value, datetime):
        return shown(value.strftime("%Y-%m-%d %H:%M:%S"))
    if isinstance(value, dict | list):
        return shown(json.dumps(value, ensure_ascii=False))
    return shown(value)


def print_rows(rows: Sequence[Mapping[str, object]], fmt: OutputFormat, title: str) -> None:
    """Rows (all with the same keys) as a table, a JSON array of objects, or CSV with a header.
    Times are ISO 8601 UTC in JSON and CSV; CSV text cells carry the formula guard."""
    if fmt is OutputFormat.json:
        typer.echo(json.dumps([{k: _machine_cell(v) for k, v in row.items()} for row in rows], indent=2))
        return
    if fmt is OutputFormat.csv:
        writer = csv.writer(sys.stdout, lineterminator="\r\n")
        if rows:
            writer.writerow(rows[0].keys())
        writer.writerows([_csv_cell(v) for v in row.values()] for row in rows)
        return
    if not rows:
        typer.echo(f"No {title.lower()}.")
        return
    table = Table(title=shown(title), title_style="table.title")
    for column in rows[0]:
        table.add_column(column)
    for row in rows:
        table.add_row(*(_table_cell(v) for v in row.values()))
    print_table(table)


def print_wire_table(
    items: Sequence[Mapping[str, object]],
    columns: Sequence[str],
    *,
    title: str,
    right: Callable[[str], bool],
    text: Callable[[object], str],
) -> None:
    """Wire objects as a table of some of their fields (``columns``; those ``right`` says are
    right-aligned), each value as ``text`` writes it; none is "No <title, lower case>."."""
    if not items:
        typer.echo(f"No {title.lower()}.")
        return
    table = Table(title=title)
    for column in columns:
        table.add_column(column, justify="right" if right(column) else "left")
    for item in items:
        table.add_row(*(shown(text(item[c])) for c in columns))
    print_table(table)


def print_fields(fields: Iterable[tuple[str, str]], width: int) -> None:
    """One item as ``Name:   value`` lines (the names padded to ``width``), values printable."""
    for name, value in fields:
        typer.echo(f"{name + ':':<{width}}{printable(value)}")


# Control characters (C0, DEL, C1) written as \xNN: a terminal acts on them (an escape sequence can
# move the cursor, rewrite what is on the screen or set the window title).
_CONTROLS = {code: f"\\x{code:02x}" for code in (*range(0x20), 0x7F, *range(0x80, 0xA0))}


def printable(value: object) -> str:
    """Data (a tenant's group names, a store or application name, a request's path) as a line
    for a person: every control character written as ``\\xNN``, so that none reaches the terminal.
    --json output is exact instead."""
    return str(value).translate(_CONTROLS)


def shown(value: object) -> Text:
    """Data as Rich prints it (a table cell or title): a Text, which Rich never reads as markup
    (a group named ``[/bold]`` would otherwise fail the whole table) or emoji codes (``:smile:``),
    and its control characters written out (printable)."""
    return Text(printable(value))


def fail(message: str) -> NoReturn:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(1)


@contextmanager
def client_errors(url: str, *, refused: str) -> Iterator[None]:
    """For commands that talk to a server through the SDK: every failure is one ``error:``
    line (``refused`` names what a 401 refused: the credentials, the sandbox token)."""
    try:
        yield
    except Unauthorized as exc:
        fail(f"{url} refused {refused} (401): {exc.message}")
    except CartgroupsAPIError as exc:
        fail(f"{url} answered {exc.status}: {exc.message}")
    except CartgroupsConnectionError as exc:
        fail(f"cannot reach {url}: {exc}")
    except ClientError as exc:
        fail(str(exc))
    except KeyboardInterrupt:
        sys.exit(130)


def load_settings(**overrides: Any) -> Settings:
    given = {key: value for key, value in overrides.items() if value is not None}
    try:
        return Settings(**given)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first["loc"])
        fail(f"invalid setting {where} (CARTGROUPS_{where.upper()} or its flag): {first['msg']}")


def explain(exc: CartgroupsError, *, detail_only: bool = False) -> str:
    """The error's message, with the driver's own first line when there is one."""
    cause = exc.__cause__
    detail = getattr(cause, "orig", None) or cause
    lines = str(detail).strip().splitlines() if detail is not None else []
    if not lines:
        return exc.message
    return lines[0] if detail_only else f"{exc.message}: {lines[0]}"


@contextmanager
def one_line_errors(db: Database | None = None) -> Iterator[None]:
    """Turn every expected failure into ``error: ...`` on stderr and exit status 1."""
    try:
        yield
    except DatabaseUnavailable as exc:
        fail(f"cannot use {db.description if db else 'the database'}: {explain(exc, detail_only=True)}")
    except CartgroupsError as exc:
        fail(explain(exc))
    except KeyboardInterrupt:
        sys.exit(130)


def missing_sqlite_file(database: str | None, settings: Settings) -> str | None:
    """Why the configured database cannot be used by a command that must not create one: the
    SQLite file it names does not exist (None when it does, or for PostgreSQL). A command run
    from another directory, or with a mistyped path, would otherwise make a new empty file there
    and work on it, while the server goes on using its own."""
    with one_line_errors():
        url = dialect.parse_url(settings.database_url)
    if url.get_backend_name() != "sqlite":
        return None
    path = Path(url.database or "")
    if path.exists():
        return None
    if database is not None:
        source = "from --database"
    elif "CARTGROUPS_DATABASE_URL" in os.environ:
        source = "from CARTGROUPS_DATABASE_URL"
    else:
        source = f"the default, in the current directory {Path.cwd()}"
    return (
        f"there is no database at {path.resolve()} (URL {settings.database_url}, {source}); "
        "give the server's database with --database URL or CARTGROUPS_DATABASE_URL "
        "(`cartgroups serve` and `cartgroups db upgrade` create a new one)"
    )


@contextmanager
def open_database(database: str | None, *, upgrade: bool = True, create: bool = False) -> Iterator[Database]:
    """The configured database with its schema brought up to date (``upgrade``).

    A SQLite file that does not exist is refused with a one-line error, and nothing is created,
    unless ``create``: only ``serve`` and ``db upgrade`` pass it (a test walks the command tree
    to hold every other command to that)."""
    settings = load_settings(database_url=database)
    if not create and (problem := missing_sqlite_file(database, settings)):
        fail(problem)
    with one_line_errors():
        db = Database(settings.database_url, sqlite_synchronous=settings.sqlite_synchronous)
    try:
        with one_line_errors(db):
            if upgrade:
                migrate.upgrade(db)
            yield db
    finally:
        db.dispose()


# --- export and import (groups, customers) --------------------------------------------------------

OUTPUT = typer.Option(None, "--output", "-o", help="File to write (default: stdout).")
NO_GUARD_OUT = typer.Option(
    False,
    "--no-formula-guard",
    help="CSV: write every text cell as it is, even one a spreadsheet would run as a formula.",
)
NO_GUARD_IN = typer.Option(
    False, "--no-formula-guard", help="CSV: read every cell as it is (keep a formula guard's ')."
)
PROGRESS_MIN = 200  # show a progress bar from this many rows on
ROW_ERRORS_SHOWN = 50  # an import prints this many of its row errors


def progress_bar(total: int) -> Progress:
    """The progress bar of export and import, on stderr; none below PROGRESS_MIN rows."""
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.percentage:>3.0f}%"),
        TextColumn("{task.fields[rate]}"),
        TimeRemainingColumn(),
        console=Console(stderr=True),
        disable=total < PROGRESS_MIN,
    )


def advancer(progress: Progress, description: str, total: int) -> Callable[[int], None]:
    """A new task of ``progress``, and the function that moves it on by n rows."""
    task = progress.add_task(description, total=total, rate="")

    def advance(n: int) -> None:
        progress.advance(task, n)
        speed = progress.tasks[0].speed
        progress.update(task, rate=f"{speed:,.0f} rows/s" if speed else "")

    return advance


def row_id(folded: Mapping[str, object], spec: FieldSpec) -> int | None:
    """An import row's id (``spec``, looked up in the row's case-folded names): None when it has
    none; Invalid when it is not an integer in the field's range."""
    raw = folded.get(spec.key)
    if raw is None or raw == "":
        return None
    number = as_integer(raw)
    if number is None or not (spec.minimum or 1) <= number <= (spec.maximum or 0):
        raise Invalid(f"{spec.wire} must be an integer from {spec.minimum} to {spec.maximum}")
    return number


def echo_row_errors(lines: Sequence[str]) -> None:
    """An import's row errors on stderr: the first ROW_ERRORS_SHOWN, then how many more."""
    for line in lines[:ROW_ERRORS_SHOWN]:
        typer.echo(line, err=True)
    if len(lines) > ROW_ERRORS_SHOWN:
        typer.echo(f"... and {len(lines) - ROW_ERRORS_SHOWN} more", err=True)


def fail_invalid_rows(problems: Sequence[str], rows: int) -> NoReturn:
    """An import that found invalid rows (and so wrote nothing): they, then the error."""
    echo_row_errors(problems)
    fail(f"{len(problems)} of {rows} rows are invalid; nothing was written")


def echo_dry_run(creates: int, updates: int, unchanged: int, rows: int) -> None:
    typer.echo(
        f"Dry run: would create {creates}, update {updates}, "
        f"leave {unchanged} unchanged ({rows} rows); nothing was written."
    )


def echo_written(created: int, updated: int, unchanged: int, failed: int) -> None:
    typer.echo(f"Created {created}, updated {updated}, unchanged {unchanged}, failed {failed}.")
