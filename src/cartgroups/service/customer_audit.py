"""Audit entries of customers' changes (resource "Customer"): the customer's wire JSON before
and after (customer_model.customer_json, whose Password is always ""). Shared by the Customers
service and the CustomerGroups service, whose delete puts the group's members in no group."""

from __future__ import annotations

from collections.abc import Sequence

from cartgroups.customer_model import Customer, customer_json
from cartgroups.storage import audit as audit_sql

RESOURCE = audit_sql.CUSTOMER


def entry(
    store_id: int,
    actor: audit_sql.Actor,
    action: audit_sql.Action,
    customer_id: int,
    before: Customer | None,
    after: Customer | None,
    *,
    bulk: bool = False,
) -> dict[str, object]:
    """What Tx.record_entries writes for one change of one customer."""
    return audit_sql.entry_for(
        store_id,
        actor,
        resource=RESOURCE,
        action=action,
        item_id=customer_id,
        before=customer_json(before),
        after=customer_json(after),
        bulk=bulk,
    )


def released(store_id: int, actor: audit_sql.Actor, members: Sequence[Customer]) -> list[dict[str, object]]:
    """The entries of a deleted group's members (as they were) put in no group (D3)."""
    return [
        entry(store_id, actor, "update", c.customer_id, c, c._replace(customer_group_id=0)) for c in members
    ]
