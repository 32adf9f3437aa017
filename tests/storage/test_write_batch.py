"""Database.write_batch, the group commit under the server's writes: each work commits or rolls
back alone inside one transaction (savepoints only when a work that changed something fails), a
database failure fails the whole batch, and on SQLite a batch never waits for another
connection's write lock."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable

import psycopg
import pytest
from sqlalchemy.engine import Connection

from cartgroups.errors import DatabaseUnavailable, Invalid
from cartgroups.storage import customer_groups as groups_sql
from cartgroups.storage.database import Database, Retry
from cartgroups.storage.dialect import WriterBusy
from tests.storage.conftest import group_values, new_store


def _ids(db: Database, store: int) -> list[int]:
    with db.read() as conn:
        return [g.group_id for g in groups_sql.list_groups(conn, store_id=store, limit=500, skip=0)]


def _insert(db: Database, store: int, name: str) -> Callable[[Connection], int]:
    def work(conn: Connection) -> int:  # called with the batch's connection
        return groups_sql.insert_group(conn, store_id=store, values=group_values(name=name))

    return work


def test_each_work_commits_or_rolls_back_alone(db: Database) -> None:
    store = new_store(db, "a.example.com")

    def writes_then_fails(conn: Connection) -> None:
        _insert(db, store, "rolled back")(conn)
        raise RuntimeError("after writing")

    def fails_before_writing(conn: Connection) -> None:
        raise Invalid("Name is required")

    outcomes = db.write_batch(
        [_insert(db, store, "first"), writes_then_fails, fails_before_writing, _insert(db, store, "last")]
    )
    assert outcomes[0] == 1
    assert isinstance(outcomes[1], RuntimeError) and str(outcomes[1]) == "after writing"
    assert isinstance(outcomes[2], Invalid)
    # The failed work's row and its id are rolled back with it: the next create takes id 2.
    assert outcomes[3] == 2
    assert _ids(db, store) == [1, 2]
    with db.read() as conn:
        names = [g.name for g in groups_sql.list_groups(conn, store_id=store, limit=10, skip=0)]
    assert names == ["first", "last"]
    assert not db.writes_failing


def test_a_database_failure_fails_the_whole_batch_and_writes_nothing(db: Database) -> None:
    store = new_store(db, "a.example.com")

    def database_fails(conn: Connection) -> None:
        raise DatabaseUnavailable("gone")

    with pytest.raises(DatabaseUnavailable):
        db.write_batch([_insert(db, store, "first"), database_fails, _insert(db, store, "never run")])
    assert _ids(db, store) == []
    assert db.writes_failing  # /healthz checks writes until one commits again
    assert db.write_batch([_insert(db, store, "after")]) == [1]
    assert not db.writes_failing


def test_a_write_outside_a_batch_does_not_join_a_finished_one(db: Database) -> None:
    store = new_store(db, "a.example.com")
    db.write_batch([_insert(db, store, "in the batch")])
    with pytest.raises(RuntimeError), db.write() as conn:
        groups_sql.insert_group(conn, store_id=store, values=group_values(name="rolled back"))
        raise RuntimeError("roll back")
    assert _ids(db, store) == [1]


def test_a_batch_on_sqlite_does_not_wait_for_another_writer(db: Database) -> None:
    if db.dialect_name != "sqlite":
        pytest.skip("SQLite's database-wide write lock")
    store = new_store(db, "a.example.com")
    other = sqlite3.connect(db.url.database or "", isolation_level=None)
    try:
        other.execute("BEGIN IMMEDIATE")  # another process's write transaction
        ran: list[str] = []
        with pytest.raises(WriterBusy):
            db.write_batch([lambda conn: ran.append("work")])
        assert ran == []  # nothing began, nothing ran
        assert not db.writes_failing  # busy is not a failure
        other.execute("ROLLBACK")
    finally:
        other.close()
    assert db.write_batch([_insert(db, store, "after")]) == [1]
    # The plain write path (its own connection, which keeps the busy timeout) is unaffected.
    with db.write() as conn:
        assert groups_sql.insert_group(conn, store_id=store, values=group_values()) == 2


def test_a_work_that_loses_a_conflict_is_marked_for_retry(db: Database) -> None:
    store = new_store(db, "a.example.com")

    def loses_a_deadlock(conn: Connection) -> None:
        _insert(db, store, "rolled back")(conn)
        raise psycopg.errors.DeadlockDetected("deadlock detected")

    outcomes = db.write_batch([loses_a_deadlock, _insert(db, store, "kept")])
    assert isinstance(outcomes[0], Retry)
    assert isinstance(outcomes[0].__cause__, psycopg.errors.DeadlockDetected)
    assert outcomes[1] == 1
    assert _ids(db, store) == [1]


def _counted(db: Database, store: int, name: str, runs: list[str]) -> Callable[[Connection], int]:
    insert = _insert(db, store, name)

    def work(conn: Connection) -> int:
        runs.append(name)
        return insert(conn)

    return work


def test_a_work_that_fails_after_changing_something_makes_the_batch_run_again_with_savepoints(
    db: Database,
) -> None:
    store = new_store(db, "a.example.com")
    runs: list[str] = []

    def writes_then_fails(conn: Connection) -> None:
        runs.append("fails")
        _insert(db, store, "undone")(conn)
        raise RuntimeError("after writing")

    outcomes = db.write_batch(
        [_counted(db, store, "a", runs), writes_then_fails, _counted(db, store, "b", runs)]
    )
    assert outcomes[0] == 1 and isinstance(outcomes[1], RuntimeError) and outcomes[2] == 2
    assert runs == ["a", "fails", "a", "fails", "b"]  # the first run stopped at the failure
    assert _ids(db, store) == [1, 2]


def test_a_work_that_fails_without_changing_anything_needs_no_second_run_on_sqlite(db: Database) -> None:
    store = new_store(db, "a.example.com")
    runs: list[str] = []

    def reads_then_fails(conn: Connection) -> None:
        runs.append("fails")
        groups_sql.get_group(conn, store_id=store, group_id=1)
        raise Invalid("no such thing")

    outcomes = db.write_batch(
        [_counted(db, store, "a", runs), reads_then_fails, _counted(db, store, "b", runs)]
    )
    assert outcomes[0] == 1 and isinstance(outcomes[1], Invalid) and outcomes[2] == 2
    if db.dialect_name == "sqlite":  # it counts changed rows: nothing to undo, no second run
        assert runs == ["a", "fails", "b"]
    else:  # PostgreSQL keeps no such count: the batch runs again with savepoints
        assert runs == ["a", "fails", "a", "fails", "b"]
    assert _ids(db, store) == [1, 2]


def test_each_work_is_given_the_batchs_connection_and_its_writes_commit_with_the_batch(db: Database) -> None:
    store = new_store(db, "a.example.com")
    given: list[Connection] = []

    def work(conn: Connection) -> int:
        given.append(conn)
        return groups_sql.insert_group(conn, store_id=store, values=group_values(name="given"))

    assert db.write_batch([work, work]) == [1, 2]
    assert len(given) == 2 and given[0] is given[1]  # one transaction, handed to each
    assert _ids(db, store) == [1, 2]


def test_a_write_opened_inside_a_batch_fails_loudly_instead_of_joining_it(db: Database) -> None:
    """A work that opens a write of its own (instead of writing on the connection it is given)
    is a mistake: it fails at once, writing nothing, rather than joining the batch unseen (or
    waiting, on SQLite, for the lock its own thread holds)."""
    store = new_store(db, "a.example.com")

    def opens_its_own(conn: Connection) -> int:
        with db.write() as other:
            return groups_sql.insert_group(other, store_id=store, values=group_values(name="nested"))

    outcomes = db.write_batch([opens_its_own, _insert(db, store, "kept")])
    assert isinstance(outcomes[0], RuntimeError)
    assert outcomes[1] == 1
    assert _ids(db, store) == [1]


def test_a_write_opened_inside_another_write_fails_loudly(db: Database) -> None:
    store = new_store(db, "a.example.com")
    with pytest.raises(RuntimeError), db.write() as conn:
        groups_sql.insert_group(conn, store_id=store, values=group_values(name="outer"))
        with db.write():
            pass
    assert _ids(db, store) == []  # the outer one rolled back with the error
    with db.write() as conn:  # and the thread can write again
        assert groups_sql.insert_group(conn, store_id=store, values=group_values(name="after")) == 1
