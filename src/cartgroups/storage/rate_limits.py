"""SQL for the rate limiter's leaky buckets: one atomic statement per request.

``take`` is a single ``INSERT ... ON CONFLICT DO UPDATE ... RETURNING`` (SQLite >= 3.35 and
PostgreSQL): the bucket of a store and application is drained by the time passed since it was
last touched, and one request is added when that leaves room. Every process and host that uses
the database shares the bucket, and two requests can never both take the last slot: the row is
locked (PostgreSQL) or the file is (SQLite) while the statement runs.

On SQLite the statement needs the file's write lock, which another process may hold for long
(a backup, a migration, a stuck writer). ``take`` waits at most ``wait_ms`` for it, then raises
Busy, so the caller (running on the server's event loop) decides without the bucket instead of
waiting out SQLite's 10 s busy timeout. PostgreSQL has no database-wide write lock: ``wait_ms``
does not apply there. ``charge`` adds requests admitted while the bucket could not be written.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from cartgroups.storage import dialect
from cartgroups.storage.fastpath import Prepared
from cartgroups.storage.tables import rate_buckets as b

_CAPACITY = sa.bindparam("capacity", type_=sa.Float)


def _upsert(
    dialect_name: str, level: float | sa.BindParameter[float], set_level: Callable[[Any], Any]
) -> Any:
    """The bucket's INSERT ... ON CONFLICT: a new bucket starts at ``level``; an existing one is
    drained to now, then ``set_level(drained)`` gives the columns to set."""
    stmt = dialect.insert(dialect_name, b).values(
        store_id=sa.bindparam("store_id"),
        application_id=sa.bindparam("application_id"),
        level=level,
        updated_at=dialect.now_or_clock("now"),
        allowed=True,
    )
    # A clock that went backwards drains nothing and does not move updated_at back.
    elapsed = dialect.greatest(stmt.excluded.updated_at - b.c.updated_at, 0.0)
    drained = dialect.greatest(b.c.level - elapsed * sa.bindparam("rate", type_=sa.Float), 0.0)
    set_ = set_level(drained)
    set_["updated_at"] = dialect.greatest(stmt.excluded.updated_at, b.c.updated_at)
    return stmt.on_conflict_do_update(index_elements=[b.c.store_id, b.c.application_id], set_=set_)


def _take(dialect_name: str) -> Prepared:
    def admitted(drained: Any) -> dict[str, Any]:
        fits = drained + 1.0 <= _CAPACITY
        return {"level": sa.case((fits, drained + 1.0), else_=drained), "allowed": fits}

    return Prepared(_upsert(dialect_name, 1.0, admitted).returning(b.c.level, b.c.allowed))


_TAKE = {name: _take(name) for name in ("sqlite", "postgresql")}


def _charge(dialect_name: str) -> Prepared:
    amount = sa.bindparam("amount", type_=sa.Float)

    def added(drained: Any) -> dict[str, Any]:
        return {"level": sa.case((drained + amount > _CAPACITY, _CAPACITY), else_=drained + amount)}

    return Prepared(_upsert(dialect_name, amount, added))


_CHARGE = {name: _charge(name) for name in ("sqlite", "postgresql")}


class Busy(Exception):
    """Another connection held SQLite's write lock for longer than the caller would wait."""


def _wait_at_most(conn: Connection, wait_ms: int) -> None:
    """Set how long the connection's statements wait for SQLite's write lock (a PRAGMA, run only
    when the setting changes; remembered with the driver connection it was set on)."""
    if conn.dialect.name != "sqlite":
        return
    driver = dialect.driver(conn)
    if conn.info.get("cartgroups_busy_ms") == (driver, wait_ms):
        return
    driver.execute(f"PRAGMA busy_timeout = {int(wait_ms)}")
    conn.info["cartgroups_busy_ms"] = (driver, wait_ms)


def _run(conn: Connection, statement: Prepared, params: dict[str, Any], wait_ms: int) -> Any:
    _wait_at_most(conn, wait_ms)
    try:
        return statement.run(conn, params)
    except sqlite3.OperationalError as error:
        if error.sqlite_errorcode & 0xFF == sqlite3.SQLITE_BUSY:
            raise Busy() from None
        raise


def take_params(
    *, store_id: int, application_id: int, capacity: int, rate: float, now: float | None
) -> dict[str, Any]:
    return {
        "store_id": store_id,
        "application_id": application_id,
        "capacity": float(capacity),
        "rate": rate,
        "now": now,
    }


def charge_params(
    *, store_id: int, application_id: int, amount: float, capacity: int, rate: float, now: float | None
) -> dict[str, Any]:
    return {
        **take_params(
            store_id=store_id, application_id=application_id, capacity=capacity, rate=rate, now=now
        ),
        "amount": amount,
    }


def take_statement(dialect_name: str) -> Prepared:
    """take()'s statement, for a store that runs it itself (PostgreSQL's async store)."""
    return _TAKE[dialect_name]


def charge_statement(dialect_name: str) -> Prepared:
    return _CHARGE[dialect_name]


def take(
    conn: Connection,
    *,
    store_id: int,
    application_id: int,
    capacity: int,
    rate: float,
    now: float | None,
    wait_ms: int = dialect.SQLITE_BUSY_TIMEOUT_MS,
) -> tuple[float, bool]:
    """Add one request to the bucket if it fits. Returns (the bucket's level now, whether the
    request fitted). ``now`` is seconds since the epoch; None means the database's clock.
    Raises Busy when SQLite's write lock stayed taken for ``wait_ms``."""
    params = take_params(
        store_id=store_id, application_id=application_id, capacity=capacity, rate=rate, now=now
    )
    level, allowed = _run(conn, _TAKE[conn.dialect.name], params, wait_ms).fetchone()
    return float(level), bool(allowed)


def charge(
    conn: Connection,
    *,
    store_id: int,
    application_id: int,
    amount: float,
    capacity: int,
    rate: float,
    now: float | None,
    wait_ms: int = dialect.SQLITE_BUSY_TIMEOUT_MS,
) -> None:
    """Add ``amount`` requests to the bucket, drained to now first, whether they fit or not (at
    most up to the capacity): requests a process let in while the bucket could not be written.
    Raises Busy like take()."""
    params = charge_params(
        store_id=store_id, application_id=application_id, amount=amount, capacity=capacity, rate=rate, now=now
    )
    _run(conn, _CHARGE[conn.dialect.name], params, wait_ms).close()


def level_of(conn: Connection, *, store_id: int, application_id: int) -> float | None:
    """The bucket's level as last stored (not drained to now); None when it has none."""
    stmt = sa.select(b.c.level).where(b.c.store_id == store_id, b.c.application_id == application_id)
    value = conn.execute(stmt).scalar_one_or_none()
    return None if value is None else float(value)
