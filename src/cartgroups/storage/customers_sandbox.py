"""Customers SQL of the sandbox controls (seed, export, reset): synchronous SQLAlchemy Core on a
storage.database.Database connection, for both databases.

The request path's customer SQL (storage/customers.py) runs through each store's async Executor;
the sandbox works on plain connections, inside one write transaction per control call. The row
shape and the filter keys are storage/customers.py's, so a seeded customer is stored exactly as
a POST would store it, with one difference: a seed may give TotalStoreCredit, the column the API
never writes (D6)."""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from cartgroups.customer_model import Customer
from cartgroups.storage.customers import SELECTED, customer_from_row, with_filter_keys
from cartgroups.storage.tables import customer_groups, customers, stores


@dataclass(frozen=True, slots=True)
class SeedCustomer:
    """One customer to insert: its stored column values (every stored field), the hash of its
    password (None: no usable password), its store credit and its last-update time (D8)."""

    values: Mapping[str, object]
    password_hash: str | None
    total_store_credit: Decimal
    updated_at: float


def insert_customers(conn: Connection, *, store_id: int, rows: Sequence[SeedCustomer]) -> list[int]:
    """Insert each customer with the store's next CustomerID (never handed out again) and return
    the ids in order. The caller has checked e-mails and groups. Call inside a write transaction."""
    ids: list[int] = []
    for row in rows:
        customer_id = int(
            conn.execute(
                sa.update(stores)
                .where(stores.c.id == store_id)
                .values(last_customer_id=stores.c.last_customer_id + 1)
                .returning(stores.c.last_customer_id)
            ).scalar_one()
        )
        conn.execute(
            sa.insert(customers).values(
                **with_filter_keys(row.values),
                store_id=store_id,
                customer_id=customer_id,
                password_hash=row.password_hash,
                total_store_credit=row.total_store_credit,
                updated_at=row.updated_at,
            )
        )
        ids.append(customer_id)
    return ids


def all_customers(conn: Connection, *, store_id: int) -> list[Customer]:
    """Every customer of the store in ascending id order (Password "", as everywhere)."""
    rows = conn.execute(
        sa.select(*SELECTED).where(customers.c.store_id == store_id).order_by(customers.c.customer_id)
    )
    return [customer_from_row(tuple(row)) for row in rows]


def taken_emails(conn: Connection, *, store_id: int, keys: Collection[str]) -> set[str]:
    """Which of these e-mail keys (customer_model.filter_key) a customer of the store has."""
    if not keys:
        return set()
    found = conn.execute(
        sa.select(customers.c.email_key).where(
            customers.c.store_id == store_id, customers.c.email_key.in_(sorted(keys))
        )
    )
    return {str(key) for (key,) in found}


def existing_groups(conn: Connection, *, store_id: int, group_ids: Collection[int]) -> set[int]:
    """Which of these ids are groups of the store, each held until the transaction ends."""
    if not group_ids:
        return set()
    found = conn.execute(
        sa.select(customer_groups.c.group_id)
        .where(customer_groups.c.store_id == store_id, customer_groups.c.group_id.in_(sorted(group_ids)))
        # held to the end of the seed's transaction, so none can be deleted before its customers
        # are in (D3); SQLite's one writer needs no lock
        .with_for_update(key_share=True, read=True)
    )
    return {int(group_id) for (group_id,) in found}


def delete_store_customers(conn: Connection, *, store_id: int) -> None:
    """Every customer of the store gone and its CustomerIDs from 1 again (a sandbox reset)."""
    conn.execute(sa.delete(customers).where(customers.c.store_id == store_id))
    conn.execute(sa.update(stores).where(stores.c.id == store_id).values(last_customer_id=0))
