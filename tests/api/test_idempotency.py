"""Idempotency-Key on POST and bulk PUT: a retry gets the first response byte for byte and
writes nothing; the key is scoped per store and application, kept 24 hours, refused with a
different request, and stored in the same transaction as the write."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Coroutine, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

import httpx
import pytest

from cartgroups.service.credentials import Issued, store_id_of
from cartgroups.service.idempotency import TTL_SECONDS, Idempotency
from cartgroups.service.writes import Transaction
from cartgroups.storage import idempotency as key_sql
from tests.api.support import COLLECTION, JSON, IssueFn, State, assert_error, group_bytes, item_path, stored
from tests.conftest import LiveServer, create_group, headers_for, plain_client, result_body

T = TypeVar("T")

REUSED = "This Idempotency-Key was already used with a different request; send a new key"
BAD_KEY = "Idempotency-Key must be 1 to 255 visible ASCII characters"


def keyed(key: str) -> dict[str, str]:
    return {"Idempotency-Key": key}


def keys_of(server: LiveServer, issued: Issued) -> int:
    with server.db.read() as conn:
        return key_sql.count(conn, store_id=store_id_of(server.db, issued.secure_url))


def on_server(server: LiveServer, coroutine: Coroutine[Any, Any, T]) -> T:
    """Run ``coroutine`` on the live server's event loop (its store serves that loop only) and
    return its result, or raise what it raised."""
    loop = server.server.servers[0].get_loop()
    return asyncio.run_coroutine_threadsafe(coroutine, loop).result(timeout=30)


class Clock:
    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock(server: LiveServer) -> Iterator[Clock]:
    """The live server's Idempotency-Key store on a clock the test moves."""
    services = server.app.services
    assert services is not None
    original, fake = services.idempotency, Clock()
    assert server.app.store is not None
    services.idempotency = Idempotency(server.app.store, clock=fake)
    yield fake
    services.idempotency = original


def test_a_retried_post_gets_the_first_response_and_writes_nothing(
    server: LiveServer, api: httpx.Client, creds: Issued, state: State
) -> None:
    first = api.post(COLLECTION, json={"Name": "Once"}, headers=keyed("order-1"))
    assert first.status_code == 201
    assert first.content == result_body(201, 1, "Created successfully")
    assert "idempotent-replayed" not in first.headers
    after_first = state()
    for _ in range(3):
        again = api.post(COLLECTION, json={"Name": "Once"}, headers=keyed("order-1"))
        assert again.status_code == 201
        assert again.content == first.content
        assert again.headers["content-type"] == first.headers["content-type"]
        assert again.headers["idempotent-replayed"] == "true"
        assert again.headers["access-control-expose-headers"] == "Idempotent-Replayed"
    assert state() == after_first  # no second row, the id counter unchanged
    assert keys_of(server, creds) == 1
    # A new key is a new request: the next id.
    assert api.post(COLLECTION, json={"Name": "Once"}, headers=keyed("order-2")).content == result_body(
        201, 2, "Created successfully"
    )


def test_a_retried_bulk_put_gets_the_first_response_and_writes_nothing(
    api: httpx.Client, state: State
) -> None:
    create_group(api, Name="a")
    body = [{"CustomerGroupID": 1, "PriceLevel": 2}, {"CustomerGroupID": 7, "PriceLevel": 3}]
    first = api.put(COLLECTION, json=body, headers=keyed("bulk-1"))
    assert first.status_code == 206
    api.put(item_path(1), json={"PriceLevel": 5})  # changed by someone else meanwhile
    after = state()
    again = api.put(COLLECTION, json=body, headers=keyed("bulk-1"))
    assert (again.status_code, again.content) == (206, first.content)
    assert state() == after  # the replay did not set PriceLevel back to 2
    assert stored(api, 1) == b"[" + group_bytes(1, "a", price_level=5) + b"]"


def test_the_same_key_with_a_different_body_or_method_is_422(api: httpx.Client, state: State) -> None:
    api.post(COLLECTION, json={"Name": "First"}, headers=keyed("k"))
    before = state()
    assert_error(api.post(COLLECTION, json={"Name": "Second"}, headers=keyed("k")), 422, REUSED)
    assert_error(api.put(COLLECTION, json=[{"CustomerGroupID": 1}], headers=keyed("k")), 422, REUSED)
    # The same JSON spelt with other bytes is another request too: the key names the bytes.
    spaced = b'{"Name": "First"}'
    assert_error(api.post(COLLECTION, content=spaced, headers={**JSON, **keyed("k")}), 422, REUSED)
    assert state() == before


def test_keys_are_scoped_per_store_and_application(
    server: LiveServer, api: httpx.Client, issue: IssueFn, creds: Issued
) -> None:
    api.post(COLLECTION, json={"Name": "Mine"}, headers=keyed("shared"))
    other_app = issue(creds.secure_url, "other-app")
    other_store = issue("other.example.com", "default")
    for issued, key_owner in ((other_app, other_app), (other_store, creds)):
        private_key = key_owner.private_key
        with plain_client(server.base_url + "/3dCartWebAPI/v1", headers_for(issued, private_key)) as client:
            response = client.post(COLLECTION, json={"Name": "Mine"}, headers=keyed("shared"))
            assert response.status_code == 201
            assert "idempotent-replayed" not in response.headers
    # Same store, other application: a new group (id 2) in the shared store; other store: its id 1.
    assert [int(g["CustomerGroupID"]) for g in api.get(COLLECTION).json()] == [1, 2]


