"""How concurrent writes reach the database, through the API (in-process ASGI) and the store.

On SQLite, the group commit (storage/sqlite/group_commit.py): concurrent writes of one process
share a transaction, yet each request is answered exactly as if it had been alone (a failed
write changes nothing and does not disturb its neighbours), and the event loop keeps serving
while another process holds the write lock.

On PostgreSQL each write is a transaction of its own (storage/postgres/store.py): one that
loses a deadlock or serialisation conflict runs again, and one that keeps losing is answered
503, never with the driver's error."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
import time
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

import httpx
import psycopg
import pytest
import sqlalchemy as sa

from cartgroups.api import errors
from cartgroups.app import CartgroupsApp, create_app
from cartgroups.config import Settings
from cartgroups.errors import DatabaseUnavailable
from cartgroups.service import credentials
from cartgroups.storage import customer_groups as groups_sql
from cartgroups.storage import tables
from cartgroups.storage.audit import Actor
from cartgroups.storage.database import UNAVAILABLE, Database
from cartgroups.storage.postgres import store as pg_store
from cartgroups.storage.postgres.store import PostgresStore, PostgresTx
from cartgroups.storage.sqlite import group_commit
from cartgroups.storage.sqlite.group_commit import WriteBatcher
from cartgroups.storage.sqlite.store import SqliteStore
from cartgroups.storage.store import Tx
from tests.conftest import db_state, error_body, headers_for, result_body
from tests.storage.conftest import group_values, run_on_store

PREFIX = "/3dCartWebAPI/v1/CustomerGroups"
ACTOR = Actor(7, "tests")
SQLITE_ONLY = "SQLite's group commit: PostgreSQL runs each write in a transaction of its own"
POSTGRES_ONLY = "PostgreSQL's conflicts: SQLite has one writer at a time, so nothing to retry"


def _app(database_url: str) -> Iterator[CartgroupsApp]:
    application = create_app(Settings(database_url=database_url, audit_retention_days=0))
    application.start()
    yield application
    application.stop()


@pytest.fixture
def sqlite_app(request: pytest.FixtureRequest, database_url: str) -> Iterator[CartgroupsApp]:
    if not database_url.startswith("sqlite"):
        pytest.skip(SQLITE_ONLY)
    yield from _app(request.getfixturevalue("empty_database_url"))


@pytest.fixture
def pg_app(request: pytest.FixtureRequest, database_url: str) -> Iterator[CartgroupsApp]:
    if not database_url.startswith("postgresql"):
        pytest.skip(POSTGRES_ONLY)
    yield from _app(request.getfixturevalue("empty_database_url"))


def _batcher(app: CartgroupsApp) -> WriteBatcher:
    assert isinstance(app.store, SqliteStore)
    return app.store.batcher


def _pg(app: CartgroupsApp) -> PostgresStore:
    assert isinstance(app.store, PostgresStore)
    return app.store


def _db(app: CartgroupsApp) -> Database:
    assert app.db is not None
    return app.db


def run_with_client(app: CartgroupsApp, scenario: Callable[[httpx.AsyncClient], Awaitable[Any]]) -> Any:
    """``scenario(client)`` on a new event loop, the client talking to ``app``; the app's store
    is closed at the end (a PostgresStore serves the loop it was opened on)."""
    issued = credentials.issue(_db(app), secure_url="shop.example.com")

    async def main() -> Any:
        transport = httpx.ASGITransport(app=app)
        try:
            async with httpx.AsyncClient(
                transport=transport, base_url="http://test" + PREFIX, headers=headers_for(issued)
            ) as client:
                return await scenario(client)
        finally:
            assert app.store is not None
            await app.store.close()

    return asyncio.run(main())


def _names(db: Database) -> list[tuple[int, str]]:
    store_id = credentials.store_id_of(db, "shop.example.com")
    with db.read() as conn:
        groups = groups_sql.list_groups(conn, store_id=store_id, limit=10, skip=0)
    return [(g.group_id, g.name) for g in groups]


def _audit_count(db: Database) -> int:
    with db.read() as conn:
        return int(conn.execute(sa.select(sa.func.count()).select_from(tables.audit_log)).scalar_one())


# SQLite: the group commit.


def test_concurrent_creates_share_one_transaction_and_each_gets_its_own_id(sqlite_app: CartgroupsApp) -> None:
    async def scenario(client: httpx.AsyncClient) -> list[httpx.Response]:
        posts = [client.post("", json={"Name": f"Group {n}"}) for n in range(20)]
        return list(await asyncio.gather(*posts))

    replies = run_with_client(sqlite_app, scenario)
    assert [r.status_code for r in replies] == [201] * 20
    ids = sorted(int(r.json()[0]["Value"]) for r in replies)
    assert ids == list(range(1, 21))
    batcher = _batcher(sqlite_app)
    assert (batcher.batches, batcher.writes) == (1, 20)  # all twenty in one COMMIT
    assert _audit_count(_db(sqlite_app)) == 20


def test_a_failing_write_changes_nothing_and_its_neighbours_still_commit(sqlite_app: CartgroupsApp) -> None:
    db = _db(sqlite_app)

    async def scenario(client: httpx.AsyncClient) -> tuple[list[httpx.Response], list[tuple[object, ...]]]:
        for n in (1, 2, 3):
            assert (await client.post("", json={"Name": f"Seed {n}"})).status_code == 201
        before = db_state(db)
        audited = _audit_count(db)
        replies = await asyncio.gather(
            client.post("", json={"Name": "New"}),
            client.post("", json={"Name": "Bad", "PriceLevel": 2147483648}),  # 400
            client.put("/1", json={"Name": "Renamed"}),
            client.put("/77", json={"Name": "Missing"}),  # 404
            client.put("/2", json={"Name": "Stale"}, headers={"If-Match": '"not-the-etag"'}),  # 412
            client.delete("/3"),
            client.delete("/3"),  # 404: the first delete, earlier in the batch, took it
        )
        assert _audit_count(db) == audited + 3  # the create, the update, the delete
        return list(replies), before

    replies, before = run_with_client(sqlite_app, scenario)
    assert [r.status_code for r in replies] == [201, 400, 200, 404, 412, 200, 404]
    assert replies[0].content == result_body(201, 4, "Created successfully")
    assert replies[1].content == error_body(
        400, "PriceLevel must be an integer from -2147483648 to 2147483647"
    )
    assert replies[3].content == error_body(404, "The specified Customer Group does not exist.", "77")
    assert replies[5].content == result_body(200, 3, "Deleted successfully")
    batcher = _batcher(sqlite_app)
    assert batcher.batches == 4  # three seeds, then the seven requests together
    assert _names(db) == [(1, "Renamed"), (2, "Seed 2"), (4, "New")]
    assert before != db_state(db)


def test_an_abandoned_request_is_not_written(sqlite_app: CartgroupsApp) -> None:
    async def scenario(client: httpx.AsyncClient) -> None:
        task = asyncio.ensure_future(client.post("", json={"Name": "Abandoned"}))
        while not _batcher(sqlite_app)._pending:  # until the request waits for its batch
            await asyncio.sleep(0)
        task.cancel()  # the client went away
        with pytest.raises(asyncio.CancelledError):
            await task
        assert (await client.post("", json={"Name": "Kept"})).status_code == 201

    run_with_client(sqlite_app, scenario)
    assert _names(_db(sqlite_app)) == [(1, "Kept")]


class _OtherWriter:
    """Another process's write transaction on the SQLite file, holding its write lock."""

    def __init__(self, db: Database) -> None:
        self.conn = sqlite3.connect(db.url.database or "", isolation_level=None)
        self.conn.execute("BEGIN IMMEDIATE")

    def release(self) -> None:
        self.conn.execute("ROLLBACK")
        self.conn.close()


