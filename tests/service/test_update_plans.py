"""PUT by id is prepared from a copy read before its write transaction (CustomerGroups.plan_update),
so that little runs under SQLite's write lock. These tests change the group between the read and
the write, as another request or process would, and check that the write, its audit entry and the
If-Match precondition all follow the group as it is when it changes. Both databases."""

from __future__ import annotations

from decimal import Decimal

import pytest
import sqlalchemy as sa

from cartgroups.errors import NotFound, PreconditionFailed
from cartgroups.model import CustomerGroup
from cartgroups.service.credentials import Principal
from cartgroups.service.customer_groups import CustomerGroups
from cartgroups.storage import audit as audit_sql
from cartgroups.storage import customer_groups as groups_sql
from cartgroups.storage import tables
from cartgroups.storage.database import Database
from tests.service.conftest import apply


def _group(db: Database, principal: Principal, group_id: int = 1) -> CustomerGroup | None:
    with db.read() as conn:
        return groups_sql.get_group(conn, store_id=principal.store_id, group_id=group_id)


def _entries(db: Database, principal: Principal) -> list[tuple[str, str | None, str | None]]:
    with db.read() as conn:
        found = audit_sql.list_entries(conn, store_id=principal.store_id, limit=100)
    return [(e.action, e.before, e.after) for e in reversed(found)]


def test_an_update_prepared_from_a_current_copy_changes_the_group_and_records_it(
    db: Database, groups: CustomerGroups, principal: Principal
) -> None:
    groups.create(principal=principal, body={"Name": "Retail", "PriceLevel": 2})
    write = groups.plan_update(principal=principal, group_id=1, body={"Name": "Wholesale"})
    apply(db, write)
    after = _group(db, principal)
    assert after is not None and (after.name, after.price_level) == ("Wholesale", 2)
    (_, (action, before, recorded_after)) = _entries(db, principal)
    assert action == "update"
    assert before is not None and '"Name":"Retail"' in before
    assert recorded_after is not None and '"Name":"Wholesale","Description":""' in recorded_after


def test_a_change_between_the_read_and_the_write_is_neither_lost_nor_misrecorded(
    db: Database, groups: CustomerGroups, principal: Principal
) -> None:
    groups.create(principal=principal, body={"Name": "Retail", "PriceLevel": 2})
    write = groups.plan_update(principal=principal, group_id=1, body={"Name": "Wholesale"})
    groups.update(principal=principal, group_id=1, body={"PriceLevel": 7, "Description": "meanwhile"})
    apply(db, write)
    after = _group(db, principal)
    assert after is not None
    assert (after.name, after.price_level, after.description) == ("Wholesale", 7, "meanwhile")
    action, before, recorded_after = _entries(db, principal)[-1]
    assert action == "update"
    # The entry's "before" is the group the write changed, with the other request's change.
    assert before is not None and '"Name":"Retail","Description":"meanwhile"' in before
    assert before.endswith('"PriceLevel":7}')
    assert recorded_after is not None and '"Name":"Wholesale"' in recorded_after
    assert '"PriceLevel":7' in recorded_after


def test_if_match_is_checked_against_the_group_as_it_is_when_it_changes(
    db: Database, groups: CustomerGroups, principal: Principal
) -> None:
    groups.create(principal=principal, body={"Name": "Retail"})
    as_read = _group(db, principal)
    # The client's tag matches the copy read while preparing, but not the group at write time.
    write = groups.plan_update(
        principal=principal, group_id=1, body={"Name": "Mine"}, precondition=lambda g: g == as_read
    )
    groups.update(principal=principal, group_id=1, body={"Name": "Theirs"})
    log = _entries(db, principal)
    with pytest.raises(PreconditionFailed):
        apply(db, write)
    current = _group(db, principal)
    assert current is not None and current.name == "Theirs"
    assert _entries(db, principal) == log  # nothing written, nothing recorded


def test_if_match_that_fails_on_the_copy_but_holds_when_written_succeeds(
    db: Database, groups: CustomerGroups, principal: Principal
) -> None:
    groups.create(principal=principal, body={"Name": "Old"})
    write = groups.plan_update(
        principal=principal, group_id=1, body={"PriceLevel": 3}, precondition=lambda g: g.name == "New"
    )
    groups.update(principal=principal, group_id=1, body={"Name": "New"})
    apply(db, write)
    current = _group(db, principal)
    assert current is not None and (current.name, current.price_level) == ("New", 3)


def test_a_group_deleted_between_the_read_and_the_write_is_404_and_nothing_is_written(
    db: Database, groups: CustomerGroups, principal: Principal
) -> None:
    groups.create(principal=principal, body={"Name": "Doomed"})
    write = groups.plan_update(principal=principal, group_id=1, body={"Name": "Too late"})
    groups.delete(principal=principal, group_id=1)
    log = _entries(db, principal)
    with pytest.raises(NotFound):
        apply(db, write)
    assert _group(db, principal) is None
    assert _entries(db, principal) == log
    with db.read() as conn:
        rows = conn.execute(sa.select(sa.func.count()).select_from(tables.customer_groups)).scalar_one()
    assert rows == 0


@pytest.mark.parametrize("amount", ["0", "1.50", "100", "0.0000001", "34158822.957761675", "1E2"])
def test_the_copy_is_confirmed_in_one_statement_whatever_the_stored_values(
    db: Database,
    groups: CustomerGroups,
    principal: Principal,
    monkeypatch: pytest.MonkeyPatch,
    amount: str,
) -> None:
    """The conditional UPDATE must match a copy read back from the database (decimals with
    trailing zeros, booleans, text): otherwise every PUT would fall back to the locked read."""
    groups.create(
        principal=principal,
        body={"Name": "é 😀", "MinimumOrder": amount, "NonTaxable": True, "RegistrationMessage": "a\nb"},
    )
    locked_reads: list[int] = []
    real_lock = groups_sql.lock_group

    def counting_lock(conn: object, *, store_id: int, group_id: int) -> CustomerGroup | None:
        locked_reads.append(group_id)
        return real_lock(conn, store_id=store_id, group_id=group_id)  # type: ignore[arg-type]

    monkeypatch.setattr(groups_sql, "lock_group", counting_lock)
    apply(db, groups.plan_update(principal=principal, group_id=1, body={"PriceLevel": 4}))
    assert locked_reads == []
    current = _group(db, principal)
    assert current is not None
    assert (current.price_level, current.minimum_order) == (4, Decimal(amount))
