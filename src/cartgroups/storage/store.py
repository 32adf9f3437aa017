"""The store: what the service asks of one database, as one interface with one implementation
per database, chosen once when the server starts (open_store).

- storage/sqlite/store.py: SQLite, in-process and microseconds fast. Its calls run on the event
  loop without suspending it, and its writes go through the process's group commit, since one
  connection of all processes can write at a time.
- storage/postgres/store.py: PostgreSQL, possibly on another host, through psycopg's async API
  and a connection pool, so a request waiting for the database never holds up another. A write
  is a transaction of its own on a pooled connection; a write of one operation (Alone) is one
  statement that commits by itself, together with those asked at the same moment.

Both are async, so the service is written once. A write is a plan (service/writes.Plan):
``await store.write(plan)`` runs ``await plan(tx)`` in a transaction and returns what it
returned; ``tx`` (Tx below) is how the plan changes the database, and nothing else is in that
transaction: the transaction is passed, never found through the thread or the task.

The rest of the code (migrations, the CLI, backups, the audit log's background work) uses
storage/database.Database, the synchronous handle on the same database, for work that is not on
a request's path; /healthz and the console's and the sandbox's services use it too, on a thread
of their own (offloop.py), never on the event loop."""

from __future__ import annotations

from collections.abc import Callable, Coroutine, Hashable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Generic, Protocol, TypeVar

from cartgroups.model import CustomerGroup
from cartgroups.storage.audit import Actor, Change
from cartgroups.storage.credentials import CredentialsState, TokenGrant
from cartgroups.storage.customers import CustomerReads, CustomerWrites

if TYPE_CHECKING:
    from cartgroups.storage.database import Database

T = TypeVar("T")


class Tx(Protocol):
    """A write transaction, as a plan receives it. Every operation takes the store, so one store
    never sees another's rows. Values are column values (service/validation.group_values)."""

    @property
    def customers(self) -> CustomerWrites:
        """Customers' writes in this transaction (storage/customers.py)."""
        ...

    async def create_group(self, *, store_id: int, actor: Actor, values: Mapping[str, object]) -> int:
        """Insert a group with the store's next id (ids are never handed out twice) and its audit
        entry; returns the id."""
        ...

    async def get_for_update(self, *, store_id: int, group_id: int) -> CustomerGroup | None:
        """Read one group for changing it: no other transaction changes it until this one ends."""
        ...

    async def get_many_for_update(
        self, *, store_id: int, group_ids: Sequence[int]
    ) -> dict[int, CustomerGroup]:
        """Read and lock the groups of ``group_ids`` that exist, in ascending id order (the
        order every writer locks in)."""
        ...

    async def update_group(self, *, store_id: int, group_id: int, values: Mapping[str, object]) -> None:
        """Change the given columns of one group, which this transaction has read for update."""
        ...

    async def update_groups(
        self, *, store_id: int, changes: Sequence[tuple[int, Mapping[str, object]]]
    ) -> None:
        """update_group for many groups (a bulk update's), in order: ``(group id, values)``
        each, a group possibly more than once; all read for update by this transaction."""
        ...

    async def update_group_if(
        self,
        *,
        store_id: int,
        expected: CustomerGroup,
        values: Mapping[str, object],
        entry: Mapping[str, object],
    ) -> bool:
        """Change ``expected``'s group only if every column still holds what ``expected`` says
        (decimals compared with their scale), and then write ``entry`` (audit.entry) too; False,
        writing nothing, when it does not."""
        ...

    async def update_recorded(
        self, *, store_id: int, actor: Actor, group_id: int, values: Mapping[str, object]
    ) -> bool:
        """Change the given columns of one group and record the change (before and after) in the
        audit log; False, writing nothing, when the store has no such group."""
        ...

    async def delete_group(self, *, store_id: int, group_id: int) -> CustomerGroup | None:
        """Delete one group and return it as it was (None: no such group). Its id is not handed
        out again."""
        ...

    async def delete_recorded(self, *, store_id: int, actor: Actor, group_id: int) -> bool:
        """delete_group, and record the deletion (its before) in the audit log; False, writing
        nothing, when the store has no such group."""
        ...

    async def record(self, *, store_id: int, actor: Actor, changes: Sequence[Change]) -> None:
        """Write one audit entry per change, all with the same time."""
        ...

    async def record_entries(self, entries: Sequence[Mapping[str, object]]) -> None:
        """Write entries made by audit.entry(), all with the same time: now."""
        ...

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
        """Take an Idempotency-Key for this transaction (storage/idempotency.claim)."""
        ...

    async def finish_key(
        self, *, store_id: int, application_id: int, key: str, status: int, body: bytes
    ) -> None:
        """Store the response for the key claim_key took in this transaction."""
        ...

    async def prune_keys(self, *, expired_before: float) -> int:
        """Delete every key first used at or before ``expired_before``; how many went."""
        ...


