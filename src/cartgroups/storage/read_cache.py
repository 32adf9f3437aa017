"""Answers of reads kept in a server process's memory until the database changes (SQLite).

A read by id, a count or a list page of the API costs a database statement and the work of
shaping its answer; under read-heavy load most of them ask what was asked a moment ago. Before
answering from memory, the cache asks SQLite whether anything changed: ``PRAGMA data_version``
on the process's read connection moves whenever any other connection commits to the file: a
write of this process (made on its write connections, never on the read one), of another
server process, of the CLI, a restore. When it moved, everything kept is dropped. So an answer
from memory is the answer the database would give at that moment, and a write is visible to the
next read on every process, as issue #3 requires of any cache.

The check (storage/commits.py, shared with the Authenticator: one look per request) is one
statement against the read, the row's conversion, the JSON and the
ETag it saves. Under write-heavy load nearly every read finds the version moved and reads the
database, as it would without the cache; any commit counts, so with the rate limiter on (a
bucket is written per request) or in sandbox mode (a journal row per request) little is kept.
PostgreSQL has no such cheap, exact check (and may be written from other hosts), so nothing is
kept there. One cache serves one thread (the server's event loop): the version it compares
belongs to that thread's read connection.

Every answer is kept under the resource it belongs to and its key together (``get(resource,
key, make)``): equal keys of two resources, customer 5 and group 5, are two entries, whatever
their handlers put in the key. Handlers start their keys with the store, so nothing read for
one store is answered to another.

Keep each answer as one bytes object where possible: a (bytes, str) pair per GET-by-id answer
left a server process ~17 MB larger after 4,000 answers (the entries' small objects pinned
allocator pools among each request's short-lived ones); one bytes object, ~3.6 MB.

What a process keeps is bounded in bytes (``CARTGROUPS_READ_CACHE_MB``): each answer is
charged its length and ENTRY_OVERHEAD (its key, the dict's slot, the object's header; ~130
bytes measured for a GET by id). When an answer would go over, the oldest quarter of the
answers is forgotten, so the rest stay. Emptying it all instead (as it did) held on average
half the budget: 20,000 groups read at random with room for 10,000 answers, 27 % of the GETs
were answered from memory; the default budget holds ~70,000 such answers."""

from __future__ import annotations

import itertools
from collections.abc import Awaitable, Callable, Hashable
from typing import Any, TypeVar

from cartgroups.storage.store import Store

V = TypeVar("V")
_MISSING = object()


class ReadCache:
    ENTRY_OVERHEAD = 160  # bytes charged per answer on top of its length

    def __init__(self, store: Store, *, enabled: bool = True, max_bytes: int = 32 * 1024 * 1024) -> None:
        self.store = store
        self.enabled = enabled and store.exact_changes
        self.max_bytes = max_bytes
        self._entries: dict[tuple[str, Hashable], Any] = {}  # by (resource, key), oldest first
        self._bytes = 0  # charged for the entries
        self._version: Hashable = None  # the change token when the entries were valid
        self.hits = 0  # for tests and tuning
        self.misses = 0

    async def get(
        self, resource: str, key: Hashable, make: Callable[[], Awaitable[V]], *, version: Hashable = None
    ) -> V:
        """What ``await make()`` returns (a read of the database), from memory when nothing has
        been committed since it was kept. A ``make()`` that raises is not kept. An answer is kept
        under its resource and key together: equal keys of two resources (customer 5, group 5)
        are two entries. ``version``: the change token the caller took during this request
        (store.look(), before anything this request awaited), or None to take one now."""
        if not self.enabled:
            return await make()
        kept_as = (resource, key)
        # The version is taken before make() reads: a change committed in between moves it
        # again, so what make() returns is never kept under a version older than it.
        if version is None:
            version = self.store.look()
        if version != self._version:
            self._forget()
            self._version = version
        entries = self._entries
        found = entries.get(kept_as, _MISSING)
        if found is not _MISSING:
            self.hits += 1
            kept: V = found
            return kept
        self.misses += 1
        value = await make()
        size = _size(value)
        if size > self.max_bytes:
            return value  # larger than the whole budget: never kept
        while self._bytes + size > self.max_bytes:
            self._forget_oldest()
        self._entries[kept_as] = value
        self._bytes += size
        return value

    def clear(self) -> None:
        self._forget()
        self._version = None

    def _forget(self) -> None:
        self._entries.clear()
        self._bytes = 0

    def _forget_oldest(self) -> None:
        """Keep the newest three quarters of the answers (in a new dict: deleting from the front
        of a dict leaves holes that every later look for its first key walks past)."""
        entries = self._entries
        kept = dict(itertools.islice(entries.items(), max(1, len(entries) // 4), None))
        self._entries = kept
        self._bytes = sum(_size(value) for value in kept.values())


def _size(value: object) -> int:
    """The bytes a kept answer is charged (answers are bytes; anything else counts as small)."""
    return ReadCache.ENTRY_OVERHEAD + (len(value) if isinstance(value, bytes | str) else 0)
