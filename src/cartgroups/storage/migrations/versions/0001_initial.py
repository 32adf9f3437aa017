"""Stores, applications, tokens and customer groups.

Revision ID: 0001
Revises:
Create Date: 2026-11-28
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from cartgroups.storage.dialect import ExactDecimal

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

_now = sa.func.current_timestamp()


def upgrade() -> None:
    op.create_table(
        "stores",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("secure_url", sa.String(255), nullable=False),
        sa.Column("last_group_id", sa.Integer, nullable=False, server_default="0"),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=_now),
        sa.PrimaryKeyConstraint("id", name="pk_stores"),
        sa.UniqueConstraint("secure_url", name="uq_stores_secure_url"),
    )
    op.create_table(
        "applications",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("private_key_hash", sa.String(64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=_now),
        sa.PrimaryKeyConstraint("id", name="pk_applications"),
        sa.UniqueConstraint("name", name="uq_applications_name"),
        sa.UniqueConstraint("private_key_hash", name="uq_applications_private_key_hash"),
    )
    op.create_table(
        "tokens",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("store_id", sa.Integer, nullable=False),
        sa.Column("application_id", sa.Integer, nullable=False),
        sa.Column("token_hash", sa.String(64), nullable=False),
        sa.Column("token_prefix", sa.String(8), nullable=False),
        sa.Column("can_read", sa.Boolean, nullable=False),
        sa.Column("can_write", sa.Boolean, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=_now),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_tokens"),
        sa.ForeignKeyConstraint(
            ["store_id"], ["stores.id"], name="fk_tokens_store_id_stores", ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["application_id"],
            ["applications.id"],
            name="fk_tokens_application_id_applications",
            ondelete="CASCADE",
        ),
        sa.UniqueConstraint("token_hash", name="uq_tokens_token_hash"),
    )
    op.create_index("ix_tokens_store_id", "tokens", ["store_id"])
    op.create_index("ix_tokens_application_id", "tokens", ["application_id"])
    op.create_table(
        "customer_groups",
        sa.Column("store_id", sa.Integer, nullable=False),
        sa.Column("group_id", sa.Integer, nullable=False),
        sa.Column("name", sa.String(150), nullable=False),
        sa.Column("description", sa.Text, nullable=False),
        sa.Column("minimum_order", ExactDecimal(), nullable=False),
        sa.Column("non_taxable", sa.Boolean, nullable=False),
        sa.Column("allow_registration", sa.Boolean, nullable=False),
        sa.Column("disable_reward_points", sa.Boolean, nullable=False),
        sa.Column("auto_approve", sa.Boolean, nullable=False),
        sa.Column("registration_message", sa.Text, nullable=False),
        sa.Column("price_level", sa.SmallInteger, nullable=False),
        sa.PrimaryKeyConstraint("store_id", "group_id", name="pk_customer_groups"),
        sa.ForeignKeyConstraint(
            ["store_id"],
            ["stores.id"],
            name="fk_customer_groups_store_id_stores",
            ondelete="CASCADE",
        ),
    )


def downgrade() -> None:
    op.drop_table("customer_groups")
    op.drop_index("ix_tokens_application_id", "tokens")
    op.drop_index("ix_tokens_store_id", "tokens")
    op.drop_table("tokens")
    op.drop_table("applications")
    op.drop_table("stores")
