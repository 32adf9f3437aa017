"""Sandbox state: throttling overrides, fault rules and the request journal.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-28
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

_now = sa.func.current_timestamp()


def upgrade() -> None:
    op.create_table(
        "sandbox_stores",
        sa.Column("store_id", sa.Integer, nullable=False),
        sa.Column("throttle", sa.Boolean, nullable=True),
        sa.PrimaryKeyConstraint("store_id", name="pk_sandbox_stores"),
        sa.ForeignKeyConstraint(
            ["store_id"], ["stores.id"], name="fk_sandbox_stores_store_id_stores", ondelete="CASCADE"
        ),
    )
    op.create_table(
        "sandbox_faults",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("method", sa.String(16), nullable=False),
        sa.Column("path", sa.String(500), nullable=False),
        sa.Column("regex", sa.Boolean, nullable=False),
        sa.Column("store_id", sa.Integer, nullable=True),
        sa.Column("status", sa.Integer, nullable=True),
        sa.Column("message", sa.Text, nullable=True),
        sa.Column("retry_after", sa.Integer, nullable=True),
        sa.Column("latency_ms", sa.Integer, nullable=False, server_default="0"),
        sa.Column("probability", sa.Float, nullable=False, server_default="1"),
        sa.Column("remaining", sa.Integer, nullable=True),
        sa.Column("applied", sa.Integer, nullable=False, server_default="0"),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=_now),
        sa.PrimaryKeyConstraint("id", name="pk_sandbox_faults"),
        sa.ForeignKeyConstraint(
            ["store_id"], ["stores.id"], name="fk_sandbox_faults_store_id_stores", ondelete="CASCADE"
        ),
    )
    op.create_table(
        "sandbox_journal",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("store_id", sa.Integer, nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("method", sa.String(16), nullable=False),
        sa.Column("path", sa.Text, nullable=False),
        sa.Column("query", sa.Text, nullable=False),
        sa.Column("status", sa.Integer, nullable=False),
        sa.Column("request_headers", sa.Text, nullable=False),
        sa.Column("request_body", sa.Text, nullable=False),
        sa.Column("response_body", sa.Text, nullable=False),
        sa.Column("duration_ms", sa.Float, nullable=False),
        sa.Column("fault_id", sa.Integer, nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_sandbox_journal"),
        sa.ForeignKeyConstraint(
            ["store_id"], ["stores.id"], name="fk_sandbox_journal_store_id_stores", ondelete="CASCADE"
        ),
    )
    op.create_index("ix_sandbox_journal_store_id_id", "sandbox_journal", ["store_id", "id"])


def downgrade() -> None:
    op.drop_index("ix_sandbox_journal_store_id_id", "sandbox_journal")
    op.drop_table("sandbox_journal")
    op.drop_table("sandbox_faults")
    op.drop_table("sandbox_stores")
