"""Single-statement writes asked at one moment (storage/postgres/gathered.py): on PostgreSQL one
statement for many, each write with its own answer; on SQLite the group commit's batch. The
outcomes are the same on both databases, so the first tests run on both."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import orjson
import psycopg
import pytest

from cartgroups.errors import DatabaseUnavailable
from cartgroups.storage import audit as audit_sql
from cartgroups.storage import dialect
from cartgroups.storage.audit import Actor
from cartgroups.storage.database import Database
from cartgroups.storage.postgres import gathered, statements
from cartgroups.storage.postgres import store as pg_store
from cartgroups.storage.postgres.statements import Many
from cartgroups.storage.store import Alone, Store, Tx, open_store
from tests.storage.conftest import group_values, new_store, run_on_store

ACTOR = Actor(7, "tests")


@pytest.fixture
def store(db: Database) -> Iterator[Store]:
    yield open_store(db)


def _create(store_id: int, name: str, **values: object) -> Alone[int]:
    async def plan(tx: Tx) -> int:
        return await tx.create_group(store_id=store_id, actor=ACTOR, values=group_values(name=name, **values))

    return Alone(plan)


def _update(store_id: int, group_id: int, **values: object) -> Alone[bool]:
    async def plan(tx: Tx) -> bool:
        return await tx.update_recorded(store_id=store_id, actor=ACTOR, group_id=group_id, values=values)

    return Alone(plan)


def _delete(store_id: int, group_id: int) -> Alone[bool]:
    async def plan(tx: Tx) -> bool:
        return await tx.delete_recorded(store_id=store_id, actor=ACTOR, group_id=group_id)

    return Alone(plan)


def _entries(db: Database, store_id: int) -> list[audit_sql.Entry]:
    with db.read() as conn:
        return sorted(audit_sql.list_entries(conn, store_id=store_id, limit=100), key=lambda e: e.id)


def _names(db: Database, store_id: int) -> dict[int, str]:
    with db.read() as conn:
        rows = conn.exec_driver_sql(
            "SELECT group_id, name FROM customer_groups WHERE store_id = %(s)s"
            if db.dialect_name == "postgresql"
            else "SELECT group_id, name FROM customer_groups WHERE store_id = :s",
            {"s": store_id},
        ).all()
    return {int(group_id): str(name) for group_id, name in rows}


def test_creates_asked_together_take_each_stores_next_ids_in_the_order_asked(
    db: Database, store: Store
) -> None:
    a, b = new_store(db, "gather-a.example"), new_store(db, "gather-b.example")
    asked = [(a, "a1"), (b, "b1"), (a, "a2"), (a, "a3"), (b, "b2")]

    async def scenario() -> list[int]:
        return list(await asyncio.gather(*(store.write(_create(s, name)) for s, name in asked)))

    assert run_on_store(store, scenario) == [1, 1, 2, 3, 2]
    assert _names(db, a) == {1: "a1", 2: "a2", 3: "a3"}
    assert _names(db, b) == {1: "b1", 2: "b2"}
    entries = _entries(db, a)
    assert sorted((e.action, e.item_id, orjson.loads(e.after or "")["Name"]) for e in entries) == [
        ("create", 1, "a1"),
        ("create", 2, "a2"),
        ("create", 3, "a3"),
    ]

    async def more() -> int:  # the next id after a gathered batch
        return await store.write(_create(a, "a4"))

    assert run_on_store(store, more) == 4


def test_updates_and_deletes_asked_together_each_get_their_own_answer(db: Database, store: Store) -> None:
    s = new_store(db, "gather-c.example")

    async def scenario() -> list[object]:
        for n in range(4):
            await store.write(_create(s, f"g{n + 1}"))
        return list(
            await asyncio.gather(
                store.write(_update(s, 1, name="one")),
                store.write(_update(s, 9, name="nine")),  # no such group
                store.write(_update(s, 2, name="two", price_level=3)),
                store.write(_delete(s, 3)),
                store.write(_delete(s, 8)),  # no such group
                store.write(_update(s, 1, name="uno")),  # the same group again: after the first
                store.write(_update(s, 4, name="four")),
                store.write(_delete(s, 4)),  # another kind, the same group: after its update
            )
        )

    assert run_on_store(store, scenario) == [True, False, True, True, False, True, True, True]
    assert _names(db, s) == {1: "uno", 2: "two"}
    entries = [e for e in _entries(db, s) if e.action != "create"]
    assert sorted((e.action, e.item_id) for e in entries) == [
        ("delete", 3),
        ("delete", 4),
        ("update", 1),
        ("update", 1),
        ("update", 2),
        ("update", 4),
    ]
    (four,) = [e for e in entries if e.action == "delete" and e.item_id == 4]
    assert orjson.loads(four.before or "")["Name"] == "four"
    ones = [e for e in entries if e.item_id == 1]
    # Each update's before is the group as the one before it left it.
    assert [orjson.loads(e.before or "")["Name"] for e in ones] == ["g1", "one"]
    assert [orjson.loads(e.after or "")["Name"] for e in ones] == ["one", "uno"]
    (gone,) = [e for e in entries if e.action == "delete" and e.item_id == 3]
    assert orjson.loads(gone.before or "")["Name"] == "g3" and gone.after is None


def _count_statements(monkeypatch: pytest.MonkeyPatch) -> list[tuple[Many, int]]:
    made: list[tuple[Many, int]] = []
    real = pg_store.run_many

    async def counted(conn: Any, kind: Many, rows: Sequence[Mapping[str, object]]) -> list[int | None]:
        made.append((kind, len(rows)))
        return await real(conn, kind, rows)

    monkeypatch.setattr(pg_store, "run_many", counted)
    return made


def test_postgresql_makes_writes_asked_together_in_one_statement_per_kind(
    pg_db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = open_store(pg_db)
    s = new_store(pg_db, "gather-d.example")
    made = _count_statements(monkeypatch)

    async def scenario() -> list[object]:
        await asyncio.gather(*(store.write(_create(s, f"g{n}")) for n in range(5)))
        return list(
            await asyncio.gather(
                store.write(_update(s, 1, name="x")),
                store.write(_update(s, 2, name="y")),
                store.write(_update(s, 3, price_level=2)),  # other columns: another statement
                store.write(_update(s, 1, name="z")),  # the same group: the next statement
            )
        )

    assert run_on_store(store, scenario) == [True] * 4
    names, levels = statements.update(frozenset({"name"})), statements.update(frozenset({"price_level"}))
    assert made[0] == (statements.CREATE, 5)  # five creates, one statement
    assert sorted(made[1:3], key=lambda m: m[1]) == [(levels, 1), (names, 2)]  # per set of columns
    assert made[3:] == [(names, 1)]  # group 1's second update, after its first
    assert _names(pg_db, s)[1] == "z"


def test_a_write_the_database_refuses_fails_alone_and_its_neighbours_are_made(
    pg_db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A batch fails as a whole for one write's sake (here a PriceLevel past INTEGER, which the
    service would have refused): it is made again one write at a time, and only that one fails."""
    store = open_store(pg_db)
    s = new_store(pg_db, "gather-e.example")
    made = _count_statements(monkeypatch)

    async def scenario() -> list[object]:
        writes = [_create(s, "good"), _create(s, "bad", price_level=2**40), _create(s, "also good")]
        return list(await asyncio.gather(*(store.write(w) for w in writes), return_exceptions=True))

    first, bad, last = run_on_store(store, scenario)
    assert isinstance(bad, psycopg.errors.NumericValueOutOfRange)
    assert (first, last) == (1, 2)  # the failed statement used up no id
    assert _names(pg_db, s) == {1: "good", 2: "also good"}
    assert [e.item_id for e in _entries(pg_db, s)] == [1, 2]
    assert [count for _kind, count in made] == [3, 1, 1, 1]


