"""PostgreSQL's one-statement writes: a create, an update of some columns and a delete, each
with its audit entry, for any number of groups at once.

Each statement takes its rows as arrays, one per parameter (unnest), and answers one row
``(ord, group_id)`` for each of its rows that took effect, ``ord`` being the row's position in
the arrays: a create's new id, or the id of the group an update or a delete found. A row of an
update or a delete that finds no group is simply not answered, and writes nothing.

The same statement serves one write (PostgresTx, inside a transaction or alone) and a batch of
concurrent ones (storage/postgres/gathered.py), so each operation is written in SQL once. Rows
are locked in one order, ascending (store, id), whichever statement locks them, so two
statements running at once wait for each other rather than deadlock."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql.psycopg import PGDialect_psycopg

from cartgroups.model import FIELDS, ID
from cartgroups.storage import customer_groups as groups_sql
from cartgroups.storage.audit import GROUP
from cartgroups.storage.fastpath import Prepared
from cartgroups.storage.tables import customer_groups as t

DIALECT = PGDialect_psycopg()  # type: ignore[no-untyped-call]
_TYPES = {c.name: c.type.compile(dialect=DIALECT) for c in t.columns}
# What every row of every statement carries for its audit entry, with their types.
_ENTRY = (("store_id", "INTEGER"), ("at", "TIMESTAMPTZ"), ("token_id", "INTEGER"), ("application", "TEXT"))
_ENTRY_COLUMNS = (
    "store_id, at, token_id, application, action, bulk, resource, item_id, before_values, after_values"
)
_SAME_GROUP = "{a}.store_id = {b}.store_id AND {a}.group_id = {b}.group_id"


def json_sql(row: str) -> str:
    """The group in ``row`` (a table or CTE name) as audit.group_json writes it: wire names in
    wire order, no spaces, text escaped as orjson escapes it (to_json: ``"``, ``\\`` and
    control characters; nothing else), MinimumOrder with its scale and at least one fraction
    digit (model.decimal_text), booleans as true/false (tests/storage/test_store.py compares
    the two byte for byte)."""
    parts = []
    for i, field in enumerate(FIELDS):
        column = f"{row}.{field.column}"
        if field.kind == "boolean":
            value = f"CASE WHEN {column} THEN 'true' ELSE 'false' END"
        elif field.kind == "decimal":
            text = f"{column}::text"
            value = f"CASE WHEN strpos({text}, '.') > 0 THEN {text} ELSE {text} || '.0' END"
        elif field.kind == "string":
            value = f"to_json({column})::text"
        else:
            value = f"{column}::text"
        parts.append(f"""'{"{" if i == 0 else ","}"{field.wire}":' || {value}""")
    return "(" + " || ".join(parts) + " || '}')"


@dataclass(frozen=True, slots=True)
class Many:
    """One of the statements, and the parameters each of its rows has (row dicts hold them
    under these names)."""

    statement: Prepared
    names: tuple[str, ...]
    # Whether rows name existing groups: then a statement may hold one row per group only (an
    # UPDATE changes a row once, whatever it is joined to).
    keyed: bool

    def params(self, rows: Sequence[Mapping[str, object]]) -> dict[str, list[Any]]:
        """The statement's parameters for ``rows``: one array per name, and ``ord``."""
        params: dict[str, list[Any]] = {name: [row[name] for row in rows] for name in self.names}
        params["ord"] = list(range(len(rows)))
        return params


def _keys(names: Sequence[tuple[str, str]]) -> str:
    """``k``: the rows, from their arrays."""
    arrays = ", ".join(f"CAST(:{name} AS {kind}[])" for name, kind in (("ord", "INTEGER"), *names))
    return f"k AS (SELECT * FROM unnest({arrays}) AS k(ord, {', '.join(name for name, _ in names)}))"


def _entries(action: str, source: str, before: str, after: str, *, join: str = "") -> str:
    """``logged``: one audit entry per row of ``source`` (joined to ``k``, and ``join``)."""
    return (
        f"logged AS (INSERT INTO audit_log ({_ENTRY_COLUMNS}) "
        f"SELECT k.store_id, k.at, k.token_id, k.application, '{action}', false, '{GROUP}', "
        f"{source}.group_id, {before}, {after} "
        f"FROM {source} {join} JOIN k ON {_SAME_GROUP.format(a=source, b='k')})"
    )


