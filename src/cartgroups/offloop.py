"""Synchronous database work asked from the event loop, run on a thread of its own.

The request path reaches the database through the async store (storage/store.py). A few
things that event-loop code asks for are written against the synchronous Database, since they
are also the CLI's: /healthz's checks, and the admin console's store, token and session pages
(service/stores.py, service/operators.py), and the sandbox's fault rules, journal and
controls (service/sandbox.py). On PostgreSQL each of their statements is a round trip, and
while the database does not answer, a connection attempt waits for seconds: run on the loop,
either would hold up every request of the process. ``await off_loop(fn, ...)`` runs ``fn`` on
the process's one thread for such work instead, and the loop goes on meanwhile.

One thread, not a pool: the work is light (a probe every few seconds, an operator's clicks, a
sandboxed request's rule lookup and journal entry, each a statement or two), a thread keeps its
own connections (storage/database.py), and one thread keeps that to one set. Calls queue
behind each other there; a database that hangs holds that thread, not the loop."""

from __future__ import annotations

import asyncio
import functools
import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import ParamSpec, TypeVar

P = ParamSpec("P")
T = TypeVar("T")

_executor: tuple[int, ThreadPoolExecutor] | None = None  # with the process id it was made in


def _thread() -> ThreadPoolExecutor:
    """The process's thread (made on first use; a forked worker makes its own)."""
    global _executor
    if _executor is None or _executor[0] != os.getpid():
        _executor = (os.getpid(), ThreadPoolExecutor(max_workers=1, thread_name_prefix="cartgroups-sync"))
    return _executor[1]


async def off_loop(fn: Callable[P, T], /, *args: P.args, **kwargs: P.kwargs) -> T:
    """``fn(*args, **kwargs)`` on the process's thread for synchronous database work; what it
    returns or raises."""
    return await asyncio.get_running_loop().run_in_executor(_thread(), functools.partial(fn, *args, **kwargs))


__all__ = ["off_loop"]
