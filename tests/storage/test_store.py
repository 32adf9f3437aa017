"""The store interface (storage/store.py), run against both implementations through one
parametrized fixture: SqliteStore and PostgresStore must answer alike."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from decimal import Decimal
from typing import Any, TypeVar

import orjson
import psycopg
import pytest

from cartgroups.api import wire
from cartgroups.errors import DatabaseUnavailable, NotFound
from cartgroups.model import CustomerGroup, with_values
from cartgroups.service.customer_groups import created_group
from cartgroups.storage import audit as audit_sql
from cartgroups.storage import credentials as cred_sql
from cartgroups.storage import dialect
from cartgroups.storage.audit import Actor, Change
from cartgroups.storage.database import Database
from cartgroups.storage.postgres import store as pg_store
from cartgroups.storage.sqlite.store import NOT_SYNCHRONOUS
from cartgroups.storage.store import Alone, Store, Tx, open_store
from tests.storage.conftest import group_values, new_store, run_on_store

T = TypeVar("T")
ACTOR = Actor(7, "tests")


@pytest.fixture
def store(db: Database) -> Iterator[Store]:
    yield open_store(db)


def _entries(db: Database, store_id: int) -> list[audit_sql.Entry]:
    with db.read() as conn:
        return audit_sql.list_entries(conn, store_id=store_id, limit=100)


def test_open_store_chooses_the_implementation_of_the_database(db: Database, store: Store) -> None:
    assert store.name == db.dialect_name
    assert store.exact_changes is (db.dialect_name == "sqlite")


def test_a_create_takes_the_stores_next_id_and_records_its_entry_exactly(db: Database, store: Store) -> None:
    store_id = new_store(db, "one.example")
    values = group_values(name='Wholesale \u2028 "quoted"', minimum_order=Decimal("12.50"), non_taxable=True)

    async def scenario() -> tuple[int, int, CustomerGroup | None]:
        async def create(tx: Tx) -> int:
            return await tx.create_group(store_id=store_id, actor=ACTOR, values=values)

        first = await store.write(create)
        second = await store.write(create)
        return first, second, await store.get_group(store_id=store_id, group_id=first)

    first, second, group = run_on_store(store, scenario)
    assert (first, second) == (1, 2)
    assert group == created_group(1, values)
    assert str(group.minimum_order) == "12.50"  # the scale kept
    entries = sorted(_entries(db, store_id), key=lambda e: e.id)
    assert [(e.action, e.resource, e.item_id, e.token_id, e.application, e.before) for e in entries] == [
        ("create", "CustomerGroup", 1, 7, "tests", None),
        ("create", "CustomerGroup", 2, 7, "tests", None),
    ]
    # The after is the group's JSON byte for byte as the API writes it, whichever wrote it.
    assert entries[0].after == audit_sql.group_json(group)
    assert orjson.loads(entries[1].after or "")["CustomerGroupID"] == 2


def test_a_deleted_id_is_never_handed_out_again(db: Database, store: Store) -> None:
    store_id = new_store(db, "two.example")

    async def scenario() -> int:
        async def create(tx: Tx) -> int:
            return await tx.create_group(store_id=store_id, actor=ACTOR, values=group_values())

        await store.write(create)
        last = await store.write(create)

        async def delete(tx: Tx) -> CustomerGroup | None:
            return await tx.delete_group(store_id=store_id, group_id=last)

        assert (await store.write(delete)) is not None
        assert (await store.write(delete)) is None
        return await store.write(create)

    assert run_on_store(store, scenario) == 3


def test_reads_page_and_count_one_store_only(db: Database, store: Store) -> None:
    mine, theirs = new_store(db, "mine.example"), new_store(db, "theirs.example")

    async def scenario() -> None:
        for store_id, count in ((mine, 3), (theirs, 2)):
            for n in range(count):
                values = group_values(name=f"g{n}")

                async def create(tx: Tx, store_id: int = store_id, values: dict[str, object] = values) -> int:
                    return await tx.create_group(store_id=store_id, actor=ACTOR, values=values)

                await store.write(create)
        assert await store.count_groups(store_id=mine) == 3
        page = await store.list_groups(store_id=mine, limit=2, skip=1)
        assert [(g.group_id, g.name) for g in page] == [(2, "g1"), (3, "g2")]
        assert await store.get_group(store_id=theirs, group_id=3) is None
        body, count = await store.list_groups_json(store_id=mine, limit=10, skip=0)
        assert count == 3
        assert body == wire.groups_body(await store.list_groups(store_id=mine, limit=10, skip=0))
        assert [g["Name"] for g in orjson.loads(body)] == ["g0", "g1", "g2"]
        assert await store.list_groups_json(store_id=mine, limit=10, skip=3) == (b"[]", 0)

    run_on_store(store, scenario)


def test_update_if_compares_decimals_with_their_scale_and_writes_its_entry_only_when_it_changes(
    db: Database, store: Store
) -> None:
    store_id = new_store(db, "three.example")

    async def scenario() -> None:
        async def create(tx: Tx) -> int:
            return await tx.create_group(
                store_id=store_id, actor=ACTOR, values=group_values(minimum_order=Decimal("1.50"))
            )

        group_id = await store.write(create)
        stored = await store.get_group(store_id=store_id, group_id=group_id)
        assert stored is not None
        stale = stored._replace(minimum_order=Decimal("1.5"))  # equal as a number, not as text
        values = {"name": "changed"}
        entry = audit_sql.entry(
            store_id, ACTOR, Change("update", group_id, stored, with_values(stored, values))
        )

        async def update_stale(tx: Tx) -> bool:
            return await tx.update_group_if(store_id=store_id, expected=stale, values=values, entry=entry)

        async def update_current(tx: Tx) -> bool:
            return await tx.update_group_if(store_id=store_id, expected=stored, values=values, entry=entry)

        assert await store.write(update_stale) is False
        assert (await store.get_group(store_id=store_id, group_id=group_id)) == stored
        assert await store.write(update_current) is True
        assert (await store.get_group(store_id=store_id, group_id=group_id)) == with_values(stored, values)

    run_on_store(store, scenario)
    assert [e.action for e in _entries(db, store_id)] == ["update", "create"]


def test_update_recorded_writes_the_before_and_after_or_nothing_for_an_unknown_group(
    db: Database, store: Store
) -> None:
    store_id = new_store(db, "four.example")

    async def scenario() -> CustomerGroup | None:
        async def create(tx: Tx) -> int:
            return await tx.create_group(store_id=store_id, actor=ACTOR, values=group_values(name="before"))

        group_id = await store.write(create)

        async def update(tx: Tx) -> bool:
            return await tx.update_recorded(
                store_id=store_id, actor=ACTOR, group_id=group_id, values={"name": "after", "price_level": 4}
            )

        async def update_unknown(tx: Tx) -> bool:
            return await tx.update_recorded(store_id=store_id, actor=ACTOR, group_id=99, values={"name": "x"})

        assert await store.write(update) is True
        assert await store.write(update_unknown) is False
        return await store.get_group(store_id=store_id, group_id=group_id)

    after = run_on_store(store, scenario)
    assert after is not None and (after.name, after.price_level) == ("after", 4)
    update = next(e for e in _entries(db, store_id) if e.action == "update")
    assert orjson.loads(update.before or "")["Name"] == "before"
    assert update.after == audit_sql.group_json(after)
    assert len(_entries(db, store_id)) == 2


def test_a_plan_that_raises_leaves_nothing_behind(db: Database, store: Store) -> None:
    store_id = new_store(db, "five.example")

    async def scenario() -> int:
        async def create_then_fail(tx: Tx) -> int:
            await tx.create_group(store_id=store_id, actor=ACTOR, values=group_values())
            raise NotFound("nothing here")

        with pytest.raises(NotFound):
            await store.write(create_then_fail)
        return await store.count_groups(store_id=store_id)

    assert run_on_store(store, scenario) == 0
    assert _entries(db, store_id) == []


def test_idempotency_keys_are_claimed_once_and_answered_after(db: Database, store: Store) -> None:
    store_id = new_store(db, "six.example")
    with db.write() as conn:
        app_id = cred_sql.insert_application(conn, name="keys", private_key_hash="k" * 64)

    async def scenario() -> tuple[Any, Any]:
        async def first(tx: Tx) -> Any:
            claimed = await tx.claim_key(
                store_id=store_id,
                application_id=app_id,
                key="abc",
                fingerprint="f1",
                now=100.0,
                expired_before=0.0,
            )
            await tx.finish_key(store_id=store_id, application_id=app_id, key="abc", status=201, body=b"made")
            return claimed

        async def again(tx: Tx) -> Any:
            return await tx.claim_key(
                store_id=store_id,
                application_id=app_id,
                key="abc",
                fingerprint="f2",
                now=101.0,
                expired_before=1.0,
            )

        return await store.write(first), await store.write(again)

    assert run_on_store(store, scenario) == (None, ("f1", 201, b"made"))


def test_a_sqlite_plan_must_not_suspend_inside_the_transaction(db: Database, store: Store) -> None:
    if store.name != "sqlite":
        pytest.skip("SQLite's group commit runs a plan without suspending; PostgreSQL's awaits")

    async def suspends(tx: Tx) -> None:
        await asyncio.sleep(0)

    with pytest.raises(RuntimeError, match=NOT_SYNCHRONOUS):
        run_on_store(store, lambda: store.write(suspends))


# PostgreSQL only: what its async pool and transactions add.


def test_requests_waiting_for_postgresql_overlap(pg_db: Database) -> None:
    """Reads of one event loop wait for PostgreSQL side by side: with the table locked by another
    session, eight reads are all seen waiting in the database at once (pg_locks, not a clock),
    and all are answered once it is released."""
    store = open_store(pg_db, pool_size=8)
    store_id = new_store(pg_db, "overlap.example")
    conninfo = pg_db.url.set(drivername="postgresql").render_as_string(hide_password=False)
    waiting = (
        "SELECT count(*) FROM pg_locks l JOIN pg_stat_activity a USING (pid) "
        "WHERE NOT l.granted AND a.application_name = 'cartgroups' AND a.datname = current_database()"
    )
    seen: list[int] = []

    def wait_for_eight(watcher: psycopg.Connection[Any]) -> None:
        for _ in range(300):  # well inside the 5 s lock_timeout the reads wait at most
            seen.append(int(watcher.execute(waiting).fetchone()[0]))  # type: ignore[index]
            if seen[-1] >= 8:
                return
            time.sleep(0.01)

    async def scenario() -> list[int]:
        with (
            psycopg.connect(conninfo, autocommit=True) as locker,
            psycopg.connect(conninfo, autocommit=True) as watcher,
        ):
            locker.execute("BEGIN")
            locker.execute("LOCK TABLE customer_groups IN ACCESS EXCLUSIVE MODE")
            reads = asyncio.gather(*(store.count_groups(store_id=store_id) for _ in range(8)))
            await asyncio.to_thread(wait_for_eight, watcher)
            locker.execute("ROLLBACK")
            return list(await reads)

    assert run_on_store(store, scenario) == [0] * 8
    assert max(seen) == 8


def test_a_postgresql_write_that_loses_a_conflict_runs_again_then_gets_503(
    pg_db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = open_store(pg_db)
    store_id = new_store(pg_db, "seven.example")
    runs: list[int] = []

    async def loses_twice(tx: Tx) -> int:
        runs.append(1)
        if len(runs) <= 2:
            raise psycopg.errors.DeadlockDetected("simulated")
        return await tx.create_group(store_id=store_id, actor=ACTOR, values=group_values())

    assert run_on_store(store, lambda: store.write(loses_twice)) == 1
    assert len(runs) == 3

    async def always_loses(tx: Tx) -> None:
        runs.append(1)
        raise psycopg.errors.SerializationFailure("simulated")

    runs.clear()
    with pytest.raises(DatabaseUnavailable):
        run_on_store(store, lambda: store.write(always_loses))
    assert len(runs) == 1 + pg_store.CONFLICT_RETRIES


def test_an_unreachable_postgresql_is_a_503_not_a_driver_error(
    pg_db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(dialect, "DATABASE_WAIT_SECONDS", 1)
    gone = Database(pg_db.url.set(host="127.0.0.1", port=1).render_as_string(hide_password=False))
    store = open_store(gone)
    try:
        with pytest.raises(DatabaseUnavailable):
            run_on_store(store, lambda: store.get_group(store_id=1, group_id=1))
    finally:
        gone.dispose()


def test_a_dropped_postgresql_connection_is_replaced(pg_db: Database) -> None:
    """The server ends the pool's connection while it waits idle (as a restart of PostgreSQL
    does): the next read is answered all the same, on a new connection, and so is a write."""
    store = open_store(pg_db, pool_size=1)
    assert isinstance(store, pg_store.PostgresStore)
    store_id = new_store(pg_db, "eight.example")

    async def end_the_pools_connection() -> None:
        assert store._pool is not None
        async with store._pool.connection() as conn:
            pid = conn.info.backend_pid
        with pg_db.write() as conn:
            conn.exec_driver_sql(f"SELECT pg_terminate_backend({int(pid)})")
        # pg_terminate_backend only signals: wait until the backend has gone (and so closed its
        # socket), as after a restart, or the next read may meet it still running (a rare flake).
        for _ in range(500):
            with pg_db.read() as conn:
                alive = conn.exec_driver_sql(f"SELECT count(*) FROM pg_stat_activity WHERE pid = {int(pid)}")
                if not alive.scalar_one():
                    return
            await asyncio.sleep(0.01)
        raise AssertionError(f"backend {pid} still runs 5 s after pg_terminate_backend")

    async def scenario() -> tuple[int, int]:
        assert await store.count_groups(store_id=store_id) == 0
        await end_the_pools_connection()
        counted = await store.count_groups(store_id=store_id)
        await end_the_pools_connection()

        async def create(tx: Tx) -> int:
            return await tx.create_group(store_id=store_id, actor=ACTOR, values=group_values())

        return counted, await store.write(create)

    assert run_on_store(store, scenario) == (0, 1)


def test_reads_by_id_asked_together_are_one_statement_and_each_gets_its_own_answer(
    pg_db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = open_store(pg_db)
    assert isinstance(store, pg_store.PostgresStore)
    mine, theirs = new_store(pg_db, "nine.example"), new_store(pg_db, "ten.example")
    statements: list[object] = []
    real_read_all = pg_store.PostgresStore._read_all

    async def counted(self: pg_store.PostgresStore, statement: Any, params: Any) -> list[Any]:
        statements.append(statement)
        return await real_read_all(self, statement, params)

    async def scenario() -> list[CustomerGroup | None]:
        for store_id, name in ((mine, "mine"), (theirs, "theirs")):

            async def create(tx: Tx, store_id: int = store_id, name: str = name) -> int:
                return await tx.create_group(store_id=store_id, actor=ACTOR, values=group_values(name=name))

            await store.write(create)
        monkeypatch.setattr(pg_store.PostgresStore, "_read_all", counted)
        keys = [(mine, 1), (theirs, 1), (mine, 2), (mine, 1), (theirs, 9)]
        return list(await asyncio.gather(*(store.get_group(store_id=s, group_id=g) for s, g in keys)))

    found = run_on_store(store, scenario)
    assert [None if g is None else g.name for g in found] == ["mine", "theirs", None, "mine", None]
    assert len(statements) == 1  # five reads (four keys), one statement


def test_a_write_of_one_operation_is_one_statement_without_a_transaction_around_it(
    pg_db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An Alone plan (one Tx call, atomic by itself) is sent as one statement that commits by
    itself; any other plan gets BEGIN and COMMIT around it."""
    store = open_store(pg_db)
    store_id = new_store(pg_db, "eleven.example")
    begun: list[str] = []
    real_transaction = psycopg.AsyncConnection.transaction

    def counted(self: psycopg.AsyncConnection[Any], *args: Any, **kwargs: Any) -> Any:
        begun.append("BEGIN")
        return real_transaction(self, *args, **kwargs)

    monkeypatch.setattr(psycopg.AsyncConnection, "transaction", counted)

    async def create(tx: Tx) -> int:
        return await tx.create_group(store_id=store_id, actor=ACTOR, values=group_values())

    async def scenario() -> tuple[int, int]:
        first = await store.write(Alone(create))
        assert begun == []
        return first, await store.write(create)

    assert run_on_store(store, scenario) == (1, 2)
    assert begun == ["BEGIN"]
    assert [e.action for e in _entries(pg_db, store_id)] == ["create", "create"]


