"""storage.read_cache: an answer is reused only while nothing has been committed to the
database, whoever committed it; nothing is kept on PostgreSQL."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Awaitable, Callable, Hashable, Iterator
from typing import Any, TypeVar

import pytest
import sqlalchemy as sa

from cartgroups.storage import tables
from cartgroups.storage.database import Database
from cartgroups.storage.read_cache import ReadCache
from cartgroups.storage.store import Store, open_store
from tests.storage.conftest import new_store

GROUPS = "CustomerGroups"
V = TypeVar("V")


class Reads:
    """make() for the cache: reads the store's name and counts how often it really read."""

    def __init__(self, db: Database, store_id: int) -> None:
        self.db, self.store_id, self.calls = db, store_id, 0

    async def __call__(self) -> str:
        self.calls += 1
        with self.db.read() as conn:
            stores = tables.stores
            return str(
                conn.execute(sa.select(stores.c.secure_url).where(stores.c.id == self.store_id)).scalar_one()
            )


def answer(value: V) -> Callable[[], Awaitable[V]]:
    """make() that answers ``value`` without reading anything."""

    async def make() -> V:
        return value

    return make


class Cache:
    """A ReadCache on a store of the test's database, its get() awaited on the test's one event
    loop (the API awaits it on the server's)."""

    def __init__(self, loop: asyncio.AbstractEventLoop, cache: ReadCache) -> None:
        self.loop, self.cache = loop, cache

    def get(self, resource: str, key: Hashable, make: Callable[[], Awaitable[V]]) -> V:
        return self.loop.run_until_complete(self.cache.get(resource, key, make))

    @property
    def enabled(self) -> bool:
        return self.cache.enabled

    @property
    def hits(self) -> int:
        return self.cache.hits

    @property
    def misses(self) -> int:
        return self.cache.misses


@pytest.fixture
def caches(db: Database) -> Iterator[Callable[..., Cache]]:
    """``caches(**options)``: a ReadCache(store, **options) on a store of ``db`` opened for it;
    the stores are closed and the loop with them at the end of the test."""
    loop = asyncio.new_event_loop()
    opened: list[Store] = []

    def cache(**options: Any) -> Cache:
        store = open_store(db)
        opened.append(store)
        return Cache(loop, ReadCache(store, **options))

    yield cache
    for store in opened:
        loop.run_until_complete(store.close())
    loop.close()


@pytest.fixture
def store(db: Database) -> int:
    return new_store(db, "cached.example.com")


def rename(conn: sa.Connection, store_id: int, name: str) -> None:
    conn.execute(tables.stores.update().where(tables.stores.c.id == store_id).values(secure_url=name))


def test_nothing_is_kept_on_postgresql(db: Database, store: int, caches: Callable[..., Cache]) -> None:
    if db.dialect_name == "sqlite":
        pytest.skip("SQLite keeps answers")
    cache, reads = caches(), Reads(db, store)
    assert [cache.get(GROUPS, "k", reads) for _ in range(3)] == ["cached.example.com"] * 3
    assert reads.calls == 3 and not cache.enabled


@pytest.fixture
def sqlite_db(db: Database) -> Database:
    if db.dialect_name != "sqlite":
        pytest.skip("only SQLite has a data version to check")
    return db


def test_an_answer_is_reused_until_this_process_writes(
    sqlite_db: Database, store: int, caches: Callable[..., Cache]
) -> None:
    db = sqlite_db
    cache, reads = caches(), Reads(db, store)
    assert cache.get(GROUPS, "k", reads) == cache.get(GROUPS, "k", reads) == "cached.example.com"
    assert (reads.calls, cache.hits, cache.misses) == (1, 1, 1)

    with db.write() as conn:  # this thread's write connection, not the one the cache checks
        rename(conn, store, "renamed.example.com")
    assert cache.get(GROUPS, "k", reads) == "renamed.example.com"
    assert reads.calls == 2

    db.write_batch([lambda conn: rename(conn, store, "batched.example.com")])  # the server's group commit
    assert cache.get(GROUPS, "k", reads) == "batched.example.com"
    assert cache.get(GROUPS, "k", reads) == "batched.example.com"
    assert reads.calls == 3


