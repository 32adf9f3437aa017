"""Bring a database's schema up to date, safely when several processes start at once."""

from __future__ import annotations

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory

from cartgroups.storage import dialect
from cartgroups.storage.database import Database, translated


def _config() -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", "cartgroups.storage:migrations")
    return cfg


def script_directory() -> ScriptDirectory:
    return ScriptDirectory.from_config(_config())


def head_revision() -> str:
    head = script_directory().get_current_head()
    assert head is not None
    return head


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
