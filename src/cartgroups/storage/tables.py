"""The schema, one for both databases. Changes go through a migration in migrations/versions."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from cartgroups.customer_model import CUSTOMER_ID, FILTER_KEY_MAX_LENGTH, STORED, TEXT_FILTERS
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
    # CustomerGroupIDs are never reused: a store's next id is one more than the highest of its
    # groups' ids and this. On PostgreSQL it is the last id handed out; on SQLite it is raised
    # only when a group with a higher id is deleted (storage/customer_groups.py, _INSERT_NEXT).
    sa.Column("last_group_id", sa.Integer, nullable=False, server_default="0"),
    # The last CustomerID handed out: raised by every create (storage/customers.py), so that a
    # customer's id is never handed out again, even after the highest one is deleted (D1).
    sa.Column("last_customer_id", sa.Integer, nullable=False, server_default="0"),
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

# Counters shared by every process: "credentials" goes up with every revoked token, and other
# processes poll it to learn that what they cache has changed (service/credentials.Authenticator);
# "audit-indexed" is the highest audit_log id that audit_log_by_store holds (storage/audit.py).
change_counters = sa.Table(
    "change_counters",
    metadata,
    sa.Column("name", sa.String(40), primary_key=True),
    sa.Column("value", sa.BigInteger, nullable=False, server_default="0"),
)

_KIND_TYPES: dict[str, sa.types.TypeEngine[Any]] = {
    "boolean": sa.Boolean(),
    "integer": sa.Integer(),  # PriceLevel: a 32-bit integer (migration 0011)
    "decimal": ExactDecimal(),
}


def _column(spec: FieldSpec, *, nullable_text: bool = False) -> sa.Column[Any]:
    if spec.kind != "string":
        return sa.Column(spec.column, _KIND_TYPES[spec.kind], nullable=False)
    short = spec.max_length is not None and spec.max_length <= 255
    kind = sa.String(spec.max_length) if short else sa.Text()
    return sa.Column(spec.column, kind, nullable=nullable_text and not spec.required)


customer_groups = sa.Table(
    "customer_groups",
    metadata,
    sa.Column("store_id", sa.ForeignKey("stores.id", ondelete="CASCADE"), primary_key=True),
    sa.Column(ID.column, sa.Integer, primary_key=True),
    *(_column(f) for f in EDITABLE),
    sqlite_with_rowid=False,  # rows stored in the key's own B-tree (migration 0008)
)

# The filter keys of a customer (customer_model.filter_key of the field each list filter
# matches): kept beside the values and indexed, so that a filter is an index lookup on both
# databases, with one case folding for both (SQLite's lower() folds ASCII only).
CUSTOMER_KEYS = {name: f"{name}_key" for name in TEXT_FILTERS}

customers = sa.Table(
    "customers",
    metadata,
    sa.Column("store_id", sa.ForeignKey("stores.id", ondelete="CASCADE"), primary_key=True),
    sa.Column(CUSTOMER_ID.column, sa.Integer, primary_key=True),
    # Free text never set is NULL, which the API writes as null (D4).
    *(_column(f, nullable_text=True) for f in STORED),
    # The salted scrypt hash (service/passwords.py); NULL: no usable password (D5).
    sa.Column("password_hash", sa.String(255), nullable=True),
    # TotalStoreCredit (D6): read-only on the API; kept by the server.
    sa.Column("total_store_credit", ExactDecimal(), nullable=False, server_default="0.0"),
    # When the customer was created or last changed, seconds since the epoch (D8): never sent,
    # read by the lastupdatestart/lastupdateend filters.
    sa.Column("updated_at", sa.Float, nullable=False),
    *(sa.Column(key, sa.String(FILTER_KEY_MAX_LENGTH), nullable=True) for key in CUSTOMER_KEYS.values()),
    # An e-mail is one customer's per store (D2); the index also serves the email filter.
    sa.UniqueConstraint("store_id", "email_key"),
    # A group's members in id order: GET /CustomerGroups/{id}/Customers, and a group's delete.
    sa.Index("ix_customers_members", "store_id", "customer_group_id", "customer_id"),
    sa.Index("ix_customers_updated_at", "store_id", "updated_at"),
    # A filter's matches in id order, so a page of a common value (country=US) stops after its
    # rows instead of sorting every match.
    *(
        sa.Index(f"ix_customers_{key}", "store_id", key, "customer_id")
        for name, key in CUSTOMER_KEYS.items()
        if name != "email"
    ),
)

# One leaky bucket per store and application (see service/rate_limit.py). ``level`` is how full
# the bucket was at ``updated_at`` (seconds since the epoch); ``allowed`` says whether the last
# request that touched it was let through, so the one statement that updates it can tell.
rate_buckets = sa.Table(
    "rate_buckets",
    metadata,
    sa.Column("store_id", sa.ForeignKey("stores.id", ondelete="CASCADE"), primary_key=True),
    sa.Column("application_id", sa.ForeignKey("applications.id", ondelete="CASCADE"), primary_key=True),
    sa.Column("level", sa.Float, nullable=False),
    sa.Column("updated_at", sa.Float, nullable=False),
    sa.Column("allowed", sa.Boolean, nullable=False),
)

# The first response to a POST or bulk PUT sent with an Idempotency-Key (service/idempotency.py),
# stored in the transaction that made the write. ``fingerprint`` is a hash of the method and the
# body, to tell a retry from a different request reusing the key.
idempotency_keys = sa.Table(
    "idempotency_keys",
    metadata,
    sa.Column("store_id", sa.ForeignKey("stores.id", ondelete="CASCADE"), primary_key=True),
    sa.Column("application_id", sa.ForeignKey("applications.id", ondelete="CASCADE"), primary_key=True),
    sa.Column("key", sa.String(255), primary_key=True),
    sa.Column("fingerprint", sa.String(64), nullable=False),
    sa.Column("status", sa.SmallInteger, nullable=False),
    sa.Column("body", sa.LargeBinary, nullable=False),
    sa.Column("created_at", sa.Float, nullable=False, index=True),
)

# One row per change of a resource (a customer group, a customer), written in the same
# transaction as the change.
audit_log = sa.Table(
    "audit_log",
    metadata,
    sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), primary_key=True),
    sa.Column("store_id", sa.ForeignKey("stores.id", ondelete="CASCADE"), nullable=False),
    # UTC, set by the server process that made the change (microseconds; SQLite keeps it as text).
    sa.Column("at", sa.DateTime(timezone=True), nullable=False),
    # Who: the token (kept as a plain number so the entry outlives the token) and the
    # application's name at the time.
    sa.Column("token_id", sa.Integer, nullable=True),
    sa.Column("application", sa.String(100), nullable=True),
    sa.Column("action", sa.String(6), nullable=False),  # create | update | delete
    sa.Column("bulk", sa.Boolean, nullable=False),  # an item of a bulk PUT
    # What changed: the resource's wire name ("CustomerGroup", "Customer") and its id in the
    # store (migration 0012: the entries written before it are groups', item_id their group_id).
    sa.Column("resource", sa.String(20), nullable=False, server_default="CustomerGroup"),
    sa.Column("item_id", sa.Integer, nullable=False),
    # The item as wire JSON (its id first); NULL before a create and after a delete.
    sa.Column("before_values", sa.Text, nullable=True),
    sa.Column("after_values", sa.Text, nullable=True),
    sa.Index("ix_audit_log_at", "at"),  # pruning by age
    # Ids are never handed out twice, even after the highest entries are deleted (SQLite would
    # otherwise reuse them; PostgreSQL's sequence never does): audit_log_by_store's mark relies on it.
    sqlite_autoincrement=True,
)

# A store's entries by time, for listing them and for removing a store's (sandbox resets):
# an index of audit_log kept apart, brought up to date in bulk every second or so rather than
# by each change (storage/audit.py, index_new_entries). An index on audit_log(store_id, at)
# cost every change a write to a page of its own, one for each store, which was ~40 % of
# what a create wrote to the database (docs/performance.md); in bulk, each page takes all of
# its store's new entries at once. The entries above the change counter "audit-indexed" are
# not here yet: readers take them from audit_log itself (few, and found by id).
audit_log_by_store = sa.Table(
    "audit_log_by_store",
    metadata,
    sa.Column("store_id", sa.ForeignKey("stores.id", ondelete="CASCADE"), primary_key=True),
    sa.Column("at", sa.DateTime(timezone=True), primary_key=True),
    sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), primary_key=True),
    sqlite_with_rowid=False,
)

# Periodic jobs shared by every server process: which ran last, and when (see service/audit.py).
maintenance = sa.Table(
    "maintenance",
    metadata,
    sa.Column("task", sa.String(50), primary_key=True),
    sa.Column("last_run_at", sa.DateTime(timezone=True), nullable=False),
)

# Sandbox state (issue #4; only used when the server runs with --sandbox). It lives in the
# database, not in process memory, so that every worker process sees the same rules, counters
# and journal.

# One row per store that has a throttling override: true/false; no row (or NULL) = no override.
sandbox_stores = sa.Table(
    "sandbox_stores",
    metadata,
    sa.Column("store_id", sa.ForeignKey("stores.id", ondelete="CASCADE"), primary_key=True),
    sa.Column("throttle", sa.Boolean, nullable=True),
)

# Fault injection rules, tried in id order.
sandbox_faults = sa.Table(
    "sandbox_faults",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("method", sa.String(16), nullable=False),  # "*" or an upper-case method
    sa.Column("path", sa.String(500), nullable=False),
    sa.Column("regex", sa.Boolean, nullable=False),  # path is a regular expression, not a glob
    # NULL: every store; else the rule applies to requests naming this store only.
    sa.Column("store_id", sa.ForeignKey("stores.id", ondelete="CASCADE"), nullable=True),
    sa.Column("status", sa.Integer, nullable=True),  # NULL: latency only
    sa.Column("message", sa.Text, nullable=True),  # NULL: the default message of the status
    sa.Column("retry_after", sa.Integer, nullable=True),
    sa.Column("latency_ms", sa.Integer, nullable=False, server_default="0"),
    sa.Column("probability", sa.Float, nullable=False, server_default="1"),
    sa.Column("remaining", sa.Integer, nullable=True),  # NULL: no limit; else applications left
    sa.Column("applied", sa.Integer, nullable=False, server_default="0"),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=_now),
)

# The last requests of each store (the newest sandbox_journal_size are kept per store).
sandbox_journal = sa.Table(
    "sandbox_journal",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("store_id", sa.ForeignKey("stores.id", ondelete="CASCADE"), nullable=False),
    sa.Column("at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("method", sa.String(16), nullable=False),
    sa.Column("path", sa.Text, nullable=False),
    sa.Column("query", sa.Text, nullable=False),
    sa.Column("status", sa.Integer, nullable=False),
    sa.Column("request_headers", sa.Text, nullable=False),  # JSON object, secrets redacted
    sa.Column("request_body", sa.Text, nullable=False),
    sa.Column("response_body", sa.Text, nullable=False),
    sa.Column("duration_ms", sa.Float, nullable=False),
    sa.Column("fault_id", sa.Integer, nullable=True),  # the fault rule that shaped the answer
    sa.Index("ix_sandbox_journal_store_id_id", "store_id", "id"),
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
