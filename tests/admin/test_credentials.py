"""A store's credentials page: tokens per application with scopes, issuing (secret shown once)
and revoking, checked against the live API."""

from __future__ import annotations

import re
import time
from collections.abc import Callable

import httpx
import pytest

from cartgroups.service import credentials
from cartgroups.service.credentials import Issued
from cartgroups.storage import credentials as cred_sql
from cartgroups.storage.commits import Commits
from cartgroups.storage.database import Database
from tests.admin.support import Browser, text_of
from tests.conftest import STORE, LiveServer, headers_for, plain_client

HEX32 = re.compile(r"[0-9a-f]{32}")


def _store_id(server: LiveServer, secure_url: str = STORE) -> int:
    return credentials.store_id_of(server.db, secure_url)


def _tokens(server: LiveServer) -> list[cred_sql.TokenRow]:
    with server.db.read() as conn:
        return cred_sql.list_tokens(conn)


def test_lists_tokens_per_application_with_scopes(
    browser: Browser, server: LiveServer, issue: Callable[..., Issued]
) -> None:
    first = issue(app="storefront", scope="read")
    second = issue(app="erp", scope="read,write")
    issue(store="elsewhere.example.com", app="storefront")
    credentials.revoke(server.db, token_id=first.token_id)
    page = browser.get(f"/admin/stores/{_store_id(server)}/credentials")
    assert page.status_code == 200
    text = text_of(page.text)
    assert "Application “erp”" in text and "Application “storefront”" in text
    assert f"{second.token_id} {second.token[:8]}… read write" in text
    assert f"{first.token_id} {first.token[:8]}… read" in text
    assert "revoked" in text
    assert text.count("Revoke") == 1  # only the live token has a button
    assert first.token not in page.text and second.token not in page.text  # never the secret
    assert "elsewhere" not in text


def test_issue_a_token_shows_the_secrets_once_and_they_work(
    browser: Browser, server: LiveServer, creds: Issued
) -> None:
    store_id = _store_id(server)
    browser.get(f"/admin/stores/{store_id}/credentials")
    response = browser.post(
        f"/admin/stores/{store_id}/credentials", {"application": "reporting", "read": "on"}
    )
    assert response.status_code == 200
    assert response.headers["cache-control"] == "no-store"
    key = re.search(r'<code id="secret-key">([0-9a-f]{32})</code>', response.text)
    token = re.search(r'<code id="secret-token">([0-9a-f]{32})</code>', response.text)
    assert key and token
    assert 'data-copy="secret-token" hidden' in response.text
    headers = {"SecureURL": STORE, "PrivateKey": key.group(1), "Token": token.group(1)}
    with plain_client(server.base_url + "/3dCartWebAPI/v1", headers) as api:
        assert api.get("/CustomerGroups", params={"countonly": "1"}).status_code == 200
        assert api.post("/CustomerGroups", json={"Name": "x"}).status_code == 401  # read only
    # Shown once: the credentials page has only the prefix.
    page = browser.get(f"/admin/stores/{store_id}/credentials")
    assert token.group(1)[:8] in page.text and token.group(1) not in page.text
    # An existing application keeps its key.
    again = browser.post(
        f"/admin/stores/{store_id}/credentials", {"application": "reporting", "read": "on", "write": "on"}
    )
    assert "Unchanged: it was shown when the application was created." in text_of(again.text)
    assert 'id="secret-key"' not in again.text


@pytest.mark.parametrize(
    ("form", "field", "message"),
    [
        (
            {"application": "", "read": "on"},
            "application",
            "an application name is 1 to 100 letters, digits, spaces, dots, dashes or underscores",
        ),
        (
            {"application": "bad/name", "read": "on"},
            "application",
            "an application name is 1 to 100 letters, digits, spaces, dots, dashes or underscores",
        ),
        ({"application": "ok"}, "scope", "scope must be read, write or read,write (got '')"),
    ],
)
def test_issue_rejects_bad_input_next_to_the_field(
    browser: Browser, server: LiveServer, creds: Issued, form: dict[str, str], field: str, message: str
) -> None:
    store_id = _store_id(server)
    before = _tokens(server)
    response = browser.post(f"/admin/stores/{store_id}/credentials", form)
    assert response.status_code == 400
    found = re.search(rf'<p class="field-error" id="{field}-error">(.*?)</p>', response.text)
    assert found and text_of(found.group(1)) == message
    assert _tokens(server) == before