# A prepared write: ``await plan(tx)`` makes its change in the transaction given and returns its
# result. It may run more than once (a transaction that lost a conflict, or a batch run again with
# savepoints), so it does nothing but database work and returns its result.
Plan = Callable[[Tx], Coroutine[Any, Any, T]]


@dataclass(frozen=True, slots=True)
class Alone(Generic[T]):
    """A plan that makes exactly one Tx call, whose effect is atomic by itself (every Tx
    operation is): a store may run it without a transaction around it. PostgreSQL then sends
    one statement that commits by itself, one round trip instead of three (BEGIN, it, COMMIT)."""

    plan: Plan[T]

    def __call__(self, tx: Tx) -> Coroutine[Any, Any, T]:
        return self.plan(tx)


class Store(Protocol):
    """One database, as the service uses it on the request path."""

    name: str  # "sqlite" or "postgresql"
    # Whether look() tells exactly when something was committed (then answers may be kept
    # until it does: storage/read_cache.py).
    exact_changes: bool

    async def open(self) -> None:
        """Get ready on the running event loop (PostgreSQL: open the pool). Idempotent."""
        ...

    async def close(self) -> None:
        """Give back what open() took."""
        ...

    @property
    def customers(self) -> CustomerReads:
        """Customers' reads (storage/customers.py)."""
        ...

    async def get_group(self, *, store_id: int, group_id: int) -> CustomerGroup | None: ...

    async def count_groups(self, *, store_id: int) -> int: ...

    async def list_groups(self, *, store_id: int, limit: int, skip: int) -> list[CustomerGroup]:
        """Groups in ascending id order, ``skip`` of them left out first (0-based)."""
        ...

    async def list_groups_json(self, *, store_id: int, limit: int, skip: int) -> tuple[bytes, int]:
        """Like list_groups, the page already written as the API's JSON array (the bytes
        api/wire.groups_body writes), with how many groups it holds."""
        ...

    async def find_grant(self, *, token_hash: str) -> TokenGrant | None:
        """storage/credentials.find_grant: one statement, one row, whether the token exists or not."""
        ...

    async def credentials_state(self) -> CredentialsState:
        """storage/credentials.credentials_state: the revocation count and the generation."""
        ...

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
        """storage/rate_limits.take: one request into the shared leaky bucket if it fits; the
        bucket's level and whether it fitted. Its effect may be lost if the database crashes.
        ``wait_ms``: how long SQLite waits for its one writer's lock before raising Busy
        (PostgreSQL has no such lock)."""
        ...

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
        """storage/rate_limits.charge: ``amount`` requests into the bucket, fitting or not."""
        ...

    async def write(self, plan: Plan[T]) -> T:
        """Run ``plan`` in a write transaction and return its result once committed, or raise
        what it raised with nothing of it committed. A database that cannot take the write
        raises DatabaseUnavailable (a 503)."""
        ...

    def look(self) -> Hashable:
        """A token that changes whenever anything was committed since the last look, or None
        where the database has no cheap, exact way to tell (storage/commits.py)."""
        ...


def open_store(db: Database, *, pool_size: int | None = None) -> Store:
    """The store for ``db``'s database: the one place that chooses an implementation."""
    if db.dialect_name == "sqlite":
        from cartgroups.storage.sqlite.store import SqliteStore

        return SqliteStore(db)
    from cartgroups.storage.postgres.store import PostgresStore

    return PostgresStore(db, pool_size=pool_size)


__all__ = ["Alone", "Plan", "Store", "Tx", "open_store"]
