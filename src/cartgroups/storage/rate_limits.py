"""SQL for the rate limiter's leaky buckets: one atomic statement per request.

``take`` is a single ``INSERT ... ON CONFLICT DO UPDATE ... RETURNING`` (SQLite >= 3.35 and
PostgreSQL): the bucket of a store and application is drained by the time passed since it was
last touched, and one request is added when that leaves room. Every process and host that uses
the database shares the bucket, and two requests can never both take the last slot: the row is
locked (PostgreSQL) or the file is (SQLite) while the statement runs.
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from cartgroups.storage import dialect
from cartgroups.storage.fastpath import Prepared
from cartgroups.storage.tables import rate_buckets as b


def _take(dialect_name: str) -> Prepared:
    now = dialect.now_or_clock("now")
    rate, capacity = sa.bindparam("rate", type_=sa.Float), sa.bindparam("capacity", type_=sa.Float)
    stmt = dialect.insert(dialect_name, b).values(
        store_id=sa.bindparam("store_id"),
        application_id=sa.bindparam("application_id"),
        level=1.0,
        updated_at=now,
        allowed=True,
    )
    # A clock that went backwards drains nothing and does not move updated_at back.
    elapsed = dialect.greatest(stmt.excluded.updated_at - b.c.updated_at, 0.0)
    drained = dialect.greatest(b.c.level - elapsed * rate, 0.0)
    fits = drained + 1.0 <= capacity
    upsert = stmt.on_conflict_do_update(
        index_elements=[b.c.store_id, b.c.application_id],
        set_={
            "level": sa.case((fits, drained + 1.0), else_=drained),
            "updated_at": dialect.greatest(stmt.excluded.updated_at, b.c.updated_at),
            "allowed": fits,
        },
    )
    return Prepared(upsert.returning(b.c.level, b.c.allowed))


_TAKE = {name: _take(name) for name in ("sqlite", "postgresql")}


def take(
    conn: Connection,
    *,
    store_id: int,
    application_id: int,
    capacity: int,
    rate: float,
    now: float | None,
) -> tuple[float, bool]:
    """Add one request to the bucket if it fits. Returns (the bucket's level now, whether the
    request fitted). ``now`` is seconds since the epoch; None means the database's clock."""
    params = {
        "store_id": store_id,
        "application_id": application_id,
        "capacity": float(capacity),
        "rate": rate,
        "now": now,
    }
    level, allowed = _TAKE[conn.dialect.name].run(conn, params).fetchone()
    return float(level), bool(allowed)


def level_of(conn: Connection, *, store_id: int, application_id: int) -> float | None:
    """The bucket's level as last stored (not drained to now); None when it has none."""
    stmt = sa.select(b.c.level).where(b.c.store_id == store_id, b.c.application_id == application_id)
    value = conn.execute(stmt).scalar_one_or_none()
    return None if value is None else float(value)
