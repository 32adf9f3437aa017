"""A database that goes away and comes back: requests fail fast as DatabaseUnavailable, then work."""

from __future__ import annotations

import psycopg
import pytest
import sqlalchemy as sa

from cartgroups.errors import DatabaseUnavailable
from cartgroups.storage.database import Database
from tests.conftest import PG_URL


def test_a_killed_postgresql_connection_is_replaced_and_its_pool_slot_returned(db: Database) -> None:
    if db.dialect_name != "postgresql":
        pytest.skip("terminating a server backend is a PostgreSQL notion")
    # More rounds than the pool holds (4 + 8 overflow): a leaked slot per outage would block.
    for _ in range(15):
        with db.read() as conn:
            backend = conn.execute(sa.text("SELECT pg_backend_pid()")).scalar_one()
        with psycopg.connect(PG_URL, autocommit=True) as admin:
            admin.execute("SELECT pg_terminate_backend(%s)", (backend,))
        with pytest.raises(DatabaseUnavailable), db.read() as conn:
            conn.execute(sa.text("SELECT 1"))
        with db.read() as conn:
            assert conn.execute(sa.text("SELECT 1")).scalar_one() == 1
    assert db.engine.pool.checkedout() <= 2  # the reader, and nothing leaked
