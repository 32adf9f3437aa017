"""Operator accounts of the admin console: passwords, sessions and the brake on failed sign-ins.

Passwords are hashed with scrypt (hashlib, no extra dependency), a random 16-byte salt per
account, and the cost parameters stored next to the hash (``scrypt$n$r$p$salt$hash``), so the
cost can be raised later without invalidating old hashes.

A session is a random 256-bit id kept in the browser's cookie; the database holds only its
SHA-256, the operator, the session's CSRF token and its expiry. Signing out deletes the row.

Failed sign-ins are counted per username and per client address in the database, so the brake
holds across server processes and hosts. After a few free failures each further one locks the
subject for a delay that doubles each time (2 s, 4 s, ... at most 15 min); while locked, a
sign-in is refused without looking at the password. Each attempt is counted, in one statement,
before its password is checked (storage.operators.reserve_attempt), so that attempts arriving
together cannot all pass a check of the lock made before any of them failed: at most the free
failures plus one passwords are checked before the lock. A failure keeps its count; a success
clears the username's counter and takes its attempt back from the address's.
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
from cartgroups.service.validation import is_clean_text
from cartgroups.storage import operators as op_sql
from cartgroups.storage.database import Database

SCRYPT_N, SCRYPT_R, SCRYPT_P = 2**15, 8, 1  # 32 MiB and ~0.1 s per hash on a small server
_SCRYPT_MAXMEM = 256 * 1024 * 1024
SESSION_SECONDS = 8 * 3600
FREE_FAILURES = {"user": 5, "ip": 20}
MAX_LOCK_SECONDS = 15 * 60
# The lock set by each failure past the free ones: 2 s, 4 s, ... up to MAX_LOCK_SECONDS.
LOCK_STEPS = tuple(min(2**n, MAX_LOCK_SECONDS) for n in range(1, MAX_LOCK_SECONDS.bit_length() + 1))
FORGET_AFTER_SECONDS = 3600  # a counter idle this long starts again from zero

USERNAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._@-]{0,63}")
PASSWORD_MIN, PASSWORD_MAX = 10, 1024

BAD_USERNAME = (
    "A username is 1 to 64 letters, digits, dots, dashes, underscores or @, starting with a letter or digit"
)
BAD_PASSWORD = f"A password is {PASSWORD_MIN} to {PASSWORD_MAX} characters"
UNREADABLE_USERNAME = "The username must be valid Unicode text without NUL characters."
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
    """A sign-in attempt counted against its brake keys (``reserved``, one row per key, the
    username's first), whose password is yet to be checked."""

    operator: op_sql.OperatorRow | None
    password_hash: str
    reserved: tuple[op_sql.FailureRow, ...]


@dataclass(frozen=True, slots=True)
class SignedIn:
    session_id: str
    session: Session


class _Refused(Exception):
    """A brake key is locked: the reservations made so far are rolled back."""


class Operators:
    """Accounts, sessions and the sign-in brake. ``clock`` returns Unix seconds and ``verifier``
    checks a password against a stored hash (tests pass their own)."""

    def __init__(
        self,
        db: Database,
        *,
        clock: Callable[[], float] = time.time,
        verifier: Callable[[str, str], bool] = verify_password,
    ) -> None:
        self.db = db
        self.clock = clock
        self.verifier = verifier

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
            rows = [op_sql.find_failure(conn, subject=s) for s in brake_keys(username, address)]
        return max((row.locked_until - now for row in rows if row is not None), default=0)

    def sign_in(self, *, username: str, password: str, address: str) -> SignedIn | Locked | None:
        """A new session; Locked when the brake is on (or this failure set it); None for a wrong
        username or password."""
        attempt = self.attempt(username=username, address=address)
        if isinstance(attempt, Locked):
            return attempt
        return self.finish(attempt, ok=self.check(attempt, password))

    def attempt(self, *, username: str, address: str) -> Attempt | Locked:
        """Step one of a sign-in: Locked, or the attempt, counted against the brake, with the
        hash to check the password against (a dummy one for an unknown username, so that the
        check costs the same). The caller runs check() (in a worker thread: it takes ~0.1 s of
        CPU) and then finish(). Invalid for a username no database can hold (NUL, a lone
        surrogate): it names nobody, and no password is checked for it."""
        if not is_clean_text(username):
            raise Invalid(UNREADABLE_USERNAME)
        now = self.now()
        try:
            with self.db.write() as conn:
                reserved = []
                for key in brake_keys(username, address):
                    free = FREE_FAILURES[key.partition(":")[0]]
                    row = op_sql.reserve_attempt(
                        conn,
                        subject=key,
                        now=now,
                        free=free,
                        locks=LOCK_STEPS,
                        forget_after=FORGET_AFTER_SECONDS,
                    )
                    if row is None:
                        raise _Refused()  # and the reservations made so far are rolled back
                    reserved.append(row)
        except _Refused:
            return Locked(max(self.locked_for(username=username, address=address), 1))
        with self.db.read() as conn:
            found = op_sql.find_operator(conn, username=username) if USERNAME.fullmatch(username) else None
        return Attempt(found, found.password_hash if found else _DUMMY_HASH, tuple(reserved))

    def check(self, attempt: Attempt, password: str) -> bool:
        return self.verifier(password, attempt.password_hash)

    def finish(self, attempt: Attempt, *, ok: bool) -> SignedIn | Locked | None:
        """The session; or for a wrong password None, or Locked when this attempt set a lock (it
        stays counted). A success clears the username's counter and takes the attempt back from
        the address's."""
        found = attempt.operator
        if found is None or not ok:
            wait = max(row.locked_until - row.last_failure_at for row in attempt.reserved)
            return Locked(wait) if wait > 0 else None
        username, *others = attempt.reserved
        with self.db.write() as conn:
            op_sql.clear_failures(conn, subject=username.subject)
            for row in others:
                op_sql.release_attempt(conn, reserved=row)
        return self.start_session(operator_id=found.id, username=found.username)

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


def brake_keys(username: str, address: str) -> tuple[str, str]:
    """What the sign-in brake counts an attempt against: the username (first: a success clears
    its counter) and the client address. Computed here only."""
    return f"user:{username.lower()[:150]}", f"ip:{address[:45]}"
