"""Issue #15 item 13: a 401 for a token that exists must cost what one for an unknown token costs,
so that its timing does not tell them apart. Checked by structure, not by the clock: every way of
being refused runs the same statements, reads the same rows, hashes as often and compares as long
(hmac.compare_digest's loop runs over its second argument). Both databases."""

from __future__ import annotations

import asyncio
import hmac
from typing import Any

import pytest

from cartgroups.errors import Unauthorized
from cartgroups.service import credentials
from cartgroups.service.credentials import REJECTED, Authenticator
from cartgroups.storage import fastpath
from cartgroups.storage.database import Database
from cartgroups.storage.postgres import store as pg_store
from cartgroups.storage.store import Store, open_store

UNKNOWN = "0123456789abcdef0123456789abcdef"
Headers = dict[str, str]


class _Cursor:
    """A driver cursor that notes whether each fetchone found a row."""

    def __init__(self, cursor: Any, trace: list[tuple[object, ...]]) -> None:
        self._cursor, self._trace = cursor, trace

    def fetchone(self) -> Any:
        row = self._cursor.fetchone()
        self._trace.append(("row", row is not None))
        return row

    def fetchall(self) -> Any:
        rows = self._cursor.fetchall()
        self._trace.append(("rows", len(rows)))
        return rows

    def __getattr__(self, name: str) -> Any:
        return getattr(self._cursor, name)


class _AsyncCursor:
    """The same for psycopg's async cursor (PostgresStore's reads)."""

    def __init__(self, cursor: Any, trace: list[tuple[object, ...]]) -> None:
        self._cursor, self._trace = cursor, trace

    async def fetchone(self) -> Any:
        row = await self._cursor.fetchone()
        self._trace.append(("row", row is not None))
        return row

    async def fetchall(self) -> Any:
        rows = await self._cursor.fetchall()
        self._trace.append(("rows", len(rows)))
        return rows

    def __getattr__(self, name: str) -> Any:
        return getattr(self._cursor, name)


@pytest.fixture
def trace(monkeypatch: pytest.MonkeyPatch) -> list[tuple[object, ...]]:
    """What verification does, in order: statements run (and rows read), hashes, comparisons.
    Statements are traced on both ways the store runs them: SQLite's (fastpath.Prepared.run,
    synchronous) and PostgreSQL's (psycopg async, postgres/store._execute)."""
    steps: list[tuple[object, ...]] = []
    run, compare, hash_secret = fastpath.Prepared.run, hmac.compare_digest, credentials.hash_secret
    execute = pg_store._execute

    def counting_run(self: fastpath.Prepared, conn: Any, params: Any) -> Any:
        steps.append(("statement", str(self.statement)))
        return _Cursor(run(self, conn, params), steps)

    async def counting_execute(conn: Any, statement: fastpath.Prepared, params: Any) -> Any:
        steps.append(("statement", str(statement.statement)))
        return _AsyncCursor(await execute(conn, statement, params), steps)

    def counting_compare(a: Any, b: Any) -> bool:
        steps.append(("compare", type(a).__name__, type(b).__name__, len(b)))
        return compare(a, b)

    def counting_hash(secret: str) -> str:
        steps.append(("hash", len(secret)))
        return hash_secret(secret)

    monkeypatch.setattr(fastpath.Prepared, "run", counting_run)
    monkeypatch.setattr(pg_store, "_execute", counting_execute)
    monkeypatch.setattr(hmac, "compare_digest", counting_compare)  # the module credentials uses
    monkeypatch.setattr(credentials, "hash_secret", counting_hash)
    return steps


async def _refused(store: Store, trace: list[tuple[object, ...]], **headers: str) -> list[tuple[object, ...]]:
    """The steps of one refused verification."""
    auth = Authenticator(store, cache_seconds=0)  # the verification itself, no cache in front
    trace.clear()
    with pytest.raises(Unauthorized) as caught:
        await auth.verify(write=False, **headers)
    assert caught.value.message == REJECTED
    return list(trace)


def test_every_refusal_does_the_same_work_as_an_unknown_token(
    empty_database_url: str, trace: list[tuple[object, ...]]
) -> None:
    db = Database(empty_database_url)
    try:
        issued = credentials.issue(db, secure_url="shop.example.com")
        revoked = credentials.issue(db, secure_url="shop.example.com")
        credentials.revoke(db, token_id=revoked.token_id)

        def sent(token: str, store: str = "shop.example.com", key: str = issued.private_key or "") -> Headers:
            return {"secure_url": store, "private_key": key, "token": token}

        async def scenario(store: Store) -> None:
            await store.open()  # not traced: opening the pool is no part of a verification
            try:
                unknown = await _refused(store, trace, **sent(UNKNOWN))
                assert [step[0] for step in unknown] == [
                    "hash",
                    "statement",
                    "row",
                    "hash",
                    "compare",
                    "compare",
                ]
                cases = {
                    "a wrong PrivateKey": sent(issued.token, key="f" * 32),
                    "another store": sent(issued.token, store="shop.example.org"),
                    "a revoked token": sent(revoked.token),
                }
                for case, headers in cases.items():
                    assert await _refused(store, trace, **headers) == unknown, case
                # The right credentials pass through the same steps.
                trace.clear()
                await Authenticator(store, cache_seconds=0).verify(write=False, **sent(issued.token))
                assert trace == unknown
            finally:
                await store.close()

        asyncio.run(scenario(open_store(db)))
    finally:
        db.dispose()