def test_writes_asked_while_a_statement_is_out_gather_into_the_next(
    pg_db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With WRITES_IN_FLIGHT statements at the database (here 1, held by a lock), new writes
    wait and leave together when it comes back."""
    monkeypatch.setattr(gathered, "WRITES_IN_FLIGHT", 1)
    store = open_store(pg_db)
    s = new_store(pg_db, "gather-f.example")
    conninfo = pg_db.url.set(drivername="postgresql").render_as_string(hide_password=False)
    made = _count_statements(monkeypatch)

    async def scenario() -> list[int]:
        with psycopg.connect(conninfo, autocommit=True) as locker:
            locker.execute("BEGIN")
            locker.execute("SELECT id FROM stores WHERE id = %s FOR UPDATE", (s,))
            first = asyncio.ensure_future(store.write(_create(s, "first")))
            await asyncio.sleep(0.05)  # out, waiting for the store's row
            later = [asyncio.ensure_future(store.write(_create(s, f"later{n}"))) for n in range(3)]
            await asyncio.sleep(0.05)
            assert [count for _kind, count in made] == [1]  # the later ones wait for it
            locker.execute("ROLLBACK")
            return [await first, *[await w for w in later]]

    assert run_on_store(store, scenario) == [1, 2, 3, 4]
    assert [count for _kind, count in made] == [1, 3]


def test_writes_gathered_behind_an_outage_all_get_503(
    pg_db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(dialect, "DATABASE_WAIT_SECONDS", 1)
    gone = Database(pg_db.url.set(host="127.0.0.1", port=1).render_as_string(hide_password=False))
    store = open_store(gone)

    async def scenario() -> list[object]:
        writes = [_create(1, "a"), _update(1, 1, name="b"), _delete(1, 2), _create(1, "c")]
        return list(await asyncio.gather(*(store.write(w) for w in writes), return_exceptions=True))

    try:
        answers = run_on_store(store, scenario)
    finally:
        gone.dispose()
    assert all(isinstance(answer, DatabaseUnavailable) for answer in answers), answers


def test_a_gathered_statement_that_loses_a_conflict_is_made_again(
    pg_db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = open_store(pg_db)
    s = new_store(pg_db, "gather-g.example")
    losses: list[str] = []
    real = pg_store.run_many

    async def loses_twice(conn: Any, kind: Many, rows: Sequence[Mapping[str, object]]) -> list[int | None]:
        if len(losses) < 2:  # a statement that loses is rolled back whole: as if never sent
            losses.append("lost")
            raise psycopg.errors.DeadlockDetected("simulated")
        return await real(conn, kind, rows)

    monkeypatch.setattr(pg_store, "run_many", loses_twice)

    async def scenario() -> list[int]:
        return list(await asyncio.gather(store.write(_create(s, "a")), store.write(_create(s, "b"))))

    assert run_on_store(store, scenario) == [1, 2]
    assert losses == ["lost", "lost"]
    assert _names(pg_db, s) == {1: "a", 2: "b"}


def test_a_write_whose_request_went_away_before_it_left_is_not_made(
    pg_db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(gathered, "WRITES_IN_FLIGHT", 1)
    store = open_store(pg_db)
    s = new_store(pg_db, "gather-h.example")
    conninfo = pg_db.url.set(drivername="postgresql").render_as_string(hide_password=False)

    async def scenario() -> tuple[int, bool, int]:
        with psycopg.connect(conninfo, autocommit=True) as locker:
            locker.execute("BEGIN")
            locker.execute("SELECT id FROM stores WHERE id = %s FOR UPDATE", (s,))
            first = asyncio.ensure_future(store.write(_create(s, "first")))
            await asyncio.sleep(0.05)  # out, waiting for the store's row
            gone = asyncio.ensure_future(store.write(_create(s, "gone")))
            kept = asyncio.ensure_future(store.write(_create(s, "kept")))
            await asyncio.sleep(0.01)
            gone.cancel()  # its client hung up while it waited
            locker.execute("ROLLBACK")
            return await first, gone.cancelled(), await kept

    assert run_on_store(store, scenario) == (1, True, 2)
    assert _names(pg_db, s) == {1: "first", 2: "kept"}


def test_a_statement_that_keeps_losing_conflicts_fails_alone_not_the_writes_behind_it(
    pg_db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    """503 for the batch that lost CONFLICT_RETRIES + 1 times; writes gathered behind it (here
    while it was out) are made: the database is up."""
    monkeypatch.setattr(gathered, "WRITES_IN_FLIGHT", 1)
    store = open_store(pg_db)
    s = new_store(pg_db, "gather-i.example")
    real = pg_store.run_many

    async def loses_for_the_first(
        conn: Any, kind: Many, rows: Sequence[Mapping[str, object]]
    ) -> list[int | None]:
        if rows[0]["name"] == "loser":
            await asyncio.sleep(0.01)  # out long enough for the others to gather behind it
            raise psycopg.errors.DeadlockDetected("simulated")
        return await real(conn, kind, rows)

    monkeypatch.setattr(pg_store, "run_many", loses_for_the_first)

    async def scenario() -> list[object]:
        loser = asyncio.ensure_future(store.write(_create(s, "loser")))
        await asyncio.sleep(0)  # its statement leaves first
        later = [store.write(_create(s, f"later{n}")) for n in range(2)]
        return list(await asyncio.gather(loser, *later, return_exceptions=True))

    loser, *later = run_on_store(store, scenario)
    assert isinstance(loser, DatabaseUnavailable)
    assert later == [1, 2]
    assert _names(pg_db, s) == {1: "later0", 2: "later1"}
