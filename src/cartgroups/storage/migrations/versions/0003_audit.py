"""The audit log of group changes, and the table that paces its pruning.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-28
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "audit_log",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("store_id", sa.Integer, nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("token_id", sa.Integer, nullable=True),
        sa.Column("application", sa.String(100), nullable=True),
        sa.Column("action", sa.String(6), nullable=False),
        sa.Column("bulk", sa.Boolean, nullable=False),
        sa.Column("group_id", sa.Integer, nullable=False),
        sa.Column("before_values", sa.Text, nullable=True),
        sa.Column("after_values", sa.Text, nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_audit_log"),
        sa.ForeignKeyConstraint(
            ["store_id"], ["stores.id"], name="fk_audit_log_store_id_stores", ondelete="CASCADE"
        ),
    )
    op.create_index("ix_audit_log_store_id_at", "audit_log", ["store_id", "at"])
    op.create_index("ix_audit_log_at", "audit_log", ["at"])
    op.create_table(
        "maintenance",
        sa.Column("task", sa.String(50), nullable=False),
        sa.Column("last_run_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("task", name="pk_maintenance"),
    )


def downgrade() -> None:
    op.drop_table("maintenance")
    op.drop_index("ix_audit_log_at", "audit_log")
    op.drop_index("ix_audit_log_store_id_at", "audit_log")
    op.drop_table("audit_log")
