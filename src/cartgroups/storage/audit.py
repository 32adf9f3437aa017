"""SQL for the audit log: one row per change of a resource (a customer group, a customer), written
by the caller inside the transaction that makes the change, so that neither exists without the
other. An entry names its resource by its wire name (GROUP, CUSTOMER) and its item by its id.

A store's entries are found through audit_log_by_store, an index of (store, time, id) kept apart
and brought up to date in bulk (index_new_entries, every second or so in each server process)
rather than by every change; see tables.py for why. The entries not indexed yet are those above
the "audit-indexed" counter: readers and deleters take them from audit_log by id, so what they
see does not depend on whether indexing has run.

Times are UTC. SQLite keeps them as ``YYYY-MM-DD HH:MM:SS.ffffff`` text, which sorts and compares
like the times themselves; PostgreSQL as ``timestamptz``."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

import orjson
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from cartgroups.model import FIELDS, CustomerGroup, decimal_text
from cartgroups.storage import customer_groups as groups_sql
from cartgroups.storage import dialect
from cartgroups.storage.fastpath import Prepared, bind_now, bind_time
from cartgroups.storage.tables import audit_log as a
from cartgroups.storage.tables import audit_log_by_store as b
from cartgroups.storage.tables import change_counters as counters
from cartgroups.storage.tables import maintenance as m

Action = Literal["create", "update", "delete"]
ACTIONS: tuple[Action, ...] = ("create", "update", "delete")

# The resources whose changes are recorded, as audit_log.resource holds them (their wire names).
GROUP = "CustomerGroup"
CUSTOMER = "Customer"
RESOURCES: tuple[str, ...] = (GROUP, CUSTOMER)

_NAMES = tuple(f.wire for f in FIELDS)
_MONEY = [i for i, f in enumerate(FIELDS) if f.kind == "decimal"]
_WRITTEN = [c for c in a.columns if c.name != "id"]
# Run on the driver like the change itself: one statement for one change; for a bulk PUT's many,
# one batch (see Prepared.run_many: one round trip to PostgreSQL, one prepared statement in SQLite).
INSERT = Prepared(sa.insert(a).values({c.name: sa.bindparam(c.name) for c in _WRITTEN}))


@dataclass(frozen=True, slots=True)
class Actor:
    """Who made a change: the token and its application (None for changes not made through the API)."""

    token_id: int | None
    application: str | None


@dataclass(frozen=True, slots=True)
class Change:
    """One change to record. ``before`` is None for a create, ``after`` None for a delete."""

    action: Action
    group_id: int
    before: CustomerGroup | None
    after: CustomerGroup | None
    bulk: bool = False


@dataclass(frozen=True, slots=True)
class Entry:
    """One recorded change, as read back: of the item ``item_id`` of ``resource`` (GROUP,
    CUSTOMER). ``before``/``after`` are the item's wire JSON text."""

    id: int
    at: datetime
    token_id: int | None
    application: str | None
    action: str
    bulk: bool
    resource: str
    item_id: int
    before: str | None
    after: str | None


def group_json(group: CustomerGroup | None) -> str | None:
    """The group as the API writes it: wire names in wire order, MinimumOrder as an exact decimal."""
    return None if group is None else orjson.dumps(_group_object(group)).decode()


def groups_json_bytes(groups: Iterable[CustomerGroup]) -> bytes:
    """A JSON array of group_json's objects, in UTF-8, written in one call (U+0085, U+2028 and
    U+2029 raw, as orjson writes them)."""
    return orjson.dumps([_group_object(group) for group in groups])


def _group_object(group: CustomerGroup) -> dict[str, Any]:
    values: list[Any] = list(group)
    for i in _MONEY:
        values[i] = orjson.Fragment(decimal_text(values[i]))
    return dict(zip(_NAMES, values, strict=True))


def now() -> datetime:
    return datetime.now(UTC)