def test_a_write_by_another_connection_of_another_engine_is_seen(
    sqlite_db: Database, store: int, caches: Callable[..., Cache]
) -> None:
    """Another Database is what another server process or the CLI has: its own engine and file
    handles; so is a plain sqlite3 connection (a restore, the sqlite3 shell)."""
    db = sqlite_db
    cache, reads = caches(), Reads(db, store)
    assert cache.get(GROUPS, "k", reads) == "cached.example.com"
    other = Database(str(db.engine.url))
    try:
        with other.write() as conn:
            rename(conn, store, "other.example.com")
    finally:
        other.dispose()
    assert cache.get(GROUPS, "k", reads) == "other.example.com"

    raw = db.engine.raw_connection()
    try:
        raw.driver_connection.execute(  # type: ignore[union-attr]
            "UPDATE stores SET secure_url = 'shell.example.com' WHERE id = ?", (store,)
        )
        raw.driver_connection.commit()  # type: ignore[union-attr]
    finally:
        raw.close()
    assert cache.get(GROUPS, "k", reads) == "shell.example.com"
    assert reads.calls == 3


def test_a_new_read_connection_starts_afresh(
    sqlite_db: Database, store: int, caches: Callable[..., Cache]
) -> None:
    """An outage drops the process's read connection and the next read opens another: its data
    version counts from its own start, so nothing kept under the old one's may be answered."""
    db = sqlite_db
    cache, reads = caches(), Reads(db, store)
    assert cache.get(GROUPS, "k", reads) == "cached.example.com"
    with db.read() as conn:
        conn.invalidate()  # what Database does with a connection that failed
    with db.write() as conn:
        rename(conn, store, "renamed.example.com")
    assert cache.get(GROUPS, "k", reads) == "renamed.example.com"
    assert cache.get(GROUPS, "k", reads) == "renamed.example.com"
    assert reads.calls == 2


def test_the_check_leaves_no_read_open(sqlite_db: Database, store: int, caches: Callable[..., Cache]) -> None:
    """The check's cursor is kept from one request to the next: a statement left unfinished on
    it would hold a snapshot of the database (reads on that connection would not see later
    commits, and the WAL could not be checkpointed past it)."""
    db = sqlite_db
    cache, reads = caches(), Reads(db, store)
    cache.get(GROUPS, "k", reads)
    cache.get(GROUPS, "k", reads)
    with db.write() as conn:
        rename(conn, store, "renamed.example.com")
    other = sqlite3.connect(str(db.engine.url.database), isolation_level=None)
    try:
        busy, _log, _done = other.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
    finally:
        other.close()
    assert busy == 0
    assert cache.get(GROUPS, "k", reads) == "renamed.example.com"


def test_a_failed_read_is_not_kept_and_keys_are_separate(
    sqlite_db: Database, store: int, caches: Callable[..., Cache]
) -> None:
    db = sqlite_db
    cache, reads = caches(), Reads(db, store)

    async def failing() -> str:
        raise LookupError("no such group")

    for _ in range(2):
        with pytest.raises(LookupError):
            cache.get(GROUPS, "missing", failing)
    assert cache.get(GROUPS, "k", reads) == "cached.example.com"
    assert cache.get(GROUPS, "other", answer("x")) == "x"
    assert cache.get(GROUPS, "k", reads) == "cached.example.com"
    assert reads.calls == 1


