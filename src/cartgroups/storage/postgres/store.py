"""The store on PostgreSQL (storage/store.py's interface), through psycopg's async API.

PostgreSQL may be on another host, a round trip of 0.3 to 1 ms away. A request that waits for
it must not hold up the others of its process, so every call here awaits the database on the
event loop, on a connection from the process's pool (psycopg_pool): requests of one process
overlap while they wait.

Every round trip costs the event loop a wait on the socket (several system calls, ~30 µs of
this process's CPU) and PostgreSQL a statement and, for a write, a commit; so the store makes
as few as SQL allows:
- A create, an update without If-Match and a delete without If-Match are each one statement
  (statements.py: data-modifying CTEs, the change and its audit entry together, the entry's
  JSON written by PostgreSQL exactly as audit.group_json writes it), run without BEGIN and
  COMMIT (storage/store.Alone); and those a process's requests ask at one moment are one
  statement together (gathered.py), with at most WRITES_IN_FLIGHT such statements out at once.
- GETs by id asked at one moment are one statement too (_Coalesced below).
- Any other write is a transaction of its own on a pooled connection.
(psycopg's pipeline mode would save round trips inside longer transactions, but its wait loop
polls the socket for writing while it waits for answers: measured, it cost more CPU than the
round trips it saved.)

A write that loses a deadlock or a serialisation conflict (SQLSTATE class 40) to another
transaction runs again, up to CONFLICT_RETRIES times, then is answered 503 like a write the
database cannot take. Outages (a refused or dropped connection, a statement or lock that ran
past the timeouts of dialect.POSTGRES_OPTIONS, no connection free in the pool within
DATABASE_WAIT_SECONDS) raise DatabaseUnavailable: 503. A broken connection is thrown away by the
pool, which opens another.

The other statements are the ones the synchronous code runs (storage/customer_groups.py and
the others, compiled once for PostgreSQL by fastpath.Prepared): only their execution differs."""

from __future__ import annotations

import asyncio
import select
from collections.abc import Awaitable, Callable, Hashable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, Generic, TypeVar

import psycopg
import sqlalchemy as sa
from psycopg_pool import AsyncConnectionPool

from cartgroups.customer_model import Customer
from cartgroups.errors import DatabaseUnavailable
from cartgroups.json_net import escaped
from cartgroups.model import FIELDS, CustomerGroup
from cartgroups.storage import audit as audit_sql
from cartgroups.storage import credentials as cred_sql
from cartgroups.storage import customer_groups as groups_sql
from cartgroups.storage import customers as customers_sql
from cartgroups.storage import dialect
from cartgroups.storage import idempotency as key_sql
from cartgroups.storage import rate_limits as bucket_sql
from cartgroups.storage.audit import Actor, Change
from cartgroups.storage.credentials import CredentialsState, TokenGrant
from cartgroups.storage.customers import CustomerReads, CustomerWrites, Duplicate, Row
from cartgroups.storage.database import UNAVAILABLE, Database
from cartgroups.storage.fastpath import Prepared, id_chunks
from cartgroups.storage.postgres import statements
from cartgroups.storage.postgres.customers import PostgresCustomerWrites
from cartgroups.storage.postgres.gathered import Gathered
from cartgroups.storage.postgres.statements import Many
from cartgroups.storage.store import Alone, Plan

T = TypeVar("T")

DOWN_WAIT_SECONDS = 1.0
POOL_SIZE = 10  # connections per server process, at most (CARTGROUPS_PG_POOL_SIZE)
CONFLICT_RETRIES = 5  # runs again of a write that lost a deadlock or serialisation conflict
_DIALECT = statements.DIALECT
OTHER_LOOP = "a PostgresStore serves the event loop it was opened on; open another store for this one"


def _sql(statement: Prepared, params: Mapping[str, Any]) -> tuple[str, Mapping[str, Any]]:
    sql, _positional, fixed = statement.compiled(_DIALECT)
    return sql, ({**fixed, **params} if fixed else params)


async def _execute(conn: psycopg.AsyncConnection[Any], statement: Prepared, params: Mapping[str, Any]) -> Any:
    sql, values = _sql(statement, params)
    return await conn.execute(sql, values)