def test_writes_wait_for_another_processs_lock_without_blocking_reads(sqlite_app: CartgroupsApp) -> None:
    db = _db(sqlite_app)

    async def scenario(client: httpx.AsyncClient) -> tuple[httpx.Response, httpx.Response]:
        assert (await client.post("", json={"Name": "Existing"})).status_code == 201
        other = _OtherWriter(db)
        try:
            post = asyncio.ensure_future(client.post("", json={"Name": "Waiting"}))
            while not _batcher(sqlite_app)._pending:
                await asyncio.sleep(0)
            await asyncio.sleep(0.05)  # several retries of the batch while the lock is held
            read = await client.get("/1")  # the loop is free: reads are answered meanwhile
            assert not post.done()
        finally:
            other.release()
        return read, await post

    read, created = run_with_client(sqlite_app, scenario)
    assert read.status_code == 200 and read.json()[0]["Name"] == "Existing"
    assert created.status_code == 201 and created.content == result_body(201, 2, "Created successfully")


def test_writes_get_503_when_the_lock_stays_busy_and_nothing_is_written(
    sqlite_app: CartgroupsApp, monkeypatch: pytest.MonkeyPatch
) -> None:
    db = _db(sqlite_app)
    monkeypatch.setattr(group_commit, "BUSY_TIMEOUT_SECONDS", 0.05)

    async def scenario(client: httpx.AsyncClient) -> tuple[list[httpx.Response], httpx.Response]:
        before = db_state(db)
        other = _OtherWriter(db)
        try:
            replies = await asyncio.gather(*(client.post("", json={"Name": f"G{n}"}) for n in range(3)))
        finally:
            other.release()
        assert db_state(db) == before
        return list(replies), await client.post("", json={"Name": "After"})

    replies, after = run_with_client(sqlite_app, scenario)
    for reply in replies:
        assert reply.status_code == 503
        assert reply.content == error_body(503, UNAVAILABLE)
        assert reply.headers["retry-after"] == "1"
    assert after.status_code == 201 and after.content == result_body(201, 1, "Created successfully")


