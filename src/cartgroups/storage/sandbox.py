"""SQL of the sandbox controls: resets, throttling overrides, fault rules and the request journal.

Everything is in the database so that every server process (``--workers N``, or several hosts
on one PostgreSQL) sees the same rules, the same "next N requests" counters and one journal."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from cartgroups.model import CustomerGroup
from cartgroups.storage import audit as audit_sql
from cartgroups.storage import customer_groups as group_sql
from cartgroups.storage import customers_sandbox
from cartgroups.storage.fastpath import Prepared
from cartgroups.storage.tables import (
    customer_groups,
    customers,
    idempotency_keys,
    rate_buckets,
    sandbox_faults,
    sandbox_journal,
    sandbox_stores,
    stores,
)


@dataclass(frozen=True, slots=True)
class FaultRow:
    id: int
    method: str
    path: str
    regex: bool
    store_id: int | None
    secure_url: str | None
    status: int | None
    message: str | None
    retry_after: int | None
    latency_ms: int
    probability: float
    remaining: int | None
    applied: int


@dataclass(frozen=True, slots=True)
class JournalRow:
    id: int
    at: datetime
    method: str
    path: str
    query: str
    status: int
    request_headers: str
    request_body: str
    response_body: str
    duration_ms: float
    fault_id: int | None


# Reset ------------------------------------------------------------------------------------------


def reset_store(conn: Connection, *, store_id: int) -> None:
    """The store as just after its credentials were made: no groups and no customers (ids of
    both from 1), no journal, no throttling override, no fault rules that name it; no audit
    entries (the ids they name will be handed out again), no stored Idempotency-Key responses
    (they would replay writes that are gone) and an empty rate-limit bucket. Call inside a
    write transaction."""
    audit_sql.delete_store_entries(conn, store_id=store_id)
    for table in (idempotency_keys, rate_buckets):
        conn.execute(sa.delete(table).where(table.c.store_id == store_id))
    customers_sandbox.delete_store_customers(conn, store_id=store_id)
    conn.execute(sa.delete(customer_groups).where(customer_groups.c.store_id == store_id))
    conn.execute(sa.update(stores).where(stores.c.id == store_id).values(last_group_id=0))
    conn.execute(sa.delete(sandbox_journal).where(sandbox_journal.c.store_id == store_id))
    conn.execute(sa.delete(sandbox_stores).where(sandbox_stores.c.store_id == store_id))
    conn.execute(sa.delete(sandbox_faults).where(sandbox_faults.c.store_id == store_id))


_RESET_ALL = (
    *audit_sql.DELETE_ALL,
    Prepared(sa.delete(idempotency_keys)),
    Prepared(sa.delete(rate_buckets)),
    Prepared(sa.delete(customers)),
    Prepared(sa.delete(customer_groups)),
    Prepared(sa.update(stores).values(last_group_id=0, last_customer_id=0)),
    Prepared(sa.delete(sandbox_journal)),
    Prepared(sa.delete(sandbox_stores)),
    Prepared(sa.delete(sandbox_faults)),
)
_COUNT_STORES = Prepared(sa.select(sa.func.count()).select_from(stores))


def reset_all(conn: Connection) -> int:
    """Every store reset, and every fault rule gone; stores and credentials stay. Returns the
    number of stores. Call inside a write transaction. (The test fixture runs this before every
    test, so the statements go straight to the driver.)"""
    for statement in _RESET_ALL:
        statement.run(conn, {})
    return int(_COUNT_STORES.run(conn, {}).fetchone()[0])


def all_groups(conn: Connection, *, store_id: int) -> list[CustomerGroup]:
    """Every group of the store in ascending id order."""
    count = group_sql.count_groups(conn, store_id=store_id)
    return group_sql.list_groups(conn, store_id=store_id, limit=max(count, 1), skip=0)


def insert_groups(conn: Connection, *, store_id: int, values: Sequence[Mapping[str, object]]) -> list[int]:
    """Insert each group with the store's next id. Call inside a write transaction."""
    return [group_sql.insert_group(conn, store_id=store_id, values=one) for one in values]


# Throttling override ----------------------------------------------------------------------------


def get_throttle(conn: Connection, *, store_id: int) -> bool | None:
    value = conn.execute(
        sa.select(sandbox_stores.c.throttle).where(sandbox_stores.c.store_id == store_id)
    ).scalar_one_or_none()
    return None if value is None else bool(value)


def all_throttles(conn: Connection) -> dict[int, bool]:
    rows = conn.execute(
        sa.select(sandbox_stores.c.store_id, sandbox_stores.c.throttle).where(
            sandbox_stores.c.throttle.is_not(None)
        )
    )
    return {store_id: bool(throttle) for store_id, throttle in rows}


def set_throttle(conn: Connection, *, store_id: int, throttle: bool | None) -> None:
    """Set or (with None) remove the store's override. Call inside a write transaction."""
    conn.execute(sa.delete(sandbox_stores).where(sandbox_stores.c.store_id == store_id))
    if throttle is not None:
        conn.execute(sa.insert(sandbox_stores).values(store_id=store_id, throttle=throttle))


# Fault rules ------------------------------------------------------------------------------------

_FAULT_COLUMNS = (
    sandbox_faults.c.id,
    sandbox_faults.c.method,
    sandbox_faults.c.path,
    sandbox_faults.c.regex,
    sandbox_faults.c.store_id,
    stores.c.secure_url,
    sandbox_faults.c.status,
    sandbox_faults.c.message,
    sandbox_faults.c.retry_after,
    sandbox_faults.c.latency_ms,
    sandbox_faults.c.probability,
    sandbox_faults.c.remaining,
    sandbox_faults.c.applied,
)
_LIVE = sa.or_(sandbox_faults.c.remaining.is_(None), sandbox_faults.c.remaining > 0)