@pytest.mark.parametrize(
    "name, amount",
    [
        ('tab\there, newline\n, \x01 \x1f \x7f back\\slash "quote" /', Decimal("100")),
        ("\u2028\u2029\u0085 é 漢字 😀", Decimal("0.000001")),
        ("plain", Decimal("123456789012.5000")),
    ],
)
def test_every_audit_entry_is_the_json_the_api_writes_whichever_database_writes_it(
    db: Database, store: Store, name: str, amount: Decimal
) -> None:
    """Each database writes some entries itself (SQLite's json_object, PostgreSQL's to_json and
    concatenation): byte for byte what audit.group_json writes for the same group."""
    store_id = new_store(db, "twelve.example")
    values = group_values(name=name, description=name[::-1], minimum_order=amount, auto_approve=True)

    async def scenario() -> tuple[CustomerGroup | None, CustomerGroup | None]:
        async def create(tx: Tx) -> int:
            return await tx.create_group(store_id=store_id, actor=ACTOR, values=values)

        group_id = await store.write(create)
        created = await store.get_group(store_id=store_id, group_id=group_id)

        async def update(tx: Tx) -> bool:
            changes = {"registration_message": name, "minimum_order": amount + 1, "price_level": -7}
            return await tx.update_recorded(store_id=store_id, actor=ACTOR, group_id=group_id, values=changes)

        assert await store.write(update)
        updated = await store.get_group(store_id=store_id, group_id=group_id)

        async def delete(tx: Tx) -> bool:
            return await tx.delete_recorded(store_id=store_id, actor=ACTOR, group_id=group_id)

        assert await store.write(delete)
        return created, updated

    created, updated = run_on_store(store, scenario)
    written = {e.action: (e.before, e.after) for e in _entries(db, store_id)}
    assert written == {
        "create": (None, audit_sql.group_json(created)),
        "update": (audit_sql.group_json(created), audit_sql.group_json(updated)),
        "delete": (audit_sql.group_json(updated), None),
    }


