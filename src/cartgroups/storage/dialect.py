"""What differs between SQLite and PostgreSQL for the synchronous engine (storage/database.py).

The request path's differences are not here: each database has its own store, one
implementation of storage/store.py's interface (storage/sqlite/store.py,
storage/postgres/store.py). What the synchronous engine needs is:

- URL handling (a bare path means a SQLite file; ``postgresql://`` uses psycopg 3),
- connection set-up (SQLite: WAL, busy timeout, and ``BEGIN IMMEDIATE`` for writes so two
  processes never hit a busy error half-way through a read-then-write transaction),
- the exact-decimal column type (PostgreSQL NUMERIC; SQLite TEXT, because SQLite's own
  numbers are binary floats),
- the lock that makes concurrent schema upgrades safe,
- upserts (``INSERT ... ON CONFLICT``), ``greatest()`` and the database's clock, used by the rate
  limiter and the Idempotency-Key store,
- which driver errors mean "the database is unavailable".

A few statements of the synchronous engine still choose by ``conn.dialect.name`` where they
are written, in storage/ and nowhere above it: how a value is bound (fastpath.bind_decimal,
bind_time, bind_now; customer_groups._bind's 0/1 flags; sandbox's journal time), how a group's
id is taken and kept (customer_groups.insert_group, delete_group: SQLite's one writer lets a
create find its id in the statement itself), and audit.index_new_entries' table lock on
PostgreSQL. They serve the CLI, the sandbox's seeding and the audit upkeep; the request path
goes through the stores.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from decimal import Decimal
from pathlib import Path
from typing import Any

import psycopg
import sqlalchemy as sa
from sqlalchemy import event, exc
from sqlalchemy.dialects import postgresql as pg_dialect
from sqlalchemy.dialects import sqlite as sqlite_dialect
from sqlalchemy.engine import URL, Connection, Dialect, Engine, make_url
from sqlalchemy.exc import ArgumentError
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.expression import ColumnElement, FunctionElement
from sqlalchemy.types import TypeDecorator

from cartgroups.errors import ConfigurationError

SQLITE_BUSY_TIMEOUT_MS = 10_000
MIGRATION_LOCK_KEY = 0x63617274  # "cart": the PostgreSQL advisory lock taken while migrating


def parse_url(raw: str) -> URL:
    """Turn what a user typed into a SQLAlchemy URL, or raise ConfigurationError."""
    text = raw.strip()
    if not text:
        raise ConfigurationError("the database URL is empty")
    if "://" not in text:
        text = "sqlite:///" + text
    try:
        url = make_url(text)
    except (ArgumentError, ValueError):  # ValueError: e.g. a port that is not a number
        # Not echoed: a URL that does not parse may still hold a password.
        raise ConfigurationError(
            "cannot parse the database URL; expected sqlite:///path/file.db or postgresql://host/dbname"
        ) from None
    backend = url.get_backend_name()
    if backend == "sqlite":
        if url.drivername != "sqlite":
            raise ConfigurationError("use sqlite:///path/to/file.db for SQLite")
        if not url.database or url.database == ":memory:":
            raise ConfigurationError(
                "SQLite needs a file path (sqlite:///path/to/file.db); an in-memory database "
                "would not be shared between server processes"
            )
        return url
    if backend == "postgresql":
        return url.set(drivername="postgresql+psycopg")
    raise ConfigurationError(
        f"unsupported database {backend!r}: use sqlite:///file.db or postgresql://host/dbname"
    )


def describe(url: URL) -> str:
    if url.get_backend_name() == "sqlite":
        return f"SQLite file {Path(url.database or '').resolve()}"
    return f"PostgreSQL {url.render_as_string(hide_password=True)}"


def create_engine(url: URL, *, sqlite_synchronous: str = "NORMAL") -> Engine:
    if url.get_backend_name() == "sqlite":
        return _sqlite_engine(url, sqlite_synchronous)
    return sa.create_engine(
        url, pool_size=4, max_overflow=8, pool_pre_ping=True, connect_args=postgres_connect_args(url)
    )


# How long a statement may wait for the database: the server runs its database calls on its event
# loop, so this bounds how long every request of a process can be held up by a database that is
# down, partitioned away or stuck on a lock (docs/reliability.md, "Database unavailable").
DATABASE_WAIT_SECONDS = 5
_WAIT_MS = DATABASE_WAIT_SECONDS * 1000

# libpq connection parameters (PostgreSQL's "Connection Strings" documentation), each bounding one
# way of waiting: connecting (connect_timeout); a query or lock that takes too long on a working
# server (statement_timeout, lock_timeout: the server cancels it, SQLSTATE 57014 / 55P03); a
# server that vanished without closing the connection, as in a network partition
# (tcp_user_timeout: sent data unacknowledged for this long breaks the connection; keepalives:
# a probe after 4 s of silence while a reply is awaited, and the connection is broken once nothing
# came back for the user timeout, so after 5 s). Parameters in the database URL's query string win.
POSTGRES_CONNECT_ARGS: dict[str, str | int] = {
    "connect_timeout": DATABASE_WAIT_SECONDS,
    "application_name": "cartgroups",
    "keepalives": 1,
    "keepalives_idle": DATABASE_WAIT_SECONDS - 1,
    "keepalives_interval": 1,
    "keepalives_count": 3,
    "tcp_user_timeout": _WAIT_MS,
}
POSTGRES_OPTIONS = f"-c statement_timeout={_WAIT_MS} -c lock_timeout={_WAIT_MS}"


def postgres_connect_args(url: URL) -> dict[str, str | int]:
    """POSTGRES_CONNECT_ARGS less those the URL sets; the timeouts go first in ``options``, so
    that ``-c`` settings of the URL's own ``options`` override them."""
    given = url.query
    args = {name: value for name, value in POSTGRES_CONNECT_ARGS.items() if name not in given}
    theirs = given.get("options")
    args["options"] = " ".join([POSTGRES_OPTIONS, *([theirs] if isinstance(theirs, str) else theirs or ())])
    return args


