"""SQL for customer groups. Every function takes the store, so one store never sees another's rows.

The statements (GET, LOCK, LIST, COUNT, DELETE, update_statement, ...) are shared: PostgreSQL's
store (storage/postgres/store.py) runs them on psycopg's async API. The functions run them on a
synchronous connection (storage/database.py): SQLite's store, and, on either database, the
work off the request path (the sandbox's seeds and exports, the console's search)."""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from decimal import Decimal
from typing import Any, cast

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from cartgroups.json_net import escaped
from cartgroups.model import FIELDS, CustomerGroup, FieldSpec
from cartgroups.storage.fastpath import (
    Prepared,
    bind_decimal,
    exact_text,
    id_chunks,
    locked_by_ids,
    to_decimal,
)
from cartgroups.storage.tables import customer_groups as t
from cartgroups.storage.tables import stores

_COLUMNS = [t.c[f.column] for f in FIELDS]
_KEY = (t.c.store_id == sa.bindparam("store_id"), t.c.group_id == sa.bindparam("group_id"))

GET = Prepared(sa.select(*_COLUMNS).where(*_KEY))
# FOR UPDATE on PostgreSQL; SQLite has no row locks and needs none (a write transaction there
# holds the database's write lock from its BEGIN IMMEDIATE).
LOCK = Prepared(sa.select(*_COLUMNS).where(*_KEY).with_for_update())
LIST = Prepared(
    sa.select(*_COLUMNS)
    .where(t.c.store_id == sa.bindparam("store_id"))
    .order_by(t.c.group_id)
    .limit(sa.bindparam("limit"))
    .offset(sa.bindparam("offset"))
)


NEW = {f.column: f"new_{f.column}" for f in FIELDS}  # parameter names of new values, made once


def _json_value(field: FieldSpec, value: str) -> str:
    """SQLite: one field's ``value`` (its column, or a parameter holding what would be stored in
    it) as the API writes it (api/wire.group_object)."""
    if field.kind == "boolean":  # stored as 0/1; json('true') is a constant, computed once
        return f"iif({value}, json('true'), json('false'))"
    if field.kind == "decimal":  # stored as fixed-point text; written as a number with a fraction
        return f"json(iif(instr({value}, '.'), {value}, {value} || '.0'))"
    return value


def json_object_sql(new: Collection[str] = ()) -> str:
    """SQLite: an expression writing a group as the API's JSON object (wire names in wire order;
    SQLite escapes text exactly as orjson does, and json() keeps a number's digits), from the
    row's columns, or for the columns in ``new`` from the parameters ``:new_<column>`` that an
    update of those columns binds (update_group). Like orjson it writes U+0085, U+2028 and
    U+2029 raw: a body for the API goes through json_net.escaped (list_groups_json)."""
    values = (_json_value(f, f":{NEW[f.column]}" if f.column in new else f.column) for f in FIELDS)
    return (
        "json_object("
        + ", ".join(f"'{f.wire}', {value}" for f, value in zip(FIELDS, values, strict=True))
        + ")"
    )


