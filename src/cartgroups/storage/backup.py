"""Backup and restore of a SQLite database with SQLite's online backup API.

A backup copies the whole file in one step, which is one read transaction on the source: the
copy is the database as of one instant (every write committed before that instant, none after),
and because the file is in WAL mode, writers go on writing while it runs. A restore copies a
backup file into the live database the same way in the other direction: it takes the live file's
write lock for the copy and commits it as one transaction, so server processes that are running
wait for it like for any other writer and then see the restored data (their cached schema is
re-read by SQLite itself). PostgreSQL has pg_dump and pg_restore for this (docs/operations.md).

What the restore copies in is not the backup file itself but a staged copy of it, next to the
live file: its schema brought up to this version's, and given a new database generation
(storage/credentials.py, GENERATION). So the one transaction that replaces the data also
replaces the generation, and running servers, which check it before using anything they keep
(verified credentials name their store by id, and a restore may give that id to another
store), never serve a request from the restored data with what they knew before; nor do they
ever see an older schema.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
from dataclasses import dataclass
from pathlib import Path

import sqlalchemy as sa
from alembic.util import CommandError

from cartgroups.errors import ConfigurationError, DatabaseUnavailable
from cartgroups.storage import credentials as cred_sql
from cartgroups.storage import migrate
from cartgroups.storage.database import Database
from cartgroups.storage.dialect import SQLITE_BUSY_TIMEOUT_MS

SQLITE_HEADER = b"SQLite format 3\x00"
POSTGRES_ADVICE = (
    "backup and restore work on SQLite files only; for PostgreSQL use pg_dump -Fc and pg_restore "
    "(see docs/operations.md, 'Backup and restore')"
)
_REQUIRED_TABLES = {"alembic_version", "stores", "applications", "tokens", "customer_groups"}


@dataclass(frozen=True, slots=True)
class Summary:
    """What a database file holds, for the command's message."""

    revision: str
    stores: int
    groups: int
    size_bytes: int


def _connect(path: Path, *, read_only: bool = False) -> sqlite3.Connection:
    uri = f"file:{path}?mode=ro" if read_only else f"file:{path}"
    conn = sqlite3.connect(uri, uri=True, isolation_level=None, timeout=SQLITE_BUSY_TIMEOUT_MS / 1000)
    conn.execute(f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}")
    return conn


def _summary(conn: sqlite3.Connection, path: Path, *, check_integrity: bool = True) -> Summary:
    """Check that ``conn`` is a (sound) cartgroups database, and describe it; ConfigurationError if not."""
    try:
        tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        if not tables >= _REQUIRED_TABLES:
            raise ConfigurationError(f"{path} is not a cartgroups database (it lacks its tables)")
        problems = [row[0] for row in conn.execute("PRAGMA integrity_check")] if check_integrity else ["ok"]
        if problems != ["ok"]:
            raise ConfigurationError(f"{path} is damaged: integrity_check says {problems[0]}")
        revision = conn.execute("SELECT version_num FROM alembic_version").fetchone()
        stores = conn.execute("SELECT count(*) FROM stores").fetchone()[0]
        groups = conn.execute("SELECT count(*) FROM customer_groups").fetchone()[0]
    except sqlite3.DatabaseError as exc:  # not a database at all, or unreadable
        raise ConfigurationError(f"{path} is not a usable SQLite database: {exc}") from None
    if revision is None:
        raise ConfigurationError(f"{path} is not a cartgroups database (it has no schema revision)")
    return Summary(str(revision[0]), int(stores), int(groups), path.stat().st_size)


def _check_revision_known(revision: str, path: Path) -> None:
    scripts = migrate.script_directory()
    try:
        known = scripts.get_revision(revision) is not None
    except CommandError:
        known = False
    if not known:
        raise ConfigurationError(
            f"{path} has schema revision {revision}, which this version of cartgroups does not know "
            "(made by a newer version?); restore it with that version"
        )