SQLITE_MINIMUM = (3, 38)  # RETURNING (3.35) and the JSON functions built in (3.38)


def _sqlite_engine(url: URL, synchronous: str) -> Engine:
    if sqlite3.sqlite_version_info < SQLITE_MINIMUM:
        raise ConfigurationError(
            f"cartgroups needs SQLite {'.'.join(map(str, SQLITE_MINIMUM))} or newer; this Python's "
            f"sqlite3 module uses SQLite {sqlite3.sqlite_version}"
        )
    engine = sa.create_engine(url, pool_size=4, max_overflow=8)

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        # Take transaction control away from the sqlite3 module so that we decide how
        # each transaction begins (see _on_begin and transaction()).
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        # Opening waits at most DATABASE_WAIT_SECONDS for a file another process holds (in
        # exclusive locking mode, say): a server opens connections on its event loop.
        cur.execute(f"PRAGMA busy_timeout = {_WAIT_MS}")
        _enable_wal(cur)
        cur.execute(f"PRAGMA synchronous = {synchronous}")
        cur.execute("PRAGMA foreign_keys = ON")
        cur.execute(f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}")  # writers queue longer
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        # Only plain engine.connect() transactions (migrations) come here: the long-lived
        # request connections are autocommit and run their own BEGIN (see transaction()).
        options = conn.get_execution_options()
        if options.get("isolation_level") == "AUTOCOMMIT":
            return
        conn.exec_driver_sql(f"BEGIN {options.get('sqlite_begin', 'DEFERRED')}")

    return engine


def _enable_wal(cur: Any) -> None:
    """Switch the file to WAL. On a brand-new file two connections doing this at once can
    deadlock on the lock upgrade, and SQLite then fails one at once instead of calling the busy
    handler; so retry for as long as the busy timeout would have waited."""
    deadline = time.monotonic() + DATABASE_WAIT_SECONDS
    while True:
        try:
            cur.execute("PRAGMA journal_mode = WAL")
            return
        except sqlite3.OperationalError as error:
            left = deadline - time.monotonic()
            if "locked" not in str(error) or left <= 0:
                raise
            cur.execute(f"PRAGMA busy_timeout = {max(1, int(left * 1000))}")  # the deadline holds
            time.sleep(0.01)


def autocommit(conn: Connection) -> Connection:
    """A connection whose statements each commit by themselves: no BEGIN, no round trip to end it."""
    return conn.execution_options(isolation_level="AUTOCOMMIT")


def driver(conn: Connection) -> Any:
    """The driver's own connection (sqlite3 or psycopg) under an SQLAlchemy connection, for
    statements run on it directly (BEGIN/COMMIT, the fast path, pragmas)."""
    found = conn.connection.driver_connection
    assert found is not None, "the connection is closed"
    return found


class WriterBusy(Exception):
    """Another connection holds SQLite's write lock (a transaction begun with wait=False)."""


@contextmanager
def transaction(conn: Connection, *, wait: bool = True) -> Iterator[None]:
    """A write transaction on an autocommit connection, begun and ended on the driver (cheaper
    than SQLAlchemy's bookkeeping on every write request). On SQLite it takes the write lock up
    front (BEGIN IMMEDIATE), so it waits for other writers instead of failing half-way; with
    ``wait=False`` (on a no_waiting connection) it raises WriterBusy at once, nothing begun."""
    on = driver(conn)
    if conn.dialect.name != "sqlite":
        on.execute("BEGIN")
    else:
        try:
            on.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError as error:
            if wait or error.sqlite_errorcode & 0xFF != sqlite3.SQLITE_BUSY:
                raise
            raise WriterBusy() from None
    try:
        yield
    except BaseException:
        with suppress(Exception):  # a broken connection has nothing left to roll back
            on.execute("ROLLBACK")
        raise
    on.execute("COMMIT")


