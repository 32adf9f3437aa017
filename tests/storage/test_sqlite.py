"""SQLite set-up: a connection never fails with "database is locked" while it can wait, and an
SQLite too old for the server's SQL is refused with a clear message."""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

import pytest
import sqlalchemy as sa

from cartgroups.errors import ConfigurationError
from cartgroups.storage.database import Database


def test_connecting_waits_for_a_writer_on_a_brand_new_file(tmp_path: Path) -> None:
    # Before the file is in WAL mode, switching it needs a lock that a writer holds. SQLite
    # then fails at once instead of calling the busy handler (it would be a deadlock), which
    # is what two processes starting together on a new file run into.
    path = tmp_path / "new.db"
    writer = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    writer.execute("BEGIN IMMEDIATE")
    writer.execute("CREATE TABLE other (x)")
    commit = threading.Timer(0.3, writer.execute, args=("COMMIT",))
    commit.start()
    db = Database(f"sqlite:///{path}")
    try:
        with db.read() as conn:
            assert conn.execute(sa.text("PRAGMA journal_mode")).scalar() == "wal"
    finally:
        commit.join(timeout=10)
        writer.close()
        db.dispose()


def test_an_sqlite_too_old_for_the_server_is_a_clear_configuration_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sqlite3, "sqlite_version_info", (3, 34, 1))
    monkeypatch.setattr(sqlite3, "sqlite_version", "3.34.1")
    with pytest.raises(ConfigurationError) as caught:
        Database(f"sqlite:///{tmp_path / 'old.db'}")
    assert caught.value.message == (
        "cartgroups needs SQLite 3.38 or newer; this Python's sqlite3 module uses SQLite 3.34.1"
    )
    assert not (tmp_path / "old.db").exists()