def backup(source: Path, target: Path) -> Summary:
    """Copy the live database ``source`` to the new file ``target`` (never overwritten)."""
    if not source.is_file():
        raise ConfigurationError(f"there is no SQLite database at {source}")
    if target.exists():
        raise ConfigurationError(f"{target} already exists; give a new file name")
    if not target.parent.is_dir():
        raise ConfigurationError(f"directory {target.parent} does not exist")
    partial = target.with_name(f".{target.name}.partial-{os.getpid()}")
    try:
        src = _connect(source)
        try:
            # Refuse to copy something that is not ours; the full integrity check is done on the
            # copy, which is the same data, rather than on the live file while it is in use.
            _summary(src, source, check_integrity=False)
            dst = sqlite3.connect(partial, isolation_level=None)
            try:
                src.backup(dst)  # pages=-1: everything in one step, so one consistent snapshot
                dst.execute("PRAGMA journal_mode = DELETE")  # one self-contained file, no -wal
                summary = _summary(dst, source)  # a faithful copy: its faults are the source's
            finally:
                dst.close()
        finally:
            src.close()
        with open(partial, "rb") as written:
            os.fsync(written.fileno())
        os.replace(partial, target)  # the name appears only once the copy is complete
    except sqlite3.Error as exc:
        raise ConfigurationError(f"backup failed: {exc}") from None
    finally:
        with contextlib.suppress(FileNotFoundError):
            partial.unlink()
    return Summary(summary.revision, summary.stores, summary.groups, target.stat().st_size)


def check_backup(path: Path) -> Summary:
    """Everything restore() checks before it touches the live database."""
    if not path.is_file():
        raise ConfigurationError(f"there is no file {path}")
    with open(path, "rb") as file:
        if file.read(len(SQLITE_HEADER)) != SQLITE_HEADER:
            raise ConfigurationError(f"{path} is not a SQLite database")
    conn = _connect(path, read_only=True)
    try:
        summary = _summary(conn, path)
    finally:
        conn.close()
    _check_revision_known(summary.revision, path)
    return summary


def restore(backup_file: Path, live: Path) -> Summary:
    """Replace the contents of the live database ``live`` with the backup's, brought up to this
    version's schema and given a new generation, in one transaction."""
    summary = check_backup(backup_file)
    if backup_file.resolve() == live.resolve():
        raise ConfigurationError(f"{backup_file} is the live database itself")
    staged = live.with_name(f".{live.name}.restore-{os.getpid()}")
    try:
        _stage(backup_file, staged)
        _copy(_connect(staged), _connect(live))
    except (sqlite3.Error, sa.exc.SQLAlchemyError, DatabaseUnavailable) as exc:
        raise ConfigurationError(f"restore failed, the live database is unchanged: {exc}") from None
    finally:
        for leftover in (
            staged,
            *(staged.with_name(staged.name + end) for end in ("-wal", "-shm", "-journal")),
        ):
            with contextlib.suppress(FileNotFoundError):
                leftover.unlink()
    return summary


def _stage(backup_file: Path, staged: Path) -> None:
    """A copy of the backup at ``staged`` as the live database is to be: at this version's
    schema, with a new generation."""
    with contextlib.suppress(FileNotFoundError):
        staged.unlink()  # left by a restore that was killed
    _copy(_connect(backup_file, read_only=True), sqlite3.connect(staged, isolation_level=None))
    db = Database(f"sqlite:///{staged}")
    try:
        migrate.upgrade(db)
        with db.write() as conn:
            cred_sql.set_generation(conn)
    finally:
        db.dispose()


def _copy(src: sqlite3.Connection, dst: sqlite3.Connection) -> None:
    """Everything in ``src`` into ``dst`` in one transaction (SQLite's online backup), both then closed."""
    try:
        src.backup(dst)
    finally:
        dst.close()
        src.close()
