"""Group commit through the API (api/batching.py): concurrent writes of one process share a
transaction, yet each request is answered exactly as if it had been alone — a failed write
changes nothing and does not disturb its neighbours — and on SQLite the event loop keeps
serving while another process holds the write lock. In-process ASGI, both databases."""

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

from cartgroups.api import batching, errors
from cartgroups.api.batching import WriteBatcher
from cartgroups.app import CartgroupsApp, create_app
from cartgroups.config import Settings
from cartgroups.errors import DatabaseUnavailable
from cartgroups.service import credentials
from cartgroups.service.writes import Transaction
from cartgroups.storage import customer_groups as groups_sql
from cartgroups.storage import tables
from cartgroups.storage.database import UNAVAILABLE, Database
from tests.conftest import db_state, error_body, headers_for, result_body

PREFIX = "/3dCartWebAPI/v1/CustomerGroups"


@pytest.fixture
def app(empty_database_url: str) -> Iterator[CartgroupsApp]:
    application = create_app(Settings(database_url=empty_database_url, audit_retention_days=0))
    application.start()
    yield application
    application.stop()


def _batcher(app: CartgroupsApp) -> WriteBatcher:
    assert app.services is not None
    return app.services.writes


def _db(app: CartgroupsApp) -> Database:
    assert app.db is not None
    return app.db


def run_with_client(app: CartgroupsApp, scenario: Callable[[httpx.AsyncClient], Awaitable[Any]]) -> Any:
    issued = credentials.issue(_db(app), secure_url="shop.example.com")

    async def main() -> Any:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(
            transport=transport, base_url="http://test" + PREFIX, headers=headers_for(issued)
        ) as client:
            return await scenario(client)

    return asyncio.run(main())


def _names(db: Database) -> list[tuple[int, str]]:
    store_id = credentials.store_id_of(db, "shop.example.com")
    with db.read() as conn:
        groups = groups_sql.list_groups(conn, store_id=store_id, limit=10, skip=0)
    return [(g.group_id, g.name) for g in groups]


def _audit_count(db: Database) -> int:
    with db.read() as conn:
        return int(conn.execute(sa.select(sa.func.count()).select_from(tables.audit_log)).scalar_one())


def test_concurrent_creates_share_one_transaction_and_each_gets_its_own_id(app: CartgroupsApp) -> None:
    async def scenario(client: httpx.AsyncClient) -> list[httpx.Response]:
        posts = [client.post("", json={"Name": f"Group {n}"}) for n in range(20)]
        return list(await asyncio.gather(*posts))

    replies = run_with_client(app, scenario)
    assert [r.status_code for r in replies] == [201] * 20
    ids = sorted(int(r.json()[0]["Value"]) for r in replies)
    assert ids == list(range(1, 21))
    batcher = _batcher(app)
    assert (batcher.batches, batcher.writes) == (1, 20)  # all twenty in one COMMIT
    assert _audit_count(_db(app)) == 20


def test_a_failing_write_changes_nothing_and_its_neighbours_still_commit(app: CartgroupsApp) -> None:
    async def scenario(client: httpx.AsyncClient) -> tuple[list[httpx.Response], list[tuple[object, ...]]]:
        for n in (1, 2, 3):
            assert (await client.post("", json={"Name": f"Seed {n}"})).status_code == 201
        before = db_state(_db(app))
        audited = _audit_count(_db(app))
        replies = await asyncio.gather(
            client.post("", json={"Name": "New"}),
            client.post("", json={"Name": "Bad", "PriceLevel": 2147483648}),  # 400
            client.put("/1", json={"Name": "Renamed"}),
            client.put("/77", json={"Name": "Missing"}),  # 404
            client.put("/2", json={"Name": "Stale"}, headers={"If-Match": '"not-the-etag"'}),  # 412
            client.delete("/3"),
            client.delete("/3"),  # 404: the first delete, earlier in the batch, took it
        )
        assert _audit_count(_db(app)) == audited + 3  # the create, the update, the delete
        return list(replies), before

    replies, before = run_with_client(app, scenario)
    assert [r.status_code for r in replies] == [201, 400, 200, 404, 412, 200, 404]
    assert replies[0].content == result_body(201, 4, "Created successfully")
    assert replies[1].content == error_body(
        400, "PriceLevel must be an integer from -2147483648 to 2147483647"
    )
    assert replies[3].content == error_body(404, "The specified Customer Group does not exist.", "77")
    assert replies[5].content == result_body(200, 3, "Deleted successfully")
    batcher = _batcher(app)
    assert batcher.batches == 4  # three seeds, then the seven requests together
    assert _names(_db(app)) == [(1, "Renamed"), (2, "Seed 2"), (4, "New")]
    assert before != db_state(_db(app))


