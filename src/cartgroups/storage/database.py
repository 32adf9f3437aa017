"""A handle on one database: the engine, and reads and write transactions that report outages
as DatabaseUnavailable instead of driver errors. Synchronous: SQLite's store
(storage/sqlite/store.py) runs on it, and so does everything off the request path on either
database (migrations, the CLI, the console's pages, the sandbox, backups, the audit log's
upkeep). PostgreSQL's request path does not: storage/postgres/store.py awaits it instead.

Each thread keeps long-lived connections in autocommit mode: one for reads (every statement
sees the latest committed data; no transaction is held open), one for write transactions, which
it begins and ends itself on the driver (dialect.transaction), and one for batches of writes
(write_batch: SQLite's group commit, storage/sqlite/group_commit.py, and the sandbox).
A server process answers requests on one thread, so that is three connections per process, and a
request pays for neither a pool checkout nor a BEGIN/ROLLBACK around its reads: measured on
GET by id, that was 60 of 85 microseconds of database time. A connection that breaks (say,
PostgreSQL restarted) is dropped and the next request opens a new one.

A transaction is passed, never joined: what writes in one is given its connection (a work of
write_batch is called with the batch's), and a write() opened inside another on the same thread
raises RuntimeError."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager, suppress
from typing import Literal, TypeVar

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from cartgroups.errors import DatabaseUnavailable
from cartgroups.storage import dialect

T = TypeVar("T")


class _Undo(Exception):
    """A work of a batch run without savepoints failed after changing something: run the batch
    again with them."""


class Retry(Exception):
    """The outcome of a work in a batch that lost a deadlock or serialisation conflict
    (PostgreSQL) to another transaction: its statements were rolled back, and it should run
    again on its own. ``__cause__`` is the driver's error."""


