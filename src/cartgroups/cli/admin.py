"""``cartgroups db|credentials|stores|apps``: look after the database and who may use it."""

from __future__ import annotations

import json
from pathlib import Path

import typer

from cartgroups.cli.common import (
    DATABASE_OPTION,
    FORMAT_OPTION,
    JSON_OPTION,
    OutputFormat,
    fail,
    load_settings,
    missing_sqlite_file,
    one_line_errors,
    open_database,
    output_format,
    print_rows,
)
from cartgroups.service import credentials
from cartgroups.storage import backup as sqlite_backup
from cartgroups.storage import credentials as cred_sql
from cartgroups.storage import dialect, migrate

db_app = typer.Typer(help="Database schema, backup and restore.", no_args_is_help=True)
credentials_app = typer.Typer(help="Issue, list and revoke tokens.", no_args_is_help=True)
stores_app = typer.Typer(help="Stores (each is one SecureURL).", no_args_is_help=True)
apps_app = typer.Typer(help="Applications (each has one PrivateKey).", no_args_is_help=True)


@db_app.command("upgrade")
def db_upgrade(database: str = DATABASE_OPTION) -> None:
    """Bring the schema up to the newest version (serve also does this by itself)."""
    with open_database(database, upgrade=False, create=True) as db:
        before, after = migrate.upgrade(db)
        if before == after:
            typer.echo(f"{db.description}: schema already at revision {after}")
        else:
            typer.echo(f"{db.description}: schema upgraded from {before or 'empty'} to {after}")


@db_app.command("status")
def db_status(database: str = DATABASE_OPTION) -> None:
    """Show the schema revision of the database and the newest one this version knows."""
    with open_database(database, upgrade=False) as db:
        current = migrate.current_revision(db)
        head = migrate.head_revision()
        state = "up to date" if current == head else "needs `cartgroups db upgrade`"
        typer.echo(f"{db.description}: revision {current or 'none (empty)'}, newest {head}: {state}")


BACKUP_FILE = typer.Argument(..., help="The backup file to create (it must not exist).")
RESTORE_FILE = typer.Argument(..., help="A file made by `cartgroups db backup`.")


def _sqlite_file(database: str | None) -> Path:
    """The SQLite file of the configured database; a one-line error for PostgreSQL or a file
    that does not exist (restore too refuses one: a mistyped path or another directory would
    put the data where no server reads it; `db upgrade` makes a new database to restore into)."""
    settings = load_settings(database_url=database)
    with one_line_errors():
        url = dialect.parse_url(settings.database_url)
    if url.get_backend_name() != "sqlite":
        fail(sqlite_backup.POSTGRES_ADVICE)
    if problem := missing_sqlite_file(database, settings):
        fail(problem)
    return Path(url.database or "")


def _size(size_bytes: int) -> str:
    return f"{size_bytes / 1_048_576:.1f} MiB" if size_bytes >= 1_048_576 else f"{size_bytes / 1024:.0f} KiB"


@db_app.command("backup")
def db_backup(
    file: Path = BACKUP_FILE,
    database: str = DATABASE_OPTION,
) -> None:
    """Copy a SQLite database to FILE while servers keep running (SQLite online backup)."""
    source = _sqlite_file(database)
    with one_line_errors():
        summary = sqlite_backup.backup(source, file)
    typer.echo(
        f"Backed up {source.resolve()} to {file} ({_size(summary.size_bytes)}: {summary.stores} store(s), "
        f"{summary.groups} group(s), schema revision {summary.revision})."
    )


@db_app.command("restore")
def db_restore(
    file: Path = RESTORE_FILE,
    yes: bool = typer.Option(False, "--yes", help="Confirm: replace everything in the database."),
    database: str = DATABASE_OPTION,
) -> None:
    """Replace the contents of a SQLite database with a backup's (servers may keep running)."""
    target = _sqlite_file(database)
    with one_line_errors():
        summary = sqlite_backup.check_backup(file)
    if not yes:
        fail(
            f"restoring replaces every store, token, group and audit entry in {target.resolve()} "
            f"with those of {file}; run again with --yes to do it"
        )
    with one_line_errors():
        sqlite_backup.restore(file, target)
    with open_database(database) as db:  # a backup from an older version: its schema up
        revision = migrate.current_revision(db)
    typer.echo(
        f"Restored {file} into {target.resolve()}: {summary.stores} store(s), {summary.groups} group(s), "
        f"schema revision {revision}."
    )