def utc(value: datetime) -> datetime:
    """A time read back from either database, as an aware UTC datetime (SQLite's are naive UTC)."""
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def entry_for(
    store_id: int,
    actor: Actor,
    *,
    resource: str,
    action: Action,
    item_id: int,
    before: str | None,
    after: str | None,
    bulk: bool = False,
) -> dict[str, object]:
    """The entry for one change of any resource (GROUP, CUSTOMER), but its time: what
    record_entries writes. ``before``/``after`` are the item's wire JSON text (None before a
    create and after a delete), written as they are."""
    return {
        "store_id": store_id,
        "token_id": actor.token_id,
        "application": actor.application,
        "action": action,
        "bulk": bulk,
        "resource": resource,
        "item_id": item_id,
        "before_values": before,
        "after_values": after,
    }


def entry(store_id: int, actor: Actor, change: Change) -> dict[str, object]:
    """The entry for one change of a customer group, but its time: what record_entries writes.
    Made before the write transaction when it can be (the JSON is most of the work), to keep
    that transaction short."""
    return entry_for(
        store_id,
        actor,
        resource=GROUP,
        action=change.action,
        item_id=change.group_id,
        before=group_json(change.before),
        after=group_json(change.after),
        bulk=change.bulk,
    )


def record(
    conn: Connection,
    *,
    store_id: int,
    actor: Actor,
    changes: Sequence[Change],
    at: datetime | None = None,
) -> None:
    """Write one entry per change, all with the same time. Call inside the change's transaction."""
    record_entries(conn, [entry(store_id, actor, change) for change in changes], at=at)


def record_entries(
    conn: Connection, entries: Sequence[Mapping[str, object]], at: datetime | None = None
) -> None:
    """Write entries made by entry() or entry_for(), all with the same time (now, unless given).
    Call inside the changes' transaction."""
    if not entries:
        return
    when = bind_time(conn, utc(at)) if at is not None else bind_now(conn)
    if len(entries) == 1:
        INSERT.run(conn, {**entries[0], "at": when})
    else:
        INSERT.run_many(conn, [{**e, "at": when} for e in entries])


# What an entry written from the row (_from_row) takes for each column but its action and JSON.
_ROW_SOURCES = {
    "store_id": ":store_id",
    "at": ":at",
    "token_id": ":token_id",
    "application": ":application",
    "bulk": "0",
    "resource": f"'{GROUP}'",
    "item_id": "group_id",
}
_FROM_ROW: dict[tuple[Action, frozenset[str]], Prepared] = {}  # by action and columns changed


def _from_row(action: Action, columns: frozenset[str]) -> Prepared:
    """SQLite: INSERT ... SELECT an entry of ``action`` from the group's row, its JSON written by
    SQLite (customer_groups.json_object_sql), the after of an update with ``columns`` taken
    from the update's parameters."""
    statement = _FROM_ROW.get((action, columns))
    if statement is None:
        sources = {
            **_ROW_SOURCES,
            "action": f"'{action}'",
            "before_values": "NULL" if action == "create" else groups_sql.json_object_sql(),
            "after_values": groups_sql.json_object_sql(columns),
        }
        statement = _FROM_ROW[action, columns] = Prepared(
            sa.text(
                f"INSERT INTO audit_log ({', '.join(c.name for c in _WRITTEN)}) "
                f"SELECT {', '.join(sources[c.name] for c in _WRITTEN)} "
                "FROM customer_groups WHERE store_id = :store_id AND group_id = :group_id"
            )
        )
    return statement


def _row_params(conn: Connection, store_id: int, actor: Actor, group_id: int) -> dict[str, object]:
    return {
        "store_id": store_id,
        "group_id": group_id,
        "token_id": actor.token_id,
        "application": actor.application,
        "at": bind_now(conn),
    }


def record_create(conn: Connection, *, store_id: int, actor: Actor, group_id: int) -> None:
    """SQLite: write the entry of the group just created, its after written by SQLite from the
    row. Call inside the change's transaction, after the insert."""
    _from_row("create", frozenset()).run(conn, _row_params(conn, store_id, actor, group_id))


