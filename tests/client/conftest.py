"""SDK fixtures: a Client and an AsyncClient factory for the live test server (SQLite and PostgreSQL)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from cartgroups.client import AsyncClient, Client
from cartgroups.service.credentials import Issued
from tests.conftest import LiveServer


@pytest.fixture
def make_client(server: LiveServer, creds: Issued) -> Iterator[Callable[..., Client]]:
    made: list[Client] = []

    def _make(**options: Any) -> Client:
        assert creds.private_key is not None
        client = Client(server.base_url, creds.secure_url, creds.private_key, creds.token, **options)
        made.append(client)
        return client

    yield _make
    for client in made:
        client.close()


@pytest.fixture
def client(make_client: Callable[..., Client]) -> Client:
    return make_client()


@pytest.fixture
def make_async_client(server: LiveServer, creds: Issued) -> Callable[..., AsyncClient]:
    """An AsyncClient for the live server; use it inside ``async with`` within ``asyncio.run``."""

    def _make(**options: Any) -> AsyncClient:
        assert creds.private_key is not None
        return AsyncClient(server.base_url, creds.secure_url, creds.private_key, creds.token, **options)

    return _make