async def _one(conn: psycopg.AsyncConnection[Any], statement: Prepared, params: Mapping[str, Any]) -> Any:
    return await (await _execute(conn, statement, params)).fetchone()


def _new(values: Mapping[str, object]) -> dict[str, object]:
    """An update's column values under their parameter names (psycopg takes Decimal and bool as
    they are)."""
    return {groups_sql.NEW[column]: value for column, value in values.items()}


def _entry_params(store_id: int, actor: Actor) -> dict[str, object]:
    return {
        "store_id": store_id,
        "at": datetime.now(UTC),
        "token_id": actor.token_id,
        "application": actor.application,
    }


def _create_row(store_id: int, actor: Actor, values: Mapping[str, object]) -> dict[str, object]:
    return {**values, **_entry_params(store_id, actor)}


def _update_row(
    store_id: int, actor: Actor, group_id: int, values: Mapping[str, object]
) -> tuple[Many, dict[str, object]]:
    return statements.update(frozenset(values)), {
        **_new(values),
        **_entry_params(store_id, actor),
        "group_id": group_id,
    }


def _delete_row(store_id: int, actor: Actor, group_id: int) -> dict[str, object]:
    return {**_entry_params(store_id, actor), "group_id": group_id}


async def run_many(
    conn: psycopg.AsyncConnection[Any], kind: Many, rows: Sequence[Mapping[str, object]]
) -> list[int | None]:
    """One of statements.py's statements for ``rows``: each row's group id, or None."""
    cursor = await _execute(conn, kind.statement, kind.params(rows))
    return statements.found(await cursor.fetchall(), len(rows))