# A page written as the API's JSON array by SQLite itself (one value instead of a Python object
# per column of every row), and how many groups it holds (tests/api/test_list.py compares these
# bytes with the Python-written ones, character by character).
_LIST_JSON = Prepared(
    sa.text(
        f"SELECT CAST(json_group_array({json_object_sql()}) AS BLOB), count(*) FROM (SELECT * FROM "
        "customer_groups WHERE store_id = :store_id ORDER BY group_id LIMIT :limit OFFSET :offset)"
    )
)
COUNT = Prepared(sa.select(sa.func.count()).select_from(t).where(t.c.store_id == sa.bindparam("store_id")))
_NEXT_ID = Prepared(
    sa.update(stores)
    .where(stores.c.id == sa.bindparam("store_id"))
    .values(last_group_id=stores.c.last_group_id + 1)
    .returning(stores.c.last_group_id)
)
_INSERT = Prepared(sa.insert(t).values({c.name: sa.bindparam(c.name) for c in t.columns}))
# SQLite: a store's next id is one more than its highest group's or its last_group_id, whichever
# is higher; last_group_id is raised only when a group above it is deleted (_KEEP_DELETED_ID), so
# a create is one statement that leaves the stores table alone. Only one connection writes at a
# time there. PostgreSQL's creates run at once, so each takes the store's row lock with _NEXT_ID.
_NEXT_GROUP_ID = (
    sa.func.max(
        # max() alone, so that SQLite reads one row of the store's, its last by primary key
        sa.func.coalesce(
            sa.select(sa.func.max(t.c.group_id))
            .where(t.c.store_id == sa.bindparam("store_id"))
            .scalar_subquery(),
            0,
        ),
        sa.select(stores.c.last_group_id).where(stores.c.id == sa.bindparam("store_id")).scalar_subquery(),
    )
    + 1
)
_INSERT_NEXT = Prepared(
    sa.insert(t)
    .values({c.name: _NEXT_GROUP_ID if c.name == "group_id" else sa.bindparam(c.name) for c in t.columns})
    .returning(t.c.group_id)
)
_KEEP_DELETED_ID = Prepared(
    sa.update(stores)
    .where(stores.c.id == sa.bindparam("store_id"), stores.c.last_group_id < sa.bindparam("group_id"))
    .values(last_group_id=sa.bindparam("group_id"))
)
DELETE = Prepared(sa.delete(t).where(*_KEY).returning(*_COLUMNS))
_UPDATES: dict[frozenset[str], Prepared] = {}  # one statement per set of columns changed


_DECIMALS_AT = tuple(i for i, f in enumerate(FIELDS) if f.kind == "decimal")
_DECIMAL_COLUMNS = tuple(f.column for f in FIELDS if f.kind == "decimal")
_FLAGS_AT = tuple(i for i, f in enumerate(FIELDS) if f.kind == "boolean")
_make_group = CustomerGroup._make


def group_from_row(row: Sequence[Any]) -> CustomerGroup:
    """A group from a driver row (booleans come back as 0/1 from SQLite, decimals as text).

    Written for speed: it runs once per row of every read (a list of 100 spends most of its
    time here and in api/wire.group_object)."""
    values = list(row)
    for i in _DECIMALS_AT:
        values[i] = to_decimal(values[i])
    for i in _FLAGS_AT:
        values[i] = bool(values[i])
    return _make_group(values)


_FLAGS = tuple(f.column for f in FIELDS if f.kind == "boolean")


def _bind(conn: Connection, values: Mapping[str, object]) -> dict[str, object]:
    """Column values as the driver takes them."""
    bound = dict(values)
    for column in _DECIMAL_COLUMNS:
        if column in bound:
            amount = bound[column]
            assert isinstance(amount, Decimal)
            bound[column] = bind_decimal(conn, amount)
    if conn.dialect.name == "sqlite":
        # 0/1, what SQLite keeps. The sqlite3 module binds an int as it is but passes a bool
        # (not exactly an int) through its adapter registry first: ~3,000 instructions each.
        for column in _FLAGS:
            if column in bound:
                bound[column] = int(bool(bound[column]))
    return bound


def get_group(conn: Connection, *, store_id: int, group_id: int) -> CustomerGroup | None:
    row = GET.run(conn, {"store_id": store_id, "group_id": group_id}).fetchone()
    return group_from_row(row) if row is not None else None


def lock_group(conn: Connection, *, store_id: int, group_id: int) -> CustomerGroup | None:
    """Read one group for changing it: no other transaction can change it until this one ends.
    Call inside a write transaction."""
    row = LOCK.run(conn, {"store_id": store_id, "group_id": group_id}).fetchone()
    return group_from_row(row) if row is not None else None


