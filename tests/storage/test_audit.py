"""The audit log's SQL on both databases: writing one or many entries, listing with each filter,
one store never seeing another's entries, indexing by store (the same answers before, during and
after it), pruning by age and the shared prune claim."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal

import pytest
import sqlalchemy as sa

from cartgroups.model import CustomerGroup
from cartgroups.storage import audit as audit_sql
from cartgroups.storage import fastpath
from cartgroups.storage.audit import Actor, Change, Entry
from cartgroups.storage.database import Database
from cartgroups.storage.tables import audit_log, audit_log_by_store
from tests.conftest import reset_database
from tests.storage.conftest import new_store

T0 = datetime(2026, 3, 1, 12, 0, 0, 123456, tzinfo=UTC)
ALICE, BOB = Actor(1, "alice"), Actor(2, "bob")


@pytest.fixture
def empty_database_url(quiet_database_url: str) -> str:
    """The tests here count what indexing does: their database is one that no live test server
    (whose indexer thread would index at any moment) uses; schema up to date, every row deleted."""
    reset_database(quiet_database_url)
    return quiet_database_url


def group(group_id: int, name: str, amount: str = "0") -> CustomerGroup:
    return CustomerGroup(group_id, name, "", Decimal(amount), False, True, False, False, "", 2)


def listed(db: Database, store_id: int, **filters: object) -> list[Entry]:
    with db.read() as conn:
        return audit_sql.list_entries(conn, store_id=store_id, limit=filters.pop("limit", 1000), **filters)  # type: ignore[arg-type]


def index(db: Database, batch: int = audit_sql.INDEX_BATCH) -> int:
    with db.write() as conn:
        return audit_sql.index_new_entries(conn, batch=batch)


def by_store(db: Database) -> list[tuple[int, datetime, int]]:
    """audit_log_by_store's rows, as (store, time, id)."""
    with db.read() as conn:
        rows = conn.execute(sa.select(audit_log_by_store).order_by(audit_log_by_store.c.id))
        return [(store, audit_sql.utc(at), id_) for store, at, id_ in rows]


def entries(db: Database) -> list[tuple[int, datetime, int]]:
    """Every entry of audit_log as (store, time, id): what audit_log_by_store holds once indexed."""
    with db.read() as conn:
        rows = conn.execute(
            sa.select(audit_log.c.store_id, audit_log.c.at, audit_log.c.id).order_by(audit_log.c.id)
        )
        return [(store, audit_sql.utc(at), id_) for store, at, id_ in rows]


@pytest.fixture(params=["not indexed", "partly indexed", "indexed"])
def stores(request: pytest.FixtureRequest, db: Database) -> tuple[int, int]:
    """Two stores with a history each, on a fixed clock: ``a`` has 4 entries, ``b`` one; none,
    the two oldest or all of them indexed by store (readers answer the same in every case)."""
    a, b = new_store(db, "a.example.com"), new_store(db, "b.example.com")
    with db.write() as conn:
        record = audit_sql.record
        record(conn, store_id=a, actor=ALICE, changes=[Change("create", 1, None, group(1, "one"))], at=T0)
        bulk = [
            Change("update", 1, group(1, "one"), group(1, "uno", "1.50"), bulk=True),
            Change("update", 2, group(2, "two"), group(2, "dos"), bulk=True),
        ]
        record(conn, store_id=a, actor=BOB, changes=bulk, at=T0 + timedelta(hours=1))
        record(
            conn,
            store_id=a,
            actor=ALICE,
            changes=[Change("delete", 2, group(2, "dos"), None)],
            at=T0 + timedelta(days=1),
        )
        record(conn, store_id=b, actor=BOB, changes=[Change("create", 1, None, group(1, "b1"))], at=T0)
    if request.param == "partly indexed":
        assert index(db, batch=2) == 2
    elif request.param == "indexed":
        assert index(db) == 5
    return a, b


