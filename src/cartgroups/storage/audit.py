"""SQL for the audit log: one row per change of a customer group, written by the caller inside the
transaction that makes the change, so that neither exists without the other.

Times are UTC. SQLite keeps them as ``YYYY-MM-DD HH:MM:SS.ffffff`` text, which sorts and compares
like the times themselves; PostgreSQL as ``timestamptz``."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

import orjson
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from cartgroups.model import FIELDS, CustomerGroup, decimal_text
from cartgroups.storage import customer_groups as groups_sql
from cartgroups.storage.fastpath import Prepared, bind_time
from cartgroups.storage.tables import audit_log as a
from cartgroups.storage.tables import maintenance as m

Action = Literal["create", "update", "delete"]
ACTIONS: tuple[Action, ...] = ("create", "update", "delete")

_NAMES = tuple(f.wire for f in FIELDS)
_MONEY = [i for i, f in enumerate(FIELDS) if f.kind == "decimal"]
_WRITTEN = [c for c in a.columns if c.name != "id"]
# Run on the driver like the change itself: one statement for one change; for a bulk PUT's many,
# one batch (see Prepared.run_many: one round trip to PostgreSQL, one prepared statement in SQLite).
_INSERT = Prepared(sa.insert(a).values({c.name: sa.bindparam(c.name) for c in _WRITTEN}))


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
    """One recorded change, as read back. ``before``/``after`` are the group's wire JSON text."""

    id: int
    at: datetime
    token_id: int | None
    application: str | None
    action: str
    bulk: bool
    group_id: int
    before: str | None
    after: str | None


def group_json(group: CustomerGroup | None) -> str | None:
    """The group as the API writes it: wire names in wire order, MinimumOrder as an exact decimal."""
    if group is None:
        return None
    values: list[Any] = list(group)
    for i in _MONEY:
        values[i] = orjson.Fragment(decimal_text(values[i]))
    return orjson.dumps(dict(zip(_NAMES, values, strict=True))).decode()


def now() -> datetime:
    return datetime.now(UTC)


def utc(value: datetime) -> datetime:
    """A time read back from either database, as an aware UTC datetime (SQLite's are naive UTC)."""
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def entry(store_id: int, actor: Actor, change: Change) -> dict[str, object]:
    """The entry for one change, but its time: what record_entries writes. Made before the write
    transaction when it can be (the JSON is most of the work), to keep that transaction short."""
    return {
        "store_id": store_id,
        "token_id": actor.token_id,
        "application": actor.application,
        "action": change.action,
        "bulk": change.bulk,
        "group_id": change.group_id,
        "before_values": group_json(change.before),
        "after_values": group_json(change.after),
    }


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
    conn: Connection, entries: Sequence[dict[str, object]], at: datetime | None = None
) -> None:
    """Write entries made by entry(), all with the same time (now, unless given). Call inside the
    changes' transaction."""
    if not entries:
        return
    when = bind_time(conn, utc(at) if at is not None else now())
    if len(entries) == 1:
        _INSERT.run(conn, {**entries[0], "at": when})
    else:
        _INSERT.run_many(conn, [{**e, "at": when} for e in entries])


# What an entry written from the row (_from_row) takes for each column but its action and JSON.
_ROW_SOURCES = {
    "store_id": ":store_id",
    "at": ":at",
    "token_id": ":token_id",
    "application": ":application",
    "bulk": "0",
    "group_id": "group_id",
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
        "at": bind_time(conn, now()),
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


def list_entries(
    conn: Connection,
    *,
    store_id: int,
    group_id: int | None = None,
    application: str | None = None,
    action: Action | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    limit: int,
) -> list[Entry]:
    """A store's entries, newest first; ``since`` is inclusive, ``until`` exclusive."""
    stmt = sa.select(
        a.c.id,
        a.c.at,
        a.c.token_id,
        a.c.application,
        a.c.action,
        a.c.bulk,
        a.c.group_id,
        a.c.before_values,
        a.c.after_values,
    ).where(a.c.store_id == store_id)
    if group_id is not None:
        stmt = stmt.where(a.c.group_id == group_id)
    if application is not None:
        stmt = stmt.where(a.c.application == application)
    if action is not None:
        stmt = stmt.where(a.c.action == action)
    if since is not None:
        stmt = stmt.where(a.c.at >= utc(since))
    if until is not None:
        stmt = stmt.where(a.c.at < utc(until))
    rows = conn.execute(stmt.order_by(a.c.at.desc(), a.c.id.desc()).limit(limit))
    return [
        Entry(id_, utc(at), token_id, app, act, bool(bulk), gid, before, after)
        for id_, at, token_id, app, act, bulk, gid, before, after in rows
    ]


def prune_batch(conn: Connection, *, older_than: datetime, batch: int) -> int:
    """Delete up to ``batch`` entries (of every store) made before ``older_than``; returns how many."""
    oldest = sa.select(a.c.id).where(a.c.at < utc(older_than)).order_by(a.c.at).limit(batch)
    return int(conn.execute(sa.delete(a).where(a.c.id.in_(oldest.scalar_subquery()))).rowcount)


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