class PostgresTx:
    """A plan's view of a PostgreSQL write transaction (storage/store.Tx); for an Alone plan,
    of a connection in autocommit mode, whose one statement commits by itself."""

    __slots__ = ("conn",)

    def __init__(self, conn: psycopg.AsyncConnection[Any]) -> None:
        self.conn = conn

    @property
    def customers(self) -> CustomerWrites:
        return PostgresCustomerWrites(self)

    # storage/customers.WriteExecutor, on the transaction's connection (and record_entries below)
    async def one(self, statement: Prepared, params: Mapping[str, Any]) -> Row | None:
        row: Row | None = await (await self._run(statement, params)).fetchone()
        return row

    async def all(self, statement: Prepared, params: Mapping[str, Any]) -> list[Row]:
        rows: list[Row] = await (await self._run(statement, params)).fetchall()
        return rows

    async def change(self, statement: Prepared, params: Mapping[str, Any]) -> int:
        return int((await self._run(statement, params)).rowcount)

    async def _run(self, statement: Prepared, params: Mapping[str, Any]) -> Any:
        try:
            return await _execute(self.conn, statement, params)
        except psycopg.errors.UniqueViolation as exc:
            raise Duplicate(str(exc)) from None

    async def create_group(self, *, store_id: int, actor: Actor, values: Mapping[str, object]) -> int:
        (group_id,) = await run_many(self.conn, statements.CREATE, [_create_row(store_id, actor, values)])
        assert group_id is not None, "a create makes its group"
        return group_id

    async def get_for_update(self, *, store_id: int, group_id: int) -> CustomerGroup | None:
        row = await _one(self.conn, groups_sql.LOCK, {"store_id": store_id, "group_id": group_id})
        return groups_sql.group_from_row(row) if row is not None else None

    async def get_many_for_update(
        self, *, store_id: int, group_ids: Sequence[int]
    ) -> dict[int, CustomerGroup]:
        found: dict[int, CustomerGroup] = {}
        for count, params in id_chunks(store_id, group_ids):
            cursor = await _execute(self.conn, groups_sql.lock_many(count), params)
            for row in await cursor.fetchall():
                group = groups_sql.group_from_row(row)
                found[group.group_id] = group
        return found

    async def update_group(self, *, store_id: int, group_id: int, values: Mapping[str, object]) -> None:
        if values:
            params = {**_new(values), "store_id": store_id, "group_id": group_id}
            await _execute(self.conn, groups_sql.update_statement(frozenset(values)), params)

    async def update_groups(
        self, *, store_id: int, changes: Sequence[tuple[int, Mapping[str, object]]]
    ) -> None:
        # One round trip per set of columns changed, not one per group: a group's values merged
        # in order (its last value of each column wins, as if updated one after another), then
        # each set's rows sent together (executemany pipelines them).
        merged: dict[int, dict[str, object]] = {}
        for group_id, values in changes:
            merged.setdefault(group_id, {}).update(values)
        by_columns: dict[frozenset[str], list[dict[str, object]]] = {}
        for group_id, values in merged.items():
            if values:
                row = {**_new(values), "store_id": store_id, "group_id": group_id}
                by_columns.setdefault(frozenset(values), []).append(row)
        for columns, rows in by_columns.items():
            sql, fixed = _sql(groups_sql.update_statement(columns), {})
            async with self.conn.cursor() as cursor:
                await cursor.executemany(sql, [{**fixed, **row} for row in rows])

    async def update_group_if(
        self,
        *,
        store_id: int,
        expected: CustomerGroup,
        values: Mapping[str, object],
        entry: Mapping[str, object],
    ) -> bool:
        params = groups_sql.expected_params(_new(values), expected)
        params["store_id"] = store_id
        cursor = await _execute(self.conn, groups_sql.update_if_statement(frozenset(values)), params)
        if cursor.rowcount != 1:
            return False
        await self.record_entries([entry])
        return True

    async def update_recorded(
        self, *, store_id: int, actor: Actor, group_id: int, values: Mapping[str, object]
    ) -> bool:
        kind, row = _update_row(store_id, actor, group_id, values)
        return (await run_many(self.conn, kind, [row]))[0] is not None

    async def delete_group(self, *, store_id: int, group_id: int) -> CustomerGroup | None:
        # PostgreSQL's ids come from the store's last_group_id, which never goes down.
        row = await _one(self.conn, groups_sql.DELETE, {"store_id": store_id, "group_id": group_id})
        return groups_sql.group_from_row(row) if row is not None else None

    async def delete_recorded(self, *, store_id: int, actor: Actor, group_id: int) -> bool:
        row = _delete_row(store_id, actor, group_id)
        return (await run_many(self.conn, statements.DELETE, [row]))[0] is not None

    async def record(self, *, store_id: int, actor: Actor, changes: Sequence[Change]) -> None:
        await self.record_entries([audit_sql.entry(store_id, actor, change) for change in changes])

    async def record_entries(self, entries: Sequence[Mapping[str, object]]) -> None:
        if not entries:
            return
        at = datetime.now(UTC)
        sql, _values = _sql(audit_sql.INSERT, {})
        if len(entries) == 1:
            await self.conn.execute(sql, {**entries[0], "at": at})
            return
        async with self.conn.cursor() as cursor:  # psycopg sends them all in one round trip
            await cursor.executemany(sql, [{**entry, "at": at} for entry in entries])

    async def claim_key(
        self,
        *,
        store_id: int,
        application_id: int,
        key: str,
        fingerprint: str,
        now: float,
        expired_before: float,
    ) -> tuple[str, int, bytes] | None:
        params = {"store_id": store_id, "application_id": application_id, "key": key}
        claim = {**params, "fingerprint": fingerprint, "now": now, "expired_before": expired_before}
        if await _one(self.conn, key_sql.CLAIM["postgresql"], claim) is not None:
            return None
        fingerprint_, status, body = await _one(self.conn, key_sql.FIND, params)
        return str(fingerprint_), int(status), bytes(body)

    async def finish_key(
        self, *, store_id: int, application_id: int, key: str, status: int, body: bytes
    ) -> None:
        params = {"store_id": store_id, "application_id": application_id, "key": key}
        await _execute(self.conn, key_sql.FINISH, {**params, "new_status": status, "new_body": body})

    async def prune_keys(self, *, expired_before: float) -> int:
        cursor = await _execute(self.conn, key_sql.PRUNE, {"expired_before": expired_before})
        return int(cursor.rowcount)