def test_entries_read_back_as_written_newest_first(db: Database, stores: tuple[int, int]) -> None:
    a, _ = stores
    got = listed(db, a)
    assert [(e.action, e.item_id, e.application, e.token_id, e.bulk) for e in got] == [
        ("delete", 2, "alice", 1, False),
        ("update", 2, "bob", 2, True),
        ("update", 1, "bob", 2, True),
        ("create", 1, "alice", 1, False),
    ]
    assert [e.at for e in got] == [
        T0 + timedelta(days=1),
        T0 + timedelta(hours=1),
        T0 + timedelta(hours=1),
        T0,
    ]
    assert got[0].before == (
        '{"CustomerGroupID":2,"Name":"dos","Description":"","MinimumOrder":0.0,"NonTaxable":false,'
        '"AllowRegistration":true,"DisableRewardPoints":false,"AutoApprove":false,'
        '"RegistrationMessage":"","PriceLevel":2}'
    )
    assert got[0].after is None and got[3].before is None
    assert {e.resource for e in got} == {"CustomerGroup"}
    assert '"MinimumOrder":1.50' in (got[2].after or "")


@pytest.mark.parametrize(
    ("filters", "expected"),
    [
        ({"item_id": 2}, [("delete", 2), ("update", 2)]),
        ({"resource": "CustomerGroup", "item_id": 2}, [("delete", 2), ("update", 2)]),
        ({"resource": "Customer"}, []),
        ({"resource": "Customer", "item_id": 2}, []),
        ({"application": "bob"}, [("update", 2), ("update", 1)]),
        ({"action": "create"}, [("create", 1)]),
        ({"since": T0 + timedelta(hours=1)}, [("delete", 2), ("update", 2), ("update", 1)]),
        ({"until": T0 + timedelta(hours=1)}, [("create", 1)]),
        ({"since": T0, "until": T0 + timedelta(microseconds=1)}, [("create", 1)]),
        ({"limit": 1}, [("delete", 2)]),
        ({"application": "bob", "item_id": 1, "action": "update"}, [("update", 1)]),
        ({"application": "nobody"}, []),
    ],
)
def test_each_filter(
    db: Database, stores: tuple[int, int], filters: dict[str, object], expected: list[tuple[str, int]]
) -> None:
    a, _ = stores
    assert [(e.action, e.item_id) for e in listed(db, a, **filters)] == expected


def test_a_time_with_another_offset_is_the_same_instant(db: Database, stores: tuple[int, int]) -> None:
    a, _ = stores
    plus_five = datetime(2026, 3, 2, 17, 0, 0, 123456, tzinfo=timezone(timedelta(hours=5)))
    assert plus_five == T0 + timedelta(days=1)
    assert [e.action for e in listed(db, a, since=plus_five)] == ["delete"]


def test_a_store_sees_only_its_own_entries(db: Database, stores: tuple[int, int]) -> None:
    a, b = stores
    assert [(e.action, e.item_id, e.application) for e in listed(db, b)] == [("create", 1, "bob")]
    assert all('"b1"' not in (e.after or "") for e in listed(db, a))
    assert listed(db, b, item_id=2) == []


CUSTOMER_BEFORE = '{"CustomerID":2,"Email":"a@example.com","CustomerGroupID":1}'
CUSTOMER_AFTER = '{"CustomerID":2,"Email":"b@example.com","CustomerGroupID":1}'


def customer_changes(db: Database, store_id: int, *, indexed: bool) -> None:
    """Store ``store_id``: customer 2 created, then updated; written with entry_for, as any
    resource is, beside the group entries already there."""
    with db.write() as conn:
        created = audit_sql.entry_for(
            store_id,
            ALICE,
            resource=audit_sql.CUSTOMER,
            action="create",
            item_id=2,
            before=None,
            after=CUSTOMER_BEFORE,
        )
        audit_sql.record_entries(conn, [created], at=T0 + timedelta(days=2))
        updated = audit_sql.entry_for(
            store_id,
            BOB,
            resource=audit_sql.CUSTOMER,
            action="update",
            item_id=2,
            before=CUSTOMER_BEFORE,
            after=CUSTOMER_AFTER,
            bulk=True,
        )
        audit_sql.record_entries(conn, [updated], at=T0 + timedelta(days=3))
    if indexed:
        index(db)


