"""The store on SQLite (storage/store.py's interface).

SQLite is a library in this process: a statement takes microseconds and never waits for a
network, so its calls run right on the event loop, synchronously, on the thread's long-lived
connections (storage/database.py). The methods are ``async`` only to share one interface with
PostgreSQL's store; none of them suspends.

Writes go through the process's group commit (group_commit.py): the writes a process holds at one
moment share one transaction, since only one connection of all processes can write at a time. A
plan is a coroutine function, run over a SqliteTx whose operations are synchronous: it runs to
its end inside the batch's callback without ever suspending (``_drive``), so no other request's
code runs inside the batch's transaction.

Where SQLite can write the API's JSON itself, it does: a list page (list_groups_json) and the
audit log's before and after of a create or an update (audit.record_create, record_update),
from the row, in C."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Coroutine, Hashable, Mapping, Sequence
from typing import Any, TypeVar

from sqlalchemy.engine import Connection

from cartgroups.model import CustomerGroup
from cartgroups.storage import audit as audit_sql
from cartgroups.storage import credentials as cred_sql
from cartgroups.storage import customer_groups as groups_sql
from cartgroups.storage import idempotency as key_sql
from cartgroups.storage import rate_limits as bucket_sql
from cartgroups.storage.audit import Actor, Change
from cartgroups.storage.commits import Commits
from cartgroups.storage.credentials import CredentialsState, TokenGrant
from cartgroups.storage.customers import CustomerWrites, Duplicate, Row
from cartgroups.storage.database import Database
from cartgroups.storage.fastpath import Prepared
from cartgroups.storage.sqlite.customers import SqliteCustomerReads
from cartgroups.storage.sqlite.group_commit import WriteBatcher
from cartgroups.storage.store import Plan

T = TypeVar("T")

NOT_SYNCHRONOUS = "a plan awaited something that suspends, inside a SQLite write transaction"


def _drive(coroutine: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine that never suspends (a plan over a SqliteTx) to its end, here and now,
    and return its result (or raise what it raised)."""
    try:
        coroutine.send(None)
    except StopIteration as done:
        result: T = done.value
        return result
    coroutine.close()
    raise RuntimeError(NOT_SYNCHRONOUS)


def _unique(
    run: Callable[[Connection, Mapping[str, Any]], Any], conn: Connection, params: Mapping[str, Any]
) -> Any:
    """``run(conn, params)``, a unique violation raised as storage/customers.Duplicate."""
    try:
        return run(conn, params)
    except sqlite3.IntegrityError as exc:
        if "UNIQUE" not in str(exc):
            raise
        raise Duplicate(str(exc)) from None


class SqliteTx:
    """A plan's view of a SQLite write transaction (storage/store.Tx): the batch's connection."""

    __slots__ = ("conn",)

    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    @property
    def customers(self) -> CustomerWrites:
        return CustomerWrites(self)

    # storage/customers.WriteExecutor, on the transaction's connection (and record_entries below)
    async def one(self, statement: Prepared, params: Mapping[str, Any]) -> Row | None:
        row: Row | None = _unique(statement.run, self.conn, params).fetchone()
        return row

    async def all(self, statement: Prepared, params: Mapping[str, Any]) -> list[Row]:
        rows: list[Row] = _unique(statement.run, self.conn, params).fetchall()
        return rows

    async def change(self, statement: Prepared, params: Mapping[str, Any]) -> int:
        return int(_unique(statement.run, self.conn, params).rowcount)

    async def create_group(self, *, store_id: int, actor: Actor, values: Mapping[str, object]) -> int:
        group_id = groups_sql.insert_group(self.conn, store_id=store_id, values=values)
        audit_sql.record_create(self.conn, store_id=store_id, actor=actor, group_id=group_id)
        return group_id

    async def get_for_update(self, *, store_id: int, group_id: int) -> CustomerGroup | None:
        return groups_sql.lock_group(self.conn, store_id=store_id, group_id=group_id)

    async def get_many_for_update(
        self, *, store_id: int, group_ids: Sequence[int]
    ) -> dict[int, CustomerGroup]:
        return groups_sql.lock_groups(self.conn, store_id=store_id, group_ids=group_ids)

    async def update_group(self, *, store_id: int, group_id: int, values: Mapping[str, object]) -> None:
        groups_sql.update_group(self.conn, store_id=store_id, group_id=group_id, values=values)

    async def update_groups(
        self, *, store_id: int, changes: Sequence[tuple[int, Mapping[str, object]]]
    ) -> None:
        for group_id, values in changes:  # in-process: one statement each costs microseconds
            groups_sql.update_group(self.conn, store_id=store_id, group_id=group_id, values=values)

    async def update_group_if(
        self,
        *,
        store_id: int,
        expected: CustomerGroup,
        values: Mapping[str, object],
        entry: Mapping[str, object],
    ) -> bool:
        if not groups_sql.update_group_if(self.conn, store_id=store_id, expected=expected, values=values):
            return False
        audit_sql.record_entries(self.conn, [entry])
        return True

    async def update_recorded(
        self, *, store_id: int, actor: Actor, group_id: int, values: Mapping[str, object]
    ) -> bool:
        # The entry first, its before and after written by SQLite from the row as it is and the
        # new values: nothing is read into Python.
        if not audit_sql.record_update(
            self.conn, store_id=store_id, actor=actor, group_id=group_id, values=values
        ):
            return False
        groups_sql.update_group(self.conn, store_id=store_id, group_id=group_id, values=values)
        return True

    async def delete_group(self, *, store_id: int, group_id: int) -> CustomerGroup | None:
        return groups_sql.delete_group(self.conn, store_id=store_id, group_id=group_id)

    async def delete_recorded(self, *, store_id: int, actor: Actor, group_id: int) -> bool:
        before = groups_sql.delete_group(self.conn, store_id=store_id, group_id=group_id)
        if before is None:
            return False
        audit_sql.record(
            self.conn, store_id=store_id, actor=actor, changes=[Change("delete", group_id, before, None)]
        )
        return True

    async def record(self, *, store_id: int, actor: Actor, changes: Sequence[Change]) -> None:
        audit_sql.record(self.conn, store_id=store_id, actor=actor, changes=changes)

    async def record_entries(self, entries: Sequence[Mapping[str, object]]) -> None:
        audit_sql.record_entries(self.conn, entries)

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
        return key_sql.claim(
            self.conn,
            store_id=store_id,
            application_id=application_id,
            key=key,
            fingerprint=fingerprint,
            now=now,
            expired_before=expired_before,
        )

    async def finish_key(
        self, *, store_id: int, application_id: int, key: str, status: int, body: bytes
    ) -> None:
        key_sql.finish(
            self.conn, store_id=store_id, application_id=application_id, key=key, status=status, body=body
        )

    async def prune_keys(self, *, expired_before: float) -> int:
        return key_sql.prune(self.conn, expired_before=expired_before)


