"""Issue 15, item 6: the per-request bookkeeping writes (the rate limiter's bucket, the sandbox
journal) while the database cannot take them: on SQLite another connection holds the write lock,
on PostgreSQL the database is read-only. Nothing waits for the lock, nothing fails: the limiter
decides by the process's own bucket and later adds what it let in to the shared one; the journal
queues its entries (bounded, the oldest dropped and counted) and writes them once it can.

The limiter reaches the bucket through a store and its check is awaited: the tests drive it on
their own event loop (``run``), with the ``store`` opened on it (tests/service/conftest.py)."""

from __future__ import annotations

import asyncio
import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import cast

import pytest
import sqlalchemy as sa

from cartgroups.errors import DatabaseUnavailable
from cartgroups.service import credentials
from cartgroups.service import sandbox as sandbox_module
from cartgroups.service.credentials import Authenticator, Principal
from cartgroups.service.rate_limit import PROBE_SECONDS, Rate, RateLimiter
from cartgroups.service.sandbox import Sandbox
from cartgroups.storage import credentials as cred_sql
from cartgroups.storage import rate_limits as bucket_sql
from cartgroups.storage.database import Database
from cartgroups.storage.store import Store, open_store
from cartgroups.storage.tables import rate_buckets
from tests.service.conftest import Runner
from tests.service.test_rate_limit import Clock, principal_of

# Far below SQLite's 10 s busy timeout, far above what a check costs on a busy machine.
PROMPT_SECONDS = 3.0


@contextmanager
def unwritable(db: Database, holder: RateLimiter | Sandbox, run: Runner | None = None) -> Iterator[None]:
    """SQLite: a plain sqlite3 connection holds the write lock (BEGIN IMMEDIATE). PostgreSQL:
    ``holder`` works on a read-only session of the same database for the duration: a Sandbox
    through a read-only Database, a RateLimiter through a store of it, which ``run`` closes on
    the test's loop at the end (the store is opened there by the limiter's first check)."""
    if db.dialect_name == "sqlite":
        blocker = sqlite3.connect(sa.make_url(str(db.url)).database or "", isolation_level=None)
        blocker.execute("BEGIN IMMEDIATE")
        try:
            yield
        finally:
            blocker.execute("ROLLBACK")
            blocker.close()
        return
    url = db.engine.url.update_query_dict({"options": "-c default_transaction_read_only=on"})
    read_only = Database(url.render_as_string(hide_password=False))
    try:
        if isinstance(holder, Sandbox):
            holder.db = read_only
            try:
                yield
            finally:
                holder.db = db
            return
        assert run is not None, "a limiter's read-only store is closed on the test's loop"
        writable, read_only_store = holder.store, open_store(read_only)
        holder.store = read_only_store
        try:
            yield
        finally:
            holder.store = writable
            run(read_only_store.close())
    finally:
        read_only.dispose()


def test_the_limiter_decides_by_its_own_bucket_then_settles(db: Database, store: Store, run: Runner) -> None:
    clock = Clock()
    limiter = RateLimiter(store, Rate(4, 0.001), clock=clock)  # one slot every 1000 s
    caller = principal_of(db)
    assert run(limiter.check(caller)) is None  # the shared bucket: 1
    with unwritable(db, limiter, run):
        started = time.monotonic()
        # The level last seen (1), plus what this process lets in: 3 more, then full.
        assert [run(limiter.check(caller)) for _ in range(4)] == [None, None, None, 1000]
        assert time.monotonic() - started < PROMPT_SECONDS  # not the 10 s busy timeout
        assert limiter.decided_locally == 4
    time.sleep(PROBE_SECONDS * 2)  # the next check tries the shared bucket again
    # What was let in meanwhile is added to the shared bucket first: it is full.
    assert run(limiter.check(caller)) == 1000
    assert limiter.decided_locally == 4
    assert caller.application_id is not None
    with db.read() as conn:
        level = bucket_sql.level_of(conn, store_id=caller.store_id, application_id=caller.application_id)
    assert level == 4.0


def test_a_bucket_this_process_never_saw_starts_empty_and_is_limited_locally(
    db: Database, store: Store, run: Runner
) -> None:
    limiter = RateLimiter(store, Rate(2, 0.001), clock=Clock())
    caller = principal_of(db)
    with unwritable(db, limiter, run):
        assert [run(limiter.check(caller)) for _ in range(3)] == [None, None, 1000]


def _entry(query: str) -> dict[str, object]:
    return {
        "at": datetime.now(UTC),
        "method": "GET",
        "path": "/3dCartWebAPI/v1/CustomerGroups",
        "query": query,
        "status": 200,
        "request_headers": "{}",
        "request_body": "",
        "response_body": "[]",
        "duration_ms": 1.0,
        "fault_id": None,
    }


def test_the_journal_queues_while_the_database_cannot_take_it(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sandbox_module, "JOURNAL_QUEUE", 3)
    credentials.issue(db, secure_url="shop.example.com", application="default")
    sandbox = Sandbox(db, token="a-token-of-16-chars", journal_size=10)
    with unwritable(db, sandbox):
        started = time.monotonic()
        for n in range(5):
            sandbox.record("shop.example.com", _entry(f"n={n}"))
            assert sandbox.flush_journal() in ("busy", "unavailable")
        assert time.monotonic() - started < PROMPT_SECONDS
        assert (sandbox.journal_queued, sandbox.journal_dropped) == (3, 2)  # the oldest two
    assert sandbox.flush_journal() == "done"
    assert sandbox.journal_queued == 0
    assert [row.query for row in sandbox.journal("shop.example.com")] == ["n=4", "n=3", "n=2"]


