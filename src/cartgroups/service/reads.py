"""Answers of reads kept until the database changes, as the API's handlers use them: the
interface of storage/read_cache.py's ReadCache, handed down here so that nothing in api/
reaches storage around the service. A Protocol, so a handler's call goes straight to the cache
(a GET by id asks it on every request): no layer in between."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Hashable
from typing import Protocol, TypeVar

V = TypeVar("V")


class KeptReads(Protocol):
    async def get(
        self, resource: str, key: Hashable, make: Callable[[], Awaitable[V]], *, version: Hashable = None
    ) -> V:
        """What ``await make()`` returns, or its answer kept under ``resource`` and ``key`` while
        nothing has been committed since (``version``: the change token the request took)."""
        ...
