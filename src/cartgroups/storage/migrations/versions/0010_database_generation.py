"""The database's generation: a random number in change_counters, set anew by every restore.

Each server process keeps what it has verified (credentials, with their store's id) while the
generation stays the same (service/credentials.py, Authenticator): a restore may give the ids
of stores and tokens to others, so everything kept from before it must go. A restore sets a
new generation in the transaction that copies the data in (storage/backup.py); on PostgreSQL
a pg_restore copies the row as it was, but writes it anew, which the processes see too
(storage/credentials.py, row_written_by). This gives existing databases their first one.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-04
"""

from __future__ import annotations

import secrets

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

_COUNTER = "generation"


def upgrade() -> None:
    op.execute(
        sa.text(
            "INSERT INTO change_counters (name, value) SELECT :name, :value "
            "WHERE NOT EXISTS (SELECT 1 FROM change_counters WHERE name = :name)"
        ).bindparams(name=_COUNTER, value=secrets.randbits(62) + 1)
    )


def downgrade() -> None:
    op.execute(f"DELETE FROM change_counters WHERE name = '{_COUNTER}'")
