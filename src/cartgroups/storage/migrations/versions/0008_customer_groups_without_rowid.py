"""On SQLite, keep customer_groups in its primary key's B-tree (WITHOUT ROWID).

A rowid table with a two-column primary key is two B-trees: the rows, by a hidden rowid, and
the key's index pointing at them. Every read by id walked both, every create wrote a page of
each, and a store's page of groups was read row by row from all over the table. WITHOUT ROWID,
the rows are stored in key order in one B-tree: a read by id is one descent, a create one page,
and a store's groups lie side by side (issue #3, docs/performance.md). The rows stay small
(a customer group is a few hundred bytes), which is what SQLite advises for this layout.

PostgreSQL has no rowid: nothing to do there.

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-29
"""

from __future__ import annotations

from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def _rebuild(with_rowid: bool) -> None:
    if op.get_bind().dialect.name != "sqlite":
        return
    # Batch mode copies the rows into a new table declared this way, then swaps the two.
    with op.batch_alter_table(
        "customer_groups", recreate="always", table_kwargs={"sqlite_with_rowid": with_rowid}
    ):
        pass


def upgrade() -> None:
    _rebuild(with_rowid=False)


def downgrade() -> None:
    _rebuild(with_rowid=True)
