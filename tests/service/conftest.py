"""Service tests call the service classes directly, on SQLite and on PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TypeVar

import pytest

from cartgroups.service.credentials import Principal
from cartgroups.service.customer_groups import CustomerGroups
from cartgroups.service.writes import Plan
from cartgroups.storage.database import Database
from tests.storage.conftest import new_store

T = TypeVar("T")


@pytest.fixture
def db(empty_database_url: str) -> Iterator[Database]:
    """The session database with its schema and no rows."""
    database = Database(empty_database_url)
    yield database
    database.dispose()


@pytest.fixture
def groups(db: Database) -> CustomerGroups:
    return CustomerGroups(db, max_bulk_items=100)


@pytest.fixture
def principal(db: Database) -> Principal:
    """A store's read/write principal, as the API makes it for a token."""
    store = new_store(db, "shop.example.com")
    return Principal(store, "shop.example.com", True, True, application_id=1, token_id=1, application="app")


def apply(db: Database, plan: Plan[T]) -> T:
    """A write plan in a transaction of its own, as a caller outside the server's batches runs it."""
    with db.write() as tx:
        return plan(tx)
