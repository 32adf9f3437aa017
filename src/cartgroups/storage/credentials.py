"""SQL for stores, applications and tokens. Only hashes of secrets are ever stored."""

from __future__ import annotations

import secrets
from collections.abc import Hashable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, NamedTuple

import sqlalchemy as sa
from sqlalchemy.engine import Connection
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.expression import FunctionElement

from cartgroups.storage import dialect
from cartgroups.storage.fastpath import Prepared
from cartgroups.storage.tables import applications, change_counters, customer_groups, stores, tokens

# The longest SecureURL a store can have: its column's length (PostgreSQL refuses a longer one;
# SQLite would keep it, so the service checks it before either sees it).
SECURE_URL_MAX: int = stores.c.secure_url.type.length  # type: ignore[attr-defined]


@dataclass(frozen=True, slots=True)
class TokenGrant:
    """What a token hash unlocks, as the database has it."""

    token_id: int
    store_id: int
    application_id: int
    secure_url: str
    private_key_hash: str
    can_read: bool
    can_write: bool
    application: str


@dataclass(frozen=True, slots=True)
class StoreRow:
    id: int
    secure_url: str
    created_at: datetime
    group_count: int


@dataclass(frozen=True, slots=True)
class ApplicationRow:
    id: int
    name: str
    created_at: datetime
    token_count: int


@dataclass(frozen=True, slots=True)
class TokenRow:
    id: int
    secure_url: str
    application: str
    token_prefix: str
    can_read: bool
    can_write: bool
    created_at: datetime
    revoked_at: datetime | None


# What no token grants: the values the lookup gives when the hash names no live token, which the
# Authenticator compares what it was sent against (a key hash no key has: not hexadecimal).
NO_GRANT = TokenGrant(0, 0, 0, "", "-" * 64, False, False, "")

# The hash looked up, as a one-row table that the token, its store and its application are joined
# to: the statement returns one row whether or not the token exists (NO_GRANT's values if not).
_PROBE = sa.select(sa.bindparam("token_hash", type_=tokens.c.token_hash.type).label("token_hash")).subquery()
GRANT = Prepared(
    sa.select(
        *(
            sa.func.coalesce(column, default)
            for column, default in zip(
                (
                    tokens.c.id,
                    tokens.c.store_id,
                    tokens.c.application_id,
                    stores.c.secure_url,
                    applications.c.private_key_hash,
                    tokens.c.can_read,
                    tokens.c.can_write,
                    applications.c.name,
                ),
                (
                    NO_GRANT.token_id,
                    NO_GRANT.store_id,
                    NO_GRANT.application_id,
                    NO_GRANT.secure_url,
                    NO_GRANT.private_key_hash,
                    sa.false(),
                    sa.false(),
                    NO_GRANT.application,
                ),
                strict=True,
            )
        )
    ).select_from(
        _PROBE.outerjoin(
            tokens, sa.and_(tokens.c.token_hash == _PROBE.c.token_hash, tokens.c.revoked_at.is_(None))
        )
        # Looked up by 0 (no row has it) when there is no token, rather than not at all.
        .outerjoin(stores, stores.c.id == sa.func.coalesce(tokens.c.store_id, NO_GRANT.store_id))
        .outerjoin(
            applications,
            applications.c.id == sa.func.coalesce(tokens.c.application_id, NO_GRANT.application_id),
        )
    )
)


def find_grant(conn: Connection, *, token_hash: str) -> TokenGrant | None:
    """The live (not revoked) token with this hash, with its store and application; None when
    there is none. Finding none is the same work as finding one (one statement, one row read and
    made into a TokenGrant either way), so that how long a refusal takes does not tell a token
    that exists from one that does not."""
    return grant_from_row(GRANT.run(conn, {"token_hash": token_hash}).fetchone())


def grant_from_row(row: Sequence[Any]) -> TokenGrant | None:
    """find_grant's answer from GRANT's one row (by whichever driver ran it)."""
    token_id, store_id, app_id, secure_url, key_hash, can_read, can_write, application = row
    grant = TokenGrant(
        token_id, store_id, app_id, secure_url, key_hash, bool(can_read), bool(can_write), application
    )
    return grant if token_id else None


def find_store_id(conn: Connection, *, secure_url: str) -> int | None:
    return conn.execute(sa.select(stores.c.id).where(stores.c.secure_url == secure_url)).scalar_one_or_none()


def insert_store(conn: Connection, *, secure_url: str) -> int:
    return int(
        conn.execute(sa.insert(stores).values(secure_url=secure_url).returning(stores.c.id)).scalar_one()
    )


