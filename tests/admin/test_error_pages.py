"""NUL bytes in console input, and the console's error pages (issue #15, item 9), on both
databases: a NUL (which PostgreSQL cannot take as text) in a sign-in name is a 400 page that
says so and counts no attempt, a NUL in a search matches nothing, and every error page the
console serves (404, 405, 408, 500 for a bug) carries its security headers."""

from __future__ import annotations

import httpx
import pytest
import sqlalchemy as sa

from cartgroups.admin.web import INTERNAL, NO_STORE, SECURITY_HEADERS
from cartgroups.service import credentials
from cartgroups.service.operators import UNREADABLE_USERNAME
from cartgroups.storage import credentials as cred_sql
from cartgroups.storage import tables
from tests.admin.support import PASSWORD, Browser, text_of
from tests.conftest import STORE, LiveServer, create_group

NUL_SEARCHES = ["\x00", "a\x00b", "shop\x00"]


def assert_console_headers(response: httpx.Response) -> None:
    for name, value in {**SECURITY_HEADERS, **NO_STORE}.items():
        assert response.headers.get(name) == value, (name, response.status_code)


def _rows(server: LiveServer, table: sa.Table) -> list[object]:
    with server.db.read() as conn:
        return list(conn.execute(sa.select(table)).all())


@pytest.mark.parametrize("username", ["\x00", "alice\x00", "\x00alice"])
def test_a_nul_in_the_sign_in_name_is_400_and_counts_no_attempt(
    anon: Browser, server: LiveServer, operator: int, username: str
) -> None:
    response = anon.sign_in(username, PASSWORD)
    assert response.status_code == 400
    assert UNREADABLE_USERNAME in text_of(response.text)
    assert_console_headers(response)
    assert "cartgroups_admin=" not in response.headers.get("set-cookie", "")
    assert _rows(server, tables.sign_in_failures) == []
    assert _rows(server, tables.operator_sessions) == []


@pytest.mark.parametrize("query", NUL_SEARCHES)
def test_a_nul_in_the_stores_search_matches_nothing(browser: Browser, server: LiveServer, query: str) -> None:
    credentials.issue(server.db, secure_url=STORE)
    response = browser.get("/admin/stores", q=query)
    assert response.status_code == 200
    assert_console_headers(response)
    assert "No stores match your search." in text_of(response.text)
    assert STORE not in response.text


@pytest.mark.parametrize("query", NUL_SEARCHES)
def test_a_nul_in_the_groups_search_matches_nothing(
    browser: Browser, server: LiveServer, api: httpx.Client, query: str
) -> None:
    store_id = credentials.store_id_of(server.db, STORE)
    create_group(api, Name="a group")
    response = browser.get(f"/admin/stores/{store_id}/groups", q=query)
    assert response.status_code == 200
    assert_console_headers(response)
    assert "No group's name contains" in text_of(response.text)
    assert "a group" not in response.text


def test_a_missing_page_has_the_security_headers(browser: Browser) -> None:
    response = browser.get("/admin/no-such-page")
    assert response.status_code == 404
    assert "No such page." in text_of(response.text)
    assert_console_headers(response)


def test_a_wrong_method_has_the_security_headers(browser: Browser) -> None:
    response = browser.client.put("/admin/stores")
    assert response.status_code == 405
    assert_console_headers(response)


def test_a_bug_is_a_500_page_with_the_security_headers(
    browser: Browser, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*args: object, **kwargs: object) -> int:
        raise RuntimeError("a bug")

    monkeypatch.setattr(cred_sql, "count_matching_stores", broken)
    response = browser.get("/admin/stores")
    assert response.status_code == 500
    assert INTERNAL in text_of(response.text)
    assert "a bug" not in response.text
    assert_console_headers(response)