class PostgresStore:
    """storage/store.Store on PostgreSQL. Its pool is opened on the event loop of the process
    (open()), and serves that loop only."""

    name = "postgresql"
    exact_changes = False  # no cheap, exact "changed since?" (and other hosts may write)

    def __init__(self, db: Database, *, pool_size: int | None = None) -> None:
        url = db.url
        self.conninfo = url.set(drivername="postgresql", query={}).render_as_string(hide_password=False)
        # The URL's own query parameters (options, sslmode, ...) with cartgroups' timeouts.
        self.connect_args: dict[str, Any] = {
            **{k: v for k, v in url.query.items() if isinstance(v, str)},
            **dialect.postgres_connect_args(url),
            "autocommit": True,  # a read is one statement; a write begins its own transaction
        }
        self.pool_size = pool_size or POOL_SIZE
        self._pool: AsyncConnectionPool[psycopg.AsyncConnection[Any]] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._by_id = _Coalesced(self, _GET_GROUPS, _group)
        self._gathered = Gathered(self._run_many)
        self.customers = _CoalescedCustomers(_Reads(self), _Coalesced(self, _GET_CUSTOMERS, _customer))
        # Set when the pool gave up opening a connection, cleared when it opens one: while it is
        # set, a request waits DOWN_WAIT_SECONDS for a connection rather than the full
        # DATABASE_WAIT_SECONDS, so that requests do not queue for seconds each behind an outage.
        self.down = False

    async def open(self) -> None:
        loop = asyncio.get_running_loop()
        if self._pool is not None:
            if loop is not self._loop:
                raise RuntimeError(OTHER_LOOP)
            return
        self._loop = loop
        self._pool = AsyncConnectionPool(
            self.conninfo,
            kwargs=self.connect_args,
            min_size=1,
            max_size=self.pool_size,
            timeout=dialect.DATABASE_WAIT_SECONDS,
            # The pool tries again and again to open a connection, waiting longer each time; after
            # this long it gives up (reconnect_failed) until a request asks again. Kept short, so
            # that a database that is back is found within seconds.
            reconnect_timeout=dialect.DATABASE_WAIT_SECONDS,
            reconnect_failed=self._gave_up,
            configure=self._connected,
            open=False,
            name="cartgroups",
        )
        # Not waiting for the first connection: a server starts while the database is down and
        # answers 503 until it is back, as it does on SQLite.
        await self._pool.open(wait=False)

    def _gave_up(self, _pool: object) -> None:
        self.down = True

    async def _connected(self, _conn: object) -> None:
        self.down = False

    async def close(self) -> None:
        pool, self._pool, self._loop = self._pool, None, None
        if pool is not None:
            await pool.close()

    def look(self) -> Hashable:
        return None

    async def _pool_now(self) -> AsyncConnectionPool[psycopg.AsyncConnection[Any]]:
        if self._pool is None or asyncio.get_running_loop() is not self._loop:
            await self.open()
        assert self._pool is not None
        return self._pool

    async def _read(
        self, statement: Prepared, params: Mapping[str, Any], *, many: bool, rows: bool = True
    ) -> Any:
        """One statement's row (or rows, or nothing: ``rows`` False), on a connection of the
        pool, in autocommit: a read, or a write of one statement that needs no retry."""
        pool = await self._pool_now()
        with _Outages():
            async with _Checked(self, pool) as conn:
                cursor = await _execute(conn, statement, params)
                if not rows:
                    return None
                return await (cursor.fetchall() if many else cursor.fetchone())

    async def _read_one(self, statement: Prepared, params: Mapping[str, Any]) -> Any:
        return await self._read(statement, params, many=False)

    async def _read_all(self, statement: Prepared, params: Mapping[str, Any]) -> list[Any]:
        rows: list[Any] = await self._read(statement, params, many=True)
        return rows

    async def get_group(self, *, store_id: int, group_id: int) -> CustomerGroup | None:
        return await self._by_id.get((store_id, group_id))

    async def count_groups(self, *, store_id: int) -> int:
        return int((await self._read_one(groups_sql.COUNT, {"store_id": store_id}))[0])

    async def list_groups(self, *, store_id: int, limit: int, skip: int) -> list[CustomerGroup]:
        rows = await self._read_all(groups_sql.LIST, {"store_id": store_id, "limit": limit, "offset": skip})
        return [groups_sql.group_from_row(row) for row in rows]

    async def list_groups_json(self, *, store_id: int, limit: int, skip: int) -> tuple[bytes, int]:
        # Written here, not by PostgreSQL: its string functions took more of the database's CPU
        # (~430 µs a page of 100, measured) than the rows and their conversion here (~250 µs), and
        # the database is the part of a deployment that does not grow by adding hosts.
        groups = await self.list_groups(store_id=store_id, limit=limit, skip=skip)
        # U+0085, U+2028 and U+2029 escaped as api/wire escapes them.
        return escaped(audit_sql.groups_json_bytes(groups)), len(groups)

    async def find_grant(self, *, token_hash: str) -> TokenGrant | None:
        return cred_sql.grant_from_row(await self._read_one(cred_sql.GRANT, {"token_hash": token_hash}))

    async def credentials_state(self) -> CredentialsState:
        return cred_sql.state_from_rows(await self._read_all(cred_sql.WATCHED, {}))

    async def take_slot(
        self,
        *,
        store_id: int,
        application_id: int,
        capacity: int,
        rate: float,
        now: float | None,
        wait_ms: int,
    ) -> tuple[float, bool]:
        # One statement in autocommit, durable like any other (PostgreSQL flushes concurrent
        # commits to its WAL together); wait_ms is SQLite's alone.
        params = bucket_sql.take_params(
            store_id=store_id, application_id=application_id, capacity=capacity, rate=rate, now=now
        )
        level, allowed = await self._read_one(bucket_sql.take_statement(self.name), params)
        return float(level), bool(allowed)

    async def charge_slots(
        self,
        *,
        store_id: int,
        application_id: int,
        amount: float,
        capacity: int,
        rate: float,
        now: float | None,
        wait_ms: int,
    ) -> None:
        params = bucket_sql.charge_params(
            store_id=store_id,
            application_id=application_id,
            amount=amount,
            capacity=capacity,
            rate=rate,
            now=now,
        )
        await self._read(bucket_sql.charge_statement(self.name), params, many=False, rows=False)

    async def write(self, plan: Plan[T]) -> T:
        if isinstance(plan, Alone):  # its one statement goes with those asked at the same moment
            made: T = await plan(_GatheringTx(self))
            return made

        async def in_transaction(conn: psycopg.AsyncConnection[Any]) -> T:
            async with conn.transaction():
                return await plan(PostgresTx(conn))

        return await self._retried(in_transaction)

    async def _alone(self, call: Callable[[PostgresTx], Awaitable[T]]) -> T:
        """One Tx call on a connection in autocommit mode: its one statement commits by itself."""
        return await self._retried(lambda conn: call(PostgresTx(conn)))

    async def _run_many(self, kind: Many, rows: Sequence[Mapping[str, object]]) -> list[int | None]:
        return await self._retried(lambda conn: run_many(conn, kind, rows))

    async def _retried(self, work: Callable[[psycopg.AsyncConnection[Any]], Awaitable[T]]) -> T:
        """``work`` on a connection of the pool, run again while it loses conflicts."""
        pool = await self._pool_now()
        lost: Exception | None = None
        for _run in range(1 + CONFLICT_RETRIES):
            try:
                with _Outages():
                    async with _Checked(self, pool) as conn:
                        return await work(conn)
            except Exception as exc:
                if not _runs_again(exc):
                    raise
                lost = exc
        # Lost every time: answered like a write the database could not take (try again shortly).
        raise DatabaseUnavailable(UNAVAILABLE) from lost