def record_update(
    conn: Connection, *, store_id: int, actor: Actor, group_id: int, values: Mapping[str, object]
) -> bool:
    """SQLite: write the entry of an update of ``values`` (column -> new value) about to be made
    to one group, with the group's before and after written by SQLite from the row itself, so
    that nothing is read first. False, writing nothing, when the store has no such group.
    Call inside the change's transaction, then make the change (customer_groups.update_group)."""
    params = groups_sql.new_params(conn, values)
    params.update(_row_params(conn, store_id, actor, group_id))
    return bool(_from_row("update", frozenset(values)).run(conn, params).rowcount == 1)


# The change counter: the highest id audit_log_by_store holds; entries above it are not in it
# yet. Entries get ever higher ids (SQLite's AUTOINCREMENT, PostgreSQL's sequence), so a new
# entry is always above it, whatever was deleted.
INDEXED = "audit-indexed"
_INDEXED_UPTO = sa.func.coalesce(
    sa.select(counters.c.value).where(counters.c.name == INDEXED).scalar_subquery(), 0
)
_HIGHEST_ID = sa.func.coalesce(sa.select(sa.func.max(a.c.id)).scalar_subquery(), 0)
INDEX_BATCH = 50_000  # entries indexed in one transaction: bounds how long it holds the write lock


def list_entries(
    conn: Connection,
    *,
    store_id: int,
    resource: str | None = None,
    item_id: int | None = None,
    application: str | None = None,
    action: Action | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    limit: int,
) -> list[Entry]:
    """A store's entries, newest first; ``since`` is inclusive, ``until`` exclusive. ``item_id``
    alone matches that id of any resource."""
    rest = (
        a.c.token_id,
        a.c.application,
        a.c.action,
        a.c.bulk,
        a.c.resource,
        a.c.item_id,
        a.c.before_values,
        a.c.after_values,
    )
    # The newest indexed entries, walked in audit_log_by_store's order (store, time, id) ...
    indexed = (
        sa.select(b.c.id, b.c.at, *rest)
        .select_from(b.join(a, a.c.id == b.c.id))
        .where(b.c.store_id == store_id)
    )
    if since is not None:
        indexed = indexed.where(b.c.at >= utc(since))
    if until is not None:
        indexed = indexed.where(b.c.at < utc(until))
    # ... and the store's entries not indexed yet, found by id: the few newest of every store.
    # Their times are checked here, not in SQL: given a time, SQLite would rather walk the
    # index on time (every store's entries) than this short range of ids.
    recent = sa.select(a.c.id, a.c.at, *rest).where(a.c.id > _INDEXED_UPTO, a.c.store_id == store_id)
    filters = (
        (a.c.resource, resource),
        (a.c.item_id, item_id),
        (a.c.application, application),
        (a.c.action, action),
    )
    for column, value in filters:
        if value is not None:
            indexed, recent = indexed.where(column == value), recent.where(column == value)
    # Reads are not one snapshot: indexing may commit between the two statements. Reading the
    # recent ones first, an entry indexed in between is found twice (kept once), never missed.
    low, high = utc(since) if since is not None else None, utc(until) if until is not None else None
    found: dict[int, Entry] = {}
    for row in conn.execute(recent):
        one = _entry(*tuple(row))
        if (low is None or one.at >= low) and (high is None or one.at < high):
            found[one.id] = one
    for row in conn.execute(indexed.order_by(b.c.at.desc(), b.c.id.desc()).limit(limit)):
        one = _entry(*tuple(row))
        found[one.id] = one
    return sorted(found.values(), key=lambda e: (e.at, e.id), reverse=True)[:limit]


def _entry(
    id_: int,
    at: datetime,
    token_id: int | None,
    application: str | None,
    action: str,
    bulk: object,
    resource: str,
    item_id: int,
    before: str | None,
    after: str | None,
) -> Entry:
    return Entry(id_, utc(at), token_id, application, action, bool(bulk), resource, item_id, before, after)


def unindexed(conn: Connection) -> bool:
    """Whether some entries are not in audit_log_by_store yet (a read: no lock taken)."""
    return bool(conn.execute(sa.select(_HIGHEST_ID > _INDEXED_UPTO)).scalar_one())