def test_reads_asked_while_a_batch_is_out_gather_into_the_next_one(
    pg_db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With READS_IN_FLIGHT batches at the database (here 1, held by a table lock), new reads
    wait and leave together, one statement, when a batch comes back."""
    monkeypatch.setattr(pg_store, "READS_IN_FLIGHT", 1)
    store = open_store(pg_db)
    store_id = new_store(pg_db, "thirteen.example")
    conninfo = pg_db.url.set(drivername="postgresql").render_as_string(hide_password=False)
    batches: list[list[int]] = []
    real_read_all = pg_store.PostgresStore._read_all

    async def counted(self: pg_store.PostgresStore, statement: Any, params: Any) -> list[Any]:
        batches.append(list(params["ids"]))
        return await real_read_all(self, statement, params)

    async def create(tx: Tx) -> int:
        return await tx.create_group(store_id=store_id, actor=ACTOR, values=group_values())

    async def scenario() -> list[int | None]:
        for _ in range(3):
            await store.write(create)
        monkeypatch.setattr(pg_store.PostgresStore, "_read_all", counted)
        with psycopg.connect(conninfo, autocommit=True) as locker:
            locker.execute("BEGIN")
            locker.execute("LOCK TABLE customer_groups IN ACCESS EXCLUSIVE MODE")
            first = asyncio.ensure_future(store.get_group(store_id=store_id, group_id=1))
            await asyncio.sleep(0.05)  # the first batch is out, waiting for the lock
            later = [asyncio.ensure_future(store.get_group(store_id=store_id, group_id=n)) for n in (2, 3, 4)]
            await asyncio.sleep(0.05)
            assert batches == [[1]]  # the later reads wait for it
            locker.execute("ROLLBACK")
            found = [await first, *[await read for read in later]]
        return [None if g is None else g.group_id for g in found]

    assert run_on_store(store, scenario) == [1, 2, 3, None]
    assert batches == [[1], [2, 3, 4]]
