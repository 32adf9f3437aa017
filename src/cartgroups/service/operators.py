"""Operator accounts of the admin console: passwords, sessions and the brake on failed sign-ins.

Passwords are hashed with scrypt (hashlib, no extra dependency), a random 16-byte salt per
account, and the cost parameters stored next to the hash (``scrypt$n$r$p$salt$hash``), so the
cost can be raised later without invalidating old hashes.

A session is a random 256-bit id kept in the browser's cookie; the database holds only its
SHA-256, the operator, the session's CSRF token and its expiry. Signing out deletes the row.

Failed sign-ins are counted per username and per client address in the database, so the brake
holds across server processes and hosts. After a few free failures each further one locks the
subject for a delay that doubles each time (2 s, 4 s, ... at most 15 min); while locked, a
sign-in is refused without looking at the password. A success clears the username's counter.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass

import sqlalchemy as sa

from cartgroups.errors import Invalid, NotFound
from cartgroups.storage import operators as op_sql
from cartgroups.storage.database import Database

SCRYPT_N, SCRYPT_R, SCRYPT_P = 2**15, 8, 1  # 32 MiB and ~0.1 s per hash on a small server
_SCRYPT_MAXMEM = 256 * 1024 * 1024
SESSION_SECONDS = 8 * 3600
FREE_FAILURES = {"user": 5, "ip": 20}
MAX_LOCK_SECONDS = 15 * 60
FORGET_AFTER_SECONDS = 3600  # a counter idle this long starts again from zero

USERNAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._@-]{0,63}")
PASSWORD_MIN, PASSWORD_MAX = 10, 1024

BAD_USERNAME = (
    "A username is 1 to 64 letters, digits, dots, dashes, underscores or @, starting with a letter or digit"
)
BAD_PASSWORD = f"A password is {PASSWORD_MIN} to {PASSWORD_MAX} characters"
WRONG = "Wrong username or password."


def hash_password(password: str, *, n: int = SCRYPT_N, r: int = SCRYPT_R, p: int = SCRYPT_P) -> str:
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, n=n, r=r, p=p, maxmem=_SCRYPT_MAXMEM, dklen=32)
    encoded = (base64.b64encode(part).decode() for part in (salt, digest))
    return "$".join(("scrypt", str(n), str(r), str(p), *encoded))


def verify_password(password: str, stored: str) -> bool:
    try:
        scheme, n, r, p, salt, expected = stored.split("$")
        if scheme != "scrypt":
            return False
        digest = hashlib.scrypt(
            password.encode(),
            salt=base64.b64decode(salt),
            n=int(n),
            r=int(r),
            p=int(p),
            maxmem=_SCRYPT_MAXMEM,
            dklen=32,
        )
    except ValueError:
        return False
    return hmac.compare_digest(digest, base64.b64decode(expected))


# Checked against when the username does not exist, so that such a try costs the same time.
_DUMMY_HASH = "scrypt$32768$8$1$AAAAAAAAAAAAAAAAAAAAAA==$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="


def check_username(username: str) -> str:
    if not USERNAME.fullmatch(username):
        raise Invalid(BAD_USERNAME)
    return username


def check_password(password: str) -> str:
    if not PASSWORD_MIN <= len(password) <= PASSWORD_MAX:
        raise Invalid(BAD_PASSWORD)
    return password


def lock_seconds(failures: int, free: int) -> int:
    """How long a subject is locked after its ``failures``-th failure in a row (0: not locked)."""
    excess = failures - free
    return 0 if excess <= 0 else min(2**excess, MAX_LOCK_SECONDS)


def session_hash(session_id: str) -> str:
    return hashlib.sha256(session_id.encode("utf-8", "surrogatepass")).hexdigest()


@dataclass(frozen=True, slots=True)
class Session:
    operator_id: int
    username: str
    csrf_token: str
    expires_at: int


@dataclass(frozen=True, slots=True)
class Locked:
    """Sign-in refused: the username or the address is locked for ``seconds`` more."""

    seconds: int


@dataclass(frozen=True, slots=True)
class Attempt:
    username: str
    address: str
    operator: op_sql.OperatorRow | None
    password_hash: str


@dataclass(frozen=True, slots=True)
class SignedIn:
    session_id: str
    session: Session


class Operators:
    """Accounts, sessions and the sign-in brake. ``clock`` returns Unix seconds (tests pass their own)."""

    def __init__(self, db: Database, *, clock: Callable[[], float] = time.time) -> None:
        self.db = db
        self.clock = clock

    def now(self) -> int:
        return int(self.clock())

    # Accounts

    def create(self, *, username: str, password: str) -> int:
        check_username(username)
        hashed = hash_password(check_password(password))
        try:
            with self.db.write() as conn:
                if op_sql.find_operator(conn, username=username) is not None:
                    raise Invalid(f"an operator named {username!r} exists already")
                return op_sql.insert_operator(conn, username=username, password_hash=hashed)
        except sa.exc.IntegrityError:
            raise Invalid(f"an operator named {username!r} exists already") from None

    def delete(self, *, username: str) -> None:
        with self.db.write() as conn:
            if not op_sql.delete_operator(conn, username=username):
                raise NotFound(f"no operator named {username!r}")

    def list(self) -> list[op_sql.OperatorRow]:
        with self.db.read() as conn:
            return op_sql.list_operators(conn)

    # Signing in

    def locked_for(self, *, username: str, address: str) -> int:
        """Seconds until a sign-in for this username from this address may be tried (0: now)."""
        now = self.now()
        with self.db.read() as conn:
            rows = [op_sql.find_failure(conn, subject=s) for s in _subjects(username, address)]
        return max((row.locked_until - now for row in rows if row is not None), default=0)

    def sign_in(self, *, username: str, password: str, address: str) -> SignedIn | Locked | None:
        """A new session; Locked when the brake is on (or this failure set it); None for a wrong
        username or password."""
        attempt = self.attempt(username=username, address=address)
        if isinstance(attempt, Locked):
            return attempt
        return self.finish(attempt, ok=verify_password(password, attempt.password_hash))

    def attempt(self, *, username: str, address: str) -> Attempt | Locked:
        """Step one of a sign-in: Locked, or the hash to check the password against (a dummy one
        for an unknown username, so that the check costs the same). The caller runs
        verify_password (in a worker thread: it takes ~0.1 s of CPU) and then finish()."""
        wait = self.locked_for(username=username, address=address)
        if wait > 0:
            return Locked(wait)
        with self.db.read() as conn:
            found = op_sql.find_operator(conn, username=username) if USERNAME.fullmatch(username) else None
        return Attempt(username, address, found, found.password_hash if found else _DUMMY_HASH)

    def finish(self, attempt: Attempt, *, ok: bool) -> SignedIn | Locked | None:
        """The session; or for a wrong password None, or Locked when this failure set a lock."""
        found = attempt.operator
        if found is None or not ok:
            wait = self._failed(attempt.username, attempt.address)
            return Locked(wait) if wait > 0 else None
        with self.db.write() as conn:
            op_sql.clear_failures(conn, subject=_subjects(attempt.username, attempt.address)[0])
        return self.start_session(operator_id=found.id, username=found.username)

    def _failed(self, username: str, address: str) -> int:
        """Count a failure against the username and the address; the longest lock it set."""
        now = self.now()
        longest = 0
        for subject in _subjects(username, address):
            free = FREE_FAILURES[subject.partition(":")[0]]
            try:
                with self.db.write() as conn:
                    row = op_sql.find_failure(conn, subject=subject)
                    failures = 1
                    if row is not None and now - row.last_failure_at < FORGET_AFTER_SECONDS:
                        failures = row.failures + 1
                    wait = lock_seconds(failures, free)
                    longest = max(longest, wait)
                    locked_until = now + wait
                    op_sql.save_failure(conn, row=op_sql.FailureRow(subject, failures, now, locked_until))
            except sa.exc.IntegrityError:
                pass  # another process counted a failure for this subject at the same moment
        return longest

    def failures(self, *, subject: str) -> op_sql.FailureRow | None:
        with self.db.read() as conn:
            return op_sql.find_failure(conn, subject=subject)

    # Sessions

    def start_session(self, *, operator_id: int, username: str) -> SignedIn:
        session_id = secrets.token_urlsafe(32)
        session = Session(operator_id, username, secrets.token_urlsafe(32), self.now() + SESSION_SECONDS)
        with self.db.write() as conn:
            op_sql.delete_expired_sessions(conn, now=self.now())
            op_sql.insert_session(
                conn,
                session_hash=session_hash(session_id),
                operator_id=operator_id,
                csrf_token=session.csrf_token,
                expires_at=session.expires_at,
            )
        return SignedIn(session_id, session)

    def session(self, session_id: str) -> Session | None:
        if not session_id or len(session_id) > 100:
            return None
        with self.db.read() as conn:
            row = op_sql.find_session(conn, session_hash=session_hash(session_id), now=self.now())
        return Session(row.operator_id, row.username, row.csrf_token, row.expires_at) if row else None

    def end_session(self, session_id: str) -> None:
        with self.db.write() as conn:
            op_sql.delete_session(conn, session_hash=session_hash(session_id))


def _subjects(username: str, address: str) -> tuple[str, str]:
    return f"user:{username.lower()[:150]}", f"ip:{address[:45]}"