def count_stores(conn: Connection) -> int:
    return int(conn.execute(sa.select(sa.func.count()).select_from(stores)).scalar_one())


def list_stores(conn: Connection) -> list[StoreRow]:
    groups = sa.select(sa.func.count()).where(customer_groups.c.store_id == stores.c.id).scalar_subquery()
    rows = conn.execute(
        sa.select(stores.c.id, stores.c.secure_url, stores.c.created_at, groups).order_by(stores.c.id)
    )
    return [StoreRow(*row) for row in rows]


def search_stores(conn: Connection, *, contains: str = "", limit: int, skip: int) -> list[StoreRow]:
    """Stores whose SecureURL contains the text (any case), by address, with their group counts."""
    groups = sa.select(sa.func.count()).where(customer_groups.c.store_id == stores.c.id).scalar_subquery()
    stmt = sa.select(stores.c.id, stores.c.secure_url, stores.c.created_at, groups).order_by(
        stores.c.secure_url
    )
    if contains:
        stmt = stmt.where(stores.c.secure_url.icontains(contains, autoescape=True))
    return [StoreRow(*row) for row in conn.execute(stmt.limit(limit).offset(skip))]


def count_matching_stores(conn: Connection, *, contains: str = "") -> int:
    stmt = sa.select(sa.func.count()).select_from(stores)
    if contains:
        stmt = stmt.where(stores.c.secure_url.icontains(contains, autoescape=True))
    return int(conn.execute(stmt).scalar_one())


def get_store(conn: Connection, *, store_id: int) -> StoreRow | None:
    groups = sa.select(sa.func.count()).where(customer_groups.c.store_id == stores.c.id).scalar_subquery()
    row = conn.execute(
        sa.select(stores.c.id, stores.c.secure_url, stores.c.created_at, groups).where(
            stores.c.id == store_id
        )
    ).fetchone()
    return StoreRow(*row) if row is not None else None


# A TokenRow per token, with its store's address and its application's name.
_TOKEN_ROWS = (
    sa.select(
        tokens.c.id,
        stores.c.secure_url,
        applications.c.name,
        tokens.c.token_prefix,
        tokens.c.can_read,
        tokens.c.can_write,
        tokens.c.created_at,
        tokens.c.revoked_at,
    )
    .join(stores, stores.c.id == tokens.c.store_id)
    .join(applications, applications.c.id == tokens.c.application_id)
)


def store_tokens(conn: Connection, *, store_id: int) -> list[TokenRow]:
    """Every token of one store, live and revoked, by application then id."""
    stmt = _TOKEN_ROWS.where(tokens.c.store_id == store_id).order_by(applications.c.name, tokens.c.id)
    return [TokenRow(*row) for row in conn.execute(stmt)]


def revoke_store_token(conn: Connection, *, store_id: int, token_id: int) -> bool:
    """Revoke one live token of this store; False when the store has no such live token."""
    return _revoke(conn, tokens.c.id == token_id, tokens.c.store_id == store_id)


def find_application_id(conn: Connection, *, name: str) -> int | None:
    return conn.execute(sa.select(applications.c.id).where(applications.c.name == name)).scalar_one_or_none()


def insert_application(conn: Connection, *, name: str, private_key_hash: str) -> int:
    return int(
        conn.execute(
            sa.insert(applications)
            .values(name=name, private_key_hash=private_key_hash)
            .returning(applications.c.id)
        ).scalar_one()
    )


def list_applications(conn: Connection) -> list[ApplicationRow]:
    live = (
        sa.select(sa.func.count())
        .where(tokens.c.application_id == applications.c.id, tokens.c.revoked_at.is_(None))
        .scalar_subquery()
    )
    rows = conn.execute(
        sa.select(applications.c.id, applications.c.name, applications.c.created_at, live).order_by(
            applications.c.id
        )
    )
    return [ApplicationRow(*row) for row in rows]


def insert_token(
    conn: Connection,
    *,
    store_id: int,
    application_id: int,
    token_hash: str,
    token_prefix: str,
    can_read: bool,
    can_write: bool,
) -> int:
    return int(
        conn.execute(
            sa.insert(tokens)
            .values(
                store_id=store_id,
                application_id=application_id,
                token_hash=token_hash,
                token_prefix=token_prefix,
                can_read=can_read,
                can_write=can_write,
            )
            .returning(tokens.c.id)
        ).scalar_one()
    )


def list_tokens(conn: Connection, *, secure_url: str | None = None) -> list[TokenRow]:
    stmt = _TOKEN_ROWS.order_by(tokens.c.id)
    if secure_url is not None:
        stmt = stmt.where(stores.c.secure_url == secure_url)
    return [TokenRow(*row) for row in conn.execute(stmt)]


