"""SQLite's group commit: the write requests a server process holds at one moment share one
transaction.

A write's cost on SQLite is mostly its COMMIT (writing its pages to the WAL), and only one
connection of all the server's processes can write at a time. So instead of one transaction per
request, each process collects the writes its event loop has in hand and runs them together
(Database.write_batch): one BEGIN, the writes, one COMMIT. The pages the writes share are
written once, and a busy server makes bigger batches by itself: while one batch runs, the next
one gathers. What runs in a batch is only the SQL of each write: the request is checked and
prepared before (service/customer_groups: the plan_* methods), because the batch holds the write
lock that every process shares.

What a client sees does not change. Each write succeeds or fails alone (a write that fails
leaves nothing behind; its neighbours still commit: write_batch runs a batch again with a
savepoint per write when one fails after changing something); a reply is sent only after the
COMMIT that made its write durable; a write that fails because the database does is answered
503 like any write, and then none of its batch was committed.

While another process holds SQLite's write lock, the batch does not block the event loop (which
goes on reading requests into the next batch): beginning fails at once and the batch is tried
again a millisecond later, for as long as the busy timeout a plain write waits
(SQLITE_BUSY_TIMEOUT_MS), then answered 503.

Everything here runs on the event loop's thread; a batch's transaction begins and ends within
one callback, so no request's code runs inside another's transaction by accident.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Generic, Protocol, TypeVar

from sqlalchemy.engine import Connection

from cartgroups.errors import DatabaseUnavailable
from cartgroups.storage.database import UNAVAILABLE
from cartgroups.storage.dialect import SQLITE_BUSY_TIMEOUT_MS, WriterBusy

T = TypeVar("T")

MAX_BATCH = 64  # writes per transaction: bounds how long one batch holds the write lock
BUSY_RETRY_SECONDS = 0.001
BUSY_TIMEOUT_SECONDS = SQLITE_BUSY_TIMEOUT_MS / 1000


# A work of a batch: called with the batch's connection, it makes its change and returns its result.
Work = Callable[[Connection], T]


class BatchWriter(Protocol):
    def write_batch(self, works: Sequence[Work[T]]) -> list[T | Exception]:
        """Run ``works`` in one transaction, each called with its connection: each one's result
        or the exception it raised, in order (storage/database.py: Database.write_batch)."""
        ...


@dataclass(slots=True)
class _Write(Generic[T]):
    work: Work[T]
    future: asyncio.Future[T]


class WriteBatcher:
    """One per server process (its event loop). ``await batcher.run(work)`` runs ``work(conn)``
    in the next batch, ``conn`` being the batch's connection, and returns what it returned, or
    raises what it raised."""

    def __init__(self, db: BatchWriter, *, max_batch: int = MAX_BATCH) -> None:
        self.db = db
        self.max_batch = max_batch
        self._pending: list[_Write[Any]] = []
        self._scheduled = False
        self._busy_since: float | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self.batches = 0  # committed batches and the writes in them: for tests and tuning
        self.writes = 0

    async def run(self, work: Work[T]) -> T:
        loop = asyncio.get_running_loop()
        if loop is not self._loop:
            # A new event loop (a server runs one; tests and tools may run several in turn):
            # whatever an earlier loop left scheduled will never run, and its requests are gone.
            self._loop, self._pending, self._scheduled, self._busy_since = loop, [], False, None
        future: asyncio.Future[T] = loop.create_future()
        self._pending.append(_Write(work, future))
        if not self._scheduled:
            self._scheduled = True
            loop.call_soon(self._flush, loop)
        return await future

    def _take(self) -> list[_Write[Any]]:
        """The next batch: up to max_batch writes in arrival order. Writes whose request was
        abandoned (future cancelled) are dropped unrun."""
        live = [w for w in self._pending if not w.future.done()]
        batch, self._pending = live[: self.max_batch], live[self.max_batch :]
        return batch

    def _flush(self, loop: asyncio.AbstractEventLoop) -> None:
        """Run the next batch; then go on while writes wait (a moment later if the lock was busy:
        _run has set that timer)."""
        batch = self._take()
        if batch:
            self._run(loop, batch)
        if not self._pending:
            self._scheduled = False
        elif self._busy_since is None:
            loop.call_soon(self._flush, loop)

    def _run(self, loop: asyncio.AbstractEventLoop, batch: list[_Write[Any]]) -> None:
        try:
            outcomes = self.db.write_batch([w.work for w in batch])
        except WriterBusy:
            self._pending[:0] = batch  # first in line when the lock is free
            now = loop.time()
            if self._busy_since is None:
                self._busy_since = now
            elif now - self._busy_since > BUSY_TIMEOUT_SECONDS:
                self._busy_since = None
                self._fail_pending(DatabaseUnavailable(UNAVAILABLE))
                return
            loop.call_later(BUSY_RETRY_SECONDS, self._flush, loop)
            return
        except Exception as exc:  # the database failed (or a bug): nothing of the batch committed
            self._busy_since = None
            for w in batch:
                _settle(w.future, exc)
            return
        self._busy_since = None
        self.batches += 1
        for w, outcome in zip(batch, outcomes, strict=True):
            self.writes += 1
            _settle(w.future, outcome)

    def _fail_pending(self, error: Exception) -> None:
        pending, self._pending = self._pending, []
        self._scheduled = False
        for w in pending:
            _settle(w.future, error)


def _settle(future: asyncio.Future[Any], outcome: object) -> None:
    if future.done():  # the request was abandoned while its write ran
        return
    if isinstance(outcome, BaseException):
        future.set_exception(outcome)
    else:
        future.set_result(outcome)
