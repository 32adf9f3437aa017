"""SQL for customers (issue #18), written once for both databases.

Every statement is a fastpath.Prepared, compiled once per database. What differs between the
databases is only how a statement is run, which each store supplies as an Executor: SQLite's runs
it synchronously on the transaction's (or the thread's read) connection; PostgreSQL's awaits it
on a pooled connection. CustomerReads (on Store.customers) and CustomerWrites (on Tx.customers)
are the operations, over whichever Executor they are given. No value needs binding per
database: text, integers, booleans and floats go to both drivers as they are, and the one
decimal, TotalStoreCredit, is never written on the request path (D6).

Every operation takes the store, so one store never sees another's rows."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields
from typing import Any, Protocol

import orjson
import sqlalchemy as sa

from cartgroups.customer_model import (
    CUSTOMER_GROUP_ID,
    STORED,
    TEXT_FILTERS,
    Customer,
    created_customer,
    customer_json,
    customer_object,
    filter_key,
)
from cartgroups.json_net import escaped
from cartgroups.storage import audit
from cartgroups.storage.audit import Actor
from cartgroups.storage.fastpath import Prepared, id_chunks, locked_by_ids, to_decimal
from cartgroups.storage.tables import CUSTOMER_KEYS, stores
from cartgroups.storage.tables import customer_groups as g
from cartgroups.storage.tables import customers as t

Row = Sequence[Any]


class Duplicate(Exception):
    """A write broke a unique constraint (raised by an Executor, whatever its driver)."""


class EmailTaken(Exception):
    """Another customer of the store has this e-mail (D2)."""


class Executor(Protocol):
    """How one database runs a Prepared statement (each store has its own). A unique
    violation raises Duplicate, whatever the driver."""

    async def one(self, statement: Prepared, params: Mapping[str, Any]) -> Row | None:
        """The first row, or None."""
        ...

    async def all(self, statement: Prepared, params: Mapping[str, Any]) -> list[Row]: ...


class WriteExecutor(Executor, Protocol):
    """An Executor inside a write transaction (a Tx), which also writes audit entries."""

    async def change(self, statement: Prepared, params: Mapping[str, Any]) -> int:
        """Run a write; how many rows it changed."""
        ...

    async def record_entries(self, entries: Sequence[Mapping[str, object]]) -> None:
        """Tx.record_entries: entries made by audit.entry_for, all with the time now."""
        ...


# What every read of a customer selects: the id, the stored fields, the credit (customer_from_row).
SELECTED = (t.c.customer_id, *(t.c[f.column] for f in STORED), t.c.total_store_credit)
_FLAGS_AT = tuple(1 + i for i, f in enumerate(STORED) if f.kind == "boolean")
_KEY = (t.c.store_id == sa.bindparam("store_id"), t.c.customer_id == sa.bindparam("customer_id"))


def customer_from_row(row: Row) -> Customer:
    """A Customer from a row of SELECTED: the id, the stored fields, the credit. Password is ""."""
    values = list(row)
    for i in _FLAGS_AT:  # SQLite returns 0/1
        values[i] = bool(values[i])
    credit = to_decimal(values.pop())
    reset = values.pop()
    return Customer._make((values[0], values[1], "", *values[2:], credit, reset))


@dataclass(frozen=True, slots=True)
class CustomerQuery:
    """The filters of a customer list (D7): text filters as filter keys; the last-update bounds in
    seconds since the epoch, inclusive; ``group_id`` for a group's members. None: not filtered."""

    email: str | None = None
    firstname: str | None = None
    lastname: str | None = None
    country: str | None = None
    state: str | None = None
    city: str | None = None
    phone: str | None = None
    updated_from: float | None = None
    updated_to: float | None = None
    group_id: int | None = None

    def params(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(self) if getattr(self, f.name) is not None}


_FILTERS: dict[str, sa.ColumnElement[bool]] = {
    **{name: t.c[CUSTOMER_KEYS[name]] == sa.bindparam(name) for name in TEXT_FILTERS},
    "updated_from": t.c.updated_at >= sa.bindparam("updated_from"),
    "updated_to": t.c.updated_at <= sa.bindparam("updated_to"),
    "group_id": t.c.customer_group_id == sa.bindparam("group_id"),
}
_LISTS: dict[frozenset[str], Prepared] = {}
_COUNTS: dict[frozenset[str], Prepared] = {}


def _where(names: frozenset[str]) -> list[sa.ColumnElement[bool]]:
    return [t.c.store_id == sa.bindparam("store_id"), *(_FILTERS[n] for n in sorted(names))]


def list_statement(names: frozenset[str]) -> Prepared:
    """The page of customers matching the filters ``names`` (of CustomerQuery): their SELECTED
    columns, ascending by id, bound ``limit`` and ``offset``."""
    statement = _LISTS.get(names)
    if statement is None:
        statement = _LISTS[names] = Prepared(
            sa.select(*SELECTED)
            .where(*_where(names))
            .order_by(t.c.customer_id)
            .limit(sa.bindparam("limit"))
            .offset(sa.bindparam("offset"))
        )
    return statement


