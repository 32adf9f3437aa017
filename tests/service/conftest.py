"""Service tests call the service classes directly, on SQLite and on PostgreSQL.

The service is async and reaches the database through a store (storage/store.py). Each test
gets one event loop of its own (``loop``), the store opened on it (a PostgresStore serves only
the loop it was opened on) and closed at teardown, and ``run`` to drive a coroutine to its end
on that loop from the test's synchronous code."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine, Iterator
from typing import Any, TypeVar

import pytest

from cartgroups.service.credentials import Principal
from cartgroups.service.customer_groups import CustomerGroups
from cartgroups.storage.database import Database
from cartgroups.storage.store import Store, open_store
from tests.storage.conftest import new_store

T = TypeVar("T")


@pytest.fixture
def db(empty_database_url: str) -> Iterator[Database]:
    """The session database with its schema and no rows."""
    database = Database(empty_database_url)
    yield database
    database.dispose()


@pytest.fixture
def loop() -> Iterator[asyncio.AbstractEventLoop]:
    """This test's event loop: every coroutine of the test runs on it."""
    event_loop = asyncio.new_event_loop()
    yield event_loop
    event_loop.run_until_complete(event_loop.shutdown_asyncgens())
    event_loop.close()


class Runner:
    """``run(coroutine)``: the coroutine run to its end on the test's loop; its result, or what it raised."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop

    def __call__(self, coroutine: Coroutine[Any, Any, T]) -> T:
        return self.loop.run_until_complete(coroutine)


@pytest.fixture
def run(loop: asyncio.AbstractEventLoop) -> Runner:
    return Runner(loop)


@pytest.fixture
def store(db: Database, run: Runner) -> Iterator[Store]:
    """The request path's store for ``db``, opened on the test's loop and closed at teardown."""
    opened = open_store(db)
    run(opened.open())
    yield opened
    run(opened.close())


@pytest.fixture
def groups(store: Store) -> CustomerGroups:
    return CustomerGroups(store, max_bulk_items=100)


@pytest.fixture
def principal(db: Database) -> Principal:
    """A store's read/write principal, as the API makes it for a token."""
    store_id = new_store(db, "shop.example.com")
    return Principal(
        store_id, "shop.example.com", True, True, application_id=1, token_id=1, application="app"
    )
