"""The database's group commit as the API's write batcher (api/batching.py) and the sandbox
layer (api/sandbox.py) use it, handed down here so that nothing in api/ reaches storage
around the service.

BatchWriter is the one thing a batch needs of the database: Database.write_batch
(storage/database.py), which runs several writes in one transaction and returns each one's
result or exception. The rest are what a batch may end with: WriterBusy (another process holds
SQLite's write lock: nothing was begun, try again a moment later, for up to
SQLITE_BUSY_TIMEOUT_MS as a plain write would wait), Retry (a write lost a deadlock or
serialisation conflict on PostgreSQL: run it again on its own) and UNAVAILABLE, the message of
the 503 a write gets when the database cannot take it."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Protocol, TypeVar

from cartgroups.storage.database import UNAVAILABLE, Retry
from cartgroups.storage.dialect import SQLITE_BUSY_TIMEOUT_MS, WriterBusy

__all__ = ["SQLITE_BUSY_TIMEOUT_MS", "UNAVAILABLE", "BatchWriter", "Retry", "WriterBusy"]

T = TypeVar("T")


class BatchWriter(Protocol):
    def write_batch(self, works: Sequence[Callable[[], T]]) -> list[T | Exception]:
        """Run ``works`` in one transaction: each one's result or the exception it raised, in
        order (storage/database.py: Database.write_batch)."""
        ...