def test_entry_for_writes_an_entry_of_another_resource_read_back_with_its_filter(
    db: Database, stores: tuple[int, int]
) -> None:
    a, b = stores
    customer_changes(db, a, indexed=False)
    for indexed in (False, True):  # the same before and after indexing
        if indexed:
            index(db)
        customers = listed(db, a, resource="Customer")
        assert [(e.resource, e.action, e.item_id, e.application, e.token_id, e.bulk) for e in customers] == [
            ("Customer", "update", 2, "bob", 2, True),
            ("Customer", "create", 2, "alice", 1, False),
        ]
        assert [(e.before, e.after) for e in customers] == [
            (CUSTOMER_BEFORE, CUSTOMER_AFTER),
            (None, CUSTOMER_BEFORE),
        ]
        assert [e.at for e in customers] == [T0 + timedelta(days=3), T0 + timedelta(days=2)]
        assert [(e.action, e.item_id) for e in listed(db, a, resource="Customer", item_id=2)] == [
            ("update", 2),
            ("create", 2),
        ]
        assert listed(db, a, resource="Customer", item_id=1) == []
        # Group 2's entries are not customer 2's, nor the other way round.
        groups = listed(db, a, resource="CustomerGroup", item_id=2)
        assert [(e.resource, e.action) for e in groups] == [
            ("CustomerGroup", "delete"),
            ("CustomerGroup", "update"),
        ]
        assert [(e.resource, e.action) for e in listed(db, a, item_id=2, action="update")] == [
            ("Customer", "update"),
            ("CustomerGroup", "update"),
        ]
        assert len(listed(db, a)) == 6
        assert listed(db, b, resource="Customer") == []  # another store's filter sees none


def test_entry_is_entry_for_a_customer_group() -> None:
    change = Change("update", 7, group(7, "a"), group(7, "b", "2.50"), bulk=True)
    assert audit_sql.entry(3, ALICE, change) == audit_sql.entry_for(
        3,
        ALICE,
        resource="CustomerGroup",
        action="update",
        item_id=7,
        before=audit_sql.group_json(change.before),
        after=audit_sql.group_json(change.after),
        bulk=True,
    )
    assert audit_sql.entry(3, ALICE, change) == {
        "store_id": 3,
        "token_id": 1,
        "application": "alice",
        "action": "update",
        "bulk": True,
        "resource": "CustomerGroup",
        "item_id": 7,
        "before_values": audit_sql.group_json(change.before),
        "after_values": audit_sql.group_json(change.after),
    }


def test_pruning_deletes_old_entries_of_every_store_in_batches(db: Database, stores: tuple[int, int]) -> None:
    a, b = stores
    cutoff = T0 + timedelta(hours=2)
    with db.write() as conn:
        assert audit_sql.prune_batch(conn, older_than=cutoff, batch=2) == 2
    with db.write() as conn:
        assert audit_sql.prune_batch(conn, older_than=cutoff, batch=2) == 2
        assert audit_sql.prune_batch(conn, older_than=cutoff, batch=2) == 0
    assert [e.action for e in listed(db, a)] == ["delete"]
    assert listed(db, b) == []
    assert {row[2] for row in by_store(db)} <= {row[2] for row in entries(db)}  # none left behind


def test_deleting_a_store_deletes_its_entries(db: Database, stores: tuple[int, int]) -> None:
    a, b = stores
    with db.write() as conn:
        conn.execute(sa.text("DELETE FROM stores WHERE id = :id"), {"id": b})
    with db.read() as conn:
        left = conn.execute(sa.select(audit_log.c.store_id).distinct()).scalars().all()
    assert left == [a]
    assert {row[0] for row in by_store(db)} <= {a}


