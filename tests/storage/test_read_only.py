"""A database that takes reads but refuses writes: writes are DatabaseUnavailable (a 503, not
a 500), health() says "not writable", and a write that goes through again clears it.
(A SQLite file that cannot be written, under a live server: tests/test_outages_live.py.)"""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from cartgroups.errors import DatabaseUnavailable
from cartgroups.service import credentials
from cartgroups.storage.database import Database


def test_a_read_only_postgresql_refuses_writes_as_unavailable(db: Database) -> None:
    if db.dialect_name != "postgresql":
        pytest.skip("default_transaction_read_only is a PostgreSQL setting")
    url = db.engine.url.update_query_dict({"options": "-c default_transaction_read_only=on"})
    read_only = Database(url.render_as_string(hide_password=False))
    try:
        assert read_only.health() == "ok"  # no write has failed yet
        with pytest.raises(DatabaseUnavailable):
            credentials.issue(read_only, secure_url="ro.example.com")
        assert read_only.writes_failing
        assert read_only.health() == "not writable"
        with read_only.read() as conn:  # reads still work
            assert conn.execute(sa.text("SELECT 1")).scalar_one() == 1
    finally:
        read_only.dispose()


def test_health_checks_a_write_after_one_failed_and_clears_when_it_works(db: Database) -> None:
    db.writes_failing = True  # as after a failed write
    assert db.health() == "ok"  # the probe write went through
    assert not db.writes_failing
    credentials.issue(db, secure_url="rw.example.com")
    assert not db.writes_failing
