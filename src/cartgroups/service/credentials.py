"""The 3dcart credential model: a store (SecureURL), an application (PrivateKey), and a token that
authorizes the application on the store with read and/or write scope.

Secrets are 128-bit random hex strings, shown once, stored as SHA-256 hashes. A fast hash is
the right tool here: the secrets are random, not passwords, so there is nothing to guess at;
a slow KDF would only add milliseconds to every request.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import time
from collections.abc import Callable, Hashable
from dataclasses import dataclass

import sqlalchemy as sa

from cartgroups.errors import Invalid, NotFound, Unauthorized
from cartgroups.storage import credentials as cred_sql
from cartgroups.storage.database import Database
from cartgroups.storage.store import Store

DEMO_STORE = "demo.cartgroups.local"
DEFAULT_APP = "default"
SCOPES = ("read", "write")

MISSING = "Missing required header(s): {}"
REJECTED = "Invalid credentials: the SecureURL, PrivateKey and Token do not form a valid authorization"
NO_SCOPE = "The application is not authorized to {} this store's data"

_SCHEME = re.compile(r"^[a-z][a-z0-9+.-]*://", re.IGNORECASE)
_STORE = re.compile(r"[a-z0-9]([a-z0-9.-]*[a-z0-9])?(:[0-9]{1,5})?(/[a-z0-9._~/-]*)?")
_APP_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9 ._-]{0,99}")


def normalise_secure_url(raw: str) -> str:
    """``https://www.Shop.com/`` names the store ``shop.com``."""
    url = _SCHEME.sub("", raw.strip()).rstrip("/\\").lower()
    return url.removeprefix("www.")


