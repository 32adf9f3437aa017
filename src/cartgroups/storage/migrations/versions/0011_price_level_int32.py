"""PriceLevel holds any 32-bit integer: customer_groups.price_level becomes integer (was smallint).

The live service declares no range for PriceLevel (a .NET int), and the official C# client sends
0 when it is unset (issue #17): the 1 to 10 of the store's UI is now an opt-in setting, so the
column must hold what a 32-bit integer holds. No CHECK constraint ever limited it.

PostgreSQL changes the column's type in place (ALTER COLUMN ... TYPE integer; every smallint
fits). SQLite stores both as INTEGER (affinity only), but the declared type is what the schema
says, so the table is rebuilt by batch mode with its new declaration, keeping WITHOUT ROWID
(migration 0008).

A downgrade narrows the column back to smallint; it refuses, naming how many, while any group
holds a price level outside smallint's range (nothing is changed then).

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-04
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

_SMALLINT = (-32768, 32767)


def _retype(old: sa.types.TypeEngine[int], new: sa.types.TypeEngine[int]) -> None:
    sqlite = op.get_bind().dialect.name == "sqlite"
    kwargs = {"recreate": "always", "table_kwargs": {"sqlite_with_rowid": False}} if sqlite else {}
    with op.batch_alter_table("customer_groups", **kwargs) as batch:  # type: ignore[arg-type]
        batch.alter_column("price_level", existing_type=old, type_=new, existing_nullable=False)


def upgrade() -> None:
    _retype(sa.SmallInteger(), sa.Integer())


def downgrade() -> None:
    low, high = _SMALLINT
    outside = op.get_bind().execute(
        sa.text("SELECT count(*) FROM customer_groups WHERE price_level < :low OR price_level > :high"),
        {"low": low, "high": high},
    )
    count = outside.scalar_one()
    if count:
        raise RuntimeError(
            f"cannot downgrade below 0011: {count} customer groups have a PriceLevel outside "
            f"{low} to {high}, which the smallint column of 0010 cannot hold; change them first"
        )
    _retype(sa.Integer(), sa.SmallInteger())
