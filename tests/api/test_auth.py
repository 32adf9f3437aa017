"""Authentication (SecureURL, PrivateKey, Token; Bearer), scopes, and tenant isolation."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from cartgroups.api.dispatch import request_headers
from cartgroups.service import credentials
from cartgroups.service.credentials import Issued
from tests.api.support import (
    COLLECTION,
    GROUP_NOT_FOUND,
    JSON,
    NO_READ,
    NO_WRITE,
    REJECTED,
    IssueFn,
    State,
    array,
    assert_error,
    group_bytes,
    ids_of,
    item_path,
    record,
    stored,
)
from tests.conftest import LiveServer, create_group, headers_for, plain_client, result_body

API = "/3dCartWebAPI/v1"


def _client(server: LiveServer, headers: dict[str, str]) -> httpx.Client:
    return plain_client(server.base_url + API, headers)


def _every_request(client: httpx.Client) -> list[httpx.Response]:
    """One request of each operation (valid bodies, existing ids)."""
    return [
        client.get(COLLECTION),
        client.get(COLLECTION, params={"countonly": "1"}),
        client.get(item_path(1)),
        client.post(COLLECTION, json={"Name": "new"}),
        client.put(COLLECTION, json=[{"CustomerGroupID": 1, "Name": "bulk"}]),
        client.put(item_path(1), json={"Name": "one"}),
        client.delete(item_path(1)),
    ]


# ---------------------------------------------------------------- missing or wrong credentials


@pytest.mark.parametrize(
    ("drop", "message"),
    [
        (("SecureURL", "PrivateKey", "Token"), "Missing required header(s): SecureURL, PrivateKey, Token"),
        (("SecureURL",), "Missing required header(s): SecureURL"),
        (("PrivateKey",), "Missing required header(s): PrivateKey"),
        (("Token",), "Missing required header(s): Token"),
        (("SecureURL", "Token"), "Missing required header(s): SecureURL, Token"),
    ],
)
def test_missing_headers_are_401_naming_them(
    server: LiveServer,
    creds: Issued,
    api: httpx.Client,
    state: State,
    drop: tuple[str, ...],
    message: str,
) -> None:
    create_group(api)
    before = state()
    headers = {k: v for k, v in headers_for(creds).items() if k not in drop}
    with _client(server, headers) as client:
        for response in _every_request(client):
            assert_error(response, 401, message)
            assert response.headers["access-control-allow-origin"] == "*"
    assert state() == before


def test_empty_header_values_count_as_missing(server: LiveServer, creds: Issued) -> None:
    headers = {"SecureURL": "", "PrivateKey": "", "Token": ""}
    with _client(server, headers) as client:
        assert_error(client.get(COLLECTION), 401, "Missing required header(s): SecureURL, PrivateKey, Token")


def test_no_headers_at_all_is_401(raw: httpx.Client) -> None:
    response = raw.get(API + COLLECTION)
    assert_error(response, 401, "Missing required header(s): SecureURL, PrivateKey, Token")


@pytest.mark.parametrize("wrong", ["Token", "PrivateKey", "SecureURL"])
def test_one_wrong_credential_is_401_without_saying_which(
    server: LiveServer, creds: Issued, api: httpx.Client, state: State, wrong: str
) -> None:
    create_group(api)
    before = state()
    headers = headers_for(creds)
    headers[wrong] = {
        "Token": creds.token[:-1] + ("0" if creds.token[-1] != "0" else "1"),
        "PrivateKey": "f" * 32,
        "SecureURL": "shop.example.org",
    }[wrong]
    with _client(server, headers) as client:
        for response in _every_request(client):
            assert_error(response, 401, REJECTED)
    assert state() == before


@pytest.mark.parametrize(
    "secure_url", ["shop.example.com.evil.net", "evil.shop.example.com", "example.com", "shop"]
)
def test_a_secure_url_of_no_or_another_store_is_401(
    server: LiveServer, creds: Issued, secure_url: str
) -> None:
    with _client(server, {**headers_for(creds), "SecureURL": secure_url}) as client:
        assert_error(client.get(COLLECTION), 401, REJECTED)


def test_the_private_key_of_another_application_is_401(
    server: LiveServer, creds: Issued, issue: IssueFn, api: httpx.Client, state: State
) -> None:
    other = issue(app="other-app")
    create_group(api)
    before = state()
    with _client(server, headers_for(creds, private_key=other.private_key)) as client:
        for response in _every_request(client):
            assert_error(response, 401, REJECTED)
    with _client(server, headers_for(other, private_key=creds.private_key)) as client:
        assert_error(client.get(COLLECTION), 401, REJECTED)
    assert state() == before


def test_a_token_of_another_store_is_401(
    server: LiveServer, creds: Issued, issue: IssueFn, api: httpx.Client, state: State
) -> None:
    other_store = issue(store="other.example.com")  # same application, so the same PrivateKey
    assert other_store.private_key is None
    create_group(api)
    before = state()
    headers = {**headers_for(creds), "Token": other_store.token}
    with _client(server, headers) as client:
        for response in _every_request(client):
            assert_error(response, 401, REJECTED)
    assert state() == before


def test_a_token_revoked_before_use_is_401(
    server: LiveServer, issue: IssueFn, api: httpx.Client, state: State
) -> None:
    revoked = issue(app="revoked-app")
    credentials.revoke(server.db, token_id=revoked.token_id)
    create_group(api)
    before = state()
    with _client(server, headers_for(revoked)) as client:
        for response in _every_request(client):
            assert_error(response, 401, REJECTED)
    assert state() == before


def test_a_token_revoked_after_use_stops_working(server: LiveServer, issue: IssueFn) -> None:
    token = issue(app="short-lived")
    with _client(server, headers_for(token)) as client:
        assert client.post(COLLECTION, json={"Name": "x"}).status_code == 201
        credentials.revoke(server.db, token=token.token)
        assert server.app.services is not None
        server.app.services.auth.clear()  # what the next revocation check (<= 1 s) does, without waiting
        assert_error(client.get(item_path(1)), 401, REJECTED)


def test_other_tokens_of_the_store_keep_working_after_a_revoke(
    server: LiveServer, creds: Issued, issue: IssueFn, api: httpx.Client
) -> None:
    second = issue(app="second-app")
    credentials.revoke(server.db, token_id=second.token_id)
    create_group(api)
    assert api.get(item_path(1)).status_code == 200


# ---------------------------------------------------------------- scopes


def test_a_read_only_token_reads_but_cannot_write(
    server: LiveServer, issue: IssueFn, api: httpx.Client, state: State
) -> None:
    reader = issue(app="reader", scope="read")
    create_group(api)
    before = state()
    with _client(server, headers_for(reader)) as client:
        assert ids_of(client.get(COLLECTION)) == [1]
        assert client.get(COLLECTION, params={"countonly": "1"}).content == b'{"TotalCount":1}'
        assert client.get(item_path(1)).status_code == 200
        assert_error(client.post(COLLECTION, json={"Name": "x"}), 401, NO_WRITE)
        assert_error(client.put(COLLECTION, json=[{"CustomerGroupID": 1, "Name": "x"}]), 401, NO_WRITE)
        assert_error(client.put(item_path(1), json={"Name": "x"}), 401, NO_WRITE)
        assert_error(client.delete(item_path(1)), 401, NO_WRITE)
    assert state() == before


def test_a_write_only_token_writes_but_cannot_read(
    server: LiveServer, issue: IssueFn, api: httpx.Client
) -> None:
    writer = issue(app="writer", scope="write")
    create_group(api)
    with _client(server, headers_for(writer)) as client:
        assert_error(client.get(COLLECTION), 401, NO_READ)
        assert_error(client.get(COLLECTION, params={"countonly": "1"}), 401, NO_READ)
        assert_error(client.get(item_path(1)), 401, NO_READ)
        assert client.post(COLLECTION, json={"Name": "w"}).content == result_body(
            201, 2, "Created successfully"
        )
        assert client.put(item_path(2), json={"PriceLevel": 2}).status_code == 200
        assert client.put(COLLECTION, json=[{"CustomerGroupID": 1, "Name": "b"}]).status_code == 200
        assert client.delete(item_path(1)).status_code == 200
    assert stored(api, 2) == b"[" + group_bytes(2, "w", price_level=2) + b"]"


def test_scope_is_per_store(server: LiveServer, creds: Issued, issue: IssueFn) -> None:
    # The application may write shop.example.com but only read other.example.com.
    other = issue(store="other.example.com", scope="read")
    with _client(server, headers_for(other, private_key=creds.private_key)) as client:
        assert_error(client.post(COLLECTION, json={"Name": "x"}), 401, NO_WRITE)
        assert_error(client.get(COLLECTION), 404, "There are no Customer Groups.")


# ---------------------------------------------------------------- auth before the body


@pytest.mark.parametrize(
    ("method", "path", "content", "headers"),
    [
        ("POST", COLLECTION, b"{not json", JSON),
        ("PUT", COLLECTION, b"[{]", JSON),
        ("PUT", item_path(1), b"", JSON),
        ("POST", COLLECTION, b"plain text", {"Content-Type": "text/plain"}),
        ("POST", COLLECTION, b'{"Name":"x"}', {"Content-Type": "application/json; charset=bogus"}),
        ("POST", COLLECTION, b" " * (1024 * 1024 + 10), JSON),
    ],
    ids=["malformed", "malformed-bulk", "empty", "text-plain", "bad-charset", "too-large"],
)
def test_credentials_are_checked_before_the_body(
    server: LiveServer,
    creds: Issued,
    issue: IssueFn,
    api: httpx.Client,
    state: State,
    method: str,
    path: str,
    content: bytes,
    headers: dict[str, str],
) -> None:
    create_group(api)
    before = state()
    reader = headers_for(issue(app="reader", scope="read"))
    callers = [
        ({**headers_for(creds), "Token": "0" * 32}, REJECTED),
        ({}, "Missing required header(s): SecureURL, PrivateKey, Token"),
        (reader, NO_WRITE),
    ]
    for auth, message in callers:
        with _client(server, auth) as client:
            response = client.request(method, path, content=content, headers=headers)
        assert_error(response, 401, message)
    assert state() == before


# ---------------------------------------------------------------- header spellings, SecureURL, Bearer


@pytest.mark.parametrize(
    "names",
    [
        ("SecureURL", "PrivateKey", "Token"),
        ("SecureUrl", "Privatekey", "token"),
        ("secureurl", "privatekey", "token"),
        ("Secureurl", "PRIVATEKEY", "TOKEN"),
        ("SECUREURL", "privateKey", "ToKeN"),
    ],
)
def test_header_names_are_case_insensitive(
    server: LiveServer, creds: Issued, names: tuple[str, str, str]
) -> None:
    assert creds.private_key is not None
    headers = dict(zip(names, (creds.secure_url, creds.private_key, creds.token), strict=True))
    with _client(server, headers) as client:
        assert client.post(COLLECTION, json={"Name": "x"}).status_code == 201
        assert client.get(item_path(1)).content == b"[" + group_bytes(1, "x") + b"]"


@pytest.mark.parametrize(
    "secure_url",
    [
        "shop.example.com",
        "https://www.Shop.Example.com/",
        "http://shop.example.com",
        "HTTPS://SHOP.EXAMPLE.COM",
        "www.shop.example.com",
        "shop.example.com/",
        "shop.example.com\\",
        "http://WWW.shop.example.com\\",
    ],
)
def test_secure_url_is_normalised(server: LiveServer, creds: Issued, secure_url: str) -> None:
    with _client(server, {**headers_for(creds), "SecureURL": secure_url}) as client:
        assert client.post(COLLECTION, json={"Name": "x"}).status_code == 201
        assert client.get(item_path(1)).status_code == 200


def test_a_store_issued_under_a_full_url_is_found_by_its_short_name(
    server: LiveServer, issue: IssueFn
) -> None:
    other = issue(store="https://www.Other-Shop.example.net/", app="other-app")
    headers = {**headers_for(other), "SecureURL": "other-shop.example.net"}
    with _client(server, headers) as client:
        assert client.post(COLLECTION, json={"Name": "x"}).status_code == 201


@pytest.mark.parametrize("scheme", ["Bearer", "bearer", "BEARER"])
def test_authorization_bearer_replaces_token(server: LiveServer, creds: Issued, scheme: str) -> None:
    headers = {k: v for k, v in headers_for(creds).items() if k != "Token"}
    headers["Authorization"] = f"{scheme} {creds.token}"
    with _client(server, headers) as client:
        assert client.post(COLLECTION, json={"Name": "x"}).status_code == 201
        assert client.get(item_path(1)).status_code == 200
        assert client.delete(item_path(1)).status_code == 200


def test_bearer_alongside_the_same_token_works(server: LiveServer, creds: Issued) -> None:
    headers = {**headers_for(creds), "Authorization": f"Bearer {creds.token}"}
    with _client(server, headers) as client:
        assert client.post(COLLECTION, json={"Name": "x"}).status_code == 201


def test_a_wrong_bearer_token_is_401(server: LiveServer, creds: Issued, state: State) -> None:
    headers = {k: v for k, v in headers_for(creds).items() if k != "Token"}
    headers["Authorization"] = "Bearer " + "0" * 32
    before = state()
    with _client(server, headers) as client:
        assert_error(client.post(COLLECTION, json={"Name": "x"}), 401, REJECTED)
    assert state() == before


@pytest.mark.parametrize("authorization", [f"Basic {'a' * 20}", "Bearer", "Token abc", "Bearertoken"])
def test_an_authorization_header_that_is_no_bearer_token_does_not_count(
    server: LiveServer, creds: Issued, authorization: str
) -> None:
    headers = {k: v for k, v in headers_for(creds).items() if k != "Token"}
    headers["Authorization"] = authorization
    with _client(server, headers) as client:
        assert_error(client.get(COLLECTION), 401, "Missing required header(s): Token")


# ---------------------------------------------------------------- tenant isolation


@pytest.fixture
def other_store(server: LiveServer, issue: IssueFn) -> Iterator[httpx.Client]:
    """A client of a second store, other.example.com, through a second application."""
    other = issue(store="other.example.com", app="other-app")
    with _client(server, headers_for(other)) as client:
        yield client


def test_ids_are_per_store_and_stores_never_see_each_other(
    api: httpx.Client, other_store: httpx.Client
) -> None:
    for name in ("a1", "a2", "a3"):
        create_group(api, Name=name)
    assert create_group(other_store, Name="b1") == 1  # its own sequence, from 1
    assert stored(api, 1) == b"[" + group_bytes(1, "a1") + b"]"
    assert stored(other_store, 1) == b"[" + group_bytes(1, "b1") + b"]"
    assert ids_of(other_store.get(COLLECTION)) == [1]
    assert other_store.get(COLLECTION, params={"countonly": "1"}).content == b'{"TotalCount":1}'
    assert api.get(COLLECTION, params={"countonly": "1"}).content == b'{"TotalCount":3}'
    assert_error(other_store.get(item_path(2)), 404, GROUP_NOT_FOUND, "2")
    assert_error(
        other_store.get(COLLECTION, params={"offset": "2"}),
        400,
        "Offset amount exceeds the total number of records",
    )


def test_a_store_cannot_change_another_stores_groups(
    api: httpx.Client, other_store: httpx.Client, state: State
) -> None:
    for name in ("a1", "a2", "a3"):
        create_group(api, Name=name)
    before = state()
    assert_error(other_store.put(item_path(2), json={"Name": "hijack"}), 404, GROUP_NOT_FOUND, "2")
    assert_error(other_store.delete(item_path(3)), 404, GROUP_NOT_FOUND, "3")
    response = other_store.put(COLLECTION, json=[{"CustomerGroupID": 1, "Name": "hijack"}])
    assert response.status_code == 404
    assert response.content == array(record(1, 404, GROUP_NOT_FOUND))
    assert state() == before


def test_writes_with_overlapping_ids_stay_in_their_store(
    api: httpx.Client, other_store: httpx.Client
) -> None:
    create_group(api, Name="a1")
    create_group(other_store, Name="b1")
    assert other_store.put(item_path(1), json={"Name": "b1 renamed"}).status_code == 200
    assert other_store.put(COLLECTION, json=[{"CustomerGroupID": 1, "PriceLevel": 9}]).is_success
    assert stored(api, 1) == b"[" + group_bytes(1, "a1") + b"]"
    assert stored(other_store, 1) == b"[" + group_bytes(1, "b1 renamed", price_level=9) + b"]"
    assert other_store.delete(item_path(1)).status_code == 200
    assert stored(api, 1) == b"[" + group_bytes(1, "a1") + b"]"
    assert_error(other_store.get(COLLECTION), 404, "There are no Customer Groups.")


def test_headers_are_read_by_lower_cased_name_whatever_the_asgi_server_passes() -> None:
    """uvicorn passes names lower-cased; an ASGI server need not. The last of repeats wins;
    headers the API never reads are left out."""
    scope = {
        "headers": [
            (b"SecureURL", b"first.example.com"),
            (b"secureurl", b"shop.example.com"),
            (b"PRIVATEKEY", b"k\xe9y"),
            (b"token", b"t"),
            (b"If-None-Match", b'"abc"'),
            (b"X-Other", b"ignored"),
            (b"host", b"127.0.0.1"),
        ]
    }
    assert request_headers(scope) == {
        "secureurl": "shop.example.com",
        "privatekey": "k\xe9y",
        "token": "t",
        "if-none-match": '"abc"',
    }
