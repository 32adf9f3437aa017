"""Fast seeding of a fresh cartgroups database for the benchmark.

The schema comes from ``cartgroups db upgrade`` (the real migrations); rows are then written
straight into the storage tables (src/cartgroups/storage/tables.py) in one transaction per table
group: ``executemany`` on SQLite, ``COPY`` on PostgreSQL. Tokens are made the way the server
makes them (service/credentials.hash_secret), so the load uses real credentials.

Layout (ids are explicit and dense):
- stores 1..S ("regular"), each with G groups, ids 1..G;
- stores S+1..S+W ("wide"), each with WG (>= 100) groups: the list limit=100 and bulk PUT
  scenarios use them, so a page really holds 100 groups and a bulk PUT updates 100 rows;
- one application ("bench") whose PrivateKey all tokens share; one read,write token per store.
Only the stores the load is spread over ("clients") get a token whose plain text is kept; the
others get a random hash that no one can present.
"""

from __future__ import annotations

import secrets
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from cartgroups.service.credentials import hash_secret, new_secret
from cartgroups.storage import dialect
from cartgroups.storage.tables import applications, customer_groups, stores, tokens

APPLICATION = "bench"
CHUNK = 50_000

# One group's stored values (realistic sizes; the same for every group, so that every
# GET-by-id response has the same length apart from the digits of the id).
GROUP_VALUES: dict[str, Any] = {
    "name": "Wholesale",
    "description": "Resellers with a tax id",
    "minimum_order": Decimal("250.00"),
    "non_taxable": True,
    "allow_registration": True,
    "disable_reward_points": False,
    "auto_approve": False,
    "registration_message": "Welcome! Your account will be reviewed.",
    "price_level": 2,
}


@dataclass(frozen=True)
class Layout:
    stores: int  # regular stores
    groups: int  # groups per regular store
    wide_stores: int
    wide_groups: int
    clients: int  # regular stores whose credentials the load uses

    @property
    def total_groups(self) -> int:
        return self.stores * self.groups + self.wide_stores * self.wide_groups


@dataclass(frozen=True)
class Seeded:
    url: str
    layout: Layout
    clients_file: Path
    seconds: float


def store_url(store_id: int) -> str:
    return f"store{store_id:06d}.bench.example"


def client_ids(layout: Layout) -> list[int]:
    """Regular stores spread evenly over the whole id range (so a large database is used
    throughout, not just its first pages)."""
    n = min(layout.clients, layout.stores)
    if n <= 0:
        return []
    step = layout.stores / n
    return sorted({1 + int(i * step) for i in range(n)})


def upgrade_schema(cartgroups_bin: str, url: str, log: Path) -> None:
    with log.open("ab") as out:
        subprocess.run(
            [cartgroups_bin, "db", "upgrade", "--database", url],
            check=True,
            stdout=out,
            stderr=subprocess.STDOUT,
        )


def seed(cartgroups_bin: str, url: str, layout: Layout, clients_file: Path, log: Path) -> Seeded:
    """Create the schema with `cartgroups db upgrade`, then fill it. The database must be empty."""
    started = time.perf_counter()
    upgrade_schema(cartgroups_bin, url, log)
    private_key = new_secret()
    key_hash = hash_secret(private_key)
    wanted = set(client_ids(layout))
    first_wide = layout.stores + 1
    total_stores = layout.stores + layout.wide_stores
    plain_tokens: dict[int, str] = {}

    def store_rows() -> Iterator[tuple[Any, ...]]:
        for sid in range(1, total_stores + 1):
            yield (sid, store_url(sid), layout.groups if sid < first_wide else layout.wide_groups)

    def token_rows() -> Iterator[tuple[Any, ...]]:
        for sid in range(1, total_stores + 1):
            if sid in wanted or sid >= first_wide:
                token = new_secret()
                plain_tokens[sid] = token
                token_hash = hash_secret(token)
            else:
                token = token_hash = secrets.token_hex(32)
            yield (sid, sid, 1, token_hash, token[:8], True, True)

    engine = dialect.create_engine(dialect.parse_url(url))
    try:
        if engine.dialect.name == "sqlite":
            _seed_sqlite(engine, layout, key_hash, store_rows(), token_rows())
        else:
            _seed_postgresql(engine, layout, key_hash, store_rows(), token_rows())
    finally:
        engine.dispose()

    with clients_file.open("w") as out:
        for sid in sorted(plain_tokens):
            kind = "wide" if sid >= first_wide else "regular"
            if kind == "regular" and sid not in wanted:
                continue
            groups = layout.wide_groups if kind == "wide" else layout.groups
            out.write(f"{kind}\t{store_url(sid)}\t{private_key}\t{plain_tokens[sid]}\t{groups}\n")
    return Seeded(url, layout, clients_file, time.perf_counter() - started)