def test_reading_the_journal_writes_what_is_queued_and_a_clear_drops_it(db: Database) -> None:
    credentials.issue(db, secure_url="shop.example.com", application="default")
    sandbox = Sandbox(db, token="a-token-of-16-chars", journal_size=10)
    sandbox.record("shop.example.com", _entry("n=1"))
    assert [row.query for row in sandbox.journal("shop.example.com")] == ["n=1"]
    with unwritable(db, sandbox):
        sandbox.record("shop.example.com", _entry("n=2"))
        assert sandbox.flush_journal() in ("busy", "unavailable")
    assert sandbox.clear_journal("shop.example.com") == 2
    assert sandbox.journal("shop.example.com") == []


def test_a_restore_makes_the_limiter_forget_what_its_own_buckets_owe(
    db: Database, store: Store, run: Runner
) -> None:
    """Issue 15, item 2: what a process let in by its own bucket is owed to a store and
    application by id; after a restore those ids may name others, so the debt is forgotten
    (Authenticator.on_restore), not charged to whoever has the id now."""
    issued = credentials.issue(db, secure_url="shop.example.com", application="owing")
    private_key = issued.private_key
    assert private_key is not None
    # The test's one event loop: every verification and every check runs on it.
    auth = Authenticator(store, cache_seconds=0.05)
    limiter = RateLimiter(store, Rate(4, 0.001), clock=Clock())
    auth.on_restore.append(limiter.forget_local)

    def caller() -> Principal:
        return run(
            auth.verify(
                secure_url=issued.secure_url, private_key=private_key, token=issued.token, write=False
            )
        )

    assert run(limiter.check(caller())) is None  # the shared bucket: 1
    with unwritable(db, limiter, run):
        assert [run(limiter.check(caller())) for _ in range(3)] == [None, None, None]  # owed: 3
    with db.write() as conn:  # what a restore does last: the data is the backup's, anew
        conn.execute(sa.delete(rate_buckets))
        cred_sql.set_generation(conn)
    time.sleep(0.1)  # PostgreSQL: the next poll (SQLite notices the commit at once)
    principal = caller()
    time.sleep(PROBE_SECONDS * 2)  # the next check tries the shared bucket again
    assert run(limiter.check(principal)) is None  # the restored bucket: 1, nothing owed added
    assert principal.application_id is not None
    with db.read() as conn:
        level = bucket_sql.level_of(
            conn, store_id=principal.store_id, application_id=principal.application_id
        )
    assert level == 1.0


class _SlowShared:
    """A shared bucket store that awaits, as PostgreSQL's does: it refuses writes until
    ``back``, and each charge waits for ``release`` (so other checks run meanwhile)."""

    def __init__(self) -> None:
        self.back = False
        self.release = asyncio.Event()
        self.charged: list[float] = []
        self.level = 0.0

    async def take_slot(self, **kw: object) -> tuple[float, bool]:
        if not self.back:
            raise DatabaseUnavailable("down")
        self.level += 1
        return self.level, True

    async def charge_slots(self, *, amount: float, **kw: object) -> None:
        if not self.back:
            raise DatabaseUnavailable("down")
        await self.release.wait()
        self.charged.append(amount)
        self.level += amount


def test_while_a_probe_waits_other_checks_decide_locally_and_nothing_is_charged_twice() -> None:
    """On PostgreSQL a probe of the shared bucket awaits the database: checks meanwhile must not
    start a second probe (which charged the same debt again), and what they let in meanwhile
    stays owed after the probe settles what it charged."""
    shared = _SlowShared()
    clock = Clock()
    limiter = RateLimiter(cast(Store, shared), Rate(100, 0.001), clock=clock)
    caller = Principal(1, "shop.example.com", True, True, application_id=1, token_id=1, application="app")

    async def scenario() -> None:
        assert [await limiter.check(caller) for _ in range(3)] == [None] * 3  # decided locally: owes 3
        shared.back = True
        limiter._next_try = 0.0  # the probe is due
        probe = asyncio.ensure_future(limiter.check(caller))
        await asyncio.sleep(0)  # the probe waits in charge_slots
        limiter._next_try = 0.0  # due again: a second probe must still not start
        meanwhile = [await asyncio.wait_for(limiter.check(caller), 5) for _ in range(2)]  # not a probe
        assert meanwhile == [None, None]  # decided locally: owes 2 more
        shared.release.set()
        assert await probe is None
        assert shared.charged == [3.0]  # the first debt, once
        limiter._next_try = 0.0
        assert await limiter.check(caller) is None  # healthy again
        assert shared.charged == [3.0]

    asyncio.run(scenario())
    assert limiter.decided_locally == 5
    # The 2 let in during the probe stay owed in the process's copy (the settle subtracted the 3
    # it charged, not everything): the next outage's settle charges them with its own.
    assert [local.owed for local in limiter._local.values()] == [2.0]
