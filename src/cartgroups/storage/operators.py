"""SQL for the admin console's operator accounts, their sessions and failed sign-in counters.

These are not a store's data, so they take no store; everything else the console reads goes
through the store-first functions of customer_groups.py and credentials.py."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.engine import Connection

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


def save_failure(conn: Connection, *, row: FailureRow) -> None:
    """Insert or replace a subject's counter. Call inside a write transaction (it reads first)."""
    exists = conn.execute(
        sa.select(sign_in_failures.c.subject).where(sign_in_failures.c.subject == row.subject)
    ).fetchone()
    values = {
        "failures": row.failures,
        "last_failure_at": row.last_failure_at,
        "locked_until": row.locked_until,
    }
    if exists is None:
        conn.execute(sa.insert(sign_in_failures).values(subject=row.subject, **values))
    else:
        conn.execute(
            sa.update(sign_in_failures).where(sign_in_failures.c.subject == row.subject).values(**values)
        )


def clear_failures(conn: Connection, *, subject: str) -> None:
    conn.execute(sa.delete(sign_in_failures).where(sign_in_failures.c.subject == subject))
