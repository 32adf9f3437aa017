"""SQLite set-up: a connection never fails with "database is locked" while it can wait."""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

import sqlalchemy as sa

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