@credentials_app.command("create")
def credentials_create(
    store: str = typer.Option(..., "--store", help="The store's SecureURL, e.g. shop.example.com."),
    app: str = typer.Option(credentials.DEFAULT_APP, "--app", help="Application name."),
    scope: str = typer.Option("read,write", "--scope", help="read, write or read,write."),
    database: str = DATABASE_OPTION,
    as_json: bool = typer.Option(
        False, "--json", help='Print only {"SecureURL":…,"PrivateKey":…,"Token":…}.'
    ),
) -> None:
    """Issue a token for an application on a store, creating either when it does not exist."""
    with open_database(database) as db:
        issued = credentials.issue(db, secure_url=store, application=app, scope=scope)
    if as_json:
        typer.echo(
            json.dumps(
                {"SecureURL": issued.secure_url, "PrivateKey": issued.private_key, "Token": issued.token}
            )
        )
        return
    scopes = ",".join(s for s, on in (("read", issued.can_read), ("write", issued.can_write)) if on)
    typer.echo(
        f"Token {issued.token_id} for application {issued.application!r} on {issued.secure_url} ({scopes})."
    )
    typer.echo("Secrets are shown only now; cartgroups keeps only their hashes.")
    typer.echo(f"  SecureURL:  {issued.secure_url}")
    if issued.private_key is None:
        typer.echo("  PrivateKey: (unchanged: it was shown when the application was created)")
    else:
        typer.echo(f"  PrivateKey: {issued.private_key}")
    typer.echo(f"  Token:      {issued.token}")


@credentials_app.command("list")
def credentials_list(
    store: str = typer.Option(None, "--store", help="Only this store's tokens."),
    database: str = DATABASE_OPTION,
    fmt: OutputFormat = FORMAT_OPTION,
    as_json: bool = JSON_OPTION,
) -> None:
    """List tokens (never their secrets: the first 8 characters tell them apart; the table
    shows them with a trailing …, JSON and CSV exactly as stored)."""
    chosen = output_format(fmt, as_json)
    with open_database(database) as db:
        secure_url = credentials.normalise_secure_url(store) if store else None
        with db.read() as conn:
            tokens = cred_sql.list_tokens(conn, secure_url=secure_url)
    rows = [
        {
            "id": t.id,
            "store": t.secure_url,
            "application": t.application,
            "token": t.token_prefix + ("…" if chosen is OutputFormat.table else ""),
            "scope": ",".join(s for s, on in (("read", t.can_read), ("write", t.can_write)) if on),
            "created": t.created_at,
            "revoked": t.revoked_at,
        }
        for t in tokens
    ]
    print_rows(rows, chosen, "Tokens")


@credentials_app.command("revoke")
def credentials_revoke(
    token_id: int = typer.Argument(None, help="Id of the token (from `credentials list`)."),
    token: str = typer.Option(None, "--token", help="Name the token by its secret value instead."),
    database: str = DATABASE_OPTION,
) -> None:
    """Revoke a token. Every server process stops accepting it within 1 second."""
    if (token_id is None) == (token is None):
        fail("name exactly one token: its id, or --token VALUE")
    with open_database(database) as db:
        credentials.revoke(db, token_id=token_id, token=token)
    typer.echo(f"Revoked token {token_id if token_id is not None else token[:8] + '…'}.")


@stores_app.command("list")
def stores_list(
    database: str = DATABASE_OPTION, fmt: OutputFormat = FORMAT_OPTION, as_json: bool = JSON_OPTION
) -> None:
    """List stores with their number of customer groups."""
    chosen = output_format(fmt, as_json)
    with open_database(database) as db, db.read() as conn:
        stores = cred_sql.list_stores(conn)
    rows = [
        {"id": s.id, "store": s.secure_url, "groups": s.group_count, "created": s.created_at} for s in stores
    ]
    print_rows(rows, chosen, "Stores")


@apps_app.command("list")
def apps_list(
    database: str = DATABASE_OPTION, fmt: OutputFormat = FORMAT_OPTION, as_json: bool = JSON_OPTION
) -> None:
    """List applications with their number of live tokens."""
    chosen = output_format(fmt, as_json)
    with open_database(database) as db, db.read() as conn:
        apps = cred_sql.list_applications(conn)
    rows = [
        {"id": a.id, "application": a.name, "live tokens": a.token_count, "created": a.created_at}
        for a in apps
    ]
    print_rows(rows, chosen, "Applications")