class Database:
    def __init__(self, url: str, *, sqlite_synchronous: str = "NORMAL") -> None:
        self.url = dialect.parse_url(url)
        self.description = dialect.describe(self.url)
        self.engine = dialect.create_engine(self.url, sqlite_synchronous=sqlite_synchronous)
        self._local = threading.local()
        self._opened: list[Connection] = []
        self._opened_lock = threading.Lock()
        # Set when a write fails because the database is unavailable, cleared by the next write
        # that commits; /healthz then checks writes too (see health()).
        self.writes_failing = False
        # When opening a connection last failed (time.monotonic()), if it did.
        self._open_failed_at: float | None = None

    @property
    def dialect_name(self) -> str:
        return self.engine.dialect.name

    def _connection(self, role: Literal["reader", "writer", "batch", "volatile"]) -> Connection:
        conn: Connection | None = getattr(self._local, role, None)
        if conn is not None and not conn.invalidated:
            return conn
        fresh = self._open()
        with self._opened_lock:
            if conn is not None:  # invalidated by an outage: give its pool slot back
                self._opened.remove(conn)
                with suppress(sa.exc.SQLAlchemyError):
                    conn.close()
            self._opened.append(fresh)
        conn = dialect.autocommit(fresh)
        if role == "reader":
            with _DroppedOnOutage(conn):
                dialect.bounded_reads(conn)
        elif role == "volatile":
            with _DroppedOnOutage(conn):
                dialect.volatile(conn)
        elif role == "batch":
            with _DroppedOnOutage(conn):
                dialect.no_waiting(conn)
        setattr(self._local, role, conn)
        return conn

    def _open(self) -> Connection:
        """A new connection. Opening one waits up to dialect.DATABASE_WAIT_SECONDS, on the
        server's event loop: after a failure, the next openings within that time fail at once,
        so that requests queued behind one that waited do not each wait as long in turn."""
        failed = self._open_failed_at
        if failed is not None and (since := time.monotonic() - failed) < dialect.DATABASE_WAIT_SECONDS:
            raise DatabaseUnavailable(UNAVAILABLE) from ConnectionError(
                f"not tried again yet: opening a connection failed {since:.1f} s ago"
            )
        try:
            with translated():
                fresh = self.engine.connect()
        except DatabaseUnavailable:
            self._open_failed_at = time.monotonic()
            raise
        self._open_failed_at = None
        return fresh

    def read(self) -> _DroppedOnOutage:
        """Reads: each statement sees the latest committed data (no transaction is held)."""
        # In autocommit mode the transaction SQLAlchemy begins on first use is bookkeeping only:
        # the database holds none, so it is left open instead of paying to end it per request.
        return _DroppedOnOutage(self._connection("reader"))

    def write(self) -> AbstractContextManager[Connection]:
        """A write transaction of its own: committed when the block ends, rolled back if it raises.

        On SQLite it takes the write lock when it begins, so it waits for other writers
        instead of failing half-way with "database is locked".

        Nothing joins a transaction: what must commit with a write (an Idempotency-Key's
        record, the writes of a batch) is given the transaction's connection. So a write()
        opened inside another one or inside a batch of the same thread is a mistake, and raises
        RuntimeError at once (on SQLite it would otherwise wait for the lock its own thread holds)."""
        return self._transaction("writer")

    @contextmanager
    def _transaction(self, role: Literal["writer", "batch"], *, wait: bool = True) -> Iterator[Connection]:
        """A transaction on this thread's connection for ``role``; it records whether writes are
        failing (for /healthz)."""
        local = self._local
        if getattr(local, "writing", False):
            raise RuntimeError(NESTED)
        conn = self._connection(role)
        local.writing = True
        try:
            with _DroppedOnOutage(conn), dialect.transaction(conn, wait=wait):
                yield conn
        except DatabaseUnavailable:
            self.writes_failing = True
            raise
        finally:
            local.writing = False
        self.writes_failing = False

    def write_batch(self, works: Sequence[Callable[[Connection], T]]) -> list[T | Exception]:
        """Run several writes in one transaction: a group commit. Each work succeeds or fails
        alone: a work that raises leaves nothing behind, and the others still commit.

        Each work is called with the batch's connection, and writes on it (never through a
        write() of its own, which raises RuntimeError here). Returns, in order, each work's
        result or the exception it raised. A work may run more than once (see below), so it must
        do nothing but database work and return its result.

        A savepoint around every work would cost two statements each (two round trips on
        PostgreSQL), so the batch first runs without them. When a work raises, SQLite's count of
        changed rows tells whether it changed anything: if not, nothing needs undoing and the
        batch goes on. Otherwise (and on PostgreSQL, which keeps no such count, always) the
        transaction is rolled back and the whole batch run again with a savepoint per work.

        A work that lost a deadlock or serialisation conflict (PostgreSQL) has a Retry as its
        outcome: run it again on its own. Raises dialect.WriterBusy at once, writing nothing, when
        another process holds SQLite's write lock (the caller waits without blocking and tries
        again), and DatabaseUnavailable, with nothing committed, when the database fails (a work
        that raises it fails the whole batch)."""
        try:
            return self._batch(works, savepoints=False)
        except _Undo:
            return self._batch(works, savepoints=True)

    def _batch(self, works: Sequence[Callable[[Connection], T]], *, savepoints: bool) -> list[T | Exception]:
        outcomes: list[T | Exception] = []
        with self._transaction("batch", wait=False) as conn:
            driver = dialect.driver(conn)
            for work in works:
                if savepoints:
                    driver.execute("SAVEPOINT batch_item")
                else:
                    changes = dialect.changes(conn)
                try:
                    outcomes.append(work(conn))
                except Exception as exc:
                    conflict = dialect.is_conflict(exc)
                    if not conflict and (isinstance(exc, DatabaseUnavailable) or dialect.is_unavailable(exc)):
                        raise
                    if not savepoints:
                        if conflict or changes is None or dialect.changes(conn) != changes:
                            raise _Undo() from exc
                        outcomes.append(exc)  # it changed nothing: nothing to undo
                        continue
                    driver.execute("ROLLBACK TO SAVEPOINT batch_item")
                    if conflict:
                        retry = Retry()
                        retry.__cause__ = exc
                        exc = retry
                    outcomes.append(exc)
                if savepoints:
                    driver.execute("RELEASE SAVEPOINT batch_item")
        return outcomes

    @contextmanager
    def write_volatile(self) -> Iterator[Connection]:
        """For exactly one writing statement, atomic by itself, whose effect may be lost if the
        database server crashes (the rate limiter's buckets: losing a bucket's last moments is
        harmless). A connection of its own, set up by dialect.volatile; no BEGIN/COMMIT."""
        conn = self._connection("volatile")
        with _DroppedOnOutage(conn):
            yield conn

    def health(self) -> Literal["ok", "unreachable", "not writable"]:
        """For /healthz: can the database be read and, if a write failed lately, written?"""
        if not self.ping():
            return "unreachable"
        if self.writes_failing:
            try:
                with self.write() as conn:
                    dialect.probe_write(conn)
            except DatabaseUnavailable:
                return "not writable"
        return "ok"

    def ping(self) -> bool:
        try:
            with self.read() as conn:
                conn.execute(sa.text("SELECT 1"))
        except DatabaseUnavailable:
            return False
        return True

    def dispose(self) -> None:
        with self._opened_lock:
            opened, self._opened = self._opened, []
        for conn in opened:
            with suppress(sa.exc.SQLAlchemyError):  # closing a broken connection
                conn.close()
        self._local = threading.local()
        self.engine.dispose()


UNAVAILABLE = "The database is unavailable right now; try again shortly"
NESTED = "a write transaction opened inside another on this thread: pass that one's connection instead"


@contextmanager
def translated() -> Iterator[None]:
    """Driver and SQLAlchemy errors that mean "unreachable or not writable" become DatabaseUnavailable."""
    try:
        yield
    except Exception as exc:
        if dialect.is_unavailable(exc):
            raise DatabaseUnavailable(UNAVAILABLE) from exc
        raise


class _DroppedOnOutage:
    """Like translated(), and the long-lived connection is discarded: the next use opens a new one.

    ``with _DroppedOnOutage(conn) as conn``. A class rather than @contextmanager: every API request
    passes here, and a generator-based context manager costs several microseconds more."""

    __slots__ = ("conn",)

    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    def __enter__(self) -> Connection:
        return self.conn

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: object) -> None:
        if isinstance(exc, Exception) and dialect.is_unavailable(exc):
            with suppress(Exception):  # it is broken already; a new one is opened next time
                self.conn.invalidate()
            raise DatabaseUnavailable(UNAVAILABLE) from exc
