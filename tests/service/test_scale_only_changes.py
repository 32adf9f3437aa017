"""Issue #15 item 4: a change of MinimumOrder's scale only (1.5 -> 1.50) is a change. The wire, the
ETag and the audit log tell the two apart, so the conditional write that confirms a copy read
earlier (the store's Tx.update_group_if) must too; PostgreSQL's NUMERIC equality does not
(1.5 = 1.50). The group is changed between the read and the write, as another request would.
Both databases."""

from __future__ import annotations

import itertools
import json
from decimal import Decimal

import pytest
import sqlalchemy as sa

from cartgroups.api import wire
from cartgroups.api.customer_groups import entity_tag, if_match
from cartgroups.errors import PreconditionFailed
from cartgroups.model import CustomerGroup, with_values
from cartgroups.service.credentials import Principal
from cartgroups.service.customer_groups import CustomerGroups, Precondition
from cartgroups.storage import audit as audit_sql
from cartgroups.storage import customer_groups as groups_sql
from cartgroups.storage import tables
from cartgroups.storage.audit import Actor, Change
from cartgroups.storage.database import Database
from cartgroups.storage.store import Store, Tx
from tests.service.conftest import Runner


def _group(db: Database, principal: Principal) -> CustomerGroup:
    with db.read() as conn:
        found = groups_sql.get_group(conn, store_id=principal.store_id, group_id=1)
    assert found is not None
    return found


def _amount(db: Database, principal: Principal) -> str:
    """MinimumOrder as stored, scale and all."""
    return str(_group(db, principal).minimum_order)


def _log(db: Database) -> list[tuple[str | None, str | None]]:
    """Every audit entry's before and after, oldest first."""
    a = tables.audit_log
    with db.read() as conn:
        rows = conn.execute(sa.select(a.c.before_values, a.c.after_values).order_by(a.c.id)).all()
    return [(row[0], row[1]) for row in rows]


def _money(entry_json: str | None) -> str:
    assert entry_json is not None
    return str(json.loads(entry_json, parse_float=str)["MinimumOrder"])


def _holds(group: CustomerGroup) -> bool:
    return True


def test_the_conditional_write_does_not_confirm_a_copy_that_differs_in_scale_only(
    db: Database, groups: CustomerGroups, principal: Principal, store: Store, run: Runner
) -> None:
    run(groups.create(principal=principal, body={"Name": "Retail", "MinimumOrder": "1.5"}))
    copy = _group(db, principal)
    run(groups.update(principal=principal, group_id=1, body={"MinimumOrder": "1.50"}))
    log = _log(db)

    def confirm(expected: CustomerGroup) -> bool:
        values = {"name": "Mine"}
        change = Change("update", 1, expected, with_values(expected, values))
        entry = audit_sql.entry(principal.store_id, Actor(1, "app"), change)

        async def plan(tx: Tx) -> bool:
            return await tx.update_group_if(
                store_id=principal.store_id, expected=expected, values=values, entry=entry
            )

        return run(store.write(plan))

    assert confirm(copy) is False
    current = _group(db, principal)
    assert (current.name, str(current.minimum_order)) == ("Retail", "1.50")
    assert _log(db) == log  # neither the change nor its entry written
    # The same write with the copy as it is now (1.50) is confirmed, and writes its entry.
    assert confirm(current) is True
    assert (_group(db, principal).name, _amount(db, principal)) == ("Mine", "1.50")
    assert len(_log(db)) == len(log) + 1


def test_if_match_of_the_tag_read_at_1_5_after_a_change_to_1_50_is_412_and_changes_nothing(
    db: Database, groups: CustomerGroups, principal: Principal, run: Runner
) -> None:
    run(groups.create(principal=principal, body={"Name": "Retail", "MinimumOrder": "1.5"}))
    tag = entity_tag(wire.groups_body([_group(db, principal)]))
    # Prepared (the copy read, its tag matched) before another request changes only the scale.
    write = run(
        groups.plan_update(
            principal=principal, group_id=1, body={"MinimumOrder": "2"}, precondition=if_match(tag)
        )
    )
    run(groups.update(principal=principal, group_id=1, body={"MinimumOrder": "1.50"}))
    log = _log(db)
    with pytest.raises(PreconditionFailed):
        run(groups.run(write))
    assert _amount(db, principal) == "1.50"
    assert _log(db) == log  # nothing written, nothing recorded


@pytest.mark.parametrize("precondition", [None, _holds], ids=["unconditional", "if-match"])
def test_an_update_after_a_scale_only_change_records_the_group_it_changed(
    db: Database,
    groups: CustomerGroups,
    principal: Principal,
    run: Runner,
    precondition: Precondition | None,
) -> None:
    run(groups.create(principal=principal, body={"Name": "Retail", "MinimumOrder": "1.5"}))
    # With If-Match, prepared from a copy read at 1.5, which the conditional write must not confirm.
    write = run(
        groups.plan_update(
            principal=principal, group_id=1, body={"Name": "Wholesale"}, precondition=precondition
        )
    )
    run(groups.update(principal=principal, group_id=1, body={"MinimumOrder": "1.50"}))
    run(groups.run(write))
    current = _group(db, principal)
    assert (current.name, current.minimum_order) == ("Wholesale", Decimal("1.50"))
    log = _log(db)
    assert [(_money(before) if before else None, _money(after)) for before, after in log] == [
        (None, "1.5"),
        ("1.5", "1.50"),
        ("1.50", "1.50"),  # the before is the row as the write found it, not the copy read earlier
    ]
    for (_, previous_after), (before, _) in itertools.pairwise(log):
        assert before == previous_after
