"""The audit log's SQL on both databases: writing one or many entries, listing with each filter,
one store never seeing another's entries, pruning by age and the shared prune claim."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal

import pytest
import sqlalchemy as sa

from cartgroups.model import CustomerGroup
from cartgroups.storage import audit as audit_sql
from cartgroups.storage.audit import Actor, Change, Entry
from cartgroups.storage.database import Database
from cartgroups.storage.tables import audit_log
from tests.storage.conftest import new_store

T0 = datetime(2026, 3, 1, 12, 0, 0, 123456, tzinfo=UTC)
ALICE, BOB = Actor(1, "alice"), Actor(2, "bob")


def group(group_id: int, name: str, amount: str = "0") -> CustomerGroup:
    return CustomerGroup(group_id, name, "", Decimal(amount), False, True, False, False, "", 2)


def listed(db: Database, store_id: int, **filters: object) -> list[Entry]:
    with db.read() as conn:
        return audit_sql.list_entries(conn, store_id=store_id, limit=filters.pop("limit", 1000), **filters)  # type: ignore[arg-type]


@pytest.fixture
def stores(db: Database) -> tuple[int, int]:
    """Two stores with a history each, on a fixed clock: ``a`` has 4 entries, ``b`` one."""
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
    return a, b


def test_entries_read_back_as_written_newest_first(db: Database, stores: tuple[int, int]) -> None:
    a, _ = stores
    got = listed(db, a)
    assert [(e.action, e.group_id, e.application, e.token_id, e.bulk) for e in got] == [
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
    assert '"MinimumOrder":1.50' in (got[2].after or "")


@pytest.mark.parametrize(
    ("filters", "expected"),
    [
        ({"group_id": 2}, [("delete", 2), ("update", 2)]),
        ({"application": "bob"}, [("update", 2), ("update", 1)]),
        ({"action": "create"}, [("create", 1)]),
        ({"since": T0 + timedelta(hours=1)}, [("delete", 2), ("update", 2), ("update", 1)]),
        ({"until": T0 + timedelta(hours=1)}, [("create", 1)]),
        ({"since": T0, "until": T0 + timedelta(microseconds=1)}, [("create", 1)]),
        ({"limit": 1}, [("delete", 2)]),
        ({"application": "bob", "group_id": 1, "action": "update"}, [("update", 1)]),
        ({"application": "nobody"}, []),
    ],
)
def test_each_filter(
    db: Database, stores: tuple[int, int], filters: dict[str, object], expected: list[tuple[str, int]]
) -> None:
    a, _ = stores
    assert [(e.action, e.group_id) for e in listed(db, a, **filters)] == expected


def test_a_time_with_another_offset_is_the_same_instant(db: Database, stores: tuple[int, int]) -> None:
    a, _ = stores
    plus_five = datetime(2026, 3, 2, 17, 0, 0, 123456, tzinfo=timezone(timedelta(hours=5)))
    assert plus_five == T0 + timedelta(days=1)
    assert [e.action for e in listed(db, a, since=plus_five)] == ["delete"]


def test_a_store_sees_only_its_own_entries(db: Database, stores: tuple[int, int]) -> None:
    a, b = stores
    assert [(e.action, e.group_id, e.application) for e in listed(db, b)] == [("create", 1, "bob")]
    assert all('"b1"' not in (e.after or "") for e in listed(db, a))
    assert listed(db, b, group_id=2) == []


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


def test_deleting_a_store_deletes_its_entries(db: Database, stores: tuple[int, int]) -> None:
    a, b = stores
    with db.write() as conn:
        conn.execute(sa.text("DELETE FROM stores WHERE id = :id"), {"id": b})
    with db.read() as conn:
        left = conn.execute(sa.select(audit_log.c.store_id).distinct()).scalars().all()
    assert left == [a]


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