class SqliteStore:
    """storage/store.Store on SQLite. One serves one thread's event loop: its reads use that
    thread's read connection, and look() that connection's data version."""

    name = "sqlite"
    exact_changes = True

    def __init__(self, db: Database) -> None:
        self.db = db
        self.commits = Commits(db)
        self.batcher = WriteBatcher(db)
        self.customers = SqliteCustomerReads(_Reads(db))

    async def open(self) -> None:
        return None

    async def close(self) -> None:
        return None

    def look(self) -> Hashable:
        return self.commits.look()

    async def get_group(self, *, store_id: int, group_id: int) -> CustomerGroup | None:
        with self.db.read() as conn:
            return groups_sql.get_group(conn, store_id=store_id, group_id=group_id)

    async def count_groups(self, *, store_id: int) -> int:
        with self.db.read() as conn:
            return groups_sql.count_groups(conn, store_id=store_id)

    async def list_groups(self, *, store_id: int, limit: int, skip: int) -> list[CustomerGroup]:
        with self.db.read() as conn:
            return groups_sql.list_groups(conn, store_id=store_id, limit=limit, skip=skip)

    async def list_groups_json(self, *, store_id: int, limit: int, skip: int) -> tuple[bytes, int]:
        with self.db.read() as conn:
            return groups_sql.list_groups_json(conn, store_id=store_id, limit=limit, skip=skip)

    async def find_grant(self, *, token_hash: str) -> TokenGrant | None:
        with self.db.read() as conn:
            return cred_sql.find_grant(conn, token_hash=token_hash)

    async def credentials_state(self) -> CredentialsState:
        with self.db.read() as conn:
            return cred_sql.credentials_state(conn)

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
        with self.db.write_volatile() as conn:  # one statement, outside the group commit
            return bucket_sql.take(
                conn,
                store_id=store_id,
                application_id=application_id,
                capacity=capacity,
                rate=rate,
                now=now,
                wait_ms=wait_ms,
            )

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
        with self.db.write_volatile() as conn:
            bucket_sql.charge(
                conn,
                store_id=store_id,
                application_id=application_id,
                amount=amount,
                capacity=capacity,
                rate=rate,
                now=now,
                wait_ms=wait_ms,
            )

    async def write(self, plan: Plan[T]) -> T:
        return await self.batcher.run(lambda conn: _drive(plan(SqliteTx(conn))))


class _Reads:
    """storage/customers.Executor for reads: the thread's read connection."""

    __slots__ = ("db",)

    def __init__(self, db: Database) -> None:
        self.db = db

    async def one(self, statement: Prepared, params: Mapping[str, Any]) -> Row | None:
        with self.db.read() as conn:
            row: Row | None = statement.run(conn, params).fetchone()
            return row

    async def all(self, statement: Prepared, params: Mapping[str, Any]) -> list[Row]:
        with self.db.read() as conn:
            rows: list[Row] = statement.run(conn, params).fetchall()
            return rows
