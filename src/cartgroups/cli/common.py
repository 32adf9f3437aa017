"""What the subcommands share: settings, opening the database, and one-line errors."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, NoReturn

import typer
from pydantic import ValidationError
from rich.text import Text

from cartgroups.client import CartgroupsAPIError, CartgroupsConnectionError, ClientError, Unauthorized
from cartgroups.config import Settings
from cartgroups.errors import CartgroupsError, DatabaseUnavailable
from cartgroups.storage import dialect, migrate
from cartgroups.storage.database import Database

DATABASE_OPTION = typer.Option(
    None, "--database", help="Database URL (default: $CARTGROUPS_DATABASE_URL or sqlite:///./cartgroups.db)."
)
JSON_OPTION = typer.Option(False, "--json", help="Print JSON instead of a table.")


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
def open_database(database: str | None, *, upgrade: bool = True, create: bool = True) -> Iterator[Database]:
    """The configured database with its schema brought up to date (``upgrade``).

    With ``create=False`` a SQLite file that does not exist is refused with a one-line error,
    and nothing is created. Every command but ``serve`` and ``db upgrade`` passes it (a test
    walks the command tree to hold every command to that)."""
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
