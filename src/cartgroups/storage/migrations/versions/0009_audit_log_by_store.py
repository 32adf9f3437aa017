"""Index the audit log by store in bulk: audit_log_by_store replaces ix_audit_log_store_id_at.

The index on audit_log(store_id, at) made every change write one more page, its store's, and
a page of its own for each change in a batch of many stores: ~40 % of what a create wrote
(issue #3, docs/performance.md). audit_log_by_store holds the same (store, time, id) triples,
brought up to date every second or so in one statement (storage/audit.py, index_new_entries),
so that a page takes all of its store's new entries at once. The change counter
"audit-indexed" says how far it has got; the entries above it are read from audit_log itself.

The mark relies on ids never being handed out twice: on SQLite, audit_log is rebuilt with
AUTOINCREMENT (without it SQLite reuses the ids of the highest entries once they are deleted);
PostgreSQL's sequence never reuses one. The upgrade indexes every entry already written.

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-29
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

_COUNTER = "audit-indexed"


def upgrade() -> None:
    op.create_table(
        "audit_log_by_store",
        sa.Column("store_id", sa.Integer, nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.ForeignKeyConstraint(
            ["store_id"], ["stores.id"], name="fk_audit_log_by_store_store_id_stores", ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("store_id", "at", "id", name="pk_audit_log_by_store"),
        sqlite_with_rowid=False,  # rows kept in the key's own B-tree, as in the declaration
    )
    if op.get_bind().dialect.name == "postgresql":
        # As the indexer does (storage/audit.py): servers of an older version may be writing
        # entries meanwhile, their ids handed out before they commit; wait for them, so that
        # none can appear below the mark set here.
        op.execute("LOCK TABLE audit_log IN SHARE ROW EXCLUSIVE MODE")
    op.execute(
        "INSERT INTO audit_log_by_store (store_id, at, id) "
        "SELECT store_id, at, id FROM audit_log ORDER BY store_id, at, id"
    )
    op.execute(
        f"INSERT INTO change_counters (name, value) SELECT '{_COUNTER}', coalesce(max(id), 0) FROM audit_log"
    )
    op.drop_index("ix_audit_log_store_id_at", "audit_log")
    _rebuild(autoincrement=True)


def downgrade() -> None:
    _rebuild(autoincrement=False)
    op.create_index("ix_audit_log_store_id_at", "audit_log", ["store_id", "at"])
    op.execute(f"DELETE FROM change_counters WHERE name = '{_COUNTER}'")
    op.drop_table("audit_log_by_store")


def _rebuild(*, autoincrement: bool) -> None:
    """SQLite: audit_log copied into a table declared with or without AUTOINCREMENT (which
    cannot be added to a table in place); its sqlite_sequence starts at the highest id copied."""
    if op.get_bind().dialect.name != "sqlite":
        return
    with op.batch_alter_table(
        "audit_log", recreate="always", table_kwargs={"sqlite_autoincrement": autoincrement}
    ):
        pass