def _group_rows(layout: Layout, decimal_as_text: bool) -> Iterator[tuple[Any, ...]]:
    columns = [c.name for c in customer_groups.columns]
    values = dict(GROUP_VALUES)
    if decimal_as_text:  # what storage.dialect.ExactDecimal writes on SQLite
        values["minimum_order"] = format(values["minimum_order"], "f")
    rest = tuple(values[name] for name in columns[2:])
    assert columns[:2] == ["store_id", "group_id"], columns
    for sid in range(1, layout.stores + 1):
        for gid in range(1, layout.groups + 1):
            yield (sid, gid, *rest)
    for sid in range(layout.stores + 1, layout.stores + layout.wide_stores + 1):
        for gid in range(1, layout.wide_groups + 1):
            yield (sid, gid, *rest)


def _columns_sql(table: sa.Table, names: list[str] | None = None) -> str:
    return ", ".join(names or [c.name for c in table.columns])


_STORE_COLS = ["id", "secure_url", "last_group_id"]
_TOKEN_COLS = ["id", "store_id", "application_id", "token_hash", "token_prefix", "can_read", "can_write"]


def _seed_sqlite(
    engine: sa.Engine,
    layout: Layout,
    key_hash: str,
    store_rows: Iterator[tuple[Any, ...]],
    token_rows: Iterator[tuple[Any, ...]],
) -> None:
    raw = engine.raw_connection()
    try:
        dbapi = raw.dbapi_connection
        assert dbapi is not None
        dbapi.isolation_level = None  # explicit BEGIN/COMMIT below
        cur = dbapi.cursor()
        cur.execute("PRAGMA synchronous = OFF")
        cur.execute("BEGIN IMMEDIATE")
        cur.execute(
            f"INSERT INTO {applications.name} (id, name, private_key_hash) VALUES (1, ?, ?)",
            (APPLICATION, key_hash),
        )
        cur.executemany(
            f"INSERT INTO {stores.name} ({_columns_sql(stores, _STORE_COLS)}) VALUES (?, ?, ?)",
            store_rows,
        )
        cur.executemany(
            f"INSERT INTO {tokens.name} ({_columns_sql(tokens, _TOKEN_COLS)}) VALUES (?, ?, ?, ?, ?, ?, ?)",
            token_rows,
        )
        marks = ", ".join("?" for _ in customer_groups.columns)
        cur.executemany(
            f"INSERT INTO {customer_groups.name} ({_columns_sql(customer_groups)}) VALUES ({marks})",
            _group_rows(layout, decimal_as_text=True),
        )
        cur.execute("COMMIT")
        cur.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        cur.close()
    finally:
        raw.close()


def _seed_postgresql(
    engine: sa.Engine,
    layout: Layout,
    key_hash: str,
    store_rows: Iterator[tuple[Any, ...]],
    token_rows: Iterator[tuple[Any, ...]],
) -> None:
    raw = engine.raw_connection()
    try:
        dbapi = raw.dbapi_connection
        assert dbapi is not None
        with dbapi.cursor() as cur:
            cur.execute(
                f"INSERT INTO {applications.name} (id, name, private_key_hash) VALUES (1, %s, %s)",
                (APPLICATION, key_hash),
            )
            for table, names, rows in (
                (stores, _STORE_COLS, store_rows),
                (tokens, _TOKEN_COLS, token_rows),
                (customer_groups, None, _group_rows(layout, decimal_as_text=False)),
            ):
                with cur.copy(f"COPY {table.name} ({_columns_sql(table, names)}) FROM STDIN") as copy:
                    for row in rows:
                        copy.write_row(row)
            for table in (stores, applications, tokens):
                cur.execute(
                    f"SELECT setval(pg_get_serial_sequence('{table.name}', 'id'), "
                    f"(SELECT max(id) FROM {table.name}))"
                )
        dbapi.commit()
        dbapi.autocommit = True
        with dbapi.cursor() as cur:
            cur.execute("ANALYZE")  # what autovacuum would have done on a real database
        dbapi.autocommit = False
    finally:
        raw.close()