def _create() -> Many:
    """Each store's ids are taken from its last_group_id, which the statement raises by the
    number of groups it creates there (stores locked in ascending id order), and handed out in
    the rows' order."""
    columns = [c.name for c in t.columns if c.name not in ("store_id", ID.column)]
    names = (*_ENTRY, *((c, _TYPES[c]) for c in columns))
    inserted = ", ".join(["store_id", ID.column, *columns])
    sql = (
        f"WITH {_keys(names)}, "
        "counted AS (SELECT store_id, count(*) AS n FROM k GROUP BY store_id), "
        "locked AS (SELECT s.id, counted.n FROM stores AS s JOIN counted ON counted.store_id = s.id "
        "ORDER BY s.id FOR UPDATE OF s), "
        "taken AS (UPDATE stores AS s SET last_group_id = s.last_group_id + locked.n FROM locked "
        "WHERE s.id = locked.id RETURNING s.id AS store_id, s.last_group_id - locked.n AS base), "
        "numbered AS (SELECT k.*, CAST(taken.base + row_number() OVER "
        f"(PARTITION BY k.store_id ORDER BY k.ord) AS INTEGER) AS {ID.column} "
        "FROM k JOIN taken ON taken.store_id = k.store_id), "
        f"added AS (INSERT INTO customer_groups ({inserted}) SELECT {inserted} FROM numbered RETURNING *), "
        f"logged AS (INSERT INTO audit_log ({_ENTRY_COLUMNS}) "
        f"SELECT n.store_id, n.at, n.token_id, n.application, 'create', false, '{GROUP}', added.group_id, "
        f"NULL, {json_sql('added')} FROM added JOIN numbered AS n ON {_SAME_GROUP.format(a='n', b='added')}) "
        f"SELECT ord, {ID.column} FROM numbered"
    )
    return Many(Prepared(sa.text(sql)), tuple(name for name, _ in names), keyed=False)


CREATE = _create()

_KEYED = (*_ENTRY[:1], ("group_id", "INTEGER"), *_ENTRY[1:])
_LOCKED = (
    "SELECT c.* FROM customer_groups AS c JOIN k ON {same} ORDER BY c.store_id, c.group_id FOR UPDATE OF c"
).format(same=_SAME_GROUP.format(a="c", b="k"))
_UPDATES: dict[frozenset[str], Many] = {}


def update(columns: frozenset[str]) -> Many:
    """Change ``columns`` of each row's group, new values under groups_sql.NEW's names; the audit
    entry has the group as it was (locked, so as it was just before) and as it is now."""
    found = _UPDATES.get(columns)
    if found is None:
        ordered = sorted(columns)
        names = (*_KEYED, *((groups_sql.NEW[c], _TYPES[c]) for c in ordered))
        sets = ", ".join(f"{c} = k.{groups_sql.NEW[c]}" for c in ordered)
        sql = (
            f"WITH {_keys(names)}, before AS ({_LOCKED}), "
            f"after AS (UPDATE customer_groups AS c SET {sets} FROM k "
            f"WHERE {_SAME_GROUP.format(a='c', b='k')} "
            "AND (c.store_id, c.group_id) IN (SELECT store_id, group_id FROM before) RETURNING c.*), "
            + _entries(
                "update",
                "after",
                json_sql("before"),
                json_sql("after"),
                join=f"JOIN before ON {_SAME_GROUP.format(a='before', b='after')}",
            )
            + f" SELECT k.ord, after.group_id FROM k JOIN after ON {_SAME_GROUP.format(a='after', b='k')}"
        )
        found = _UPDATES[columns] = Many(Prepared(sa.text(sql)), tuple(n for n, _ in names), keyed=True)
    return found


def _delete() -> Many:
    """Delete each row's group; the audit entry has it as it was."""
    sql = (
        f"WITH {_keys(_KEYED)}, doomed AS ({_LOCKED}), "
        "gone AS (DELETE FROM customer_groups AS c USING doomed "
        f"WHERE {_SAME_GROUP.format(a='c', b='doomed')} RETURNING c.*), "
        + _entries("delete", "gone", json_sql("gone"), "NULL")
        + f" SELECT k.ord, gone.group_id FROM k JOIN gone ON {_SAME_GROUP.format(a='gone', b='k')}"
    )
    return Many(Prepared(sa.text(sql)), tuple(n for n, _ in _KEYED), keyed=True)


DELETE = _delete()


def found(rows: Sequence[Sequence[Any]], count: int) -> list[int | None]:
    """What a statement of ``count`` rows answered, by row: the group's id, or None (no such
    group)."""
    ids: list[int | None] = [None] * count
    for ord_, group_id in rows:
        ids[ord_] = int(group_id)
    return ids
