"""Migrations on a brand-new database: the schema they make is the one the code declares, a
second upgrade changes nothing, and upgrades started at once all succeed, one doing the work."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from cartgroups.storage import credentials as cred_sql
from cartgroups.storage import migrate, tables
from cartgroups.storage.database import Database

# SQLite cannot reflect the expression index on lower(name); PostgreSQL compares it.
pytestmark = [
    pytest.mark.filterwarnings("ignore:Skipped unsupported reflection of expression-based index"),
    pytest.mark.filterwarnings("ignore:autogenerate skipping metadata-specified expression-based index"),
]

TABLES = {
    "alembic_version",
    "stores",
    "applications",
    "tokens",
    "customer_groups",
    "rate_buckets",
    "idempotency_keys",
    "change_counters",
    "audit_log",
    "maintenance",
    "sandbox_stores",
    "sandbox_faults",
    "sandbox_journal",
    "operators",
    "operator_sessions",
    "sign_in_failures",
}


def _differences(db: Database) -> list[object]:
    with db.read() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        return list(compare_metadata(context, tables.metadata))


def test_upgrade_creates_the_declared_schema_and_a_second_is_a_no_op(
    fresh_database_url: str,
) -> None:
    db = Database(fresh_database_url)
    try:
        assert migrate.current_revision(db) is None
        head = migrate.head_revision()
        assert migrate.upgrade(db) == (None, head)
        assert set(sa.inspect(db.engine).get_table_names()) == TABLES
        assert _differences(db) == []
        with db.write() as conn:
            store = cred_sql.insert_store(conn, secure_url="kept.example.com")

        assert migrate.upgrade(db) == (head, head)
        assert migrate.current_revision(db) == head
        with db.read() as conn:
            assert [s.id for s in cred_sql.list_stores(conn)] == [store]
    finally:
        db.dispose()


def test_concurrent_upgrades_of_a_new_database_all_succeed(fresh_database_url: str) -> None:
    starters = 4
    barrier = threading.Barrier(starters)

    def upgrade(_: int) -> tuple[str | None, str]:
        db = Database(fresh_database_url)  # its own engine, like a separate process
        try:
            barrier.wait(timeout=30)
            return migrate.upgrade(db)
        finally:
            db.dispose()

    with ThreadPoolExecutor(starters) as pool:
        results = list(pool.map(upgrade, range(starters)))
    head = migrate.head_revision()
    # The upgrades queue on a lock: the first does the work, the rest find nothing to do.
    assert sorted(results, key=lambda result: result[0] or "") == (
        [(None, head)] + [(head, head)] * (starters - 1)
    )
    db = Database(fresh_database_url)
    try:
        assert migrate.current_revision(db) == head
        assert _differences(db) == []
    finally:
        db.dispose()


def _migrate_to(db: Database, revision: str, *, down: bool = False) -> None:
    """Run the migrations up (or down) to ``revision``, the way migrate.upgrade runs them."""
    cfg = migrate._config()
    with db.engine.connect() as conn, conn.begin():
        cfg.attributes["connection"] = conn
        (command.downgrade if down else command.upgrade)(cfg, revision)


def _groups(db: Database) -> list[tuple[object, ...]]:
    with db.read() as conn:
        rows = conn.execute(sa.select(tables.customer_groups).order_by(*tables.customer_groups.primary_key))
        return [tuple(row) for row in rows]


def _without_rowid(db: Database) -> bool | None:
    """On SQLite, whether customer_groups is a WITHOUT ROWID table; None elsewhere."""
    if db.dialect_name != "sqlite":
        return None
    with db.read() as conn:
        query = "SELECT sql FROM sqlite_master WHERE name = 'customer_groups'"
        sql = conn.exec_driver_sql(query).scalar_one()
    return " ".join(sql.split()).upper().endswith("WITHOUT ROWID")


def test_0008_keeps_every_group_and_its_store_link_both_ways(fresh_database_url: str) -> None:
    db = Database(fresh_database_url)
    try:
        _migrate_to(db, "0007")
        with db.write() as conn:
            kept = cred_sql.insert_store(conn, secure_url="kept.example.com")
            dropped = cred_sql.insert_store(conn, secure_url="dropped.example.com")
            values = {
                "name": "Wholesale",
                "description": "Résumé ✓ \U0001f600",
                "minimum_order": Decimal("250.10"),
                "non_taxable": True,
                "allow_registration": False,
                "disable_reward_points": True,
                "auto_approve": False,
                "registration_message": "",
                "price_level": 3,
            }
            for store in (kept, dropped):
                conn.execute(
                    tables.customer_groups.insert(),
                    [{"store_id": store, "group_id": g, **values, "name": f"G{g}"} for g in (1, 2, 10)],
                )
        before = _groups(db)
        assert _without_rowid(db) in (False, None)

        _migrate_to(db, "0008")
        assert _without_rowid(db) in (True, None)
        assert _groups(db) == before
        assert _differences(db) == []
        with db.write() as conn:  # the foreign key still cascades
            conn.execute(tables.stores.delete().where(tables.stores.c.id == dropped))
        remaining = [row for row in before if row[0] == kept]
        assert _groups(db) == remaining

        _migrate_to(db, "0007", down=True)
        assert _without_rowid(db) in (False, None)
        assert _groups(db) == remaining
    finally:
        db.dispose()
