"""SQL for Idempotency-Key responses. Every function takes the store and the application, so a
key of one never answers for another."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from cartgroups.storage import dialect
from cartgroups.storage.fastpath import Prepared
from cartgroups.storage.tables import idempotency_keys as k

_KEY = (
    k.c.store_id == sa.bindparam("store_id"),
    k.c.application_id == sa.bindparam("application_id"),
    k.c.key == sa.bindparam("key"),
)


def _claim(dialect_name: str) -> Prepared:
    stmt = dialect.insert(dialect_name, k).values(
        store_id=sa.bindparam("store_id"),
        application_id=sa.bindparam("application_id"),
        key=sa.bindparam("key"),
        fingerprint=sa.bindparam("fingerprint"),
        status=0,
        body=b"",
        created_at=sa.bindparam("now", type_=sa.Float),
    )
    # An expired key is taken over as if it were new; a live one is left alone (no row back).
    upsert = stmt.on_conflict_do_update(
        index_elements=[k.c.store_id, k.c.application_id, k.c.key],
        set_={
            "fingerprint": stmt.excluded.fingerprint,
            "status": 0,
            "body": b"",
            "created_at": stmt.excluded.created_at,
        },
        where=k.c.created_at <= sa.bindparam("expired_before", type_=sa.Float),
    )
    return Prepared(upsert.returning(k.c.created_at))


CLAIM = {name: _claim(name) for name in ("sqlite", "postgresql")}
FIND = Prepared(sa.select(k.c.fingerprint, k.c.status, k.c.body).where(*_KEY))
FINISH = Prepared(
    sa.update(k).where(*_KEY).values(status=sa.bindparam("new_status"), body=sa.bindparam("new_body"))
)
PRUNE = Prepared(sa.delete(k).where(k.c.created_at <= sa.bindparam("expired_before", type_=sa.Float)))


def claim(
    conn: Connection,
    *,
    store_id: int,
    application_id: int,
    key: str,
    fingerprint: str,
    now: float,
    expired_before: float,
) -> tuple[str, int, bytes] | None:
    """Take the key for this request, inside the write transaction that will make the write.

    Returns None when the key is new (or its old use expired): go on, and call finish() in the
    same transaction. Otherwise returns the stored (fingerprint, status, body). A request holding
    the key in a transaction not yet committed makes this wait (PostgreSQL: on the unique key;
    SQLite: on the write lock) and then returns what that request stored."""
    params = {"store_id": store_id, "application_id": application_id, "key": key}
    taken = CLAIM[conn.dialect.name].run(
        conn, {**params, "fingerprint": fingerprint, "now": now, "expired_before": expired_before}
    )
    if taken.fetchone() is not None:
        return None
    fingerprint_, status, body = FIND.run(conn, params).fetchone()
    return str(fingerprint_), int(status), bytes(body)


def finish(
    conn: Connection, *, store_id: int, application_id: int, key: str, status: int, body: bytes
) -> None:
    """Store the response for the key claim() took in this transaction."""
    params = {"store_id": store_id, "application_id": application_id, "key": key}
    FINISH.run(conn, {**params, "new_status": status, "new_body": body})


def prune(conn: Connection, *, expired_before: float) -> int:
    """Delete every key, of every store, first used at or before ``expired_before``; how many went."""
    return int(PRUNE.run(conn, {"expired_before": expired_before}).rowcount)


def count(conn: Connection, *, store_id: int) -> int:
    stmt = sa.select(sa.func.count()).select_from(k).where(k.c.store_id == store_id)
    return int(conn.execute(stmt).scalar_one())
