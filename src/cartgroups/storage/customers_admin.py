"""Customers as the admin console browses them (synchronous, on a Database connection, like the
console's other lists in storage/credentials.py and storage/customer_groups.py): a search by
e-mail or name with sorting and paging, and a group's members.

The API's list (storage/customers.py) matches whole values only; the console's search matches
a part of one: the text, trimmed and case-folded (customer_model.filter_key), is looked for in
the filter keys that the store keeps beside the values (the e-mail, the billing first name, the
billing last name), and in "first last". LIKE's wildcards in it are searched for literally. It
reads every customer of the store (no index serves "contains"), which is fine at the console's
pace; the API never runs it."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from cartgroups.customer_model import Customer, filter_key
from cartgroups.storage.customers import SELECTED, customer_from_row
from cartgroups.storage.tables import customers as t

_NO_TEXT = sa.literal("")
_FIRST = sa.func.coalesce(t.c.firstname_key, _NO_TEXT)
_LAST = sa.func.coalesce(t.c.lastname_key, _NO_TEXT)

# What the console's customer list can be sorted by; ties broken by id. A name never set sorts as "".
CUSTOMER_SORTS: dict[str, tuple[sa.ColumnElement[Any], ...]] = {
    "id": (t.c.customer_id,),
    "email": (t.c.email_key, t.c.customer_id),
    "last_name": (_LAST, _FIRST, t.c.customer_id),
}


def _matching(store_id: int, contains: str, group_id: int | None) -> list[sa.ColumnElement[bool]]:
    where: list[sa.ColumnElement[bool]] = [t.c.store_id == store_id]
    if group_id is not None:
        where.append(t.c.customer_group_id == group_id)
    key = filter_key(contains)
    if key:
        where.append(
            sa.or_(
                t.c.email_key.contains(key, autoescape=True),
                _FIRST.contains(key, autoescape=True),
                _LAST.contains(key, autoescape=True),
                (_FIRST + " " + _LAST).contains(key, autoescape=True),
            )
        )
    return where


def search_customers(
    conn: Connection,
    *,
    store_id: int,
    contains: str = "",
    group_id: int | None = None,
    sort: str = "id",
    descending: bool = False,
    limit: int,
    skip: int,
) -> list[Customer]:
    """The store's customers whose e-mail or name contains the text (any case; "" matches all),
    only the members of ``group_id`` when given (0: those in no group), sorted by ``sort`` (a key
    of CUSTOMER_SORTS), ``skip`` of them left out first."""
    order = [c.desc() if descending else c.asc() for c in CUSTOMER_SORTS[sort]]
    statement = (
        sa.select(*SELECTED)
        .where(*_matching(store_id, contains, group_id))
        .order_by(*order)
        .limit(limit)
        .offset(skip)
    )
    return [customer_from_row(row) for row in conn.execute(statement).fetchall()]


def count_customers(
    conn: Connection, *, store_id: int, contains: str = "", group_id: int | None = None
) -> int:
    """How many customers search_customers finds in all."""
    statement = sa.select(sa.func.count()).select_from(t).where(*_matching(store_id, contains, group_id))
    return int(conn.execute(statement).scalar_one())
