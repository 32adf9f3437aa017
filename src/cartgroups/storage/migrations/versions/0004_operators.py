"""Admin console: operator accounts, their sessions, failed sign-in counters; indexes for sorting groups.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-28
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

_now = sa.func.current_timestamp()


def upgrade() -> None:
    op.create_table(
        "operators",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("username", sa.String(64), nullable=False),
        sa.Column("password_hash", sa.String(255), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=_now),
        sa.PrimaryKeyConstraint("id", name="pk_operators"),
        sa.UniqueConstraint("username", name="uq_operators_username"),
    )
    op.create_table(
        "operator_sessions",
        sa.Column("session_hash", sa.String(64), nullable=False),
        sa.Column("operator_id", sa.Integer, nullable=False),
        sa.Column("csrf_token", sa.String(64), nullable=False),
        sa.Column("expires_at", sa.BigInteger, nullable=False),
        sa.PrimaryKeyConstraint("session_hash", name="pk_operator_sessions"),
        sa.ForeignKeyConstraint(
            ["operator_id"],
            ["operators.id"],
            name="fk_operator_sessions_operator_id_operators",
            ondelete="CASCADE",
        ),
    )
    op.create_index("ix_operator_sessions_operator_id", "operator_sessions", ["operator_id"])
    op.create_table(
        "sign_in_failures",
        sa.Column("subject", sa.String(200), nullable=False),
        sa.Column("failures", sa.Integer, nullable=False),
        sa.Column("last_failure_at", sa.BigInteger, nullable=False),
        sa.Column("locked_until", sa.BigInteger, nullable=False),
        sa.PrimaryKeyConstraint("subject", name="pk_sign_in_failures"),
    )
    # Names sort without regard to case, the same on both databases (collations differ).
    op.create_index(
        "ix_customer_groups_store_id_name",
        "customer_groups",
        [sa.column("store_id"), sa.func.lower(sa.column("name")), sa.column("group_id")],
    )
    op.create_index(
        "ix_customer_groups_store_id_price_level", "customer_groups", ["store_id", "price_level", "group_id"]
    )


def downgrade() -> None:
    op.drop_index("ix_customer_groups_store_id_price_level", "customer_groups")
    op.drop_index("ix_customer_groups_store_id_name", "customer_groups")
    op.drop_table("sign_in_failures")
    op.drop_index("ix_operator_sessions_operator_id", "operator_sessions")
    op.drop_table("operator_sessions")
    op.drop_table("operators")