def lock_groups(conn: Connection, *, store_id: int, group_ids: Sequence[int]) -> dict[int, CustomerGroup]:
    """Read and lock the groups of ``group_ids`` that exist, in ascending id order (the order every
    writer locks in, so two bulk updates cannot deadlock). Call inside a write transaction."""
    found: dict[int, CustomerGroup] = {}
    for count, params in id_chunks(store_id, group_ids):
        for row in lock_many(count).run(conn, params).fetchall():
            group = group_from_row(row)
            found[group.group_id] = group
    return found


def lock_many(count: int) -> Prepared:
    """fastpath.locked_by_ids for groups: their columns, ``count`` ids of an id_chunks chunk."""
    return locked_by_ids(_COLUMNS, t.c.group_id, count)


def list_groups(conn: Connection, *, store_id: int, limit: int, skip: int) -> list[CustomerGroup]:
    """Groups in ascending id order, ``skip`` of them left out first (0-based)."""
    rows = LIST.run(conn, {"store_id": store_id, "limit": limit, "offset": skip}).fetchall()
    return [group_from_row(row) for row in rows]


def list_groups_json(conn: Connection, *, store_id: int, limit: int, skip: int) -> tuple[bytes, int]:
    """SQLite (its store's list_groups_json; PostgreSQL's store answers None there, its JSON text
    having spaces and its own key order): like list_groups, the page already written as the API's
    JSON array (UTF-8), with how many groups it holds. SQLite writes U+0085, U+2028 and U+2029
    raw, as orjson does; they are escaped here as api/wire's writers escape them
    (json_net.escaped: in Python, since SQLite's replace() would compare every byte)."""
    body, count = _LIST_JSON.run(conn, {"store_id": store_id, "limit": limit, "offset": skip}).fetchone()
    return escaped(bytes(body)), int(count)


def count_groups(conn: Connection, *, store_id: int) -> int:
    return int(COUNT.run(conn, {"store_id": store_id}).fetchone()[0])


def insert_group(conn: Connection, *, store_id: int, values: Mapping[str, object]) -> int:
    """Insert a group with the store's next id and return that id. Call inside a write transaction."""
    params = {**_bind(conn, values), "store_id": store_id}
    if conn.dialect.name == "sqlite":
        return int(_INSERT_NEXT.run(conn, params).fetchone()[0])
    group_id = int(_NEXT_ID.run(conn, {"store_id": store_id}).fetchone()[0])
    _INSERT.run(conn, {**params, "group_id": group_id})
    return group_id


def new_params(conn: Connection, values: Mapping[str, object]) -> dict[str, object]:
    """The new column values of an update, under their parameter names (``new_<column>``)."""
    return {NEW[c]: v for c, v in _bind(conn, values).items()}


def update_group(conn: Connection, *, store_id: int, group_id: int, values: Mapping[str, object]) -> bool:
    """Change the given columns of one group; False when the store has no such group."""
    if not values:
        return get_group(conn, store_id=store_id, group_id=group_id) is not None
    params = {**new_params(conn, values), "store_id": store_id, "group_id": group_id}
    return bool(update_statement(frozenset(values)).run(conn, params).rowcount == 1)


def update_statement(columns: frozenset[str]) -> Prepared:
    """UPDATE of these columns of one group, their new values bound as ``new_<column>``."""
    statement = _UPDATES.get(columns)
    if statement is None:
        statement = _UPDATES[columns] = Prepared(
            sa.update(t).where(*_KEY).values({c: sa.bindparam(NEW[c]) for c in sorted(columns)})
        )
    return statement


_UPDATES_IF: dict[frozenset[str], Prepared] = {}  # one statement per set of columns changed
WAS = tuple(f"was_{f.column}" for f in FIELDS)  # parameter names, made once


def _holds(field: FieldSpec, was: str) -> sa.ColumnElement[bool]:
    """The column still holds exactly the value of the parameter ``was``. A decimal is compared
    as its text (bound as fastpath.exact_text): PostgreSQL's NUMERIC equality ignores the scale,
    so 1.5 = 1.50 there, while the group's JSON, its ETag and its audit entry tell them apart.
    On SQLite, where the column is that text already, the cast changes nothing."""
    column = t.c[field.column]
    if field.kind == "decimal":
        return sa.cast(column, sa.Text) == sa.bindparam(was, type_=sa.Text)
    return column == sa.bindparam(was)


