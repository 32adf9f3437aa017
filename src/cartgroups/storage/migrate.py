"""Bring a database's schema up to date, safely when several processes start at once; and tell
whether the schema a server is using is still there (for /healthz)."""

from __future__ import annotations

import functools
import time
import weakref
from typing import Literal

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory

from cartgroups.errors import DatabaseUnavailable
from cartgroups.storage import dialect
from cartgroups.storage.database import Database, translated
from cartgroups.storage.tables import metadata


def _config() -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", "cartgroups.storage:migrations")
    return cfg


def script_directory() -> ScriptDirectory:
    return ScriptDirectory.from_config(_config())


@functools.cache
def head_revision() -> str:
    head = script_directory().get_current_head()
    assert head is not None
    return head


@functools.cache
def _known_revisions() -> frozenset[str]:
    return frozenset(script.revision for script in script_directory().walk_revisions())


def current_revision(db: Database) -> str | None:
    with db.read() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def upgrade(db: Database) -> tuple[str | None, str]:
    """Upgrade to the newest schema; returns (revision before, revision after).

    The whole upgrade is one transaction under a lock (SQLite: an exclusive transaction;
    PostgreSQL: an advisory lock), so a second process waits and then finds nothing to do."""
    cfg = _config()
    with translated(), db.engine.connect() as raw:
        conn = dialect.lock_for_migration(raw)
        with conn.begin():
            dialect.after_begin_migration(conn)
            before = MigrationContext.configure(conn).get_current_revision()
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, "head")
    return before, head_revision()


SchemaState = Literal["ok", "schema missing", "schema out of date"]
SCHEMA_CHECK_SECONDS = 1.0  # how long a process trusts its last look at the schema

_ALEMBIC_VERSION = sa.table("alembic_version", sa.column("version_num", sa.String))
# One statement: the revision, and every declared table with every column (each EXISTS reads
# nothing, LIMIT 0, but the database must find all its columns to run it). It fails when a
# table or column is missing.
_PROBE = sa.select(
    sa.select(_ALEMBIC_VERSION.c.version_num).limit(1).scalar_subquery(),
    *(sa.exists(sa.select(*table.c).limit(0)) for table in metadata.sorted_tables),
)
_looked: weakref.WeakKeyDictionary[Database, tuple[float, SchemaState]] = weakref.WeakKeyDictionary()


def schema_state(db: Database) -> SchemaState:
    """Whether the database holds the schema this version of cartgroups uses: "schema missing"
    when its tables (or some of them, or the record of its revision) are gone, say a database
    dropped and made anew, empty, under running servers; "schema out of date" when it is at an
    older revision (a restored older dump: `cartgroups db upgrade`, or a restart, brings it up).
    A revision this version does not know is taken as newer, and ok: during a rolling upgrade
    the first newer server upgrades the schema while older ones still serve (the migrations add
    to the schema). Looked at once a SCHEMA_CHECK_SECONDS at most per process (one statement);
    DatabaseUnavailable when the database cannot be reached."""
    now = time.monotonic()
    looked = _looked.get(db)
    if looked is not None and now - looked[0] < SCHEMA_CHECK_SECONDS:
        return looked[1]
    state = _schema_state(db)
    _looked[db] = (now, state)
    return state


def _schema_state(db: Database) -> SchemaState:
    try:
        with db.read() as conn:
            revision = conn.execute(_PROBE).scalar()
        complete = True
    except (sa.exc.DBAPIError, DatabaseUnavailable):
        # A table or column missing (SQLite reports that as the database unavailable), or the
        # database down: look at what there is, which raises DatabaseUnavailable if it is down.
        with db.read() as conn:
            if not sa.inspect(conn).has_table("alembic_version"):
                return "schema missing"
            revision = conn.execute(sa.select(_ALEMBIC_VERSION.c.version_num)).scalar()
        complete = False
    if revision is None:
        return "schema missing"
    if revision != head_revision() and revision in _known_revisions():
        return "schema out of date"
    return "ok" if complete else "schema missing"
