"""SQL for customer groups. Every function takes the store, so one store never sees another's rows."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Row

from cartgroups.model import FIELDS, CustomerGroup
from cartgroups.storage.tables import customer_groups as t
from cartgroups.storage.tables import stores

_COLUMNS = [t.c[f.column] for f in FIELDS]
_KEY = (t.c.store_id == sa.bindparam("store_id"), t.c.group_id == sa.bindparam("group_id"))

_GET = sa.select(*_COLUMNS).where(*_KEY)
_LIST = (
    sa.select(*_COLUMNS)
    .where(t.c.store_id == sa.bindparam("store_id"))
    .order_by(t.c.group_id)
    .limit(sa.bindparam("limit"))
    .offset(sa.bindparam("offset"))
)
_COUNT = sa.select(sa.func.count()).select_from(t).where(t.c.store_id == sa.bindparam("store_id"))
_NEXT_ID = (
    sa.update(stores)
    .where(stores.c.id == sa.bindparam("store_id"))
    .values(last_group_id=stores.c.last_group_id + 1)
    .returning(stores.c.last_group_id)
)
_DELETE = sa.delete(t).where(*_KEY)


def _group(row: Row[Any]) -> CustomerGroup:
    return CustomerGroup(*row)  # type: ignore[call-arg]  # the columns of FIELDS, in order


def get_group(conn: Connection, *, store_id: int, group_id: int) -> CustomerGroup | None:
    row = conn.execute(_GET, {"store_id": store_id, "group_id": group_id}).first()
    return _group(row) if row is not None else None


def list_groups(conn: Connection, *, store_id: int, limit: int, skip: int) -> list[CustomerGroup]:
    """Groups in ascending id order, ``skip`` of them left out first (0-based)."""
    rows = conn.execute(_LIST, {"store_id": store_id, "limit": limit, "offset": skip})
    return [_group(row) for row in rows]


def count_groups(conn: Connection, *, store_id: int) -> int:
    return int(conn.execute(_COUNT, {"store_id": store_id}).scalar_one())


def insert_group(conn: Connection, *, store_id: int, values: Mapping[str, object]) -> int:
    """Insert a group with the store's next id and return that id. Call inside a write transaction."""
    group_id = conn.execute(_NEXT_ID, {"store_id": store_id}).scalar_one()
    conn.execute(sa.insert(t), {**values, "store_id": store_id, "group_id": group_id})
    return int(group_id)


def update_group(conn: Connection, *, store_id: int, group_id: int, values: Mapping[str, object]) -> bool:
    """Change the given columns of one group; False when the store has no such group."""
    if not values:
        return get_group(conn, store_id=store_id, group_id=group_id) is not None
    stmt = sa.update(t).where(t.c.store_id == store_id, t.c.group_id == group_id).values(**values)
    return conn.execute(stmt).rowcount == 1


def delete_group(conn: Connection, *, store_id: int, group_id: int) -> bool:
    return conn.execute(_DELETE, {"store_id": store_id, "group_id": group_id}).rowcount == 1
