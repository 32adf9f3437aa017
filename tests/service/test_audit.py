"""Pruning the audit log by age: what is kept, at most one prune an hour across every process
(several Database objects stand in for several processes), and a server's pruner never raising;
indexing it by store: in batches, several processes at once, and the server's indexer thread."""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
import sqlalchemy as sa

from cartgroups.errors import DatabaseUnavailable
from cartgroups.model import CustomerGroup
from cartgroups.service import audit
from cartgroups.storage import audit as audit_sql
from cartgroups.storage.audit import Actor, Change
from cartgroups.storage.database import Database
from cartgroups.storage.tables import audit_log_by_store
from tests.conftest import reset_database
from tests.storage.conftest import new_store

NOW = datetime(2026, 6, 1, tzinfo=UTC)


@pytest.fixture
def empty_database_url(quiet_database_url: str) -> str:
    """The tests here count what indexing does: their database is one that no live test server
    (whose indexer thread would index at any moment) uses; schema up to date, every row deleted."""
    reset_database(quiet_database_url)
    return quiet_database_url


@pytest.fixture
def db(empty_database_url: str) -> Iterator[Database]:
    database = Database(empty_database_url)
    yield database
    database.dispose()


def _history(db: Database, ages_in_days: list[float]) -> int:
    store = new_store(db, "shop.example.com")
    made = CustomerGroup(1, "g", "", Decimal(0), False, False, False, False, "", 1)
    with db.write() as conn:
        for age in ages_in_days:
            change = Change("create", 1, None, made)
            audit_sql.record(
                conn, store_id=store, actor=Actor(1, "app"), changes=[change], at=NOW - timedelta(days=age)
            )
    return store


def _ages(db: Database, store: int) -> list[float]:
    with db.read() as conn:
        found = audit_sql.list_entries(conn, store_id=store, limit=1000)
    return sorted((NOW - e.at).total_seconds() / 86400 for e in found)


def test_prune_keeps_exactly_the_retention_period(db: Database, monkeypatch: pytest.MonkeyPatch) -> None:
    store = _history(db, [0, 1, 29.99, 30.01, 31, 400])
    monkeypatch.setattr(audit, "PRUNE_BATCH", 2)  # several batches
    assert audit.prune(db, older_than=audit.cutoff(30, NOW)) == 3
    assert _ages(db, store) == pytest.approx([0, 1, 29.99])


def test_prune_if_due_runs_at_most_once_an_hour(db: Database) -> None:
    store = _history(db, [10, 100])
    assert audit.prune_if_due(db, retention_days=30, now=NOW) == 1
    with db.write() as conn:
        made = CustomerGroup(2, "h", "", Decimal(0), False, False, False, False, "", 1)
        change = Change("create", 2, None, made)
        audit_sql.record(
            conn, store_id=store, actor=Actor(1, "app"), changes=[change], at=NOW - timedelta(days=50)
        )
    assert audit.prune_if_due(db, retention_days=30, now=NOW + timedelta(minutes=59)) is None
    assert _ages(db, store) == pytest.approx([10, 50])
    assert audit.prune_if_due(db, retention_days=30, now=NOW + timedelta(hours=1)) == 1
    assert _ages(db, store) == pytest.approx([10])


def test_retention_zero_keeps_everything(db: Database) -> None:
    store = _history(db, [1, 10_000])
    assert audit.prune_if_due(db, retention_days=0, now=NOW) is None
    assert len(_ages(db, store)) == 2


def test_of_several_processes_due_at_once_exactly_one_prunes(empty_database_url: str, db: Database) -> None:
    store = _history(db, [5, 6, 7, 100])
    processes = 4
    barrier = threading.Barrier(processes)

    def one_process(_: int) -> int | None:
        own = Database(empty_database_url)  # its own engine and connections, like a process
        try:
            barrier.wait(timeout=30)
            return audit.prune_if_due(own, retention_days=30, now=NOW)
        finally:
            own.dispose()

    with ThreadPoolExecutor(processes) as pool:
        results = list(pool.map(one_process, range(processes)))
    assert sorted(results, key=str) == [1, None, None, None]
    assert _ages(db, store) == pytest.approx([5, 6, 7])


