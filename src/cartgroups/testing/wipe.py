"""Storage-level SQL that only the test server needs: emptying every store at once.

Kept here rather than in cartgroups.storage because no server code path may ever do this."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from cartgroups.storage.tables import audit_log, customer_groups, idempotency_keys, rate_buckets, stores


def empty_every_store(conn: Connection) -> None:
    """Delete every group of every store, and the audit log of their changes, and restart each
    store's ids at 1; forget stored Idempotency-Key responses (they would replay writes that are
    gone) and empty the rate limiter's buckets.

    Stores, applications and tokens stay, so issued credentials keep working.
    Call inside a write transaction."""
    conn.execute(sa.delete(audit_log))
    conn.execute(sa.delete(customer_groups))
    conn.execute(sa.delete(idempotency_keys))
    conn.execute(sa.delete(rate_buckets))
    conn.execute(sa.update(stores).values(last_group_id=0))