def hash_secret(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8", "surrogatepass")).hexdigest()


def new_secret() -> str:
    return secrets.token_hex(16)  # 128 bits, the shape of 3dcart's own keys and tokens


def parse_scopes(raw: str) -> tuple[bool, bool]:
    """``read,write`` -> (can_read, can_write)."""
    names = {part.strip().lower() for part in raw.split(",") if part.strip()}
    unknown = names - set(SCOPES)
    if unknown or not names:
        message = f"scope must be read, write or read,write (got {raw!r})"
        raise Invalid(message, fields={"scope": message})
    return "read" in names, "write" in names


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is calling: a verified token, its store, its application and its scopes. Changes made
    other than through the API, such as cartgroups.testing's seed(), have no token or
    application (the audit log records them without one)."""

    store_id: int
    secure_url: str
    can_read: bool
    can_write: bool
    application_id: int | None = None
    token_id: int | None = None
    application: str | None = None


@dataclass(frozen=True, slots=True)
class Issued:
    """A newly issued token. ``private_key`` is None when the application already existed
    (its key was shown when it was created and is not stored)."""

    token_id: int
    secure_url: str
    application: str
    private_key: str | None
    token: str
    can_read: bool
    can_write: bool


_LOOK_NOW: Hashable = object()  # Authenticator.verify's caller took no look for this request


class Authenticator:
    """Verifies the three headers.

    A combination of header values that verified is kept in this process's memory and reused
    without hashing or asking the database again, for as long as no token has been revoked and
    the data has not been replaced: every ``cache_seconds`` (<= 1 s) the process reads the
    database's count of revocations (bumped in the revoking transaction) and its generation (set
    anew by every restore, in the restoring transaction), in one statement
    (storage.credentials.credentials_state), and forgets everything it knew when either moved.
    On SQLite it also reads them before any request that follows a commit by anyone (a look at
    SQLite's data version tells: storage.commits.Commits, a look the API takes once per request
    and shares with the read cache), so there a revoked token
    or the credentials of a restored-away store never verify again once the change is committed.
    So a revoked token, or one restored away, stops working within ``cache_seconds`` on every
    process (SQLite: at once), and a busy process asks the database about a token once, not once
    per ``cache_seconds``. Tokens are never changed in place (scopes, store and application are
    fixed at issue), so a revocation or a restore are the only changes to watch for: a restore
    may give a store's id to another store, and a kept Principal names its store by id.
    Only verified combinations are kept: a wrong one always costs the full check."""

    MAX_ENTRIES = 10_000

    def __init__(self, store: Store, *, cache_seconds: float) -> None:
        self.store = store
        self.cache_seconds = cache_seconds
        self._cache: dict[tuple[str, str, str], Principal] = {}
        self._version: cred_sql.CredentialsState | None = None
        self._check_due = 0.0
        self._looked: Hashable = None  # the change token at the last look
        # Called when the data was replaced (a restore), after the verified credentials were
        # forgotten: others who keep something by store id (the rate limiter's own buckets)
        # forget it too, before the request that noticed goes on.
        self.on_restore: list[Callable[[], None]] = []

    def look(self) -> Hashable:
        """This request's change token (store.look(); on SQLite, storage.commits): taken once by
        the API, before it verifies the credentials, and handed to verify() and to the read cache
        (which shares this Authenticator's store), so that the database is asked once a request."""
        return self.store.look()

    async def verify(
        self,
        *,
        secure_url: str | None,
        private_key: str | None,
        token: str | None,
        write: bool,
        changes: Hashable = _LOOK_NOW,
    ) -> Principal:
        """The principal of these credentials, or Unauthorized. ``changes``: the change token
        the caller took for this request (store.look()); without it, one is taken now."""
        if not (secure_url and private_key and token):
            given = (("SecureURL", secure_url), ("PrivateKey", private_key), ("Token", token))
            raise Unauthorized(MISSING.format(", ".join(name for name, value in given if not value)))
        if self.cache_seconds <= 0:
            return self._allowed(await self._verified(secure_url, private_key, token), write)
        if changes is _LOOK_NOW:
            changes = self.store.look()
        if changes != self._looked or time.monotonic() >= self._check_due:
            # Before the look is recorded: a failed check (an outage) is made again next time.
            await self._check_revocations()
            self._looked = changes
        key = (secure_url, private_key, token)
        principal = self._cache.get(key)
        if principal is None:
            kept = self._cache  # replaced whenever what was verified is forgotten (_forget)
            principal = await self._verified(secure_url, private_key, token)
            # On PostgreSQL other requests run while this one waits for its token's row: one
            # of them may have found a revocation and forgotten everything meanwhile. This
            # token was read before that, so it is kept only if nothing was forgotten since.
            if kept is self._cache:
                if len(kept) >= self.MAX_ENTRIES:
                    self._forget()
                self._cache[key] = principal
        return self._allowed(principal, write)

    def _forget(self) -> None:
        self._cache = {}

    def clear(self) -> None:
        """Forget every verified combination (the next request of each is checked in full)."""
        self._forget()

    async def _check_revocations(self) -> None:
        # The due time is taken before the read: a revocation committed after the read is seen
        # at the next check, at most cache_seconds later. A failed read (database unavailable)
        # fails the request and leaves the check due.
        due = time.monotonic() + self.cache_seconds
        version = await self.store.credentials_state()
        self._check_due = due
        if version != self._version:
            self._forget()
            restored = self._version is not None and version.generation != self._version.generation
            self._version = version
            if restored:
                for forget in self.on_restore:
                    forget()

    async def _verified(self, secure_url: str, private_key: str, token: str) -> Principal:
        grant = await self.store.find_grant(token_hash=hash_secret(token))
        store = normalise_secure_url(secure_url)
        # Compare everything, always, in constant time, and say only that it failed. The same
        # work whether the token exists or not (what a 401 takes must not tell): the lookup reads
        # one row either way, and an unknown token's key and store are compared with NO_GRANT's.
        # compare_digest takes as long as its second argument, so that is what the client sent.
        expected = grant or cred_sql.NO_GRANT
        key_ok = hmac.compare_digest(expected.private_key_hash, hash_secret(private_key))
        store_ok = hmac.compare_digest(
            expected.secure_url.encode("utf-8", "surrogatepass"), store.encode("utf-8", "surrogatepass")
        )
        if grant is None or not (key_ok and store_ok):
            raise Unauthorized(REJECTED)
        return Principal(
            grant.store_id,
            grant.secure_url,
            grant.can_read,
            grant.can_write,
            application_id=grant.application_id,
            token_id=grant.token_id,
            application=grant.application,
        )

    @staticmethod
    def _allowed(principal: Principal, write: bool) -> Principal:
        if not (principal.can_write if write else principal.can_read):
            raise Unauthorized(NO_SCOPE.format("change" if write else "read"))
        return principal


def issue(
    db: Database, *, secure_url: str, application: str = DEFAULT_APP, scope: str = "read,write"
) -> Issued:
    """Create the store and the application when they do not exist, and issue a token."""
    store = normalise_secure_url(secure_url)
    if len(store) > cred_sql.SECURE_URL_MAX:  # checked first: such a value is not worth echoing
        message = (
            f"a store address is at most {cred_sql.SECURE_URL_MAX} characters (this one has {len(store)})"
        )
        raise Invalid(message, fields={"store": message})
    if not _STORE.fullmatch(store):
        message = f"{secure_url!r} is not a store address such as shop.example.com"
        raise Invalid(message, fields={"store": message})
    if not _APP_NAME.fullmatch(application):
        message = "an application name is 1 to 100 letters, digits, spaces, dots, dashes or underscores"
        raise Invalid(message, fields={"application": message})
    can_read, can_write = parse_scopes(scope)
    with db.write() as conn:
        return _issue(conn, store, application, can_read, can_write)


def issue_demo_if_empty(db: Database) -> Issued | None:
    """On a database without stores, create a demo store with read/write credentials."""
    try:
        with db.write() as conn:
            if cred_sql.count_stores(conn):
                return None
            return _issue(conn, DEMO_STORE, "demo", True, True)
    except sa.exc.IntegrityError:
        return None  # another process starting at the same moment created it first


def _issue(conn: sa.Connection, store: str, application: str, can_read: bool, can_write: bool) -> Issued:
    store_id = cred_sql.find_store_id(conn, secure_url=store)
    if store_id is None:
        store_id = cred_sql.insert_store(conn, secure_url=store)
    private_key: str | None = None
    app_id = cred_sql.find_application_id(conn, name=application)
    if app_id is None:
        private_key = new_secret()
        app_id = cred_sql.insert_application(
            conn, name=application, private_key_hash=hash_secret(private_key)
        )
    token = new_secret()
    token_id = cred_sql.insert_token(
        conn,
        store_id=store_id,
        application_id=app_id,
        token_hash=hash_secret(token),
        token_prefix=token[:8],
        can_read=can_read,
        can_write=can_write,
    )
    return Issued(token_id, store, application, private_key, token, can_read, can_write)


def revoke(
    db: Database, *, token_id: int | None = None, token: str | None = None, store_id: int | None = None
) -> None:
    """The one way a token is revoked (`cartgroups credentials revoke`, the console's button):
    named by id or by its secret; with ``store_id`` (and an id), only a token of that store.
    The storage moves the revocation count every Authenticator watches in the same transaction.
    NotFound when there is no such live token."""
    if store_id is not None and token_id is None:
        raise TypeError("revoke(store_id=...) names the token by its id")
    with db.write() as conn:
        if store_id is not None and token_id is not None:
            done = cred_sql.revoke_store_token(conn, store_id=store_id, token_id=token_id)
        else:
            done = cred_sql.revoke_token(
                conn, token_id=token_id, token_hash=hash_secret(token) if token else None
            )
    if not done:
        raise NotFound("no such live token" + (f" (id {token_id})" if token_id is not None else ""))


def store_id_of(db: Database, secure_url: str) -> int:
    store = normalise_secure_url(secure_url)
    with db.read() as conn:
        store_id = cred_sql.find_store_id(conn, secure_url=store)
    if store_id is None:
        raise NotFound(f"unknown store {store!r}")
    return store_id
