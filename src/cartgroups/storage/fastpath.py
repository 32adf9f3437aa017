"""Core statements compiled once, run straight on the driver connection.

The statements are built with SQLAlchemy Core like every other; only their execution skips
SQLAlchemy's per-call machinery (parameter processing, result objects), which measured ~20 us a
statement against ~5 us for the driver itself. Used for the statements that every API request
runs. Values are converted here the way the column types would (SQLite has no boolean or exact
decimal of its own), so callers get the same Python values as through SQLAlchemy.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from operator import itemgetter
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Dialect
from sqlalchemy.sql import ClauseElement
from sqlalchemy.sql.compiler import SQLCompiler

from cartgroups.storage import dialect


class Prepared:
    """One statement, compiled on first use for each dialect it meets."""

    __slots__ = ("_compiled", "statement")

    def __init__(self, statement: ClauseElement) -> None:
        self.statement = statement
        self._compiled: dict[str, _Compiled] = {}

    def _for(self, conn: Connection) -> _Compiled:
        return self.compiled(conn.dialect)

    def compiled(self, sql_dialect: Dialect) -> _Compiled:
        """The statement compiled for ``sql_dialect`` (once): its SQL, what picks positional
        values (None for a driver that takes the mapping), and the values it fixes."""
        found = self._compiled.get(sql_dialect.name)
        if found is None:
            compiled = self.statement.compile(dialect=sql_dialect)
            assert isinstance(compiled, SQLCompiler)
            names = tuple(compiled.positiontup or ()) if sql_dialect.positional else None
            # Binds the statement itself fixed, such as the 1 in "last_group_id + 1".
            fixed = {k: v for k, v in compiled.params.items() if v is not None}
            found = self._compiled[sql_dialect.name] = (str(compiled), _positional(names), fixed)
        return found

    def run(self, conn: Connection, params: Mapping[str, Any]) -> Any:
        """Execute on the connection's driver connection (inside its transaction, if any);
        returns the driver's cursor."""
        sql, positional, fixed = self._for(conn)
        driver = dialect.driver(conn)
        values = {**fixed, **params} if fixed else params
        return driver.execute(sql, values if positional is None else positional(values))

    def run_many(self, conn: Connection, rows: Sequence[Mapping[str, Any]]) -> None:
        """Execute once per row, as one batch: SQLite steps one prepared statement in C, and
        psycopg sends every row in one pipeline (one round trip) rather than one at a time."""
        sql, positional, fixed = self._for(conn)
        driver = dialect.driver(conn)
        merged = [{**fixed, **row} if fixed else row for row in rows]
        batch = merged if positional is None else [positional(values) for values in merged]
        cursor = driver.cursor()
        try:
            cursor.executemany(sql, batch)
        finally:
            cursor.close()


# The compiled SQL; for a driver with positional parameters (SQLite's "?"), what picks the values
# out of a name -> value mapping in statement order (None: the driver takes the mapping itself);
# the values the statement fixes.
_Compiled = tuple[str, Callable[[Mapping[str, Any]], Sequence[Any]] | None, dict[str, Any]]


def _positional(names: tuple[str, ...] | None) -> Callable[[Mapping[str, Any]], Sequence[Any]] | None:
    """The values for these names, in order, as a tuple: itemgetter builds it in C (it returns a
    bare value for a single name, so that case is wrapped)."""
    if names is None:
        return None
    if len(names) == 1:
        (name,) = names
        return lambda values: (values[name],)
    if not names:
        return lambda values: ()
    return itemgetter(*names)


def to_decimal(value: Any) -> Decimal:
    """A stored exact decimal: PostgreSQL returns Decimal, SQLite the text it was given."""
    return value if isinstance(value, Decimal) else Decimal(value)


def bind_decimal(conn: Connection, value: Decimal) -> Any:
    """What the driver stores for an exact decimal (see dialect.ExactDecimal)."""
    return value if conn.dialect.name == "postgresql" else exact_text(value)


def exact_text(value: Decimal) -> str:
    """An exact decimal as its stored text, every digit of its scale kept (1.50, not 1.5): what
    SQLite keeps, and what PostgreSQL's ``numeric::text`` writes for the value read back from it.
    Comparing these texts tells 1.5 from 1.50, which PostgreSQL's NUMERIC equality does not."""
    return format(value, "f")


_SECOND: tuple[int, str] = (-1, "")  # the last second bind_now wrote, and its text
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def bind_now(conn: Connection) -> Any:
    """bind_time(conn, <the time now>), made for every audit entry: on SQLite the date and time
    of day are written once a second, since datetime.isoformat costs ~2 us each time."""
    now = time.time_ns() // 1000  # microseconds since the epoch, the clock datetime.now reads
    if conn.dialect.name == "postgresql":
        return _EPOCH + timedelta(microseconds=now)
    global _SECOND
    second, micros = divmod(now, 1_000_000)
    known = _SECOND  # one read: another thread may replace it meanwhile
    if known[0] != second:
        known = _SECOND = (second, time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(second)))
    return f"{known[1]}.{micros:06d}"


def bind_time(conn: Connection, value: datetime) -> Any:
    """What the driver stores for an aware UTC time: PostgreSQL takes the datetime; SQLite the
    text SQLAlchemy's DateTime writes there (naive UTC, microseconds), so both paths compare."""
    if conn.dialect.name == "postgresql":
        return value
    return value.astimezone(UTC).replace(tzinfo=None).isoformat(" ", "microseconds")


# Locking many rows of one store by id (a bulk update's first read), for any table keyed by
# (store_id, <id>): the ids in ascending order (the order every writer locks in, so two bulk
# updates cannot deadlock), LOCK_CHUNK to a statement, well inside both databases' parameter
# limits, one statement per chunk size.
LOCK_CHUNK = 500
_LOCKS_BY_IDS: dict[tuple[str, int], Prepared] = {}


def id_chunks(store_id: int, ids: Sequence[int]) -> list[tuple[int, dict[str, object]]]:
    """The distinct ``ids`` ascending, LOCK_CHUNK at a time: each chunk's size and the
    parameters of locked_by_ids (``store_id`` and ``i0``, ``i1``, ...)."""
    ordered = sorted(set(ids))
    chunks = []
    for start in range(0, len(ordered), LOCK_CHUNK):
        chunk = ordered[start : start + LOCK_CHUNK]
        params: dict[str, object] = {f"i{i}": item_id for i, item_id in enumerate(chunk)}
        params["store_id"] = store_id
        chunks.append((len(chunk), params))
    return chunks


def locked_by_ids(
    columns: Sequence[sa.ColumnElement[Any]], id_column: sa.Column[Any], count: int
) -> Prepared:
    """SELECT ``columns`` of the store's rows whose ``id_column`` is one of ``count`` ids (an
    id_chunks chunk), ascending, FOR UPDATE (PostgreSQL; SQLite's write transaction holds the
    database's one write lock)."""
    key = (id_column.table.name, count)
    statement = _LOCKS_BY_IDS.get(key)
    if statement is None:
        table = id_column.table
        ids = [sa.bindparam(f"i{i}", type_=sa.Integer) for i in range(count)]
        statement = _LOCKS_BY_IDS[key] = Prepared(
            sa.select(*columns)
            .where(table.c.store_id == sa.bindparam("store_id"), id_column.in_(ids))
            .order_by(id_column)
            .with_for_update()
        )
    return statement
