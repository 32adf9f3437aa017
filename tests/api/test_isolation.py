"""Tenant isolation on every route, with two stores whose group ids overlap (both have 1..3):
a store's credentials only ever read and change that store's groups, and any mix of two stores'
or two applications' credentials is refused (401) without reading or changing anything."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import httpx
import pytest
import sqlalchemy as sa

from cartgroups.service.credentials import Issued
from cartgroups.storage import tables
from tests.api.support import COLLECTION, REJECTED, IssueFn, State, assert_error, item_path
from tests.conftest import LiveServer, create_group, headers_for, plain_client

API = "/3dCartWebAPI/v1"
Request = Callable[[httpx.Client], httpx.Response]

# Every operation, with bodies and ids that exist in both stores.
ROUTES: dict[str, Request] = {
    "list": lambda c: c.get(COLLECTION, params={"limit": 500}),
    "count": lambda c: c.get(COLLECTION, params={"countonly": 1}),
    "get": lambda c: c.get(item_path(2)),
    "create": lambda c: c.post(COLLECTION, json={"Name": "created"}),
    "update": lambda c: c.put(item_path(2), json={"Name": "updated", "Description": "changed"}),
    "bulk": lambda c: c.put(COLLECTION, json=[{"CustomerGroupID": i, "Name": "bulk"} for i in (1, 2, 3)]),
    "delete": lambda c: c.delete(item_path(3)),
}


def rows_of(server: LiveServer, store: str) -> list[tuple[object, ...]]:
    """One store's groups and its id counter, from the database itself."""
    with server.db.read() as conn:
        store_id, counter = conn.execute(
            sa.select(tables.stores.c.id, tables.stores.c.last_group_id).where(
                tables.stores.c.secure_url == store
            )
        ).one()
        groups = conn.execute(
            sa.select(tables.customer_groups)
            .where(tables.customer_groups.c.store_id == store_id)
            .order_by(tables.customer_groups.c.group_id)
        ).all()
    return [(counter,), *(tuple(row) for row in groups)]


@pytest.fixture
def stores(server: LiveServer, issue: IssueFn) -> Iterator[tuple[Issued, Issued]]:
    a = issue(store="a.example.com", app="app-a")
    b = issue(store="b.example.com", app="app-b")
    for issued, prefix in ((a, "A"), (b, "B")):
        with plain_client(server.base_url + API, headers_for(issued)) as client:
            for n in (1, 2, 3):
                assert create_group(client, Name=f"{prefix}{n}", Description=f"store {prefix}") == n
    yield a, b


@pytest.mark.parametrize("route", list(ROUTES))
def test_a_stores_credentials_touch_only_that_store_on_every_route(
    server: LiveServer, stores: tuple[Issued, Issued], route: str
) -> None:
    a, b = stores
    b_before = rows_of(server, b.secure_url)
    a_before = rows_of(server, a.secure_url)
    with plain_client(server.base_url + API, headers_for(a)) as client:
        response = ROUTES[route](client)
    assert response.is_success, response.text
    assert b"B1" not in response.content and b"store B" not in response.content
    assert rows_of(server, b.secure_url) == b_before
    a_after = rows_of(server, a.secure_url)
    if route in ("list", "get"):
        names = [group["Name"] for group in response.json()]
        assert names == (["A1", "A2", "A3"] if route == "list" else ["A2"])
        assert a_after == a_before
    elif route == "count":
        assert response.json() == {"TotalCount": 3}
    else:
        assert a_after != a_before  # the write happened, in A only


def _mixed(a: Issued, b: Issued, a_key: str, b_key: str) -> dict[str, dict[str, str]]:
    """Credentials that take a part from each store (or application)."""

    def h(url: str, key: str, token: str) -> dict[str, str]:
        return {"SecureURL": url, "PrivateKey": key, "Token": token}

    return {
        "B's SecureURL, A's key and token": h(b.secure_url, a_key, a.token),
        "A's SecureURL, B's key and token": h(a.secure_url, b_key, b.token),
        "A's SecureURL and key, B's token": h(a.secure_url, a_key, b.token),
        "A's SecureURL and token, B's key": h(a.secure_url, b_key, a.token),
        "B's SecureURL and key, A's token": h(b.secure_url, b_key, a.token),
        "A's SecureURL and key, B's token as Bearer": {
            "SecureURL": a.secure_url,
            "PrivateKey": a_key,
            "Authorization": f"Bearer {b.token}",
        },
    }


def test_mixed_credentials_of_two_stores_are_refused_on_every_route(
    server: LiveServer, stores: tuple[Issued, Issued], state: State
) -> None:
    a, b = stores
    assert a.private_key is not None and b.private_key is not None
    before = state()
    for label, headers in _mixed(a, b, a.private_key, b.private_key).items():
        with plain_client(server.base_url + API, headers) as client:
            for route, request in ROUTES.items():
                response = request(client)
                assert response.status_code == 401, (label, route, response.text)
                assert_error(response, 401, REJECTED)
    assert state() == before


def test_another_applications_token_for_one_store_never_opens_the_other(
    server: LiveServer, stores: tuple[Issued, Issued], issue: IssueFn, state: State
) -> None:
    """A third application is granted store A only; with its own key it reaches A and never B."""
    a, b = stores
    third = issue(store=a.secure_url, app="app-third")
    assert third.private_key is not None
    before = state()
    headers = {"SecureURL": b.secure_url, "PrivateKey": third.private_key, "Token": third.token}
    with plain_client(server.base_url + API, headers) as client:
        for request in ROUTES.values():
            assert_error(request(client), 401, REJECTED)
    assert state() == before
    with plain_client(server.base_url + API, headers_for(third)) as client:
        assert [g["Name"] for g in client.get(COLLECTION).json()] == ["A1", "A2", "A3"]