def test_a_batcher_keeps_working_on_a_new_event_loop(sqlite_app: CartgroupsApp) -> None:
    """A loop that ends while its batch waits for the lock (a retry timer pending) does not stall
    the batcher on the next loop."""
    batcher = _batcher(sqlite_app)
    other = _OtherWriter(_db(sqlite_app))

    async def leave_a_retry_pending() -> None:
        waiting = asyncio.ensure_future(batcher.run(lambda conn: "never answered"))
        await asyncio.sleep(0.01)  # the batch found the lock busy: a retry timer is set
        waiting.cancel()

    try:
        asyncio.run(leave_a_retry_pending())
    finally:
        other.release()

    async def write_again() -> object:
        return await asyncio.wait_for(batcher.run(lambda conn: "answered"), timeout=10)

    assert asyncio.run(write_again()) == "answered"


# PostgreSQL: a write of its own, run again when it loses a conflict.


def test_a_write_that_loses_a_conflict_runs_again_and_its_neighbour_is_not_disturbed(
    pg_app: CartgroupsApp,
) -> None:
    """The run that lost is rolled back (its group, its entry and the id it took with it); the
    next run commits; a concurrent write commits on its own meanwhile."""
    db = _db(pg_app)
    store_id = credentials.store_id_of(db, credentials.issue(db, secure_url="shop.example.com").secure_url)
    store = _pg(pg_app)
    attempts: list[int] = []

    async def loses_once(tx: Tx) -> int:
        group_id = await tx.create_group(store_id=store_id, actor=ACTOR, values=group_values(name="Loser"))
        attempts.append(group_id)
        if len(attempts) == 1:
            raise psycopg.errors.DeadlockDetected("deadlock detected")
        return group_id

    async def neighbour(tx: Tx) -> int:
        return await tx.create_group(store_id=store_id, actor=ACTOR, values=group_values(name="Neighbour"))

    async def scenario() -> list[int]:
        return list(await asyncio.gather(store.write(loses_once), store.write(neighbour)))

    loser_id, neighbour_id = run_on_store(store, scenario)
    assert len(attempts) == 2
    assert attempts[-1] == loser_id
    assert sorted(_names(db)) == sorted([(loser_id, "Loser"), (neighbour_id, "Neighbour")])
    assert sorted((loser_id, neighbour_id)) == [1, 2]  # the lost run's id was not used up
    assert _audit_count(db) == 2


def test_a_write_that_loses_every_run_but_the_last_still_commits(pg_app: CartgroupsApp) -> None:
    """What answered a bulk PUT 500 in tests/test_concurrency.py: a write lost a deadlock, lost
    again when it ran again, and the driver's error was its answer. A write runs up to
    1 + CONFLICT_RETRIES times, whichever conflict (SQLSTATE class 40) it loses."""
    attempts: list[str] = []
    losses: list[Exception] = [
        psycopg.errors.DeadlockDetected("deadlock detected"),
        psycopg.errors.SerializationFailure("could not serialize access"),
    ]

    async def loses_all_but_the_last(tx: Tx) -> str:
        attempts.append("try")
        if len(attempts) <= pg_store.CONFLICT_RETRIES:
            raise losses[len(attempts) % 2]
        return "done"

    store = _pg(pg_app)
    assert run_on_store(store, lambda: store.write(loses_all_but_the_last)) == "done"
    assert attempts == ["try"] * (1 + pg_store.CONFLICT_RETRIES)


class _Deadlocker:
    """Another PostgreSQL session that deadlocks with a write, and waits long enough before
    looking for the deadlock (deadlock_timeout) that the write is always the one aborted."""

    LOCK = "SELECT id FROM stores WHERE id = %s FOR UPDATE"

    def __init__(self, db: Database, first: int, second: int) -> None:
        self.url = db.url.set(drivername="postgresql").render_as_string(hide_password=False)
        self.first, self.second = first, second
        self.holds_second = threading.Event()
        self.pid: int | None = None
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()
        assert self.holds_second.wait(10)

    def _run(self) -> None:
        with psycopg.connect(self.url) as conn:  # one transaction, committed at the end
            conn.execute("SET deadlock_timeout = '10s'")
            self.pid = conn.info.backend_pid
            conn.execute(self.LOCK, (self.second,))
            self.holds_second.set()
            conn.execute(self.LOCK, (self.first,))  # waits for the write, which holds it

    def wait_until_blocked(self, db: Database) -> None:
        with db.read() as conn:
            for _ in range(1000):
                waiting = conn.exec_driver_sql(
                    "SELECT wait_event_type FROM pg_stat_activity WHERE pid = %(pid)s", {"pid": self.pid}
                ).scalar()
                if waiting == "Lock":
                    return
                time.sleep(0.01)
        raise AssertionError("the other session never waited for the lock")