class _GatheringTx:
    """What an Alone plan writes with (storage/store.Tx). A create, an update_recorded and a
    delete_recorded join the process's gathered writes (storage/postgres/gathered.py); any other
    call is one statement of its own, in autocommit."""

    __slots__ = ("store",)

    def __init__(self, store: PostgresStore) -> None:
        self.store = store

    @property
    def customers(self) -> CustomerWrites:
        # An Alone plan makes one call: each of its statements commits by itself.
        return PostgresCustomerWrites(_Autocommit(self.store))

    async def create_group(self, *, store_id: int, actor: Actor, values: Mapping[str, object]) -> int:
        group_id = await self.store._gathered.ask(statements.CREATE, _create_row(store_id, actor, values))
        assert group_id is not None, "a create makes its group"
        return group_id

    async def update_recorded(
        self, *, store_id: int, actor: Actor, group_id: int, values: Mapping[str, object]
    ) -> bool:
        kind, row = _update_row(store_id, actor, group_id, values)
        return await self.store._gathered.ask(kind, row) is not None

    async def delete_recorded(self, *, store_id: int, actor: Actor, group_id: int) -> bool:
        return (
            await self.store._gathered.ask(statements.DELETE, _delete_row(store_id, actor, group_id))
            is not None
        )

    async def get_for_update(self, *, store_id: int, group_id: int) -> CustomerGroup | None:
        return await self.store._alone(lambda tx: tx.get_for_update(store_id=store_id, group_id=group_id))

    async def get_many_for_update(
        self, *, store_id: int, group_ids: Sequence[int]
    ) -> dict[int, CustomerGroup]:
        return await self.store._alone(
            lambda tx: tx.get_many_for_update(store_id=store_id, group_ids=group_ids)
        )

    async def update_group(self, *, store_id: int, group_id: int, values: Mapping[str, object]) -> None:
        await self.store._alone(
            lambda tx: tx.update_group(store_id=store_id, group_id=group_id, values=values)
        )

    async def update_groups(
        self, *, store_id: int, changes: Sequence[tuple[int, Mapping[str, object]]]
    ) -> None:
        await self.store._alone(lambda tx: tx.update_groups(store_id=store_id, changes=changes))

    async def update_group_if(
        self,
        *,
        store_id: int,
        expected: CustomerGroup,
        values: Mapping[str, object],
        entry: Mapping[str, object],
    ) -> bool:
        return await self.store._alone(
            lambda tx: tx.update_group_if(store_id=store_id, expected=expected, values=values, entry=entry)
        )

    async def delete_group(self, *, store_id: int, group_id: int) -> CustomerGroup | None:
        return await self.store._alone(lambda tx: tx.delete_group(store_id=store_id, group_id=group_id))

    async def record(self, *, store_id: int, actor: Actor, changes: Sequence[Change]) -> None:
        await self.store._alone(lambda tx: tx.record(store_id=store_id, actor=actor, changes=changes))

    async def record_entries(self, entries: Sequence[Mapping[str, object]]) -> None:
        await self.store._alone(lambda tx: tx.record_entries(entries))

    async def claim_key(
        self,
        *,
        store_id: int,
        application_id: int,
        key: str,
        fingerprint: str,
        now: float,
        expired_before: float,
    ) -> tuple[str, int, bytes] | None:
        return await self.store._alone(
            lambda tx: tx.claim_key(
                store_id=store_id,
                application_id=application_id,
                key=key,
                fingerprint=fingerprint,
                now=now,
                expired_before=expired_before,
            )
        )

    async def finish_key(
        self, *, store_id: int, application_id: int, key: str, status: int, body: bytes
    ) -> None:
        await self.store._alone(
            lambda tx: tx.finish_key(
                store_id=store_id, application_id=application_id, key=key, status=status, body=body
            )
        )

    async def prune_keys(self, *, expired_before: float) -> int:
        return await self.store._alone(lambda tx: tx.prune_keys(expired_before=expired_before))