def test_deleting_a_stores_entries_takes_indexed_and_new_ones_and_no_others(
    db: Database, stores: tuple[int, int]
) -> None:
    a, b = stores
    with db.write() as conn:  # one more of a's, not indexed whatever the fixture did
        audit_sql.record(
            conn, store_id=a, actor=ALICE, changes=[Change("create", 3, None, group(3, "t"))], at=T0
        )
    kept = listed(db, b)
    with db.write() as conn:
        audit_sql.delete_store_entries(conn, store_id=a)
    assert listed(db, a) == []
    assert listed(db, b) == kept
    assert [row[0] for row in entries(db)] == [b]
    assert {row[0] for row in by_store(db)} <= {b}


def test_indexing_takes_every_entry_once_oldest_first_in_batches(db: Database) -> None:
    a, b = new_store(db, "a.example.com"), new_store(db, "b.example.com")
    with db.read() as conn:
        assert not audit_sql.unindexed(conn)
    assert index(db) == 0  # nothing to do
    with db.write() as conn:
        for n in range(7):
            store, made = (a, b)[n % 2], group(n, f"g{n}")
            audit_sql.record(
                conn, store_id=store, actor=ALICE, changes=[Change("create", n, None, made)], at=T0
            )
    with db.read() as conn:
        assert audit_sql.unindexed(conn)
    assert [index(db, batch=3) for _ in range(4)] == [3, 3, 1, 0]
    assert by_store(db) == entries(db)
    with db.read() as conn:
        assert not audit_sql.unindexed(conn)
    assert [e.item_id for e in listed(db, a)] == [6, 4, 2, 0]  # the same time: newest id first


def test_ids_are_never_handed_out_again_so_a_new_entry_is_never_taken_for_an_indexed_one(
    db: Database,
) -> None:
    """SQLite reuses the highest rowid once its row is gone, unless the table has AUTOINCREMENT:
    an entry reusing an indexed id would be above no mark and in no index, listed by nobody."""
    a, b = new_store(db, "a.example.com"), new_store(db, "b.example.com")
    with db.write() as conn:
        audit_sql.record(
            conn, store_id=a, actor=ALICE, changes=[Change("create", 1, None, group(1, "a"))], at=T0
        )
        audit_sql.record(
            conn, store_id=b, actor=ALICE, changes=[Change("create", 1, None, group(1, "b"))], at=T0
        )
    assert index(db) == 2
    highest = entries(db)[-1][2]
    with db.write() as conn:  # the highest entry goes: b's, deleted by its store's removal
        conn.execute(sa.text("DELETE FROM stores WHERE id = :id"), {"id": b})
    with db.write() as conn:
        audit_sql.record(
            conn, store_id=a, actor=ALICE, changes=[Change("update", 1, None, group(1, "x"))], at=T0
        )
    newest = entries(db)[-1][2]
    assert newest > highest
    assert [e.action for e in listed(db, a)] == ["update", "create"]
    assert index(db) == 1
    assert [e.action for e in listed(db, a)] == ["update", "create"]


def test_an_indexed_entry_is_listed_from_the_index_not_from_the_log_alone(db: Database) -> None:
    """The indexed arm really reads audit_log_by_store: an indexed entry whose index row is
    gone is not listed (so the tests above, which list indexed entries, test the index)."""
    a = new_store(db, "a.example.com")
    with db.write() as conn:
        audit_sql.record(
            conn, store_id=a, actor=ALICE, changes=[Change("create", 1, None, group(1, "a"))], at=T0
        )
    assert index(db) == 1
    with db.write() as conn:
        conn.execute(sa.delete(audit_log_by_store))
    assert listed(db, a) == []


