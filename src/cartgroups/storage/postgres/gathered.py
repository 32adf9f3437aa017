"""Single-statement writes that a process's requests ask at one moment, made in one statement.

A create, an update without If-Match and a delete without If-Match are each one statement
(storage/postgres/statements.py), run alone (storage/store.Alone): no transaction around it.
Each such statement costs a round trip, the event loop's wait on the socket, psycopg's machinery
and a commit (a WAL flush) of its own, and at load the CPU those take (~200 µs of this process's
and as much of PostgreSQL's, measured) was what limited writes, not the database's rows.

So, as GETs by id are (postgres/store._Coalesced), such writes go in batches: the writes asked
while the event loop runs one round of callbacks wait for its end (call_soon), and while
WRITES_IN_FLIGHT batches are out, new writes gather into the next, which leaves as soon as one
comes back. One batch is one statement of one kind (a create, an update of one set of columns,
a delete), its rows' values in arrays, and one commit. A write is never held back for its
neighbours: an idle process sends each write at once, a busy one sends as many together as
came in while the database was busy with the last ones.

Writes to one group are made in the order they were asked, as SQLite's group commit makes them:
a statement holds one write per group, and a write waits while an earlier one to its group is
at the database. A write whose request went away before its statement left is not made.

Each write keeps its own outcome. An update or a delete that finds no group gets None (the
service answers 404); the others are unaffected. A batch that fails for another reason than an
outage or a conflict (the store's rows run out of ids, say) is made again one write at a time,
so that only the write at fault fails. An outage fails the batch, and the writes gathered
behind it, at once with DatabaseUnavailable (503). A conflict (a deadlock with another process's
statement) makes the whole batch again, up to CONFLICT_RETRIES times: each statement is atomic,
so a lost one left nothing behind; a batch that loses every time gets 503, and only it."""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Awaitable, Callable, Hashable, Mapping, Sequence
from dataclasses import dataclass

from cartgroups.errors import DatabaseUnavailable
from cartgroups.storage import dialect
from cartgroups.storage.postgres.statements import Many

MAX_GATHERED = 200  # writes in one statement
WRITES_IN_FLIGHT = 2  # gathered statements a process has at the database at once

# Runs one statement of ``rows`` on a connection of the pool, outside a transaction, as many
# times as conflicts require: the id (or None) of each row.
RunMany = Callable[[Many, Sequence[Mapping[str, object]]], Awaitable[list[int | None]]]


@dataclass(slots=True)
class _Ask:
    row: Mapping[str, object]
    key: Hashable  # the group a keyed statement's row names; None for a create
    future: asyncio.Future[int | None]


class Gathered:
    """The process's gathering of single-statement writes, one queue per statement. Writes to
    one group are made in the order they were asked, one statement after another: a write waits
    while another to its group, asked before it, is pending or at the database."""

    __slots__ = ("_busy", "_in_flight", "_pending", "_queued", "_run", "_scheduled", "_tasks")

    def __init__(self, run: RunMany) -> None:
        self._run = run
        self._pending: dict[Many, list[_Ask]] = {}
        self._queued: dict[Hashable, deque[_Ask]] = {}  # keyed asks not yet sent, by group, in order
        self._busy: set[Hashable] = set()  # groups a statement at the database writes
        self._scheduled = False
        self._in_flight = 0
        self._tasks: set[asyncio.Task[None]] = set()  # the event loop keeps only weak references

    async def ask(self, kind: Many, row: Mapping[str, object]) -> int | None:
        """Make one row of ``kind``: the group's id, or None when an update or a delete found none."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[int | None] = loop.create_future()
        ask = _Ask(row, (row["store_id"], row["group_id"]) if kind.keyed else None, future)
        self._pending.setdefault(kind, []).append(ask)
        if ask.key is not None:
            self._queued.setdefault(ask.key, deque()).append(ask)
        self._schedule(loop)
        return await future

    def _schedule(self, loop: asyncio.AbstractEventLoop) -> None:
        if not self._scheduled and self._pending and self._in_flight < WRITES_IN_FLIGHT:
            self._scheduled = True
            loop.call_soon(self._flush, loop)

    def _flush(self, loop: asyncio.AbstractEventLoop) -> None:
        self._scheduled = False
        for kind in list(self._pending):
            while self._in_flight < WRITES_IN_FLIGHT and kind in self._pending:
                batch = self._take(kind)
                if not batch:
                    break
                self._in_flight += 1
                task = loop.create_task(self._make(loop, kind, batch))
                self._tasks.add(task)
                task.add_done_callback(self._tasks.discard)

    def _take(self, kind: Many) -> list[_Ask]:
        """The next statement's asks of ``kind``: up to MAX_GATHERED in the order asked, leaving
        for later those whose group has an earlier write pending or at the database. Asks whose
        request went away (cancelled) are dropped: nothing of theirs was sent."""
        batch: list[_Ask] = []
        rest: list[_Ask] = []
        for ask in self._pending.pop(kind):
            key = ask.key
            if len(batch) >= MAX_GATHERED or (
                key is not None and (key in self._busy or self._queued[key][0] is not ask)
            ):
                rest.append(ask)
                continue
            if key is not None:
                self._dequeue(key)
            if ask.future.cancelled():
                continue
            if key is not None:
                self._busy.add(key)
            batch.append(ask)
        if rest:
            self._pending[kind] = rest
        return batch

    def _dequeue(self, key: Hashable) -> None:
        queued = self._queued[key]
        queued.popleft()
        if not queued:
            del self._queued[key]

    async def _make(self, loop: asyncio.AbstractEventLoop, kind: Many, batch: list[_Ask]) -> None:
        try:
            try:
                ids = await self._run(kind, [ask.row for ask in batch])
            except DatabaseUnavailable as exc:
                lost = exc.__cause__ is not None and dialect.is_conflict(exc.__cause__)
                if not lost:  # an outage: those gathered meanwhile would meet it too
                    for waiting in self._pending.values():
                        batch.extend(waiting)
                    self._pending.clear()
                    self._queued.clear()
                _settle(batch, exc)
                return
            except Exception as exc:
                if len(batch) == 1:
                    _settle(batch, exc)
                    return
                await self._one_by_one(kind, batch)  # only the write at fault fails
                return
            for ask, group_id in zip(batch, ids, strict=True):
                if not ask.future.done():
                    ask.future.set_result(group_id)
        except BaseException as exc:  # cancelled (the server is stopping): so are its writes
            _settle(batch, exc)
            raise
        finally:
            self._busy.difference_update(ask.key for ask in batch if ask.key is not None)
            self._in_flight -= 1
            self._schedule(loop)

    async def _one_by_one(self, kind: Many, batch: list[_Ask]) -> None:
        for ask in batch:
            try:
                (group_id,) = await self._run(kind, [ask.row])
            except Exception as exc:
                _settle([ask], exc)
            else:
                if not ask.future.done():
                    ask.future.set_result(group_id)


def _settle(batch: Sequence[_Ask], exc: BaseException) -> None:
    for ask in batch:
        if not ask.future.done():
            ask.future.set_exception(exc)


__all__ = ["MAX_GATHERED", "WRITES_IN_FLIGHT", "Gathered", "RunMany"]