def index_new_entries(conn: Connection, *, batch: int = INDEX_BATCH) -> int:
    """Add up to ``batch`` entries not indexed yet, the oldest first, to audit_log_by_store in
    one statement (sorted by store, so that each page of the index takes all of its store's
    new entries at once), and raise the mark past them; returns how many. Call inside a write
    transaction of its own; two at once are harmless (one waits, then finds less to do)."""
    if conn.dialect.name == "postgresql":
        # PostgreSQL hands out ids before their transactions commit, in any order: an entry
        # below the new mark could still be committed after it was set. This lock waits for
        # every transaction that is writing entries and holds off new ones until the commit;
        # it conflicts with itself, so two indexers run one after the other.
        conn.exec_driver_sql("LOCK TABLE audit_log IN SHARE ROW EXCLUSIVE MODE")
    start = int(conn.execute(sa.select(_INDEXED_UPTO)).scalar_one())
    taken = sa.select(a.c.id).where(a.c.id > start).order_by(a.c.id).limit(batch).subquery()
    upto, count = conn.execute(sa.select(sa.func.max(taken.c.id), sa.func.count())).one()
    if not count:
        return 0
    new = sa.select(a.c.store_id, a.c.at, a.c.id).where(a.c.id > start, a.c.id <= upto)
    conn.execute(
        sa.insert(b).from_select(["store_id", "at", "id"], new.order_by(a.c.store_id, a.c.at, a.c.id))
    )
    mark = dialect.insert(conn.dialect.name, counters).values(name=INDEXED, value=upto)
    conn.execute(mark.on_conflict_do_update(index_elements=["name"], set_={"value": upto}))
    return int(count)


def delete_store_entries(conn: Connection, *, store_id: int) -> None:
    """Every entry of the store, indexed or not. Call inside a write transaction."""
    conn.execute(sa.delete(a).where(a.c.id.in_(sa.select(b.c.id).where(b.c.store_id == store_id))))
    conn.execute(sa.delete(a).where(a.c.id > _INDEXED_UPTO, a.c.store_id == store_id))
    conn.execute(sa.delete(b).where(b.c.store_id == store_id))


# Every entry gone (sandbox reset_all); run on the driver with the rest of that reset. audit_log
# first, as in delete_store_entries: on PostgreSQL that makes an indexer that comes meanwhile wait
# for this transaction, rather than index entries that are being deleted.
DELETE_ALL = (Prepared(sa.delete(a)), Prepared(sa.delete(b)))


def prune_batch(conn: Connection, *, older_than: datetime, batch: int) -> int:
    """Delete up to ``batch`` entries (of every store) made before ``older_than``; returns how many."""
    oldest = (
        sa.select(a.c.store_id, a.c.at, a.c.id).where(a.c.at < utc(older_than)).order_by(a.c.at).limit(batch)
    )
    keys = [tuple(row) for row in conn.execute(oldest)]
    if not keys:
        return 0
    # audit_log first, as in delete_store_entries (an indexer meanwhile waits, then its index
    # rows of these entries go too).
    deleted = conn.execute(sa.delete(a).where(a.c.id.in_([key[2] for key in keys]))).rowcount
    conn.execute(sa.delete(b).where(sa.tuple_(b.c.store_id, b.c.at, b.c.id).in_(keys)))
    return int(deleted)


def claim_task(conn: Connection, *, task: str, at: datetime, not_since: datetime) -> bool:
    """Mark ``task`` as run at ``at`` unless it ran after ``not_since``; True when this caller
    got it. Atomic between processes: the row lock (PostgreSQL) or the write lock (SQLite)
    lets one caller in; two first-ever claims at once end in a unique violation for one of them
    (sqlalchemy.exc.IntegrityError, which the caller takes as "not mine")."""
    when, cutoff = utc(at), utc(not_since)
    claimed = conn.execute(
        sa.update(m).where(m.c.task == task, m.c.last_run_at <= cutoff).values(last_run_at=when)
    ).rowcount
    if claimed:
        return True
    if conn.execute(sa.select(m.c.task).where(m.c.task == task)).first() is not None:
        return False
    conn.execute(sa.insert(m).values(task=task, last_run_at=when))
    return True
