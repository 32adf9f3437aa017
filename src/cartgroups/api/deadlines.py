"""Time limits for awaiting something (a request body), with one timer for all of them.

asyncio.timeout arms and disarms a timer of the event loop for every use: ~4.5 us on uvloop,
measured in a loop, or 3-4 % of a write request's CPU. Here a request only notes its task and
deadline in a dict. All of one Deadlines' limits have the same length, so the dict's order is
deadline order: one timer, set for the earliest, cancels the tasks whose deadline has passed and
sets itself for the next. Under steady load it fires about once per limit's length.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import TypeVar

T = TypeVar("T")
# uvloop's timers count whole milliseconds and may fire up to one early: a deadline that close
# is taken as passed, rather than setting the timer again for less than its resolution.
_RESOLUTION = 0.001


class Deadlines:
    """``await deadlines.run(work)``: what ``work`` returns, or TimeoutError once ``seconds``
    have passed (the work is then cancelled), like ``async with asyncio.timeout(seconds)``.
    Used from the event loop's thread only; a new event loop starts afresh."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self._loop: asyncio.AbstractEventLoop | None = None
        self._due: dict[asyncio.Task[object], float] = {}  # in deadline order
        self._expired: set[asyncio.Task[object]] = set()  # cancelled by the timer, not yet told
        self._timer: asyncio.TimerHandle | None = None

    async def run(self, work: Awaitable[T]) -> T:
        loop = asyncio.get_running_loop()
        task = asyncio.current_task()
        assert task is not None, "run() is awaited by a task"
        if loop is not self._loop:  # whatever an earlier loop left will never run
            self._loop, self._due, self._expired, self._timer = loop, {}, set(), None
        due = self._due[task] = loop.time() + self.seconds
        if self._timer is None:
            self._timer = loop.call_at(due, self._expire)
        try:
            return await work
        except asyncio.CancelledError:
            if task in self._expired:
                self._expired.discard(task)
                if task.uncancel() == 0:  # cancelled by the timer alone
                    raise TimeoutError() from None
            raise
        finally:
            self._due.pop(task, None)  # gone already if a new loop started meanwhile
            if task in self._expired:  # the work swallowed its cancellation: take it back
                self._expired.discard(task)
                task.uncancel()

    def _expire(self) -> None:
        loop = self._loop
        assert loop is not None
        self._timer = None
        now = loop.time() + _RESOLUTION
        for task, due in self._due.items():
            if due > now:
                self._timer = loop.call_at(due, self._expire)
                return
            if task not in self._expired:
                self._expired.add(task)
                task.cancel()