def test_an_abandoned_request_is_not_written(app: CartgroupsApp) -> None:
    async def scenario(client: httpx.AsyncClient) -> None:
        task = asyncio.ensure_future(client.post("", json={"Name": "Abandoned"}))
        while not _batcher(app)._pending:  # until the request waits for its batch
            await asyncio.sleep(0)
        task.cancel()  # the client went away
        with pytest.raises(asyncio.CancelledError):
            await task
        assert (await client.post("", json={"Name": "Kept"})).status_code == 201

    run_with_client(app, scenario)
    assert _names(_db(app)) == [(1, "Kept")]


def test_a_write_that_loses_a_conflict_runs_again_alone(app: CartgroupsApp) -> None:
    batcher = _batcher(app)
    attempts: list[str] = []

    def loses_in_the_batch(tx: Transaction) -> str:
        attempts.append("try")
        if len(attempts) <= 2:  # the batch's run, and its run again with savepoints
            raise psycopg.errors.DeadlockDetected("deadlock detected")
        return "done"

    async def main() -> list[object]:
        neighbour = batcher.run(lambda tx: "neighbour")
        return list(await asyncio.gather(batcher.run(loses_in_the_batch), neighbour))

    assert asyncio.run(main()) == ["done", "neighbour"]
    assert attempts == ["try", "try", "try"]
    assert batcher.batches == 2  # the shared batch, then the retry on its own


def test_a_write_that_loses_again_alone_runs_again(app: CartgroupsApp) -> None:
    """What answered a bulk PUT 500 in tests/test_concurrency.py: on PostgreSQL a bulk update
    in a batch lost a deadlock, lost again when it ran on its own, and the driver's error was
    its answer."""
    batcher = _batcher(app)
    attempts: list[str] = []

    def loses_twice(tx: Transaction) -> str:
        attempts.append("try")
        if len(attempts) <= 4:  # in the batch (twice), then alone (its run and run with savepoints)
            raise psycopg.errors.DeadlockDetected("deadlock detected")
        return "done"

    assert asyncio.run(batcher.run(loses_twice)) == "done"
    assert attempts == ["try"] * 5


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


def test_a_write_that_really_deadlocks_in_its_batch_and_again_alone_still_commits(app: CartgroupsApp) -> None:
    """A real deadlock, four times: in the write's batch (run, then run again with savepoints)
    and in its first run on its own (the same two); the fifth try commits."""
    db = _db(app)
    if db.dialect_name != "postgresql":
        pytest.skip("PostgreSQL's row locks")
    first = credentials.store_id_of(db, credentials.issue(db, secure_url="a.example.com").secure_url)
    second = credentials.store_id_of(db, credentials.issue(db, secure_url="b.example.com").secure_url)
    lost: list[str] = []
    others: list[_Deadlocker] = []

    def write(conn: Transaction) -> str:
        conn.exec_driver_sql("SET LOCAL deadlock_timeout = '50ms'")
        conn.exec_driver_sql(_Deadlocker.LOCK, (first,))
        if len(others) < 4:
            other = _Deadlocker(db, first, second)
            others.append(other)
            other.wait_until_blocked(db)
        try:
            conn.exec_driver_sql(_Deadlocker.LOCK, (second,))
        except sa.exc.DBAPIError as exc:
            lost.append(type(exc.orig).__name__)
            raise
        return "done"

    assert asyncio.run(_batcher(app).run(write)) == "done"
    assert lost == ["DeadlockDetected"] * 4
    for other in others:
        other.thread.join(10)
        assert not other.thread.is_alive()


def test_a_write_that_keeps_losing_gets_503_never_the_drivers_error(app: CartgroupsApp) -> None:
    batcher = _batcher(app)
    attempts: list[str] = []

    def always_loses(tx: Transaction) -> None:
        attempts.append("try")
        raise psycopg.errors.DeadlockDetected("deadlock detected")

    with pytest.raises(DatabaseUnavailable) as caught:
        asyncio.run(batcher.run(always_loses))
    assert isinstance(caught.value.__cause__, psycopg.errors.DeadlockDetected)
    assert errors.render(caught.value)[0] == 503
    # Two tries in the batch, then two in each of its runs on its own.
    assert len(attempts) == 2 * (1 + batching.CONFLICT_RETRIES)


class _OtherWriter:
    """Another process's write transaction on the SQLite file, holding its write lock."""

    def __init__(self, db: Database) -> None:
        self.conn = sqlite3.connect(db.url.database or "", isolation_level=None)
        self.conn.execute("BEGIN IMMEDIATE")

    def release(self) -> None:
        self.conn.execute("ROLLBACK")
        self.conn.close()