def bounded_reads(conn: Connection) -> None:
    """Set up the connection for reads, which a server runs on its event loop: on SQLite a read
    waits at most DATABASE_WAIT_SECONDS while another process holds the file (in WAL mode a read
    waits for no writer, only for exclusive locking mode or recovery). PostgreSQL's connections
    are bounded already (POSTGRES_CONNECT_ARGS)."""
    if conn.dialect.name == "sqlite":
        conn.exec_driver_sql(f"PRAGMA busy_timeout = {_WAIT_MS}")


def no_waiting(conn: Connection) -> None:
    """Set up the connection of write batches (Database.write_batch): on SQLite, a statement
    fails at once instead of waiting while another connection holds the write lock (see
    transaction(wait=False)), so that the server's event loop waits without blocking
    (storage/sqlite/group_commit.py). PostgreSQL
    has no database-wide write lock: nothing to set."""
    if conn.dialect.name == "sqlite":
        conn.exec_driver_sql("PRAGMA busy_timeout = 0")


def changes(conn: Connection) -> int | None:
    """How many rows this connection has inserted, updated or deleted since it opened (SQLite
    counts them; a statement that failed counts none), or None where the database does not say
    (PostgreSQL)."""
    if conn.dialect.name != "sqlite":
        return None
    return int(driver(conn).total_changes)


def data_version(conn: Connection) -> int | None:
    """SQLite's data version of this connection: it moves whenever another connection, of this
    process or any other, commits a change to the database file, and is read fresh from the
    file's shared index. None where the database keeps no such number (PostgreSQL)."""
    if conn.dialect.name != "sqlite":
        return None
    return int(driver(conn).execute("PRAGMA data_version").fetchone()[0])


def is_conflict(error: BaseException) -> bool:
    """True for PostgreSQL's "this transaction lost to a concurrent one" errors (deadlock,
    serialisation failure: SQLSTATE class 40), raised through SQLAlchemy or by the driver. Running
    the same work again in a new transaction is the cure."""
    driver_error = error.orig if isinstance(error, exc.DBAPIError) else error
    return isinstance(driver_error, psycopg.Error) and (driver_error.sqlstate or "").startswith("40")


def volatile(conn: Connection) -> None:
    """Set up a connection for single statements whose effect may be lost (the rate limiter's).

    PostgreSQL: synchronous_commit off, so a commit does not wait for the WAL to reach the disk
    (a crash of the database server may lose its last ~0.6 s of commits; nothing is corrupted).

    SQLite: nothing to set, and no BEGIN IMMEDIATE is needed around a single statement in
    autocommit mode: with no read transaction open, SQLite takes the read snapshot and the write
    lock together and retries both through the busy handler while another connection writes
    (the stale-snapshot failure that BEGIN IMMEDIATE prevents only hits a transaction that read
    before it wrote). synchronous=NORMAL in WAL mode does not sync on commit anyway."""
    if conn.dialect.name == "postgresql":
        conn.exec_driver_sql("SET synchronous_commit = off")


def insert(dialect_name: str, table: sa.Table) -> sqlite_dialect.Insert | pg_dialect.Insert:
    """An INSERT that can take ``on_conflict_do_update`` / ``on_conflict_do_nothing``."""
    if dialect_name == "postgresql":
        return pg_dialect.insert(table)
    return sqlite_dialect.insert(table)


class greatest(FunctionElement[float]):
    """The larger of two numbers: GREATEST on PostgreSQL, the two-argument max() on SQLite."""

    type = sa.Float()
    inherit_cache = True
    name = "greatest"


@compiles(greatest)
def _greatest(element: greatest, compiler: SQLCompiler, **kw: Any) -> str:
    return f"GREATEST({compiler.process(element.clauses, **kw)})"


@compiles(greatest, "sqlite")
def _greatest_sqlite(element: greatest, compiler: SQLCompiler, **kw: Any) -> str:
    return f"max({compiler.process(element.clauses, **kw)})"


class database_clock(FunctionElement[float]):
    """Seconds since the Unix epoch by the database server's clock, as a float.

    PostgreSQL: clock_timestamp() (the time now, not the transaction's start) - one clock for
    every host that uses the database. SQLite: the clock of the host the file is on, to the
    millisecond (julianday('now')), the same clock every process sharing the file reads."""

    type = sa.Float()
    inherit_cache = True
    name = "database_clock"