def test_the_prune_claim_is_won_once_per_period(db: Database) -> None:
    hour = timedelta(hours=1)

    def claim(at: datetime) -> bool:
        with db.write() as conn:
            return audit_sql.claim_task(conn, task="t", at=at, not_since=at - hour)

    assert claim(T0)  # the first ever
    assert not claim(T0 + timedelta(minutes=59))
    assert claim(T0 + hour)
    assert not claim(T0 + hour)
    with db.write() as conn:  # another task has its own schedule
        assert audit_sql.claim_task(conn, task="other", at=T0, not_since=T0 - hour)


def test_on_postgresql_indexing_waits_for_an_entry_still_being_written_below_a_committed_one(
    db: Database, empty_database_url: str
) -> None:
    """PostgreSQL hands out ids before commit: entry 1 may still be in flight when entry 2 has
    committed. Indexing must not set its mark past 1 until 1 is committed (or it never would be
    indexed, nor listed)."""
    if db.dialect_name != "postgresql":
        pytest.skip("SQLite writes one transaction at a time: no entry is in flight while indexing")
    a = new_store(db, "a.example.com")
    slow, fast = Database(empty_database_url), Database(empty_database_url)
    done: list[int] = []
    try:
        with slow.write() as first:
            audit_sql.record(
                first, store_id=a, actor=ALICE, changes=[Change("create", 1, None, group(1, "a"))], at=T0
            )
            with fast.write() as second:
                audit_sql.record(
                    second, store_id=a, actor=BOB, changes=[Change("create", 2, None, group(2, "b"))], at=T0
                )
            indexer = threading.Thread(target=lambda: done.append(index(db)))
            indexer.start()
            indexer.join(0.5)
            assert indexer.is_alive()  # waiting for the first writer
        indexer.join(10)
    finally:
        slow.dispose()
        fast.dispose()
    assert done == [2]
    assert by_store(db) == entries(db)
    assert [e.item_id for e in listed(db, a)] == [2, 1]


def test_indexing_between_the_two_reads_of_a_listing_neither_loses_nor_repeats_an_entry(
    db: Database, empty_database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A listing reads twice (the entries not indexed yet, then the index), each read seeing the
    latest commit; another process indexes everything in between."""
    a = new_store(db, "a.example.com")
    with db.write() as conn:
        for n in (1, 2, 3):
            audit_sql.record(
                conn, store_id=a, actor=ALICE, changes=[Change("create", n, None, group(n, "g"))], at=T0
            )
    other = Database(empty_database_url)
    try:
        with db.read() as conn:
            real, reads = conn.execute, []

            def execute(statement: object, *args: object, **kw: object) -> object:
                result = real(statement, *args, **kw)  # type: ignore[call-overload]
                reads.append(statement)
                if len(reads) > 1:
                    return result
                rows = result.all()
                assert index(other) == 3
                return rows

            monkeypatch.setattr(conn, "execute", execute)
            got = audit_sql.list_entries(conn, store_id=a, limit=10)
    finally:
        other.dispose()
    assert len(reads) == 2
    assert [e.item_id for e in got] == [3, 2, 1]


@pytest.mark.parametrize(
    "micros",
    [
        0,  # the epoch
        1_764_374_399_999_999,  # the last microsecond of a day ...
        1_764_374_400_000_000,  # ... and the first of the next
        1_772_366_400_000_001,
        4_102_444_800_123_456,  # 2100-01-01
    ],
)
def test_the_time_an_entry_takes_is_written_as_any_time_is(
    db: Database, monkeypatch: pytest.MonkeyPatch, micros: int
) -> None:
    """fastpath.bind_now (what each audit entry's time is bound as, the time of day made once a
    second) binds what bind_time binds for the same instant, on either database."""
    instant = datetime(1970, 1, 1, tzinfo=UTC) + timedelta(microseconds=micros)
    with db.read() as conn:
        for step in (0, 1, 1_000_000):  # the same second again, then the next
            monkeypatch.setattr(fastpath.time, "time_ns", lambda ns=(micros + step) * 1000 + 999: ns)
            moment = instant + timedelta(microseconds=step)
            assert fastpath.bind_now(conn) == fastpath.bind_time(conn, moment)