def _count_statement(names: frozenset[str]) -> Prepared:
    statement = _COUNTS.get(names)
    if statement is None:
        statement = _COUNTS[names] = Prepared(sa.select(sa.func.count()).select_from(t).where(*_where(names)))
    return statement


GET = Prepared(sa.select(*SELECTED).where(*_KEY))
LOCK = Prepared(sa.select(*SELECTED).where(*_KEY).with_for_update())
NEXT_ID = Prepared(
    sa.update(stores)
    .where(stores.c.id == sa.bindparam("store_id"))
    .values(last_customer_id=stores.c.last_customer_id + 1)
    .returning(stores.c.last_customer_id)
)
# The columns a create writes beside the key (each bound under its own name).
WRITTEN = (
    *(f.column for f in STORED),
    "password_hash",
    "updated_at",
    *CUSTOMER_KEYS.values(),
)
INSERT = Prepared(
    sa.insert(t).values(
        {c: sa.bindparam(c) for c in ("store_id", "customer_id", *WRITTEN)},
    )
)
DELETE = Prepared(sa.delete(t).where(*_KEY).returning(*SELECTED))
EMAIL_OWNER = Prepared(
    sa.select(t.c.customer_id).where(
        t.c.store_id == sa.bindparam("store_id"), t.c.email_key == sa.bindparam("key")
    )
)
# A group a customer is put in: read with a lock that a group's delete (FOR UPDATE, or the row's
# deletion) waits for, so a group cannot go while a customer is being put in it (PostgreSQL's
# FOR KEY SHARE; SQLite's one writer needs none).
GROUP_HELD = Prepared(
    sa.select(g.c.group_id)
    .where(g.c.store_id == sa.bindparam("store_id"), g.c.group_id == sa.bindparam("group_id"))
    .with_for_update(key_share=True, read=True)
)
MEMBERS = _count_statement(frozenset({"group_id"}))
# A deleted group's members put back to 0 (D3), returned as they were.
RELEASE = Prepared(
    sa.update(t)
    .where(t.c.store_id == sa.bindparam("store_id"), t.c.customer_group_id == sa.bindparam("group_id"))
    .values(customer_group_id=0, updated_at=sa.bindparam("now"))
    .returning(*SELECTED)
)
_UPDATES: dict[frozenset[str], Prepared] = {}
_KEY_OF_COLUMN = {TEXT_FILTERS[name].column: key for name, key in CUSTOMER_KEYS.items()}


def _update_statement(columns: frozenset[str]) -> Prepared:
    """UPDATE of these columns (values bound under their names), with the filter keys they feed."""
    statement = _UPDATES.get(columns)
    if statement is None:
        statement = _UPDATES[columns] = Prepared(
            sa.update(t).where(*_KEY).values({c: sa.bindparam(f"v_{c}") for c in sorted(columns)})
        )
    return statement


def with_filter_keys(values: Mapping[str, object]) -> dict[str, object]:
    """Column values with the filter keys of the filtered columns among them."""
    written = dict(values)
    for column, key in _KEY_OF_COLUMN.items():
        if column in values:
            value = values[column]
            written[key] = filter_key(value if isinstance(value, str) else None)
    return written


class CustomerReads:
    """Reads, on a store's read Executor."""

    __slots__ = ("run",)

    def __init__(self, run: Executor) -> None:
        self.run = run

    async def get(self, *, store_id: int, customer_id: int) -> Customer | None:
        row = await self.run.one(GET, {"store_id": store_id, "customer_id": customer_id})
        return None if row is None else customer_from_row(row)

    async def get_json(self, *, store_id: int, customer_id: int) -> bytes | None:
        """get(), already written as the API's one-element JSON array (api/wire.customers_body's
        bytes); None when there is no such customer. Here from the row; SQLite's store has
        SQLite write it."""
        found = await self.get(store_id=store_id, customer_id=customer_id)
        return None if found is None else escaped(orjson.dumps([customer_object(found)]))

    async def count(self, *, store_id: int, query: CustomerQuery) -> int:
        params = query.params()
        row = await self.run.one(_count_statement(frozenset(params)), {**params, "store_id": store_id})
        assert row is not None
        return int(row[0])

    async def page(self, *, store_id: int, query: CustomerQuery, limit: int, skip: int) -> list[Customer]:
        """Matching customers in ascending id order, ``skip`` of them left out first."""
        params = query.params()
        statement = list_statement(frozenset(params))
        rows = await self.run.all(statement, {**params, "store_id": store_id, "limit": limit, "offset": skip})
        return [customer_from_row(row) for row in rows]

    async def page_json(
        self, *, store_id: int, query: CustomerQuery, limit: int, skip: int
    ) -> tuple[bytes, int]:
        """page(), already written as the API's JSON array (api/wire.customers_body's bytes), and
        how many customers it holds. Here from the rows; SQLite's store has SQLite write it."""
        found = await self.page(store_id=store_id, query=query, limit=limit, skip=skip)
        return escaped(orjson.dumps([customer_object(c) for c in found])), len(found)


