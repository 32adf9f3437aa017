"""PUT by id with If-Match is prepared from a copy read before its write transaction
(CustomerGroups.plan_update), so that little runs inside it (on SQLite, under the write lock):
the write then changes the group only if it still equals the copy (Tx.update_group_if), else
reads it again, locked. A PUT without If-Match reads nothing first: its write changes the row and
records it as it finds it (Tx.update_recorded). These tests change the group between preparing
and writing, as another request or process would, and check that the write, its audit entry and
the If-Match precondition all follow the group as it is when it changes, on both paths. Both
databases."""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal

import pytest
import sqlalchemy as sa

from cartgroups.errors import NotFound, PreconditionFailed
from cartgroups.model import CustomerGroup
from cartgroups.service.credentials import Principal
from cartgroups.service.customer_groups import CustomerGroups, Precondition
from cartgroups.storage import audit as audit_sql
from cartgroups.storage import customer_groups as groups_sql
from cartgroups.storage import tables
from cartgroups.storage.database import Database
from cartgroups.storage.postgres.store import PostgresTx
from cartgroups.storage.sqlite.store import SqliteTx
from tests.service.conftest import Runner

TX_CLASSES = (SqliteTx, PostgresTx)


def _holds(group: CustomerGroup) -> bool:
    return True


# An unconditional PUT (no copy read first) and an If-Match PUT whose precondition holds (a copy
# read first, then confirmed by the conditional write or read again, locked).
PATHS = pytest.mark.parametrize("precondition", [None, _holds], ids=["unconditional", "if-match"])


def _group(db: Database, principal: Principal, group_id: int = 1) -> CustomerGroup | None:
    with db.read() as conn:
        return groups_sql.get_group(conn, store_id=principal.store_id, group_id=group_id)


def _entries(db: Database, principal: Principal) -> list[tuple[str, str | None, str | None]]:
    with db.read() as conn:
        found = audit_sql.list_entries(conn, store_id=principal.store_id, limit=100)
    return [(e.action, e.before, e.after) for e in reversed(found)]


@pytest.fixture
def tx_calls(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, object]]:
    """What the write transactions of both stores did that tells the paths apart, in order:
    ("update_group_if", whether it confirmed the copy) and ("get_for_update", the group id)."""
    calls: list[tuple[str, object]] = []
    for tx_class in TX_CLASSES:
        real_update_if = tx_class.update_group_if
        real_lock = tx_class.get_for_update

        async def update_group_if(
            self: object,
            *,
            store_id: int,
            expected: CustomerGroup,
            values: Mapping[str, object],
            entry: Mapping[str, object],
            _real: object = real_update_if,
        ) -> bool:
            confirmed = await _real(  # type: ignore[operator]
                self, store_id=store_id, expected=expected, values=values, entry=entry
            )
            calls.append(("update_group_if", confirmed))
            return bool(confirmed)

        async def get_for_update(
            self: object, *, store_id: int, group_id: int, _real: object = real_lock
        ) -> CustomerGroup | None:
            calls.append(("get_for_update", group_id))
            found: CustomerGroup | None = await _real(self, store_id=store_id, group_id=group_id)  # type: ignore[operator]
            return found

        monkeypatch.setattr(tx_class, "update_group_if", update_group_if)
        monkeypatch.setattr(tx_class, "get_for_update", get_for_update)
    return calls


@PATHS
def test_an_update_changes_the_group_and_records_it(
    db: Database,
    groups: CustomerGroups,
    principal: Principal,
    run: Runner,
    tx_calls: list[tuple[str, object]],
    precondition: Precondition | None,
) -> None:
    run(groups.create(principal=principal, body={"Name": "Retail", "PriceLevel": 2}))
    write = run(
        groups.plan_update(
            principal=principal, group_id=1, body={"Name": "Wholesale"}, precondition=precondition
        )
    )
    tx_calls.clear()
    run(groups.run(write))
    if precondition is None:
        assert [name for name, _ in tx_calls if name == "update_group_if"] == []  # no copy to confirm
    else:
        assert tx_calls == [("update_group_if", True)]  # the copy was current: confirmed, not read again
    after = _group(db, principal)
    assert after is not None and (after.name, after.price_level) == ("Wholesale", 2)
    (_, (action, before, recorded_after)) = _entries(db, principal)
    assert action == "update"
    assert before is not None and '"Name":"Retail"' in before
    assert recorded_after is not None and '"Name":"Wholesale","Description":""' in recorded_after