def _blocked_deadlocker(db: Database, first: int, second: int) -> _Deadlocker:
    other = _Deadlocker(db, first, second)
    other.wait_until_blocked(db)
    return other


def test_a_write_that_really_deadlocks_every_run_but_the_last_still_commits(pg_app: CartgroupsApp) -> None:
    """A real deadlock, CONFLICT_RETRIES times: each time the write holds one store row and
    another session holds the second and waits for the first; the write's run after the last
    loss commits."""
    db = _db(pg_app)
    first = credentials.store_id_of(db, credentials.issue(db, secure_url="a.example.com").secure_url)
    second = credentials.store_id_of(db, credentials.issue(db, secure_url="b.example.com").secure_url)
    lost: list[str] = []
    others: list[_Deadlocker] = []

    async def write(tx: Tx) -> str:
        assert isinstance(tx, PostgresTx)
        await tx.conn.execute("SET LOCAL deadlock_timeout = '50ms'")
        await (await tx.conn.execute(_Deadlocker.LOCK, (first,))).fetchone()  # held from here
        if len(others) < pg_store.CONFLICT_RETRIES:
            others.append(await asyncio.to_thread(_blocked_deadlocker, db, first, second))
        try:
            await (await tx.conn.execute(_Deadlocker.LOCK, (second,))).fetchone()
        except psycopg.Error as exc:
            lost.append(type(exc).__name__)
            raise
        return "done"

    store = _pg(pg_app)
    assert run_on_store(store, lambda: store.write(write)) == "done"
    assert lost == ["DeadlockDetected"] * pg_store.CONFLICT_RETRIES
    for other in others:
        other.thread.join(10)
        assert not other.thread.is_alive()


def test_a_write_that_keeps_losing_gets_503_never_the_drivers_error(pg_app: CartgroupsApp) -> None:
    attempts: list[str] = []

    async def always_loses(tx: Tx) -> None:
        attempts.append("try")
        raise psycopg.errors.DeadlockDetected("deadlock detected")

    store = _pg(pg_app)
    with pytest.raises(DatabaseUnavailable) as caught:
        run_on_store(store, lambda: store.write(always_loses))
    assert isinstance(caught.value.__cause__, psycopg.errors.DeadlockDetected)
    assert errors.render(caught.value)[0] == 503
    assert len(attempts) == 1 + pg_store.CONFLICT_RETRIES


def test_a_request_whose_write_keeps_losing_is_answered_503_and_writes_nothing(
    pg_app: CartgroupsApp, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The same through the API: the client gets the 503 of a database that cannot take the
    write (try again in a second), not a 500 with the driver's error. With an Idempotency-Key
    the create runs in a transaction with the key's record, so a create made before the loss is
    really rolled back (without one it is a single statement, which a loss leaves undone)."""
    attempts: list[str] = []
    real_create = PostgresTx.create_group

    async def loses(self: PostgresTx, *, store_id: int, actor: Actor, values: Any) -> int:
        attempts.append("try")
        await real_create(self, store_id=store_id, actor=actor, values=values)  # rolled back
        raise psycopg.errors.SerializationFailure("could not serialize access")

    db = _db(pg_app)

    async def scenario(client: httpx.AsyncClient) -> tuple[httpx.Response, httpx.Response]:
        before = db_state(db)
        with monkeypatch.context() as patched:
            patched.setattr(PostgresTx, "create_group", loses)
            refused = await client.post("", json={"Name": "Lost"}, headers={"Idempotency-Key": "lost-1"})
        assert db_state(db) == before
        return refused, await client.post("", json={"Name": "After"})

    refused, after = run_with_client(pg_app, scenario)
    assert refused.status_code == 503
    assert refused.content == error_body(503, UNAVAILABLE)
    assert refused.headers["retry-after"] == "1"
    assert attempts == ["try"] * (1 + pg_store.CONFLICT_RETRIES)
    assert _audit_count(db) == 1  # the create after it, alone
    assert after.content == result_body(201, 1, "Created successfully")