class CustomerWrites:
    """Writes, on a write transaction's Executor. ``values`` are stored column values
    (service/customers.py); a create's hold every stored field."""

    __slots__ = ("run",)

    def __init__(self, run: WriteExecutor) -> None:
        self.run = run

    async def create_recorded(
        self,
        *,
        store_id: int,
        actor: Actor,
        values: Mapping[str, object],
        password_hash: str | None,
        now: float,
    ) -> int | None:
        """A whole create, as one operation (so a plan of it alone is storage/store.Alone): the
        group checked and held (D3), the customer inserted with the store's next id, and its
        audit entry. Returns the id, or None (nothing written) when CustomerGroupID is not 0 and
        not a group of the store; EmailTaken. PostgreSQL's store makes it one statement."""
        group_id = values[CUSTOMER_GROUP_ID.column]
        assert isinstance(group_id, int)
        if group_id and not await self.hold_group(store_id=store_id, group_id=group_id):
            return None
        customer_id = await self.create(
            store_id=store_id, values=values, password_hash=password_hash, now=now
        )
        after = customer_json(created_customer(customer_id, values))
        entry = audit.entry_for(
            store_id,
            actor,
            resource=audit.CUSTOMER,
            action="create",
            item_id=customer_id,
            before=None,
            after=after,
        )
        await self.run.record_entries([entry])
        return customer_id

    async def create(
        self, *, store_id: int, values: Mapping[str, object], password_hash: str | None, now: float
    ) -> int:
        """Insert a customer with the store's next id (never handed out again); EmailTaken."""
        row = await self.run.one(NEXT_ID, {"store_id": store_id})
        assert row is not None, "the store exists"
        customer_id = int(row[0])
        params = {
            **with_filter_keys(values),
            "store_id": store_id,
            "customer_id": customer_id,
            "password_hash": password_hash,
            "updated_at": now,
        }
        try:
            await self.run.change(INSERT, params)
        except Duplicate:
            raise EmailTaken from None
        return customer_id

    async def get_for_update(self, *, store_id: int, customer_id: int) -> Customer | None:
        row = await self.run.one(LOCK, {"store_id": store_id, "customer_id": customer_id})
        return None if row is None else customer_from_row(row)

    async def get_many_for_update(self, *, store_id: int, customer_ids: Sequence[int]) -> dict[int, Customer]:
        """Read and lock the customers of ``customer_ids`` that exist, in ascending id order."""
        found: dict[int, Customer] = {}
        for count, params in id_chunks(store_id, customer_ids):
            for row in await self.run.all(locked_by_ids(SELECTED, t.c.customer_id, count), params):
                customer = customer_from_row(row)
                found[customer.customer_id] = customer
        return found

    async def update(
        self,
        *,
        store_id: int,
        customer_id: int,
        values: Mapping[str, object],
        password_hash: str | None,
        now: float,
    ) -> None:
        """Change the given columns (and the password's hash, when given) of a customer this
        transaction read for update; its last-update time is ``now``. EmailTaken."""
        written = with_filter_keys(values)
        written["updated_at"] = now
        if password_hash is not None:
            written["password_hash"] = password_hash
        params: dict[str, object] = {f"v_{c}": v for c, v in written.items()}
        params.update(store_id=store_id, customer_id=customer_id)
        try:
            await self.run.change(_update_statement(frozenset(written)), params)
        except Duplicate:
            raise EmailTaken from None

    async def delete(self, *, store_id: int, customer_id: int) -> Customer | None:
        """Delete a customer and return it as it was (None: no such customer)."""
        row = await self.run.one(DELETE, {"store_id": store_id, "customer_id": customer_id})
        return None if row is None else customer_from_row(row)

    async def email_owner(self, *, store_id: int, email: str) -> int | None:
        """The customer of the store with this e-mail (compared as filter keys), if any."""
        row = await self.run.one(EMAIL_OWNER, {"store_id": store_id, "key": filter_key(email)})
        return None if row is None else int(row[0])

    async def hold_group(self, *, store_id: int, group_id: int) -> bool:
        """Whether the store has this group, which then cannot be deleted before this
        transaction ends (D3)."""
        return await self.run.one(GROUP_HELD, {"store_id": store_id, "group_id": group_id}) is not None

    async def count_members(self, *, store_id: int, group_id: int) -> int:
        row = await self.run.one(MEMBERS, {"store_id": store_id, "group_id": group_id})
        assert row is not None
        return int(row[0])

    async def release_members(self, *, store_id: int, group_id: int, now: float) -> list[Customer]:
        """Put the group's members in no group (CustomerGroupID 0); returns them as they were."""
        rows = await self.run.all(RELEASE, {"store_id": store_id, "group_id": group_id, "now": now})
        return [customer_from_row(row)._replace(customer_group_id=group_id) for row in rows]