def test_writes_wait_for_another_processs_lock_without_blocking_reads(app: CartgroupsApp) -> None:
    db = _db(app)
    if db.dialect_name != "sqlite":
        pytest.skip("SQLite's database-wide write lock")

    async def scenario(client: httpx.AsyncClient) -> tuple[httpx.Response, httpx.Response]:
        assert (await client.post("", json={"Name": "Existing"})).status_code == 201
        other = _OtherWriter(db)
        try:
            post = asyncio.ensure_future(client.post("", json={"Name": "Waiting"}))
            while not _batcher(app)._pending:
                await asyncio.sleep(0)
            await asyncio.sleep(0.05)  # several retries of the batch while the lock is held
            read = await client.get("/1")  # the loop is free: reads are answered meanwhile
            assert not post.done()
        finally:
            other.release()
        return read, await post

    read, created = run_with_client(app, scenario)
    assert read.status_code == 200 and read.json()[0]["Name"] == "Existing"
    assert created.status_code == 201 and created.content == result_body(201, 2, "Created successfully")


def test_writes_get_503_when_the_lock_stays_busy_and_nothing_is_written(
    app: CartgroupsApp, monkeypatch: pytest.MonkeyPatch
) -> None:
    db = _db(app)
    if db.dialect_name != "sqlite":
        pytest.skip("SQLite's database-wide write lock")
    monkeypatch.setattr(batching, "BUSY_TIMEOUT_SECONDS", 0.05)

    async def scenario(client: httpx.AsyncClient) -> tuple[list[httpx.Response], httpx.Response]:
        before = db_state(db)
        other = _OtherWriter(db)
        try:
            replies = await asyncio.gather(*(client.post("", json={"Name": f"G{n}"}) for n in range(3)))
        finally:
            other.release()
        assert db_state(db) == before
        return list(replies), await client.post("", json={"Name": "After"})

    replies, after = run_with_client(app, scenario)
    for reply in replies:
        assert reply.status_code == 503
        assert reply.content == error_body(503, UNAVAILABLE)
        assert reply.headers["retry-after"] == "1"
    assert after.status_code == 201 and after.content == result_body(201, 1, "Created successfully")


def test_a_batcher_keeps_working_on_a_new_event_loop(app: CartgroupsApp) -> None:
    """A loop that ends while its batch waits for the lock (a retry timer pending) does not stall
    the batcher on the next loop."""
    db = _db(app)
    if db.dialect_name != "sqlite":
        pytest.skip("SQLite's database-wide write lock")
    batcher = _batcher(app)
    other = _OtherWriter(db)

    async def leave_a_retry_pending() -> None:
        waiting = asyncio.ensure_future(batcher.run(lambda tx: "never answered"))
        await asyncio.sleep(0.01)  # the batch found the lock busy: a retry timer is set
        waiting.cancel()

    try:
        asyncio.run(leave_a_retry_pending())
    finally:
        other.release()

    async def write_again() -> object:
        return await asyncio.wait_for(batcher.run(lambda tx: "answered"), timeout=10)

    assert asyncio.run(write_again()) == "answered"


def test_a_batch_runs_a_stores_creates_before_its_writes_that_lock_groups(app: CartgroupsApp) -> None:
    """One order of locks for every batch: a create takes its store's row (for the next id) and a
    bulk, PUT or DELETE takes group rows, so a batch [bulk, create] holding groups while it waits
    for the store row, against a batch [create, delete] holding the store row while it waits for
    a group, deadlocked (seen on PostgreSQL). A store's creates now run first in a batch."""
    batcher = _batcher(app)
    orders: list[tuple[str, tuple[int, int]]] = []
    run = batcher.run

    async def spied(work: Any, *, order: tuple[int, int] = (0, 0)) -> Any:
        orders.append(("seen", order))
        return await run(work, order=order)

    batcher.run = spied  # type: ignore[method-assign]

    async def scenario(client: httpx.AsyncClient) -> None:
        assert (await client.post("", json={"Name": "Seed"})).status_code == 201
        orders.clear()
        replies = await asyncio.gather(
            client.put("", json=[{"CustomerGroupID": 1, "Name": "bulk"}]),
            client.put("/1", json={"Name": "one"}),
            client.delete("/1"),
            client.post("", json={"Name": "new"}),
        )
        assert all(r.status_code < 500 for r in replies), [r.status_code for r in replies]

    run_with_client(app, scenario)
    bulk, put, delete, create = (order for _, order in orders)
    assert create < bulk <= put == delete, (create, bulk, put, delete)