def test_a_key_expires_after_24_hours(
    server: LiveServer, api: httpx.Client, creds: Issued, clock: Clock
) -> None:
    api.post(COLLECTION, json={"Name": "Day one"}, headers=keyed("daily"))
    clock.now += TTL_SECONDS - 1
    assert (
        api.post(COLLECTION, json={"Name": "Day one"}, headers=keyed("daily")).headers.get(
            "idempotent-replayed"
        )
        == "true"
    )
    clock.now += 1  # 24 hours after the first use: a new request, even with another body
    response = api.post(COLLECTION, json={"Name": "Day two"}, headers=keyed("daily"))
    assert response.content == result_body(201, 2, "Created successfully")
    assert "idempotent-replayed" not in response.headers
    assert keys_of(server, creds) == 1  # taken over, not duplicated
    again = api.post(COLLECTION, json={"Name": "Day two"}, headers=keyed("daily"))
    assert again.content == response.content and again.headers["idempotent-replayed"] == "true"


def test_expired_keys_are_pruned(server: LiveServer, api: httpx.Client, creds: Issued, clock: Clock) -> None:
    for n in range(3):
        api.post(COLLECTION, json={"Name": f"g{n}"}, headers=keyed(f"old-{n}"))
    clock.now += 3600
    api.post(COLLECTION, json={"Name": "recent"}, headers=keyed("recent"))
    assert keys_of(server, creds) == 4
    clock.now += TTL_SECONDS - 1800  # the first three are past 24 hours, "recent" is not
    assert server.app.services is not None
    assert on_server(server, server.app.services.idempotency.prune()) == 3
    assert keys_of(server, creds) == 1
    # And lazily: the first keyed request after prune_every seconds prunes.
    clock.now += server.app.services.idempotency.prune_every + 3600
    api.post(COLLECTION, json={"Name": "later"}, headers=keyed("later"))
    assert keys_of(server, creds) == 1


def test_concurrent_requests_with_one_key_write_once(
    server: LiveServer, api: httpx.Client, creds: Issued, state: State
) -> None:
    senders = 8
    barrier = threading.Barrier(senders)

    def send(_: int) -> tuple[int, bytes]:
        with plain_client(server.base_url + "/3dCartWebAPI/v1", headers_for(creds)) as client:
            barrier.wait(timeout=30)
            response = client.post(COLLECTION, json={"Name": "Race"}, headers=keyed("race"))
            return response.status_code, response.content

    with ThreadPoolExecutor(senders) as pool:
        results = list(pool.map(send, range(senders)))
    assert set(results) == {(201, result_body(201, 1, "Created successfully"))}
    assert [int(g["CustomerGroupID"]) for g in api.get(COLLECTION).json()] == [1]
    assert keys_of(server, creds) == 1


def test_an_error_before_any_write_is_not_kept(server: LiveServer, api: httpx.Client, creds: Issued) -> None:
    assert api.post(COLLECTION, json={"Description": "no name"}, headers=keyed("fix-me")).status_code == 400
    assert keys_of(server, creds) == 0
    fixed = api.post(COLLECTION, json={"Name": "Named"}, headers=keyed("fix-me"))
    assert fixed.content == result_body(201, 1, "Created successfully")


@pytest.mark.parametrize("key", ["", "x" * 256, "café", "has space", "tab\there"])
def test_a_malformed_key_is_400_and_writes_nothing(api: httpx.Client, state: State, key: str) -> None:
    before = state()
    raw_key = key.encode("utf-8")
    response = api.post(COLLECTION, json={"Name": "x"}, headers=[(b"Idempotency-Key", raw_key)])
    assert_error(response, 400, BAD_KEY)
    assert state() == before


def test_a_key_of_255_characters_is_fine(api: httpx.Client) -> None:
    assert api.post(COLLECTION, json={"Name": "x"}, headers=keyed("k" * 255)).status_code == 201


def test_the_key_is_ignored_where_it_does_not_apply(api: httpx.Client) -> None:
    create_group(api)
    for _ in range(2):
        response = api.put(item_path(1), json={"Name": "again"}, headers=keyed("whatever"))
        assert response.status_code == 200 and "idempotent-replayed" not in response.headers
        assert api.get(item_path(1), headers=keyed("whatever")).status_code == 200


def test_the_key_and_the_write_commit_together(server: LiveServer, creds: Issued, state: State) -> None:
    """A failure after the write, inside the keyed transaction, leaves neither the row nor the key."""
    services = server.app.services
    assert services is not None
    before = state()
    created: list[int] = []

    async def keyed_write_that_fails() -> None:
        principal = await services.auth.verify(
            secure_url=creds.secure_url, private_key=creds.private_key, token=creds.token, write=True
        )
        plan = services.groups.plan_create(principal=principal, body={"Name": "Lost"})

        async def write_then_fail(tx: Transaction) -> tuple[int, bytes]:
            created.append(await plan(tx))
            raise RuntimeError("the process died here")

        async def keyed(tx: Transaction) -> tuple[int, bytes, bool]:
            return await services.idempotency.run(
                tx, principal, key="crash", fingerprint="f", work=write_then_fail
            )

        await services.groups.run(keyed)

    with pytest.raises(RuntimeError, match="the process died here"):
        on_server(server, keyed_write_that_fails())
    assert created and set(created) == {1}  # the group was written, in the keyed transaction
    assert state() == before
    assert keys_of(server, creds) == 0
