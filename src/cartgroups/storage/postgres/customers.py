"""PostgreSQL's customer writes: storage/customers.CustomerWrites, with a create made as one
statement.

A create takes the store's next CustomerID from stores.last_customer_id, which locks the
store's row until the transaction ends: creates in one store run one after another. Made of
separate statements in a transaction (check the group, take the id, insert, write the audit
entry, commit), that lock was held for four round trips, and a store took ~650 creates a
second whatever the number of clients. Here the group check, the id, the insert and the audit
entry are one statement (data-modifying CTEs), run without BEGIN and COMMIT when the plan is
Alone: the lock is held for that one statement.

The audit entry's after is written in Python (customer_model.customer_json) for the id 0 and
spliced with the id PostgreSQL hands out: the JSON's first member is CustomerID."""

from __future__ import annotations

from collections.abc import Mapping

import sqlalchemy as sa

from cartgroups.customer_model import CUSTOMER_GROUP_ID, created_customer, customer_json
from cartgroups.storage import audit
from cartgroups.storage.audit import Actor
from cartgroups.storage.customers import WRITTEN, CustomerWrites, Duplicate, EmailTaken, with_filter_keys
from cartgroups.storage.fastpath import Prepared

_ID_FIRST = '{"CustomerID":0'  # how customer_json of the id 0 begins

CREATE = Prepared(
    sa.text(
        "WITH taken AS ("
        " UPDATE stores SET last_customer_id = last_customer_id + 1"
        " WHERE id = :store_id AND (CAST(:group_id AS integer) = 0 OR EXISTS ("
        "  SELECT 1 FROM customer_groups g WHERE g.store_id = :store_id AND g.group_id = :group_id"
        "  FOR KEY SHARE))"
        " RETURNING last_customer_id AS customer_id"
        "), added AS ("
        f" INSERT INTO customers (store_id, customer_id, {', '.join(WRITTEN)})"
        f" SELECT :store_id, taken.customer_id, {', '.join(f':{c}' for c in WRITTEN)} FROM taken"
        " RETURNING customer_id"
        "), logged AS ("
        " INSERT INTO audit_log (store_id, at, token_id, application, action, bulk, resource, item_id,"
        " before_values, after_values)"
        " SELECT :store_id, :at, :token_id, :application, 'create', false, :resource, added.customer_id,"
        " NULL, '{\"CustomerID\":' || added.customer_id || :after_rest FROM added"
        ")"
        " SELECT customer_id FROM added"
    )
)


class PostgresCustomerWrites(CustomerWrites):
    __slots__ = ()

    async def create_recorded(
        self,
        *,
        store_id: int,
        actor: Actor,
        values: Mapping[str, object],
        password_hash: str | None,
        now: float,
    ) -> int | None:
        after = customer_json(created_customer(0, values))
        assert after is not None and after.startswith(_ID_FIRST)
        entry = audit.entry_for(
            store_id, actor, resource=audit.CUSTOMER, action="create", item_id=0, before=None, after=None
        )
        params = {
            **with_filter_keys(values),
            "store_id": store_id,
            "group_id": values[CUSTOMER_GROUP_ID.column],
            "password_hash": password_hash,
            "updated_at": now,
            "at": audit.now(),
            "token_id": entry["token_id"],
            "application": entry["application"],
            "resource": entry["resource"],
            "after_rest": after[len(_ID_FIRST) :],
        }
        try:
            row = await self.run.one(CREATE, params)
        except Duplicate:
            raise EmailTaken from None
        return None if row is None else int(row[0])