def test_over_its_budget_the_oldest_quarter_is_forgotten(
    sqlite_db: Database, store: int, caches: Callable[..., Cache]
) -> None:
    overhead = ReadCache.ENTRY_OVERHEAD
    cache = caches(max_bytes=8 * (overhead + 10))  # room for eight 10-byte answers
    keys = [f"k{n}" for n in range(8)]
    for key in keys:
        cache.get(GROUPS, key, answer(b"0123456789"))
    assert all(cache.get(GROUPS, key, answer(b"read again")) == b"0123456789" for key in keys)
    cache.get(GROUPS, "ninth", answer(b"0123456789"))  # over: k0 and k1, the oldest quarter, go
    assert [cache.get(GROUPS, key, answer(b"read again")) for key in keys[:2]] == [b"read again"] * 2
    # k2..k7 and the ninth stayed; re-reading k0 and k1 just now made room by forgetting k2, k3
    assert cache.get(GROUPS, "ninth", answer(b"read again")) == b"0123456789"
    assert [cache.get(GROUPS, key, answer(b"read again")) for key in keys[4:]] == [b"0123456789"] * 4
    assert cache.misses == 8 + 1 + 2


def test_a_large_answer_makes_room_for_itself(
    sqlite_db: Database, store: int, caches: Callable[..., Cache]
) -> None:
    overhead = ReadCache.ENTRY_OVERHEAD
    cache = caches(max_bytes=4 * (overhead + 10))
    for key in "abcd":
        cache.get(GROUPS, key, answer(b"0123456789"))
    big = b"x" * (3 * overhead + 30)  # charged 10 bytes less than the budget: all four go
    assert cache.get(GROUPS, "big", answer(big)) == big
    assert cache.get(GROUPS, "big", answer(b"read again")) == big
    assert [cache.get(GROUPS, key, answer(b"read again")) for key in "abcd"] == [b"read again"] * 4


def test_an_answer_larger_than_the_budget_is_answered_not_kept(
    sqlite_db: Database, store: int, caches: Callable[..., Cache]
) -> None:
    cache = caches(max_bytes=ReadCache.ENTRY_OVERHEAD + 10)
    cache.get(GROUPS, "small", answer(b"0123456789"))
    assert cache.get(GROUPS, "huge", answer(b"x" * 11)) == b"x" * 11
    assert cache.get(GROUPS, "huge", answer(b"y" * 11)) == b"y" * 11  # read again: it was not kept
    assert cache.get(GROUPS, "small", answer(b"read again")) == b"0123456789"  # not pushed out for nothing


def test_the_budget_is_the_setting(sqlite_db: Database, monkeypatch: pytest.MonkeyPatch) -> None:
    from cartgroups.app import create_app
    from cartgroups.config import Settings

    monkeypatch.setenv("CARTGROUPS_READ_CACHE_MB", "3")
    app = create_app(Settings(database_url=str(sqlite_db.engine.url)))
    app.start()
    try:
        assert app.services is not None
        reads = app.services.reads
        assert isinstance(reads, ReadCache)
        assert reads.max_bytes == 3 * 1024 * 1024
    finally:
        app.stop()


def test_disabled_it_always_reads(sqlite_db: Database, store: int, caches: Callable[..., Cache]) -> None:
    cache, reads = caches(enabled=False), Reads(sqlite_db, store)
    cache.get(GROUPS, "k", reads)
    cache.get(GROUPS, "k", reads)
    assert reads.calls == 2


def test_equal_keys_of_two_resources_are_two_entries(
    sqlite_db: Database, store: int, caches: Callable[..., Cache]
) -> None:
    """A second resource (Customers) uses the same cache: customer 5 must never be answered
    with group 5's bytes, nor a page of customers with a page of groups."""
    cache = caches()
    group_5, page_1 = (store, 5), (store, "page", 1)
    assert cache.get(GROUPS, group_5, answer(b"group 5")) == b"group 5"
    assert cache.get(GROUPS, page_1, answer(b"groups, page 1")) == b"groups, page 1"
    assert cache.get("Customers", group_5, answer(b"customer 5")) == b"customer 5"
    assert cache.get("Customers", page_1, answer(b"customers, page 1")) == b"customers, page 1"
    assert cache.get(GROUPS, group_5, answer(b"read again")) == b"group 5"
    assert cache.get("Customers", group_5, answer(b"read again")) == b"customer 5"
    assert cache.get("Customers", page_1, answer(b"read again")) == b"customers, page 1"
    assert (cache.hits, cache.misses) == (3, 4)
