"""Migrations on a brand-new database: the schema they make is the one the code declares, a
second upgrade changes nothing, upgrades started at once all succeed, one doing the work, and the
migrations that move data keep it, both ways."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from decimal import Decimal

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from cartgroups.storage import audit as audit_sql
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
    "customers",
    "rate_buckets",
    "idempotency_keys",
    "change_counters",
    "audit_log",
    "audit_log_by_store",
    "maintenance",
    "sandbox_stores",
    "sandbox_faults",
    "sandbox_journal",
    "operators",
    "operator_sessions",
    "sign_in_failures",
}


def _differences(db: Database, *, table: str | None = None) -> list[object]:
    """How the database's schema differs from the declared one (only ``table``'s, if given)."""

    def include(_object: object, name: str | None, kind: str, *_: object) -> bool:
        return table is None or kind != "table" or name == table

    with db.read() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True, "include_object": include})
        return list(compare_metadata(context, tables.metadata))


# audit_log as migrations 0003 to 0011 made it (its item was a group_id): for writing entries
# the way the code of that time did, under a schema older than the declared one.
_OLD_AUDIT_LOG = sa.table(
    "audit_log",
    sa.column("id", sa.Integer),
    sa.column("store_id", sa.Integer),
    sa.column("at", sa.DateTime(timezone=True)),
    sa.column("token_id", sa.Integer),
    sa.column("application", sa.String),
    sa.column("action", sa.String),
    sa.column("bulk", sa.Boolean),
    sa.column("group_id", sa.Integer),
    sa.column("before_values", sa.Text),
    sa.column("after_values", sa.Text),
)


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


# One group's column values, as the migrations under test store them.
_GROUP = {
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
            for store in (kept, dropped):
                conn.execute(
                    tables.customer_groups.insert(),
                    [{"store_id": store, "group_id": g, **_GROUP, "name": f"G{g}"} for g in (1, 2, 10)],
                )
        before = _groups(db)
        assert _without_rowid(db) in (False, None)

        _migrate_to(db, "0008")
        assert _without_rowid(db) in (True, None)
        assert _groups(db) == before
        _migrate_to(db, "head")
        assert _differences(db) == []  # the rebuilt table is the declared one
        with db.write() as conn:  # the foreign key still cascades
            conn.execute(tables.stores.delete().where(tables.stores.c.id == dropped))
        remaining = [row for row in before if row[0] == kept]
        assert _groups(db) == remaining

        _migrate_to(db, "0007", down=True)
        assert _without_rowid(db) in (False, None)
        assert _groups(db) == remaining
    finally:
        db.dispose()


def test_0009_indexes_every_entry_already_written_and_ids_keep_growing(fresh_database_url: str) -> None:
    db = Database(fresh_database_url)
    log = _OLD_AUDIT_LOG
    try:
        _migrate_to(db, "0008")
        with db.write() as conn:
            a = cred_sql.insert_store(conn, secure_url="a.example.com")
            b = cred_sql.insert_store(conn, secure_url="b.example.com")
            for n, store in enumerate([a, b, a, b]):
                conn.execute(
                    log.insert().values(
                        store_id=store,
                        at=datetime(2026, 5, 1, n, tzinfo=UTC),
                        token_id=None,
                        application=None,
                        action="create",
                        bulk=False,
                        group_id=n,
                        before_values=None,
                        after_values="{}",
                    )
                )
        with db.read() as conn:
            written = [tuple(row) for row in conn.execute(sa.select(log.c.store_id, log.c.at, log.c.id))]

        _migrate_to(db, "0009")
        _migrate_to(db, "head")  # the schema is compared with the declared (latest) one
        assert _differences(db) == []
        with db.read() as conn:
            indexed = [tuple(row) for row in conn.execute(sa.select(tables.audit_log_by_store))]
            assert sorted((s, audit_sql.utc(t), i) for s, t, i in indexed) == sorted(
                (s, audit_sql.utc(t), i) for s, t, i in written
            )
            assert not audit_sql.unindexed(conn)
            assert [e.item_id for e in audit_sql.list_entries(conn, store_id=b, limit=10)] == [3, 1]
        highest = max(i for _, _, i in written)
        with db.write() as conn:  # the highest entry goes; its id is not handed out again
            conn.execute(log.delete().where(log.c.id == highest))
            audit_sql.record(
                conn,
                store_id=a,
                actor=audit_sql.Actor(None, None),
                changes=[audit_sql.Change("delete", 0, None, None)],
            )
            assert conn.execute(sa.select(sa.func.max(log.c.id))).scalar_one() > highest

        _migrate_to(db, "0008", down=True)
        with db.read() as conn:
            assert "audit_log_by_store" not in sa.inspect(conn).get_table_names()
            assert "ix_audit_log_store_id_at" in {
                ix["name"] for ix in sa.inspect(conn).get_indexes("audit_log")
            }
            assert len(conn.execute(sa.select(log.c.id)).all()) == 4
    finally:
        db.dispose()


def _insert_groups(db: Database, store: int, levels: list[int]) -> None:
    rows = [
        {"store_id": store, "group_id": g, **_GROUP, "name": f"G{g}", "price_level": level}
        for g, level in enumerate(levels, start=1)
    ]
    with db.write() as conn:
        conn.execute(tables.customer_groups.insert(), rows)


def test_0011_widens_price_level_to_32_bits_keeping_every_group_and_narrows_back(
    fresh_database_url: str,
) -> None:
    db = Database(fresh_database_url)
    try:
        _migrate_to(db, "0010")
        with db.write() as conn:
            store = cred_sql.insert_store(conn, secure_url="kept.example.com")
        _insert_groups(db, store, [1, 10, 0, -32768, 32767])
        before = _groups(db)

        _migrate_to(db, "0011")
        assert _groups(db) == before
        assert _without_rowid(db) in (True, None)
        # The declared customer_groups (later migrations change other tables): price_level an integer.
        assert _differences(db, table="customer_groups") == []
        with db.write() as conn:  # 32 bits now fit, on PostgreSQL too
            conn.execute(
                tables.customer_groups.update()
                .where(tables.customer_groups.c.group_id == 5)
                .values(price_level=2_147_483_647)
            )
            conn.execute(
                tables.customer_groups.update()
                .where(tables.customer_groups.c.group_id == 4)
                .values(price_level=-2_147_483_648)
            )
        widened = _groups(db)
        assert [row[-1] for row in widened] == [1, 10, 0, -2_147_483_648, 2_147_483_647]

        # A level smallint cannot hold stops the downgrade, which then changes nothing.
        with pytest.raises(RuntimeError, match="2 customer groups have a PriceLevel outside -32768 to 32767"):
            _migrate_to(db, "0010", down=True)
        assert migrate.current_revision(db) == "0011"
        assert _groups(db) == widened

        with db.write() as conn:
            conn.execute(tables.customer_groups.delete().where(tables.customer_groups.c.group_id >= 4))
        _migrate_to(db, "0010", down=True)
        assert _without_rowid(db) in (True, None)
        assert _groups(db) == before[:3]
    finally:
        db.dispose()


def _audit_rows(db: Database, *columns: str) -> list[tuple[object, ...]]:
    with db.read() as conn:
        query = f"SELECT {', '.join(columns)} FROM audit_log ORDER BY id"
        return [tuple(row) for row in conn.exec_driver_sql(query)]


def test_0012_keeps_every_group_entry_as_a_customer_group_item_and_back(fresh_database_url: str) -> None:
    db = Database(fresh_database_url)
    kept = ("id", "store_id", "token_id", "application", "action", "bulk", "before_values", "after_values")
    try:
        _migrate_to(db, "0011")
        with db.write() as conn:
            a = cred_sql.insert_store(conn, secure_url="a.example.com")
            b = cred_sql.insert_store(conn, secure_url="b.example.com")
            for n, (store, group_id) in enumerate([(a, 1), (b, 1), (a, 7), (a, 1)]):
                conn.execute(
                    _OLD_AUDIT_LOG.insert().values(
                        store_id=store,
                        at=datetime(2026, 5, 1, n, tzinfo=UTC),
                        token_id=n,
                        application=f"app {n}",
                        action="update",
                        bulk=n == 2,
                        group_id=group_id,
                        before_values=f'{{"CustomerGroupID":{group_id}}}',
                        after_values=None,
                    )
                )
        with db.write() as conn:  # the two oldest indexed by store, the others not yet
            assert audit_sql.index_new_entries(conn, batch=2) == 2
        with db.write() as conn:
            conn.execute(
                _OLD_AUDIT_LOG.insert().values(
                    store_id=a,
                    at=datetime(2026, 5, 2, tzinfo=UTC),
                    token_id=None,
                    application=None,
                    action="delete",
                    bulk=False,
                    group_id=9,
                    before_values='{"CustomerGroupID":9}',
                    after_values=None,
                )
            )  # not indexed
        before = _audit_rows(db, *kept, "group_id")

        _migrate_to(db, "0012")
        assert _differences(db, table="audit_log") == []  # the declared audit_log
        assert _audit_rows(db, *kept, "resource", "item_id") == [
            (*row[:-1], "CustomerGroup", row[-1]) for row in before
        ]
        with db.read() as conn:
            listed = audit_sql.list_entries(conn, store_id=a, limit=10)
            assert [(e.resource, e.item_id, e.action) for e in listed] == [
                ("CustomerGroup", 9, "delete"),
                ("CustomerGroup", 1, "update"),
                ("CustomerGroup", 7, "update"),
                ("CustomerGroup", 1, "update"),
            ]
            assert [
                e.id
                for e in audit_sql.list_entries(
                    conn, store_id=a, resource="CustomerGroup", item_id=1, limit=10
                )
            ] == [4, 1]
        with db.write() as conn:  # entries of both resources are written next to the old ones
            audit_sql.record(
                conn,
                store_id=a,
                actor=audit_sql.Actor(None, None),
                changes=[audit_sql.Change("delete", 3, None, None)],
            )
            customer = audit_sql.entry_for(
                a,
                audit_sql.Actor(None, None),
                resource="Customer",
                action="create",
                item_id=1,
                before=None,
                after="{}",
            )
            audit_sql.record_entries(conn, [customer])
        with db.read() as conn:
            assert [(e.resource, e.item_id) for e in audit_sql.list_entries(conn, store_id=a, limit=2)] == [
                ("Customer", 1),
                ("CustomerGroup", 3),
            ]
        after_upgrade = _audit_rows(db, *kept, "resource", "item_id")

        # A customer's entry stops the downgrade (as a group_id it would name a group): nothing changes.
        with pytest.raises(RuntimeError, match="1 audit entries are of another resource than CustomerGroup"):
            _migrate_to(db, "0011", down=True)
        assert migrate.current_revision(db) == "0012"
        assert _audit_rows(db, *kept, "resource", "item_id") == after_upgrade

        with db.write() as conn:
            conn.execute(tables.audit_log.delete().where(tables.audit_log.c.resource == "Customer"))
        _migrate_to(db, "0011", down=True)
        with db.read() as conn:
            columns = [c["name"] for c in sa.inspect(conn).get_columns("audit_log")]
        assert "resource" not in columns and "item_id" not in columns and "group_id" in columns
        assert _audit_rows(db, *kept, "group_id") == [row[:-2] + row[-1:] for row in after_upgrade[:-1]]
    finally:
        db.dispose()
