"""The schema, one for both databases. Changes go through a migration in migrations/versions."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from cartgroups.model import EDITABLE, ID, FieldSpec
from cartgroups.storage.dialect import ExactDecimal

metadata = sa.MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
    }
)

_now = sa.func.current_timestamp()

stores = sa.Table(
    "stores",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    # Normalised SecureURL: no scheme, no leading www., no trailing slash, lower case.
    sa.Column("secure_url", sa.String(255), nullable=False, unique=True),
    # The last CustomerGroupID handed out in this store; ids are never reused.
    sa.Column("last_group_id", sa.Integer, nullable=False, server_default="0"),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=_now),
)

applications = sa.Table(
    "applications",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("name", sa.String(100), nullable=False, unique=True),
    sa.Column("private_key_hash", sa.String(64), nullable=False, unique=True),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=_now),
)

tokens = sa.Table(
    "tokens",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("store_id", sa.ForeignKey("stores.id", ondelete="CASCADE"), nullable=False, index=True),
    sa.Column(
        "application_id",
        sa.ForeignKey("applications.id", ondelete="CASCADE"),
        nullable=False,
        index=True,
    ),
    sa.Column("token_hash", sa.String(64), nullable=False, unique=True),
    # The first characters of the token, so that people can tell their tokens apart.
    sa.Column("token_prefix", sa.String(8), nullable=False),
    sa.Column("can_read", sa.Boolean, nullable=False),
    sa.Column("can_write", sa.Boolean, nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=_now),
    sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
)

_KIND_TYPES: dict[str, sa.types.TypeEngine[Any]] = {
    "boolean": sa.Boolean(),
    "integer": sa.SmallInteger(),
    "decimal": ExactDecimal(),
}


def _column(spec: FieldSpec) -> sa.Column[Any]:
    if spec.kind != "string":
        return sa.Column(spec.column, _KIND_TYPES[spec.kind], nullable=False)
    short = spec.max_length is not None and spec.max_length <= 255
    return sa.Column(spec.column, sa.String(spec.max_length) if short else sa.Text(), nullable=False)


customer_groups = sa.Table(
    "customer_groups",
    metadata,
    sa.Column("store_id", sa.ForeignKey("stores.id", ondelete="CASCADE"), primary_key=True),
    sa.Column(ID.column, sa.Integer, primary_key=True),
    *(_column(f) for f in EDITABLE),
)
# The admin console sorts a store's groups by these columns, a page at a time.
sa.Index(
    "ix_customer_groups_store_id_name",
    customer_groups.c.store_id,
    sa.func.lower(customer_groups.c.name),
    customer_groups.c.group_id,
)
sa.Index(
    "ix_customer_groups_store_id_price_level",
    customer_groups.c.store_id,
    customer_groups.c.price_level,
    customer_groups.c.group_id,
)

# Admin console: operator accounts (password_hash is "scrypt$n$r$p$salt$hash", see service/operators.py).
operators = sa.Table(
    "operators",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("username", sa.String(64), nullable=False, unique=True),
    sa.Column("password_hash", sa.String(255), nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=_now),
)

# A signed-in browser: the SHA-256 of its random session id (the id itself lives only in the
# cookie), the CSRF token its forms must carry, and when it ends (Unix seconds).
operator_sessions = sa.Table(
    "operator_sessions",
    metadata,
    sa.Column("session_hash", sa.String(64), primary_key=True),
    sa.Column("operator_id", sa.ForeignKey("operators.id", ondelete="CASCADE"), nullable=False, index=True),
    sa.Column("csrf_token", sa.String(64), nullable=False),
    sa.Column("expires_at", sa.BigInteger, nullable=False),
)

# Failed sign-ins per subject ("user:NAME" or "ip:ADDRESS"), shared by every server process.
sign_in_failures = sa.Table(
    "sign_in_failures",
    metadata,
    sa.Column("subject", sa.String(200), primary_key=True),
    sa.Column("failures", sa.Integer, nullable=False),
    sa.Column("last_failure_at", sa.BigInteger, nullable=False),
    sa.Column("locked_until", sa.BigInteger, nullable=False),
)