def revoke_token(conn: Connection, *, token_id: int | None = None, token_hash: str | None = None) -> bool:
    """Mark one live token revoked, named by id or by hash; False when there is no such live token."""
    return _revoke(
        conn, tokens.c.id == token_id if token_id is not None else tokens.c.token_hash == token_hash
    )


def _revoke(conn: Connection, *conditions: sa.ColumnElement[bool]) -> bool:
    """Every revocation comes here: it also moves the revocation count that each process's
    Authenticator polls, in the same transaction (a process that sees the new count also sees
    the token revoked). A revocation that skipped it would go unnoticed by cached credentials."""
    stmt = (
        sa.update(tokens)
        .where(*conditions, tokens.c.revoked_at.is_(None))
        .values(revoked_at=sa.func.current_timestamp())
    )
    if conn.execute(stmt).rowcount != 1:
        return False
    dialect.increment(conn, change_counters, key="name", value="value", name="credentials")
    return True


_CREDENTIALS_VERSION = Prepared(
    sa.select(change_counters.c.value).where(change_counters.c.name == "credentials")
)


def credentials_version(conn: Connection) -> int:
    """Changes whenever a token is revoked (the Authenticator's cache polls it); 0 while no
    token ever was."""
    row = _CREDENTIALS_VERSION.run(conn, {}).fetchone()
    return int(row[0]) if row is not None else 0


# The database's generation: a random number in change_counters that every restore (and anything
# else that replaces the data wholesale) sets anew, as the last step of the same transaction
# (storage/backup.py). What a process keeps from the database (the Authenticator's verified
# credentials: a store id among them) is kept only while it stays the same: after a restore,
# store and token ids may name other stores and tokens than they did. Random rather than counted:
# a backup restored holds the generation of its time, which a counter may have reached again.
GENERATION = "generation"


def new_generation() -> int:
    return secrets.randbits(62) + 1  # a positive BIGINT, never 0 (the value of "no row")


def set_generation(conn: Connection, generation: int | None = None) -> int:
    """Give the database a new generation (in the caller's transaction); returns it."""
    value = new_generation() if generation is None else generation
    stmt = dialect.insert(conn.dialect.name, change_counters).values(name=GENERATION, value=value)
    conn.execute(stmt.on_conflict_do_update(index_elements=["name"], set_={"value": value}))
    return value


def generation(conn: Connection) -> int | None:
    """The database's generation; None when it has none (a schema older than migration 0010)."""
    return conn.execute(
        sa.select(change_counters.c.value).where(change_counters.c.name == GENERATION)
    ).scalar_one_or_none()


class row_written_by(FunctionElement[str]):
    """What tells one writing of a row from another, whatever the row holds: on PostgreSQL the
    row's xmin, the transaction that wrote it, which a pg_restore (or a COPY into a new
    database) gives every row it loads, so a restored database is told from the one it replaced
    although pg_restore copies the generation as it was; NULL on SQLite, whose restore is
    storage/backup.py, which sets a new generation."""

    type = sa.String()
    inherit_cache = True
    name = "row_written_by"


@compiles(row_written_by)
def _row_written_by(element: row_written_by, compiler: SQLCompiler, **kw: Any) -> str:
    return "CAST(change_counters.xmin AS TEXT)"


@compiles(row_written_by, "sqlite")
def _row_written_by_sqlite(element: row_written_by, compiler: SQLCompiler, **kw: Any) -> str:
    return "NULL"


WATCHED = Prepared(
    sa.select(change_counters.c.name, change_counters.c.value, row_written_by())
    .where(sa.or_(change_counters.c.name == "credentials", change_counters.c.name == GENERATION))
    .order_by(change_counters.c.name)
)


class CredentialsState(NamedTuple):
    """What the Authenticator polls. Each part is a row's value with its writing (see
    row_written_by); equal parts mean nothing happened to that row."""

    revocations: Hashable  # moves when a token is revoked
    generation: Hashable  # moves when the data is replaced (a restore)


def credentials_state(conn: Connection) -> CredentialsState:
    """One statement for the revocation count and the database's generation."""
    return state_from_rows(WATCHED.run(conn, {}).fetchall())


def state_from_rows(rows: Sequence[Sequence[Any]]) -> CredentialsState:
    """credentials_state's answer from WATCHED's rows (by whichever driver ran it)."""
    by_name = {row[0]: tuple(row[1:]) for row in rows}
    return CredentialsState(by_name.get("credentials"), by_name.get(GENERATION))
