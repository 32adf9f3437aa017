"""Storage tests call the SQL functions directly, on SQLite and on PostgreSQL."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterator
from decimal import Decimal
from typing import TypeVar

import pytest

from cartgroups.model import EDITABLE
from cartgroups.storage import credentials as cred_sql
from cartgroups.storage.database import Database
from cartgroups.storage.store import Store

T = TypeVar("T")


@pytest.fixture
def db(empty_database_url: str) -> Iterator[Database]:
    """The session database with its schema and no rows."""
    database = Database(empty_database_url)
    yield database
    database.dispose()


@pytest.fixture
def pg_db(db: Database) -> Database:
    """``db`` in its PostgreSQL case; its SQLite case is skipped."""
    if db.dialect_name != "postgresql":
        pytest.skip("about PostgreSQL's store only")
    return db


def group_values(**overrides: object) -> dict[str, object]:
    """Every column of a customer group, with the defaults a POST would fill in."""
    values: dict[str, object] = {f.column: f.default for f in EDITABLE}
    values.update(name="Wholesale", minimum_order=Decimal("0"))
    values.update(overrides)
    return values


def new_store(db: Database, secure_url: str) -> int:
    with db.write() as conn:
        return cred_sql.insert_store(conn, secure_url=secure_url)


def run_on_store(store: Store, scenario: Callable[[], Awaitable[T]]) -> T:
    """``scenario()`` on a new event loop, with the store opened on it and closed at the end."""

    async def opened() -> T:
        await store.open()
        try:
            return await scenario()
        finally:
            await store.close()

    return asyncio.run(opened())