def test_revoke_a_token_and_the_api_refuses_it(browser: Browser, server: LiveServer, creds: Issued) -> None:
    store_id = _store_id(server)
    assert server.app.services is not None
    server.app.services.auth.cache_seconds = 0  # see the revocation at once (normally within 1 s)
    try:
        with plain_client(server.base_url + "/3dCartWebAPI/v1", headers_for(creds)) as api:
            assert api.get("/CustomerGroups", params={"countonly": "1"}).status_code == 200
            browser.get(f"/admin/stores/{store_id}/credentials")
            response = browser.post(f"/admin/stores/{store_id}/tokens/{creds.token_id}/revoke")
            assert response.status_code == 303
            assert (
                response.headers["location"]
                == f"/admin/stores/{store_id}/credentials?revoked={creds.token_id}"
            )
            assert f"Token {creds.token_id} revoked." in text_of(
                browser.get(response.headers["location"]).text
            )
            assert api.get("/CustomerGroups", params={"countonly": "1"}).status_code == 401
    finally:
        server.app.services.auth.cache_seconds = 0.5
    again = browser.post(f"/admin/stores/{store_id}/tokens/{creds.token_id}/revoke")
    assert again.status_code == 404
    assert "This store has no such live token" in text_of(again.text)


def test_a_token_revoked_here_is_refused_by_the_api_though_it_verified_before(
    browser: Browser,
    server: LiveServer,
    creds: Issued,
    issue: Callable[..., Issued],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The guarantee of `cartgroups credentials revoke` (tests/cli/test_credentials.py), with the
    Authenticator's cache in use: the console's revoke is service.credentials.revoke(), which
    moves the revocation count the Authenticator watches, so a token it already verified (and
    keeps) is refused: on SQLite at the next request, on PostgreSQL at the next check, within
    cache_seconds; the store's other tokens keep working."""
    store_id = _store_id(server)
    kept = issue(app="kept")
    calls: list[dict[str, object]] = []
    real_revoke = credentials.revoke

    def revoke(db: Database, **named: int | str | None) -> None:
        calls.append(named)
        real_revoke(db, **named)  # type: ignore[arg-type]

    monkeypatch.setattr(credentials, "revoke", revoke)
    auth = server.app.services.auth if server.app.services is not None else None
    assert auth is not None and auth.cache_seconds > 0
    with server.db.read() as conn:
        count = cred_sql.credentials_version(conn)
    with plain_client(server.base_url + "/3dCartWebAPI/v1", headers_for(creds)) as api:
        assert api.get("/CustomerGroups", params={"countonly": "1"}).status_code == 200  # verified, kept
        browser.get(f"/admin/stores/{store_id}/credentials")
        response = browser.post(f"/admin/stores/{store_id}/tokens/{creds.token_id}/revoke")
        assert response.status_code == 303
        assert calls == [{"token_id": creds.token_id, "store_id": store_id}]
        with server.db.read() as conn:
            assert cred_sql.credentials_version(conn) == count + 1
        if not Commits(server.db).exact:  # PostgreSQL: the Authenticator's next check is due
            real_clock = time.monotonic
            monkeypatch.setattr(time, "monotonic", lambda: real_clock() + auth.cache_seconds)
        assert api.get("/CustomerGroups", params={"countonly": "1"}).status_code == 401
    with plain_client(server.base_url + "/3dCartWebAPI/v1", headers_for(kept)) as other:
        assert other.get("/CustomerGroups", params={"countonly": "1"}).status_code == 200


def test_a_token_of_another_store_cannot_be_revoked_here(
    browser: Browser, server: LiveServer, creds: Issued, issue: Callable[..., Issued]
) -> None:
    other = issue(store="other.example.com")
    store_id = _store_id(server)
    browser.get(f"/admin/stores/{store_id}/credentials")
    response = browser.post(f"/admin/stores/{store_id}/tokens/{other.token_id}/revoke")
    assert response.status_code == 404
    assert all(t.revoked_at is None for t in _tokens(server))


@pytest.mark.parametrize("token", ["", "forged"])
def test_credential_forms_reject_a_missing_or_wrong_csrf_token(
    browser: Browser, server: LiveServer, creds: Issued, token: str
) -> None:
    store_id = _store_id(server)
    before = _tokens(server)
    issue_form = browser.post(
        f"/admin/stores/{store_id}/credentials", {"application": "x", "read": "on"}, csrf=token
    )
    revoke_form = browser.post(f"/admin/stores/{store_id}/tokens/{creds.token_id}/revoke", csrf=token)
    assert issue_form.status_code == revoke_form.status_code == 403
    assert _tokens(server) == before


def test_revoke_is_post_only(browser: Browser, server: LiveServer, creds: Issued) -> None:
    response = browser.get(f"/admin/stores/{_store_id(server)}/tokens/{creds.token_id}/revoke")
    assert response.status_code == 405
    assert all(t.revoked_at is None for t in _tokens(server))


def test_api_clients_do_not_reach_the_console_with_api_credentials(server: LiveServer, creds: Issued) -> None:
    with httpx.Client(base_url=server.base_url, headers=headers_for(creds), follow_redirects=False) as client:
        assert client.get("/admin/stores").status_code == 303
