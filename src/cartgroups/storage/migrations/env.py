"""Alembic environment. cartgroups runs migrations itself (storage/migrate.py) on a connection
it has already locked, so this only binds that connection."""

from __future__ import annotations

from alembic import context

from cartgroups.storage.tables import metadata

connection = context.config.attributes["connection"]
context.configure(
    connection=connection,
    target_metadata=metadata,
    render_as_batch=connection.dialect.name == "sqlite",
    compare_type=True,
)
with context.begin_transaction():
    context.run_migrations()
