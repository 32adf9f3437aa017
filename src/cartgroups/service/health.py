"""What /healthz says about the database (api/system.py): whether it can be read, whether it can
be written when a write failed lately, and whether its schema is the one this build expects."""

from __future__ import annotations

from cartgroups.errors import DatabaseUnavailable
from cartgroups.offloop import off_loop
from cartgroups.storage import migrate
from cartgroups.storage.database import Database


async def database(db: Database) -> str:
    """The word /healthz reports for the database: "ok", or what is wrong: "unreachable", "not
    writable" (storage/database.py: Database.health), or the schema's state when it is not
    "ok" (storage/migrate.py: schema_state). The checks are synchronous statements, run off the
    event loop (offloop.py): a database that does not answer holds up the probe, not the loop."""
    return await off_loop(_database, db)


def _database(db: Database) -> str:
    health: str = db.health()
    if health != "ok":
        return health
    try:
        return migrate.schema_state(db)
    except DatabaseUnavailable:
        return "unreachable"
