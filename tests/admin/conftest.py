"""Fixtures for the admin console: an operator account and a signed-in browser on the live
server (SQLite and PostgreSQL, like every storage-touching test)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.admin.support import Browser, make_operator
from tests.conftest import LiveServer


@pytest.fixture
def operator(server: LiveServer) -> int:
    return make_operator(server.db)


@pytest.fixture
def anon(server: LiveServer) -> Iterator[Browser]:
    browser = Browser(server.base_url)
    yield browser
    browser.close()


@pytest.fixture
def browser(server: LiveServer, operator: int) -> Iterator[Browser]:
    """Signed in as the operator."""
    signed_in = Browser(server.base_url)
    response = signed_in.sign_in()
    assert response.status_code == 303, response.text
    signed_in.get("/admin/stores")  # picks up the session's CSRF token
    yield signed_in
    signed_in.close()