@compiles(database_clock)
def _database_clock(element: database_clock, compiler: SQLCompiler, **kw: Any) -> str:
    return "CAST(EXTRACT(EPOCH FROM clock_timestamp()) AS DOUBLE PRECISION)"


@compiles(database_clock, "sqlite")
def _database_clock_sqlite(element: database_clock, compiler: SQLCompiler, **kw: Any) -> str:
    return "((julianday('now') - 2440587.5) * 86400.0)"


def now_or_clock(param: str) -> ColumnElement[float]:
    """The bound ``param`` (seconds since the epoch) when given, else the database's clock."""
    return sa.func.coalesce(sa.cast(sa.bindparam(param, type_=sa.Float), sa.Float), database_clock())


def increment(conn: Connection, table: sa.Table, *, key: str, value: str, name: str) -> None:
    """``table.value += 1`` in the row whose ``key`` is ``name``, creating the row (at 1) if it is
    missing: an INSERT ... ON CONFLICT DO UPDATE."""
    stmt = insert(conn.dialect.name, table).values({key: name, value: 1})
    conn.execute(stmt.on_conflict_do_update(index_elements=[key], set_={value: table.c[value] + 1}))


def lock_for_migration(conn: Connection) -> Connection:
    """Serialise schema upgrades between processes; call before beginning the transaction."""
    if conn.dialect.name == "sqlite":
        return conn.execution_options(sqlite_begin="EXCLUSIVE")
    return conn


def after_begin_migration(conn: Connection) -> None:
    if conn.dialect.name == "postgresql":
        # A schema upgrade may rewrite a large table, and waits for another process's upgrade:
        # neither is bounded by the timeouts that keep requests short (POSTGRES_OPTIONS).
        conn.exec_driver_sql("SET LOCAL statement_timeout = 0")
        conn.exec_driver_sql("SET LOCAL lock_timeout = 0")
        conn.execute(sa.select(sa.func.pg_advisory_xact_lock(MIGRATION_LOCK_KEY)))


def probe_write(conn: Connection) -> None:
    """Raise unless the database takes writes now; called inside a write transaction, after a
    write failed, to notice the database is writable again. SQLite rewrites its header's
    user_version (unused by cartgroups) with the value it has: a real page write, changing
    nothing. PostgreSQL refuses writes in a read-only transaction (a standby, or
    default_transaction_read_only); other causes show as failed writes."""
    if conn.dialect.name == "sqlite":
        version = conn.exec_driver_sql("PRAGMA user_version").scalar_one()
        conn.exec_driver_sql(f"PRAGMA user_version = {int(version)}")
        return
    if conn.exec_driver_sql("SHOW transaction_read_only").scalar_one() == "on":
        raise exc.OperationalError("SHOW transaction_read_only", None, Exception("read-only"))


_UNAVAILABLE_POSTGRES = (
    psycopg.errors.ReadOnlySqlTransaction,
    psycopg.errors.UndefinedTable,  # 42P01
    psycopg.errors.UndefinedColumn,  # 42703
)


def is_unavailable(error: BaseException) -> bool:
    """True for errors that mean "cannot reach or write the database right now", whether raised
    through SQLAlchemy or straight from the driver (see fastpath). A PostgreSQL that only takes
    reads (a standby, or default_transaction_read_only) is one: psycopg files that under
    InternalError, which otherwise means a bug. So is one whose schema is gone or older than this
    code's (a database dropped and made anew, an older dump restored; /healthz says which):
    psycopg files that under ProgrammingError; SQLite's "no such table" is an OperationalError."""
    if isinstance(error, exc.DBAPIError) and error.connection_invalidated:
        return True
    driver_error = error.orig if isinstance(error, exc.DBAPIError) else error
    if isinstance(driver_error, _UNAVAILABLE_POSTGRES):
        return True
    return isinstance(
        error,
        exc.OperationalError
        | exc.InterfaceError
        | exc.TimeoutError
        | sqlite3.OperationalError
        | psycopg.OperationalError
        | psycopg.InterfaceError,
    )


class ExactDecimal(TypeDecorator[Decimal]):
    """Money that never passes through a binary float, with the scale it was given (1.50 stays 1.50)."""

    impl = sa.Text
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> sa.types.TypeEngine[Any]:
        if dialect.name == "postgresql":
            return dialect.type_descriptor(sa.Numeric(asdecimal=True))
        return dialect.type_descriptor(sa.Text())

    def process_bind_param(self, value: Decimal | None, dialect: Dialect) -> Any:
        if value is None or dialect.name == "postgresql":
            return value
        return format(value, "f")

    def process_result_value(self, value: Any, dialect: Dialect) -> Decimal | None:
        if value is None or isinstance(value, Decimal):
            return value
        return Decimal(value)
