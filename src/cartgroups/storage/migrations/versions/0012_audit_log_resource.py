"""The audit log names the resource of each entry: audit_log.group_id becomes item_id, and a new
column ``resource`` says what it is the id of ("CustomerGroup", or "Customer" from issue #18 on).

Every entry written so far is a customer group's, which the column's server default says: the
upgrade adds it as NOT NULL DEFAULT 'CustomerGroup', so existing rows get it without being
rewritten (PostgreSQL 11+ keeps a constant default in the catalog; SQLite reads it from the
table's declaration). The id is renamed in place (ALTER TABLE ... RENAME COLUMN, SQLite 3.25+):
neither database copies the log, however long it is, and SQLite keeps the table's AUTOINCREMENT
(migration 0009) and its index on time as they are.

Servers of an older version write ``group_id``: once this runs, their writes fail (a 500, the
change rolled back with its entry), so upgrade every server process together.

A downgrade renames item_id back to group_id and drops ``resource`` (SQLite 3.35+ drops a
column in place). It refuses, naming how many, while entries of another resource than
CustomerGroup are in the log (nothing is changed then): as group_id they would name groups.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None

_GROUP = "CustomerGroup"


def upgrade() -> None:
    op.alter_column(
        "audit_log",
        "group_id",
        new_column_name="item_id",
        existing_type=sa.Integer(),
        existing_nullable=False,
    )
    op.add_column("audit_log", sa.Column("resource", sa.String(20), nullable=False, server_default=_GROUP))


def downgrade() -> None:
    others = op.get_bind().execute(
        sa.text("SELECT count(*) FROM audit_log WHERE resource <> :group"), {"group": _GROUP}
    )
    count = others.scalar_one()
    if count:
        raise RuntimeError(
            f"cannot downgrade below 0012: {count} audit entries are of another resource than "
            f"{_GROUP}, which the audit log of 0011 cannot tell apart from group entries; "
            "delete them first (from audit_log_by_store, then from audit_log)"
        )
    op.drop_column("audit_log", "resource")
    op.alter_column(
        "audit_log",
        "item_id",
        new_column_name="group_id",
        existing_type=sa.Integer(),
        existing_nullable=False,
    )