@PATHS
def test_a_change_between_the_read_and_the_write_is_neither_lost_nor_misrecorded(
    db: Database,
    groups: CustomerGroups,
    principal: Principal,
    run: Runner,
    tx_calls: list[tuple[str, object]],
    precondition: Precondition | None,
) -> None:
    run(groups.create(principal=principal, body={"Name": "Retail", "PriceLevel": 2}))
    write = run(
        groups.plan_update(
            principal=principal, group_id=1, body={"Name": "Wholesale"}, precondition=precondition
        )
    )
    run(groups.update(principal=principal, group_id=1, body={"PriceLevel": 7, "Description": "meanwhile"}))
    tx_calls.clear()
    run(groups.run(write))
    if precondition is not None:
        # The copy was stale: the conditional write changed nothing, and the group was read again.
        assert tx_calls == [("update_group_if", False), ("get_for_update", 1)]
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
    db: Database, groups: CustomerGroups, principal: Principal, run: Runner
) -> None:
    run(groups.create(principal=principal, body={"Name": "Retail"}))
    as_read = _group(db, principal)
    # The client's tag matches the copy read while preparing, but not the group at write time.
    write = run(
        groups.plan_update(
            principal=principal, group_id=1, body={"Name": "Mine"}, precondition=lambda g: g == as_read
        )
    )
    run(groups.update(principal=principal, group_id=1, body={"Name": "Theirs"}))
    log = _entries(db, principal)
    with pytest.raises(PreconditionFailed):
        run(groups.run(write))
    current = _group(db, principal)
    assert current is not None and current.name == "Theirs"
    assert _entries(db, principal) == log  # nothing written, nothing recorded


def test_if_match_that_fails_on_the_copy_but_holds_when_written_succeeds(
    db: Database, groups: CustomerGroups, principal: Principal, run: Runner
) -> None:
    run(groups.create(principal=principal, body={"Name": "Old"}))
    write = run(
        groups.plan_update(
            principal=principal, group_id=1, body={"PriceLevel": 3}, precondition=lambda g: g.name == "New"
        )
    )
    run(groups.update(principal=principal, group_id=1, body={"Name": "New"}))
    run(groups.run(write))
    current = _group(db, principal)
    assert current is not None and (current.name, current.price_level) == ("New", 3)


@PATHS
def test_a_group_deleted_between_the_read_and_the_write_is_404_and_nothing_is_written(
    db: Database,
    groups: CustomerGroups,
    principal: Principal,
    run: Runner,
    precondition: Precondition | None,
) -> None:
    run(groups.create(principal=principal, body={"Name": "Doomed"}))
    write = run(
        groups.plan_update(
            principal=principal, group_id=1, body={"Name": "Too late"}, precondition=precondition
        )
    )
    run(groups.delete(principal=principal, group_id=1))
    log = _entries(db, principal)
    with pytest.raises(NotFound):
        run(groups.run(write))
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
    run: Runner,
    tx_calls: list[tuple[str, object]],
    amount: str,
) -> None:
    """The conditional UPDATE must match a copy read back from the database (decimals with
    trailing zeros, booleans, text): otherwise every If-Match PUT would fall back to the locked
    read."""
    run(
        groups.create(
            principal=principal,
            body={"Name": "é 😀", "MinimumOrder": amount, "NonTaxable": True, "RegistrationMessage": "a\nb"},
        )
    )
    write = run(
        groups.plan_update(principal=principal, group_id=1, body={"PriceLevel": 4}, precondition=_holds)
    )
    tx_calls.clear()
    run(groups.run(write))
    assert tx_calls == [("update_group_if", True)]  # no locked read
    current = _group(db, principal)
    assert current is not None
    assert (current.price_level, current.minimum_order) == (4, Decimal(amount))
