"""The admin console's store-first queries: search, sort and paging, and that each sort reads
only its store's rows, through the primary key, on both databases (the console has no sort
indexes of its own: they made every API write slower, see migration 0007)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator, Sequence

import pytest
import sqlalchemy as sa

from cartgroups.service.credentials import Principal
from cartgroups.service.customer_groups import CustomerGroups
from cartgroups.storage import credentials as cred_sql
from cartgroups.storage import customer_groups as group_sql
from cartgroups.storage.database import Database
from cartgroups.storage.store import open_store
from cartgroups.storage.tables import customer_groups as groups_table


@pytest.fixture
def db(empty_database_url: str) -> Iterator[Database]:
    database = Database(empty_database_url)
    yield database
    database.dispose()


def _store(db: Database, url: str) -> int:
    with db.write() as conn:
        return cred_sql.insert_store(conn, secure_url=url)


def _create(db: Database, creates: Sequence[tuple[Principal, dict[str, object]]]) -> None:
    """Groups created through the service, in order, on an event loop and a store of their own."""

    async def main() -> None:
        store = open_store(db)
        await store.open()
        try:
            groups = CustomerGroups(store, max_bulk_items=10)
            for principal, body in creates:
                await groups.create(principal=principal, body=body)
        finally:
            await store.close()

    asyncio.run(main())


def test_search_sort_and_page_stay_in_the_store(db: Database) -> None:
    mine, theirs = _store(db, "mine.example.com"), _store(db, "theirs.example.com")
    in_mine = Principal(mine, "mine.example.com", True, True)
    _create(
        db,
        [
            *(
                (in_mine, {"Name": name, "PriceLevel": level})
                for name, level in (("b_2", 3), ("A%1", 7), ("c", 1), ("B_1", 3))
            ),
            (Principal(theirs, "theirs.example.com", True, True), {"Name": "b_2 elsewhere"}),
        ],
    )
    with db.read() as conn:

        def names(**kw: object) -> list[str]:
            rows = group_sql.search_groups(conn, store_id=mine, limit=10, skip=0, **kw)  # type: ignore[arg-type]
            return [g.name for g in rows]

        assert names() == ["b_2", "A%1", "c", "B_1"]
        assert names(sort="name") == ["A%1", "B_1", "b_2", "c"]  # any case, the same on both databases
        assert names(sort="name", descending=True) == ["c", "b_2", "B_1", "A%1"]
        assert names(sort="price_level") == ["c", "b_2", "B_1", "A%1"]
        assert names(name_contains="b_") == ["b_2", "B_1"]  # _ is literal, any case
        assert names(name_contains="%") == ["A%1"]
        assert group_sql.count_matching(conn, store_id=mine, name_contains="B") == 2
        assert group_sql.count_matching(conn, store_id=theirs) == 1
        assert [g.name for g in group_sql.search_groups(conn, store_id=mine, limit=2, skip=2)] == ["c", "B_1"]
        found = cred_sql.search_stores(conn, contains="MINE", limit=10, skip=0)
        assert [(s.secure_url, s.group_count) for s in found] == [("mine.example.com", 4)]
        assert cred_sql.count_matching_stores(conn, contains="example") == 2
        assert cred_sql.get_store(conn, store_id=theirs + 1000) is None


@pytest.mark.parametrize("sort", ["id", "name", "price_level"])
def test_each_sort_reads_only_the_stores_rows(db: Database, sort: str) -> None:
    store_id = _store(db, "big.example.com")
    with db.read() as conn:
        stmt = (
            sa.select(groups_table.c.group_id)
            .where(groups_table.c.store_id == store_id)
            .order_by(*group_sql.SORTS[sort])
            .limit(50)
            .offset(1000)
        )
        compiled = str(stmt.compile(conn, compile_kwargs={"literal_binds": True}))
        if db.dialect_name == "sqlite":
            plan = " ".join(str(row[-1]) for row in conn.exec_driver_sql("EXPLAIN QUERY PLAN " + compiled))
            assert "SCAN" not in plan, plan  # never the whole table
            assert "SEARCH customer_groups USING" in plan and "(store_id=?)" in plan, plan
        else:
            # With sequential scans off, the planner still scans the table only if no index can
            # narrow it to the store: so the plan shows whether the primary key is used.
            conn.exec_driver_sql("SET enable_seqscan = off")
            try:
                plan = " ".join(str(row[0]) for row in conn.exec_driver_sql("EXPLAIN " + compiled))
            finally:
                conn.exec_driver_sql("RESET enable_seqscan")
            assert "Seq Scan" not in plan, plan
            assert "pk_customer_groups" in plan, plan
