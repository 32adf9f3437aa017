"""Per-store ids and tenant isolation are properties of the storage functions themselves."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import sqlalchemy as sa

from cartgroups.storage import customer_groups as groups_sql
from cartgroups.storage.database import Database
from cartgroups.storage.tables import stores
from tests.storage.conftest import group_values, new_store


def test_ids_are_per_store_from_1_and_never_reused(db: Database) -> None:
    a, b = new_store(db, "a.example.com"), new_store(db, "b.example.com")
    with db.write() as conn:

        def insert(store: int) -> int:
            return groups_sql.insert_group(conn, store_id=store, values=group_values())

        assert [insert(a), insert(a), insert(a)] == [1, 2, 3]
        assert insert(b) == 1
        assert groups_sql.delete_group(conn, store_id=a, group_id=3)
        assert insert(a) == 4
        assert groups_sql.delete_group(conn, store_id=a, group_id=4)  # the highest, twice running
        assert groups_sql.delete_group(conn, store_id=a, group_id=2)  # and one below it
        assert insert(a) == 5
        for group_id in (1, 5):
            assert groups_sql.delete_group(conn, store_id=a, group_id=group_id)
        assert groups_sql.count_groups(conn, store_id=a) == 0
        assert insert(a) == 6  # none left: still after every id handed out
        assert insert(b) == 2


def test_a_store_whose_last_id_is_above_its_groups_goes_on_from_it(db: Database) -> None:
    """As a database written by an earlier version leaves a store that handed out ids 1..7 and
    then lost 4..7 (on PostgreSQL, how every store is kept)."""
    a = new_store(db, "a.example.com")
    with db.write() as conn:
        for _ in range(3):
            groups_sql.insert_group(conn, store_id=a, values=group_values())
        conn.execute(sa.update(stores).where(stores.c.id == a).values(last_group_id=7))
        assert groups_sql.insert_group(conn, store_id=a, values=group_values()) == 8


def test_concurrent_inserts_get_unique_ids_per_store(db: Database, empty_database_url: str) -> None:
    stores = [new_store(db, "a.example.com"), new_store(db, "b.example.com")]
    threads, per_thread = 6, 20
    barrier = threading.Barrier(threads)

    def insert(n: int) -> list[tuple[int, int]]:
        # Each thread has its own engine, like a separate server process would.
        own = Database(empty_database_url)
        try:
            barrier.wait(timeout=30)
            made = []
            for i in range(per_thread):
                store = stores[(n + i) % 2]
                with own.write() as conn:
                    group_id = groups_sql.insert_group(conn, store_id=store, values=group_values())
                made.append((store, group_id))
            return made
        finally:
            own.dispose()

    with ThreadPoolExecutor(threads) as pool:
        made = [item for chunk in pool.map(insert, range(threads)) for item in chunk]
    per_store = threads * per_thread // 2
    with db.read() as conn:
        for store in stores:
            ids = sorted(group_id for s, group_id in made if s == store)
            assert ids == list(range(1, per_store + 1))
            listed = groups_sql.list_groups(conn, store_id=store, limit=500, skip=0)
            assert [g.group_id for g in listed] == ids
            assert groups_sql.count_groups(conn, store_id=store) == per_store


def test_a_store_cannot_read_change_or_delete_another_stores_group(db: Database) -> None:
    a, b = new_store(db, "a.example.com"), new_store(db, "b.example.com")
    with db.write() as conn:
        for name in ("A1", "A2"):
            groups_sql.insert_group(conn, store_id=a, values=group_values(name=name))
        groups_sql.insert_group(conn, store_id=b, values=group_values(name="B1"))

    with db.write() as conn:
        # Group 2 exists only in store A: store B gets "no such group" for every operation.
        assert groups_sql.get_group(conn, store_id=b, group_id=2) is None
        assert not groups_sql.update_group(conn, store_id=b, group_id=2, values={"name": "x"})
        assert not groups_sql.update_group(conn, store_id=b, group_id=2, values={})
        assert not groups_sql.delete_group(conn, store_id=b, group_id=2)
        # Group 1 exists in both: each store reaches only its own.
        assert groups_sql.update_group(conn, store_id=b, group_id=1, values={"name": "B1 new"})
        assert groups_sql.delete_group(conn, store_id=b, group_id=1)

    with db.read() as conn:
        assert [g.name for g in groups_sql.list_groups(conn, store_id=a, limit=10, skip=0)] == [
            "A1",
            "A2",
        ]
        assert groups_sql.list_groups(conn, store_id=b, limit=10, skip=0) == []
        assert groups_sql.count_groups(conn, store_id=a) == 2
        assert groups_sql.count_groups(conn, store_id=b) == 0
        assert groups_sql.get_group(conn, store_id=b, group_id=1) is None
        got = groups_sql.get_group(conn, store_id=a, group_id=1)
        assert got is not None and got.name == "A1"


def test_list_pages_in_id_order(db: Database) -> None:
    store = new_store(db, "a.example.com")
    with db.write() as conn:
        for n in range(5):
            groups_sql.insert_group(conn, store_id=store, values=group_values(name=f"G{n}"))
        groups_sql.delete_group(conn, store_id=store, group_id=2)
    with db.read() as conn:
        page = groups_sql.list_groups(conn, store_id=store, limit=2, skip=1)
    assert [g.group_id for g in page] == [3, 4]
