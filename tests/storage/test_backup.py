"""SQLite backup and restore through the online backup API: a consistent copy of a database that
is being written to, a restore into a database that a "server" has open, and every refusal."""

from __future__ import annotations

import re
import sqlite3
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from alembic import command

from cartgroups.errors import ConfigurationError
from cartgroups.service import credentials
from cartgroups.storage import audit as audit_sql
from cartgroups.storage import backup, migrate
from cartgroups.storage import customer_groups as groups_sql
from cartgroups.storage.database import Database
from tests.storage.conftest import group_values


@pytest.fixture
def live(tmp_path: Path) -> Iterator[Database]:
    db = Database(f"sqlite:///{tmp_path / 'live.db'}")
    migrate.upgrade(db)
    yield db
    db.dispose()


def _path(db: Database) -> Path:
    return Path(db.url.database or "")


def _ids(path: Path) -> list[int]:
    with sqlite3.connect(path) as conn:
        return [row[0] for row in conn.execute("SELECT group_id FROM customer_groups ORDER BY group_id")]


def _integrity(path: Path) -> list[str]:
    with sqlite3.connect(path) as conn:
        return [row[0] for row in conn.execute("PRAGMA integrity_check")]


def test_a_backup_taken_while_a_writer_writes_is_consistent_and_has_every_acknowledged_write(
    live: Database, tmp_path: Path
) -> None:
    store = credentials.issue(live, secure_url="shop.example.com")
    store_id = credentials.store_id_of(live, store.secure_url)
    acknowledged: list[int] = []
    stop, errors = threading.Event(), []

    def writer() -> None:
        try:
            while not stop.is_set() and len(acknowledged) < 20_000:
                with live.write() as conn:
                    group_id = groups_sql.insert_group(conn, store_id=store_id, values=group_values())
                acknowledged.append(group_id)  # committed: the write is acknowledged
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    thread = threading.Thread(target=writer)
    thread.start()
    try:
        while len(acknowledged) < 200 and thread.is_alive():
            stop.wait(0.01)
        before_backup = list(acknowledged)
        summary = backup.backup(_path(live), tmp_path / "copy.db")
        during = len(acknowledged)
        while len(acknowledged) < during + 50 and thread.is_alive():  # the writer carried on
            stop.wait(0.01)
    finally:
        stop.set()
        thread.join(timeout=60)
    assert errors == []
    copied = _ids(tmp_path / "copy.db")
    assert _integrity(tmp_path / "copy.db") == ["ok"]
    assert set(before_backup) <= set(copied)
    # One snapshot: the first N writes, nothing missing in between, nothing after the end.
    assert copied == list(range(1, len(copied) + 1))
    assert len(copied) <= len(acknowledged)
    assert summary.groups == len(copied) and summary.revision == migrate.head_revision()
    assert len(acknowledged) > len(copied)  # writes went on after the snapshot
    assert not any(p.name.startswith(".copy.db.partial") for p in tmp_path.iterdir())
    assert not (tmp_path / "copy.db-wal").exists()


def test_restore_into_a_database_a_server_has_open(live: Database, tmp_path: Path) -> None:
    store = credentials.issue(live, secure_url="shop.example.com")
    store_id = credentials.store_id_of(live, store.secure_url)
    with live.write() as conn:
        for name in ("a", "b"):
            groups_sql.insert_group(conn, store_id=store_id, values=group_values(name=name))
    backup.backup(_path(live), tmp_path / "copy.db")
    with live.write() as conn:  # changes after the backup, which the restore undoes
        groups_sql.delete_group(conn, store_id=store_id, group_id=1)
        groups_sql.insert_group(conn, store_id=store_id, values=group_values(name="c"))
    credentials.issue(live, secure_url="later.example.com")

    assert backup.restore(tmp_path / "copy.db", _path(live)).groups == 2
    # The "server's" own long-lived connections see the restored data and keep working.
    with live.read() as conn:
        assert [g.name for g in groups_sql.list_groups(conn, store_id=store_id, limit=10, skip=0)] == [
            "a",
            "b",
        ]
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
    with pytest.raises(Exception, match="unknown store"):
        credentials.store_id_of(live, "later.example.com")
    with live.write() as conn:
        assert groups_sql.insert_group(conn, store_id=store_id, values=group_values()) == 3
    assert _integrity(_path(live)) == ["ok"]