def _runs_again(exc: BaseException) -> bool:
    """Whether a write that raised ``exc`` certainly left nothing behind and may run again: it
    lost a deadlock or serialisation conflict (its transaction was rolled back), or its
    connection had been ended by the server (57P01, "terminating connection due to
    administrator command": a backend ended that way runs nothing it is sent afterwards).
    Any other broken connection may have lost the answer to a COMMIT that was made: a 503."""
    cause = exc.__cause__ if isinstance(exc, DatabaseUnavailable) else exc
    if cause is None:
        return False
    return dialect.is_conflict(cause) or isinstance(cause, psycopg.errors.AdminShutdown)


def _get_many(table: str, id_column: str, columns: Sequence[str]) -> Prepared:
    """Rows of ``table`` by (store, id), any number in one statement: a join to the keys, each
    found through the primary key; the store last."""
    return Prepared(
        sa.text(
            "SELECT " + ", ".join(f"c.{column}" for column in columns) + ", c.store_id "
            "FROM unnest(CAST(:stores AS INTEGER[]), CAST(:ids AS INTEGER[])) AS k(store_id, id) "
            f"JOIN {table} AS c ON c.store_id = k.store_id AND c.{id_column} = k.id"
        )
    )


_GET_GROUPS = _get_many("customer_groups", "group_id", [f.column for f in FIELDS])
_GET_CUSTOMERS = _get_many("customers", "customer_id", [c.name for c in customers_sql.SELECTED])


