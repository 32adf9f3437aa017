"""SQL for the admin console's operator accounts, their sessions and failed sign-in counters.

These are not a store's data, so they take no store; everything else the console reads goes
through the store-first functions of customer_groups.py and credentials.py."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from cartgroups.storage import dialect
from cartgroups.storage.tables import operator_sessions, operators, sign_in_failures


@dataclass(frozen=True, slots=True)
class OperatorRow:
    id: int
    username: str
    password_hash: str
    created_at: datetime


@dataclass(frozen=True, slots=True)
class SessionRow:
    operator_id: int
    username: str
    csrf_token: str
    expires_at: int


@dataclass(frozen=True, slots=True)
class FailureRow:
    subject: str
    failures: int
    last_failure_at: int
    locked_until: int


def insert_operator(conn: Connection, *, username: str, password_hash: str) -> int:
    return int(
        conn.execute(
            sa.insert(operators)
            .values(username=username, password_hash=password_hash)
            .returning(operators.c.id)
        ).scalar_one()
    )


def find_operator(conn: Connection, *, username: str) -> OperatorRow | None:
    row = conn.execute(
        sa.select(
            operators.c.id, operators.c.username, operators.c.password_hash, operators.c.created_at
        ).where(operators.c.username == username)
    ).fetchone()
    return OperatorRow(*row) if row is not None else None


def list_operators(conn: Connection) -> list[OperatorRow]:
    rows = conn.execute(
        sa.select(
            operators.c.id, operators.c.username, operators.c.password_hash, operators.c.created_at
        ).order_by(operators.c.username)
    )
    return [OperatorRow(*row) for row in rows]


def delete_operator(conn: Connection, *, username: str) -> bool:
    """Delete the account and (by cascade, and explicitly for safety) its sessions."""
    found = find_operator(conn, username=username)
    if found is None:
        return False
    conn.execute(sa.delete(operator_sessions).where(operator_sessions.c.operator_id == found.id))
    conn.execute(sa.delete(operators).where(operators.c.id == found.id))
    return True


def insert_session(
    conn: Connection, *, session_hash: str, operator_id: int, csrf_token: str, expires_at: int
) -> None:
    conn.execute(
        sa.insert(operator_sessions).values(
            session_hash=session_hash, operator_id=operator_id, csrf_token=csrf_token, expires_at=expires_at
        )
    )


def find_session(conn: Connection, *, session_hash: str, now: int) -> SessionRow | None:
    """The live (not expired) session with this hash, with its operator's name."""
    row = conn.execute(
        sa.select(
            operator_sessions.c.operator_id,
            operators.c.username,
            operator_sessions.c.csrf_token,
            operator_sessions.c.expires_at,
        )
        .join(operators, operators.c.id == operator_sessions.c.operator_id)
        .where(operator_sessions.c.session_hash == session_hash, operator_sessions.c.expires_at > now)
    ).fetchone()
    return SessionRow(*row) if row is not None else None


def delete_session(conn: Connection, *, session_hash: str) -> None:
    conn.execute(sa.delete(operator_sessions).where(operator_sessions.c.session_hash == session_hash))


def delete_expired_sessions(conn: Connection, *, now: int) -> int:
    return int(
        conn.execute(sa.delete(operator_sessions).where(operator_sessions.c.expires_at <= now)).rowcount
    )


def find_failure(conn: Connection, *, subject: str) -> FailureRow | None:
    row = conn.execute(
        sa.select(
            sign_in_failures.c.subject,
            sign_in_failures.c.failures,
            sign_in_failures.c.last_failure_at,
            sign_in_failures.c.locked_until,
        ).where(sign_in_failures.c.subject == subject)
    ).fetchone()
    return FailureRow(*row) if row is not None else None


def reserve_attempt(
    conn: Connection, *, subject: str, now: int, free: int, locks: Sequence[int], forget_after: int
) -> FailureRow | None:
    """Count one more sign-in attempt against ``subject``, before its password is checked, unless
    the subject is locked: then None, and nothing changes.

    One statement (INSERT ... ON CONFLICT DO UPDATE ... WHERE not locked ... RETURNING, on both
    databases), so that concurrent attempts, in any process, each get their own count and the one
    that passes the ``free`` attempts sets the lock that refuses the next ones: no more than
    ``free`` + 1 passwords are checked before a lock, however many attempts arrive at once.

    The n-th attempt in a row (a counter idle ``forget_after`` seconds starts again from one) locks
    the subject until ``now`` plus: nothing up to ``free``, then ``locks[n - free - 1]`` (the
    last of ``locks`` beyond their end)."""
    t = sign_in_failures
    failures = sa.case((sa.literal(now) - t.c.last_failure_at >= forget_after, 1), else_=t.c.failures + 1)
    first = dialect.insert(conn.dialect.name, t).values(
        subject=subject, failures=1, last_failure_at=now, locked_until=now + _lock(1, free, locks)
    )
    stmt = first.on_conflict_do_update(
        index_elements=[t.c.subject],
        set_={
            "failures": failures,
            "last_failure_at": now,
            "locked_until": now + _lock_sql(failures, free, locks),
        },
        where=t.c.locked_until <= now,
    ).returning(t.c.subject, t.c.failures, t.c.last_failure_at, t.c.locked_until)
    row = conn.execute(stmt).fetchone()
    return FailureRow(*row) if row is not None else None


def _lock(failures: int, free: int, locks: Sequence[int]) -> int:
    excess = failures - free
    return 0 if excess <= 0 else locks[min(excess, len(locks)) - 1]


def _lock_sql(failures: sa.ColumnElement[int], free: int, locks: Sequence[int]) -> sa.ColumnElement[int]:
    steps = [(failures <= free, 0)] + [(failures == free + n, lock) for n, lock in enumerate(locks[:-1], 1)]
    return sa.case(*steps, else_=locks[-1])


def release_attempt(conn: Connection, *, reserved: FailureRow) -> None:
    """Take back an attempt reserve_attempt() counted (its password was right): one fewer, and
    the lock it set (if it set one, and no later attempt has moved it since) lifted."""
    t = sign_in_failures
    conn.execute(
        sa.update(t)
        .where(t.c.subject == reserved.subject, t.c.failures > 0)
        .values(
            failures=t.c.failures - 1,
            locked_until=sa.case(
                (t.c.locked_until == reserved.locked_until, reserved.last_failure_at), else_=t.c.locked_until
            ),
        )
    )


def clear_failures(conn: Connection, *, subject: str) -> None:
    conn.execute(sa.delete(sign_in_failures).where(sign_in_failures.c.subject == subject))