def test_the_servers_pruner_logs_an_outage_and_carries_on(caplog: pytest.LogCaptureFixture) -> None:
    unreachable = Database("postgresql://nobody@127.0.0.1:1/none")
    try:
        pruner = audit.Pruner(unreachable, retention_days=30)
        assert pruner.run_once() is None
    finally:
        unreachable.dispose()
    assert "audit log not pruned: the database is unavailable; will try again" in caplog.text


def test_the_servers_pruner_prunes_at_start_and_stops_promptly(db: Database) -> None:
    store = _history(db, [1, 100])
    # A store's entry from 100 days ago, relative to the real clock this time.
    with db.write() as conn:
        made = CustomerGroup(3, "old", "", Decimal(0), False, False, False, False, "", 1)
        old = audit_sql.now() - timedelta(days=100)
        audit_sql.record(
            conn, store_id=store, actor=Actor(1, "app"), changes=[Change("create", 3, None, made)], at=old
        )
    pruner = audit.Pruner(db, retention_days=30, check_seconds=3600)
    pruner.start()
    assert pruner.attempted.wait(timeout=30)  # the attempt at start
    pruner.stop(timeout=30)
    with db.read() as conn:
        left = audit_sql.list_entries(conn, store_id=store, limit=10)
    assert 3 not in [e.item_id for e in left]  # the one older than 30 days by the real clock
    assert not pruner._thread.is_alive()


def _indexed(db: Database) -> int:
    with db.read() as conn:
        return len(conn.execute(sa.select(audit_log_by_store.c.id)).all())


def test_indexing_goes_on_in_batches_until_every_entry_is_indexed(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    _history(db, [1, 2, 3, 4, 5])
    monkeypatch.setattr(audit_sql, "INDEX_BATCH", 2)
    assert audit.index_new_entries(db) == 5
    assert _indexed(db) == 5
    assert audit.index_new_entries(db) == 0
    assert len(audit.list_entries(db, secure_url="shop.example.com", filters=audit.Filters())) == 5


def test_several_processes_indexing_at_once_index_each_entry_once(
    empty_database_url: str, db: Database
) -> None:
    _history(db, [float(n) for n in range(40)])
    processes = 4
    barrier = threading.Barrier(processes)

    def one_process(_: int) -> int:
        own = Database(empty_database_url)
        try:
            barrier.wait()
            return audit.index_new_entries(own)
        finally:
            own.dispose()

    with ThreadPoolExecutor(processes) as pool:
        results = list(pool.map(one_process, range(processes)))
    assert sum(results) == 40
    assert _indexed(db) == 40


def test_the_servers_indexer_indexes_at_start_and_stops_promptly(db: Database) -> None:
    _history(db, [1, 2])
    indexer = audit.Indexer(db, every_seconds=3600)
    indexer.start()
    assert indexer.attempted.wait(timeout=30)
    indexer.stop(timeout=30)
    assert not indexer._thread.is_alive()
    assert _indexed(db) == 2


def test_the_servers_indexer_logs_an_outage_once_and_its_end(
    db: Database, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    caplog.set_level(logging.INFO, logger="cartgroups.audit")
    _history(db, [1])
    indexer = audit.Indexer(db)
    real = audit_sql.index_new_entries

    def down(conn: object, **kw: object) -> int:
        raise DatabaseUnavailable("the database is unavailable")

    monkeypatch.setattr(audit_sql, "index_new_entries", down)
    assert indexer.run_once() is None
    assert indexer.run_once() is None
    monkeypatch.setattr(audit_sql, "index_new_entries", real)
    assert indexer.run_once() == 1
    messages = [r.getMessage() for r in caplog.records]
    assert messages.count("audit log not indexed: the database is unavailable; will keep trying") == 1
    assert messages[-1] == "audit log: indexing works again"
