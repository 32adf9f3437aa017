"""The Authenticator's reuse of verified credentials: a busy process asks the database about a
token once, and a revocation made anywhere is noticed within ``cache_seconds``."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from types import SimpleNamespace

import pytest
import sqlalchemy as sa

from cartgroups.errors import NotFound, Unauthorized
from cartgroups.service import credentials
from cartgroups.service.credentials import REJECTED, Authenticator, Issued
from cartgroups.storage import credentials as cred_sql
from cartgroups.storage import tables
from cartgroups.storage.credentials import TokenGrant
from cartgroups.storage.database import Database
from cartgroups.storage.store import Store, open_store


@pytest.fixture
def db(empty_database_url: str) -> Iterator[Database]:
    database = Database(empty_database_url)
    yield database
    database.dispose()


@pytest.fixture
def loop() -> Iterator[asyncio.AbstractEventLoop]:
    """The test's one event loop: every verification runs on it."""
    loop = asyncio.new_event_loop()
    yield loop
    loop.close()


@pytest.fixture
def store(db: Database, loop: asyncio.AbstractEventLoop) -> Iterator[Store]:
    """The request path's store of ``db``, bound to the test's loop and closed after."""
    store = open_store(db)
    yield store
    loop.run_until_complete(store.close())


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    """The Authenticator's clock (only its own: the event loop and the pool keep the real one)."""
    clock = Clock()
    monkeypatch.setattr(credentials, "time", SimpleNamespace(monotonic=clock))
    return clock


@pytest.fixture
def lookups(store: Store, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every token hash the Authenticator looks up in the database (through its store)."""
    seen: list[str] = []
    real = store.find_grant

    async def counting(*, token_hash: str) -> TokenGrant | None:
        seen.append(token_hash)
        return await real(token_hash=token_hash)

    monkeypatch.setattr(store, "find_grant", counting)
    return seen


def verify(loop: asyncio.AbstractEventLoop, auth: Authenticator, issued: Issued) -> credentials.Principal:
    assert issued.private_key is not None
    return loop.run_until_complete(
        auth.verify(
            secure_url=issued.secure_url, private_key=issued.private_key, token=issued.token, write=True
        )
    )


def test_a_verified_token_is_looked_up_once_while_nothing_is_revoked(
    db: Database, store: Store, loop: asyncio.AbstractEventLoop, clock: Clock, lookups: list[str]
) -> None:
    issued = credentials.issue(db, secure_url="shop.com", application="a")
    auth = Authenticator(store, cache_seconds=0.5)
    first = verify(loop, auth, issued)
    for _ in range(5):
        clock.now += 10  # far beyond cache_seconds: the check finds no revocation
        assert verify(loop, auth, issued) == first
    assert lookups == [credentials.hash_secret(issued.token)]


def test_a_revocation_by_another_process_is_noticed_within_cache_seconds(
    db: Database, store: Store, loop: asyncio.AbstractEventLoop, empty_database_url: str, clock: Clock
) -> None:
    issued = credentials.issue(db, secure_url="shop.com", application="a")
    kept = credentials.issue(db, secure_url="shop.com", application="b")
    auth = Authenticator(store, cache_seconds=0.5)
    verify(loop, auth, issued)
    verify(loop, auth, kept)
    other = Database(empty_database_url)  # another process's handle on the same database
    try:
        credentials.revoke(other, token=issued.token)
    finally:
        other.dispose()
    clock.now += 0.4
    if not store.exact_changes:  # SQLite notices any commit at once (tests/test_hostile_restore.py)
        verify(loop, auth, issued)  # still inside the window this process last checked
    clock.now += 0.2
    with pytest.raises(Unauthorized) as rejected:
        verify(loop, auth, issued)
    assert rejected.value.message == REJECTED
    assert verify(loop, auth, kept).secure_url == "shop.com"


def version(db: Database) -> int:
    with db.read() as conn:
        return cred_sql.credentials_version(conn)


def test_every_revocation_moves_the_count_and_a_failed_one_does_not(db: Database) -> None:
    issued = [credentials.issue(db, secure_url="shop.com", application=f"a{i}") for i in range(3)]
    assert version(db) == 0
    credentials.revoke(db, token=issued[0].token)
    assert version(db) == 1
    credentials.revoke(db, token=issued[1].token)
    assert version(db) == 2
    with pytest.raises(NotFound):
        credentials.revoke(db, token=issued[1].token)
    assert version(db) == 2
    with db.write() as conn:  # the counter row lost (say, a hand-made cleanup): counting restarts
        conn.execute(sa.delete(tables.change_counters))
    assert version(db) == 0
    credentials.revoke(db, token=issued[2].token)
    assert version(db) == 1


def test_cache_seconds_zero_checks_every_request(
    db: Database, store: Store, loop: asyncio.AbstractEventLoop, clock: Clock, lookups: list[str]
) -> None:
    issued = credentials.issue(db, secure_url="shop.com", application="a")
    auth = Authenticator(store, cache_seconds=0)
    verify(loop, auth, issued)
    verify(loop, auth, issued)
    assert lookups == [credentials.hash_secret(issued.token)] * 2


class _SlowStore:
    """A store (storage/store.Store, the parts Authenticator uses) whose token lookup waits
    until told, as a PostgreSQL lookup waits for its round trip while other requests run."""

    exact_changes = False

    def __init__(self, grant: TokenGrant) -> None:
        self.grant: TokenGrant | None = grant
        self.state = cred_sql.CredentialsState(1, 1)
        self.answer = asyncio.Event()

    def look(self) -> None:
        return None

    async def credentials_state(self) -> cred_sql.CredentialsState:
        return self.state

    async def find_grant(self, *, token_hash: str) -> TokenGrant | None:
        grant = self.grant  # read now, answered later: the row as it was when the statement ran
        await self.answer.wait()
        return grant


def test_a_token_revoked_while_its_lookup_waits_is_not_kept() -> None:
    """A request's lookup reads the token before it is revoked; while it waits, another
    request's check finds the revocation and forgets every verified token. The waiting
    request is answered from what it read, but its token is not kept: the next request with it
    is checked again, and refused."""
    grant = TokenGrant(7, 1, 2, "slow.example", credentials.hash_secret("key"), True, True, "app")
    store = _SlowStore(grant)
    auth = Authenticator(store, cache_seconds=1.0)  # type: ignore[arg-type]
    headers = {"secure_url": "slow.example", "private_key": "key", "token": "token", "write": False}

    async def scenario() -> None:
        waiting = asyncio.ensure_future(auth.verify(**headers))  # type: ignore[arg-type]
        await asyncio.sleep(0)  # its check ran; its lookup read the live token and waits
        store.grant, store.state = None, cred_sql.CredentialsState(2, 1)  # revoked and committed
        auth._check_due = 0.0  # the next request checks for revocations (as after cache_seconds)
        store.answer.set()
        other = auth.verify(**{**headers, "token": "other"})  # type: ignore[arg-type]
        with pytest.raises(Unauthorized):  # it finds the revocation, and an unknown token
            await other
        assert (await waiting).token_id == 7  # read before the revocation: answered as it was
        with pytest.raises(Unauthorized):
            await auth.verify(**headers)  # type: ignore[arg-type]

    asyncio.run(scenario())
