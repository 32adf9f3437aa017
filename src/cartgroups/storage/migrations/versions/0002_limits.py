"""Rate-limit buckets and stored Idempotency-Key responses.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-28
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "rate_buckets",
        sa.Column("store_id", sa.Integer, nullable=False),
        sa.Column("application_id", sa.Integer, nullable=False),
        sa.Column("level", sa.Float, nullable=False),
        sa.Column("updated_at", sa.Float, nullable=False),
        sa.Column("allowed", sa.Boolean, nullable=False),
        sa.PrimaryKeyConstraint("store_id", "application_id", name="pk_rate_buckets"),
        sa.ForeignKeyConstraint(
            ["store_id"], ["stores.id"], name="fk_rate_buckets_store_id_stores", ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["application_id"],
            ["applications.id"],
            name="fk_rate_buckets_application_id_applications",
            ondelete="CASCADE",
        ),
    )
    op.create_table(
        "idempotency_keys",
        sa.Column("store_id", sa.Integer, nullable=False),
        sa.Column("application_id", sa.Integer, nullable=False),
        sa.Column("key", sa.String(255), nullable=False),
        sa.Column("fingerprint", sa.String(64), nullable=False),
        sa.Column("status", sa.SmallInteger, nullable=False),
        sa.Column("body", sa.LargeBinary, nullable=False),
        sa.Column("created_at", sa.Float, nullable=False),
        sa.PrimaryKeyConstraint("store_id", "application_id", "key", name="pk_idempotency_keys"),
        sa.ForeignKeyConstraint(
            ["store_id"], ["stores.id"], name="fk_idempotency_keys_store_id_stores", ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["application_id"],
            ["applications.id"],
            name="fk_idempotency_keys_application_id_applications",
            ondelete="CASCADE",
        ),
    )
    op.create_index("ix_idempotency_keys_created_at", "idempotency_keys", ["created_at"])


def downgrade() -> None:
    op.drop_index("ix_idempotency_keys_created_at", "idempotency_keys")
    op.drop_table("idempotency_keys")
    op.drop_table("rate_buckets")
