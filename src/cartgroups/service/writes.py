"""The database's group commit as the API's write batcher (api/batching.py) and the sandbox
layer (api/sandbox.py) use it, and the types of a write, handed down here so that nothing in
api/ reaches storage around the service.

A write receives its transaction explicitly: Plan[T] is a prepared write, called with the
connection of the transaction it runs in (Transaction) and returning its result. Whoever runs
one alone does ``with db.write() as tx: plan(tx)``; the server runs many in one batch.

BatchWriter is the one thing a batch needs of the database: Database.write_batch
(storage/database.py), which runs several plans in one transaction, passing each its
connection, and returns each one's result or exception. The rest are what a batch may end with:
WriterBusy (another process holds SQLite's write lock: nothing was begun, try again a moment
later, for up to SQLITE_BUSY_TIMEOUT_MS as a plain write would wait), Retry (a write lost a
deadlock or serialisation conflict on PostgreSQL: run it again on its own) and UNAVAILABLE, the
message of the 503 a write gets when the database cannot take it."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Protocol, TypeAlias, TypeVar

from sqlalchemy.engine import Connection

from cartgroups.storage.database import UNAVAILABLE, Retry
from cartgroups.storage.dialect import SQLITE_BUSY_TIMEOUT_MS, WriterBusy

__all__ = [
    "SQLITE_BUSY_TIMEOUT_MS",
    "UNAVAILABLE",
    "BatchWriter",
    "Plan",
    "Retry",
    "Transaction",
    "WriterBusy",
]

T = TypeVar("T")

# The connection of a write transaction, as a plan receives it.
Transaction: TypeAlias = Connection
# A prepared write: ``plan(tx)`` runs its statements in the transaction given and returns its result.
Plan: TypeAlias = Callable[[Transaction], T]


class BatchWriter(Protocol):
    def write_batch(self, works: Sequence[Plan[T]]) -> list[T | Exception]:
        """Run ``works`` in one transaction, each called with its connection: each one's result
        or the exception it raised, in order (storage/database.py: Database.write_batch)."""
        ...