def update_group_if(
    conn: Connection, *, store_id: int, expected: CustomerGroup, values: Mapping[str, object]
) -> bool:
    """Change the given columns of ``expected``'s group only if every column still holds what
    ``expected`` says; True when it did (the row matched and is changed), False otherwise.
    An optimistic write: it proves a copy read earlier still current, in the same statement."""
    params = expected_params(new_params(conn, values), expected)
    params["store_id"] = store_id
    return bool(update_if_statement(frozenset(values)).run(conn, params).rowcount == 1)


def update_if_statement(columns: frozenset[str]) -> Prepared:
    """update_statement's UPDATE, made only where every column holds what the parameters
    ``was_<column>`` say (expected_params)."""
    statement = _UPDATES_IF.get(columns)
    if statement is None:
        statement = _UPDATES_IF[columns] = Prepared(
            sa.update(t)
            .where(t.c.store_id == sa.bindparam("store_id"))
            .where(*(_holds(f, was) for f, was in zip(FIELDS, WAS, strict=True)))
            .values({c: sa.bindparam(NEW[c]) for c in sorted(columns)})
        )
    return statement


def expected_params(params: dict[str, object], expected: CustomerGroup) -> dict[str, object]:
    """``params`` with the ``was_<column>`` values of update_if_statement for ``expected``."""
    params.update(zip(WAS, expected, strict=True))
    for i in _DECIMALS_AT:  # compared as text: with their scale
        params[WAS[i]] = exact_text(cast(Decimal, expected[i]))
    return params


def delete_group(conn: Connection, *, store_id: int, group_id: int) -> CustomerGroup | None:
    """Delete one group and return it as it was; None when the store has no such group."""
    key = {"store_id": store_id, "group_id": group_id}
    row = DELETE.run(conn, key).fetchone()
    if row is None:
        return None
    if conn.dialect.name == "sqlite":  # its id is not handed out again (see _INSERT_NEXT)
        _KEEP_DELETED_ID.run(conn, key)
    return group_from_row(row)


# The admin console's table: sorted, optionally filtered by name, a page at a time. The store's
# rows are found through the primary key and sorted as they are read: sort indexes would cost
# every API write more than they save a page of the console (migration 0007).
SORTS: dict[str, tuple[sa.ColumnElement[Any], ...]] = {
    "id": (t.c.group_id,),
    "name": (sa.func.lower(t.c.name), t.c.group_id),  # any case
    "price_level": (t.c.price_level, t.c.group_id),
}


def _matching(store_id: int, name_contains: str) -> list[sa.ColumnElement[bool]]:
    where: list[sa.ColumnElement[bool]] = [t.c.store_id == store_id]
    if name_contains:
        where.append(t.c.name.icontains(name_contains, autoescape=True))
    return where


def search_groups(
    conn: Connection,
    *,
    store_id: int,
    name_contains: str = "",
    sort: str = "id",
    descending: bool = False,
    limit: int,
    skip: int,
) -> list[CustomerGroup]:
    """One page of a store's groups whose name contains the text (any case), sorted by ``sort``
    (a key of SORTS; ties broken by id)."""
    order = [c.desc() if descending else c.asc() for c in SORTS[sort]]
    stmt = sa.select(*_COLUMNS).where(*_matching(store_id, name_contains)).order_by(*order)
    rows = conn.execute(stmt.limit(limit).offset(skip)).fetchall()
    return [group_from_row(row) for row in rows]


def count_matching(conn: Connection, *, store_id: int, name_contains: str = "") -> int:
    stmt = sa.select(sa.func.count()).select_from(t).where(*_matching(store_id, name_contains))
    return int(conn.execute(stmt).scalar_one())