def _group(row: Sequence[Any]) -> tuple[Key, CustomerGroup]:
    return (row[-1], row[0]), groups_sql.group_from_row(row[:-1])


def _customer(row: Sequence[Any]) -> tuple[Key, Customer]:
    return (row[-1], row[0]), customers_sql.customer_from_row(row[:-1])


class _CoalescedCustomers(CustomerReads):
    """CustomerReads whose get (and so get_json) goes through the store's coalesced reads."""

    __slots__ = ("by_id",)

    def __init__(self, run: _Reads, by_id: _Coalesced[Customer]) -> None:
        super().__init__(run)
        self.by_id = by_id

    async def get(self, *, store_id: int, customer_id: int) -> Customer | None:
        return await self.by_id.get((store_id, customer_id))


MAX_COALESCED = 500  # keys per statement
READS_IN_FLIGHT = 2  # coalesced reads a process has at the database at once


V = TypeVar("V")
Key = tuple[int, int]  # (store, id)


class _Coalesced(Generic[V]):
    """GETs by id that a process's requests ask at one moment, read in one statement: groups,
    and customers (one coalescer each). ``statement`` takes the arrays ``stores`` and ``ids``;
    ``decode`` turns one of its rows into its key and its object.

    Every read by id costs a round trip, and each round trip costs the event loop a wait on the
    socket and psycopg its machinery (~60 µs of CPU, measured), more than the row. So reads go to
    the database in batches, one statement, one connection of the pool and one wait for each:
    the reads asked while the event loop runs one round of callbacks wait for its end
    (call_soon), and while READS_IN_FLIGHT batches are out, new reads gather into the next one,
    which leaves when a batch comes back. A busy process reads many at a time, the farther the
    database the more; an idle one reads one, a callback later. Nothing is kept: each read is
    answered by a statement sent after it was asked, so it sees every write committed before it.
    A batch that fails because the database is unavailable fails the reads gathered behind it
    too, at once, rather than each waiting for the database again in turn."""

    __slots__ = ("_in_flight", "_pending", "_scheduled", "_tasks", "decode", "statement", "store")

    def __init__(
        self, store: PostgresStore, statement: Prepared, decode: Callable[[Sequence[Any]], tuple[Key, V]]
    ) -> None:
        self.store, self.statement, self.decode = store, statement, decode
        self._pending: dict[Key, list[asyncio.Future[V | None]]] = {}
        self._scheduled = False
        self._in_flight = 0
        self._tasks: set[asyncio.Task[None]] = set()  # the event loop keeps only weak references

    async def get(self, key: Key) -> V | None:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[V | None] = loop.create_future()
        self._pending.setdefault(key, []).append(future)
        if not self._scheduled and self._in_flight < READS_IN_FLIGHT:
            self._scheduled = True
            loop.call_soon(self._flush, loop)
        return await future

    def _flush(self, loop: asyncio.AbstractEventLoop) -> None:
        self._scheduled = False
        while self._pending and self._in_flight < READS_IN_FLIGHT:
            keys = list(self._pending)[:MAX_COALESCED]
            batch = {key: self._pending.pop(key) for key in keys}
            self._in_flight += 1
            task = loop.create_task(self._read(loop, batch))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _read(
        self,
        loop: asyncio.AbstractEventLoop,
        batch: dict[Key, list[asyncio.Future[V | None]]],
    ) -> None:
        try:
            params = {"stores": [key[0] for key in batch], "ids": [key[1] for key in batch]}
            rows = await self.store._read_all(self.statement, params)
        except BaseException as exc:  # every read of the batch fails with it (503, or cancelled)
            if isinstance(exc, DatabaseUnavailable):  # and those gathered meanwhile: the same outage
                gathered, self._pending = self._pending, {}
                for key, futures in gathered.items():
                    batch.setdefault(key, []).extend(futures)
            _settle(batch, exc)
            if not isinstance(exc, Exception):
                raise
            return
        finally:
            self._in_flight -= 1
            if self._pending and not self._scheduled:
                self._scheduled = True
                loop.call_soon(self._flush, loop)
        found = dict(self.decode(row) for row in rows)
        for key, futures in batch.items():
            value = found.get(key)
            for future in futures:
                if not future.done():
                    future.set_result(value)