def _fault(row: Sequence[Any]) -> FaultRow:
    values = list(row)
    values[3] = bool(values[3])
    values[10] = float(values[10])
    return FaultRow(*values)


_LIVE_FAULTS = Prepared(
    sa.select(*_FAULT_COLUMNS)
    .select_from(sandbox_faults.outerjoin(stores, stores.c.id == sandbox_faults.c.store_id))
    .where(_LIVE)
    .order_by(sandbox_faults.c.id)
)


def list_faults(conn: Connection, *, fault_id: int | None = None) -> list[FaultRow]:
    """The live rules (those with applications left), in the order they are tried."""
    if fault_id is None:  # on every request while the sandbox is on: straight to the driver
        return [_fault(row) for row in _LIVE_FAULTS.run(conn, {}).fetchall()]
    query = _LIVE_FAULTS.statement.where(sandbox_faults.c.id == fault_id)  # type: ignore[attr-defined]
    return [_fault(row) for row in conn.execute(query)]


def insert_fault(conn: Connection, *, values: Mapping[str, object]) -> int:
    return int(
        conn.execute(
            sa.insert(sandbox_faults).values(dict(values)).returning(sandbox_faults.c.id)
        ).scalar_one()
    )


def delete_fault(conn: Connection, *, fault_id: int) -> bool:
    return bool(conn.execute(sa.delete(sandbox_faults).where(sandbox_faults.c.id == fault_id)).rowcount)


def delete_faults(conn: Connection) -> int:
    return int(conn.execute(sa.delete(sandbox_faults)).rowcount)


def claim_fault(conn: Connection, *, fault_id: int) -> bool:
    """Count one application of the rule; False when it has none left (another request, maybe
    in another process, took the last). A single UPDATE, so the count is exact under
    concurrency. Call inside a write transaction."""
    done = conn.execute(
        sa.update(sandbox_faults)
        .where(sandbox_faults.c.id == fault_id, _LIVE)
        .values(
            applied=sandbox_faults.c.applied + 1,
            remaining=sa.case(
                (sandbox_faults.c.remaining.is_(None), None), else_=sandbox_faults.c.remaining - 1
            ),
        )
    ).rowcount
    if done:
        conn.execute(
            sa.delete(sandbox_faults).where(sandbox_faults.c.id == fault_id, sandbox_faults.c.remaining == 0)
        )
    return bool(done)


# Journal ----------------------------------------------------------------------------------------


_FIND_STORE = Prepared(sa.select(stores.c.id).where(stores.c.secure_url == sa.bindparam("secure_url")))
_JOURNAL_COLUMNS = (
    "store_id",
    "at",
    "method",
    "path",
    "query",
    "status",
    "request_headers",
    "request_body",
    "response_body",
    "duration_ms",
    "fault_id",
)
_APPEND = Prepared(sa.insert(sandbox_journal).values({c: sa.bindparam(c) for c in _JOURNAL_COLUMNS}))
_TRIM = Prepared(
    sa.delete(sandbox_journal).where(
        sandbox_journal.c.store_id == sa.bindparam("store_id"),
        sandbox_journal.c.id
        < (
            sa.select(sandbox_journal.c.id)
            .where(sandbox_journal.c.store_id == sa.bindparam("store_id"))
            .order_by(sandbox_journal.c.id.desc())
            .limit(1)
            .offset(sa.bindparam("skip"))
            .scalar_subquery()
        ),
    )
)


def find_store(conn: Connection, *, secure_url: str) -> int | None:
    row = _FIND_STORE.run(conn, {"secure_url": secure_url}).fetchone()
    return None if row is None else int(row[0])


def append_journal(conn: Connection, *, store_id: int, entry: Mapping[str, object], keep: int) -> None:
    """Add an entry and drop the store's older ones beyond the newest ``keep``. ``entry`` has
    every journal column but the id and store; ``at`` is an aware UTC datetime.
    Call inside a write transaction. (Runs on every request while the sandbox is on, so the
    statements go straight to the driver.)"""
    values = {**entry, "store_id": store_id}
    at = values["at"]
    assert isinstance(at, datetime)
    if conn.dialect.name == "sqlite":  # the text SQLAlchemy's SQLite DateTime stores and reads
        values["at"] = at.astimezone(UTC).replace(tzinfo=None).isoformat(sep=" ", timespec="microseconds")
    _APPEND.run(conn, values)
    _TRIM.run(conn, {"store_id": store_id, "skip": keep - 1})


def read_journal(
    conn: Connection, *, store_id: int, limit: int, entry_id: int | None = None
) -> list[JournalRow]:
    """The store's newest entries first (only the one with ``entry_id`` when given)."""
    query = (
        sa.select(
            sandbox_journal.c.id,
            sandbox_journal.c.at,
            sandbox_journal.c.method,
            sandbox_journal.c.path,
            sandbox_journal.c.query,
            sandbox_journal.c.status,
            sandbox_journal.c.request_headers,
            sandbox_journal.c.request_body,
            sandbox_journal.c.response_body,
            sandbox_journal.c.duration_ms,
            sandbox_journal.c.fault_id,
        )
        .where(sandbox_journal.c.store_id == store_id)
        .order_by(sandbox_journal.c.id.desc())
        .limit(limit)
    )
    if entry_id is not None:
        query = query.where(sandbox_journal.c.id == entry_id)
    return [JournalRow(*row) for row in conn.execute(query)]


def clear_journal(conn: Connection, *, store_id: int) -> int:
    return int(
        conn.execute(sa.delete(sandbox_journal).where(sandbox_journal.c.store_id == store_id)).rowcount
    )