def test_a_backup_of_an_older_schema_is_upgraded_and_then_restored(live: Database, tmp_path: Path) -> None:
    old = Database(f"sqlite:///{tmp_path / 'old.db'}")
    try:
        cfg = migrate._config()
        with old.engine.begin() as conn:
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, "0001")
        assert migrate.current_revision(old) == "0001"
    finally:
        old.dispose()
    # Upgraded before it is copied in: running servers never see the older schema.
    assert backup.restore(tmp_path / "old.db", _path(live)).revision == "0001"
    assert migrate.current_revision(live) == migrate.head_revision()
    assert migrate.upgrade(live) == (migrate.head_revision(), migrate.head_revision())


def test_a_backup_from_before_the_audit_log_named_resources_restores_its_group_entries(
    live: Database, tmp_path: Path
) -> None:
    """A backup at schema 0011 (audit_log.group_id): restored, its entries are CustomerGroup's."""
    old = Database(f"sqlite:///{tmp_path / 'old.db'}")
    try:
        cfg = migrate._config()
        with old.engine.begin() as conn:
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, "0011")
    finally:
        old.dispose()
    with sqlite3.connect(tmp_path / "old.db") as conn:
        conn.execute("INSERT INTO stores (id, secure_url) VALUES (1, 'shop.example.com')")
        conn.execute(
            "INSERT INTO audit_log (store_id, at, token_id, application, action, bulk, group_id, "
            "before_values, after_values) VALUES (1, '2026-05-01 10:00:00.000000', NULL, 'app', "
            """'create', 0, 5, NULL, '{"CustomerGroupID":5}')"""
        )
    assert backup.restore(tmp_path / "old.db", _path(live)).revision == "0011"
    with live.read() as conn:
        (entry,) = audit_sql.list_entries(conn, store_id=1, limit=10)
    assert (entry.resource, entry.item_id, entry.action, entry.after) == (
        "CustomerGroup",
        5,
        "create",
        '{"CustomerGroupID":5}',
    )


def _newer(source: Path, target: Path) -> Path:
    backup.backup(source, target)
    with sqlite3.connect(target) as conn:
        conn.execute("UPDATE alembic_version SET version_num = 'ffff9999'")
    return target


def _not_ours(_: Path, target: Path) -> Path:
    with sqlite3.connect(target) as conn:
        conn.execute("CREATE TABLE notes (text TEXT)")
    return target


def _truncated(source: Path, target: Path) -> Path:
    backup.backup(source, target.with_name("whole.db"))
    target.write_bytes(target.with_name("whole.db").read_bytes()[:6000])
    return target


def _text(_: Path, target: Path) -> Path:
    target.write_text("id,name\n1,Wholesale\n")
    return target


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (_newer, "has schema revision ffff9999, which this version of cartgroups does not know"),
        (_not_ours, "is not a cartgroups database (it lacks its tables)"),
        (_truncated, "is not a usable SQLite database: database disk image is malformed"),
        (_text, "is not a SQLite database"),
        (lambda _, target: target, "there is no file"),
    ],
)
def test_restore_refuses_a_file_it_cannot_use_and_changes_nothing(
    live: Database, tmp_path: Path, make: object, message: str
) -> None:
    credentials.issue(live, secure_url="kept.example.com")
    before = credentials.store_id_of(live, "kept.example.com")
    candidate = make(_path(live), tmp_path / "candidate.db")  # type: ignore[operator]
    with pytest.raises(ConfigurationError, match=re.escape(message)):
        backup.restore(candidate, _path(live))
    assert credentials.store_id_of(live, "kept.example.com") == before


def test_backup_refusals(live: Database, tmp_path: Path) -> None:
    (tmp_path / "taken.db").write_text("mine")
    with pytest.raises(ConfigurationError, match=r"taken\.db already exists; give a new file name"):
        backup.backup(_path(live), tmp_path / "taken.db")
    assert (tmp_path / "taken.db").read_text() == "mine"
    with pytest.raises(ConfigurationError, match="there is no SQLite database at"):
        backup.backup(tmp_path / "missing.db", tmp_path / "new.db")
    with pytest.raises(ConfigurationError, match="does not exist"):
        backup.backup(_path(live), tmp_path / "no" / "such" / "dir.db")
    sqlite3.connect(tmp_path / "other.db").execute("CREATE TABLE t (x)").connection.close()
    with pytest.raises(ConfigurationError, match="is not a cartgroups database"):
        backup.backup(tmp_path / "other.db", tmp_path / "new.db")
    assert not (tmp_path / "new.db").exists()
    with pytest.raises(ConfigurationError, match="is the live database itself"):
        backup.restore(_path(live), _path(live))