def _settle(batch: Mapping[Key, list[asyncio.Future[Any]]], exc: BaseException) -> None:
    for futures in batch.values():
        for future in futures:
            if not future.done():
                future.set_exception(exc)


class _Checked:
    """``async with _Checked(self, pool) as conn``: a connection of the pool that has not been ended
    while it waited there. An idle connection is sent nothing by a healthy server, so one whose
    socket has something to read holds the server's goodbye (PostgreSQL restarted, or the
    backend was terminated) or was closed under it: it is thrown away and another taken. One
    poll() per request, where asking the server (the pool's own ``check``) would cost a round
    trip."""

    __slots__ = ("conn", "pool", "store")

    def __init__(self, store: PostgresStore, pool: AsyncConnectionPool[psycopg.AsyncConnection[Any]]) -> None:
        self.store = store
        self.pool = pool
        self.conn: psycopg.AsyncConnection[Any] | None = None

    async def __aenter__(self) -> psycopg.AsyncConnection[Any]:
        pool = self.pool
        for _ in range(pool.max_size):
            conn = await pool.getconn(DOWN_WAIT_SECONDS if self.store.down else None)
            if not _ended(conn):
                self.conn = conn
                return conn
            await conn.close()
            await pool.putconn(conn)  # closed: the pool opens another in its place
        self.conn = await pool.getconn(DOWN_WAIT_SECONDS if self.store.down else None)  # fails itself
        return self.conn

    async def __aexit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: object
    ) -> None:
        conn, self.conn = self.conn, None
        if conn is not None:
            await self.pool.putconn(conn)


_POLL = select.poll


def _ended(conn: psycopg.AsyncConnection[Any]) -> bool:
    """Whether an idle connection has been ended by the server or the network: its socket is
    readable (a message or EOF waiting) or in error."""
    try:
        fd = conn.fileno()
    except psycopg.OperationalError:  # closed already
        return True
    poller = _POLL()
    poller.register(fd, select.POLLIN | select.POLLERR | select.POLLHUP)
    return bool(poller.poll(0))


class _Outages:
    """Driver errors that mean an outage (dialect.is_unavailable) become DatabaseUnavailable;
    a lost conflict (the caller runs the write again) and a plan's own errors (NotFound, ...)
    pass as they are. A class, not @contextmanager: it is on every request's path."""

    def __enter__(self) -> None:
        return None

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: object) -> None:
        if (
            isinstance(exc, Exception)
            and not isinstance(exc, DatabaseUnavailable)
            and not dialect.is_conflict(exc)
            and dialect.is_unavailable(exc)
        ):
            raise DatabaseUnavailable(UNAVAILABLE) from exc


class _Reads:
    """storage/customers.Executor for reads: one statement on a pooled connection, in autocommit."""

    __slots__ = ("store",)

    def __init__(self, store: PostgresStore) -> None:
        self.store = store

    async def one(self, statement: Prepared, params: Mapping[str, Any]) -> Row | None:
        row: Row | None = await self.store._read_one(statement, params)
        return row

    async def all(self, statement: Prepared, params: Mapping[str, Any]) -> list[Row]:
        return await self.store._read_all(statement, params)


class _Autocommit:
    """storage/customers.WriteExecutor for an Alone plan: each call one statement (or one batch
    of entries) on a pooled connection in autocommit, run again when it loses a conflict."""

    __slots__ = ("store",)

    def __init__(self, store: PostgresStore) -> None:
        self.store = store

    async def one(self, statement: Prepared, params: Mapping[str, Any]) -> Row | None:
        return await self.store._alone(lambda tx: tx.one(statement, params))

    async def all(self, statement: Prepared, params: Mapping[str, Any]) -> list[Row]:
        return await self.store._alone(lambda tx: tx.all(statement, params))

    async def change(self, statement: Prepared, params: Mapping[str, Any]) -> int:
        return await self.store._alone(lambda tx: tx.change(statement, params))

    async def record_entries(self, entries: Sequence[Mapping[str, object]]) -> None:
        await self.store._alone(lambda tx: tx.record_entries(entries))
