"""Drop the admin console's sort indexes on customer_groups (by name, by price level).

Every group a store creates or renames, or whose price level changes, wrote a leaf page of each
index: on SQLite that was two of the four pages a create writes, and a third of what a create
cost under load (issue #3, docs/performance.md). The console sorts one store's groups; a store
holds tens of groups, and SQLite sorts even 100,000 of them in about 50 ms, so the console
sorts them as it reads them instead.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-29
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.drop_index("ix_customer_groups_store_id_price_level", "customer_groups")
    op.drop_index("ix_customer_groups_store_id_name", "customer_groups")


def downgrade() -> None:
    op.create_index(
        "ix_customer_groups_store_id_name",
        "customer_groups",
        [sa.column("store_id"), sa.func.lower(sa.column("name")), sa.column("group_id")],
    )
    op.create_index(
        "ix_customer_groups_store_id_price_level", "customer_groups", ["store_id", "price_level", "group_id"]
    )
