"""Rate limiting over HTTP: off by default; when on, 429 with Retry-After and an error record,
per store and application, before the body is read; and a limit set in the settings is shared
by two servers on one database."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from cartgroups.config import Settings
from cartgroups.service.credentials import Issued, store_id_of
from cartgroups.service.rate_limit import Rate, RateLimiter
from cartgroups.testing.server import stop_in_thread
from tests.api.support import COLLECTION, IssueFn, State, assert_error, item_path
from tests.conftest import LiveServer, headers_for, plain_client, start_server

T0 = 1_800_000_000.0


def limited(seconds: int) -> str:
    return (
        "Too Many Requests. The API rate limit for this store and application has been exceeded; "
        f"retry after {seconds} second(s)."
    )


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock(server: LiveServer) -> Iterator[Clock]:
    """The live server limited to 3 requests draining 1 per 4 seconds, on a clock the test moves."""
    services, store = server.app.services, server.app.store
    assert services is not None and store is not None
    fake = Clock()
    # On the server's own store: the limiter's checks run on the server's event loop, the one
    # that store serves.
    services.limiter = RateLimiter(store, Rate(3, 0.25), clock=fake)
    yield fake
    services.limiter = None


def client_for(server: LiveServer, issued: Issued) -> httpx.Client:
    return plain_client(server.base_url + "/3dCartWebAPI/v1", headers_for(issued))


def test_off_by_default(server: LiveServer, api: httpx.Client) -> None:
    assert Settings().rate_limit == "off"
    assert server.app.services is not None and server.app.services.limiter is None
    assert {api.get(COLLECTION, params={"countonly": 1}).status_code for _ in range(60)} == {200}


def test_over_the_limit_is_429_with_retry_after_and_an_error_record(
    api: httpx.Client, clock: Clock, state: State
) -> None:
    assert [api.get(COLLECTION, params={"countonly": 1}).status_code for _ in range(3)] == [200] * 3
    before = state()
    refused = api.post(COLLECTION, json={"Name": "Too many"})
    assert_error(refused, 429, limited(4))
    assert refused.headers["retry-after"] == "4"
    assert refused.headers["access-control-allow-origin"] == "*"
    assert refused.headers["access-control-expose-headers"] == "Retry-After"  # readable by browsers
    assert state() == before  # the refused POST wrote nothing
    clock.now += 2.5  # 1.5 s left until a slot drains: rounded up to 2
    again = api.get(item_path(1))
    assert_error(again, 429, limited(2))
    assert again.headers["retry-after"] == "2"
    clock.now += 1.5
    assert api.post(COLLECTION, json={"Name": "Now fits"}).status_code == 201
    assert api.get(item_path(1)).status_code == 429


def test_every_route_counts_and_errors_count_too(api: httpx.Client, clock: Clock) -> None:
    assert api.get(item_path("x")).status_code == 400
    assert api.put(COLLECTION, json=[]).status_code == 400
    assert api.delete(item_path(9)).status_code == 404
    assert api.get(COLLECTION).status_code == 429


def test_refused_before_the_body_is_read(api: httpx.Client, clock: Clock) -> None:
    for _ in range(3):
        api.get(item_path(1))
    response = api.post(COLLECTION, content=b"{not json", headers={"Content-Type": "text/plain"})
    assert_error(response, 429, limited(4))


def test_unauthenticated_requests_and_preflights_are_not_counted(
    api: httpx.Client, raw: httpx.Client, clock: Clock
) -> None:
    for _ in range(5):
        assert raw.get("/3dCartWebAPI/v1/CustomerGroups").status_code == 401
        assert raw.options("/3dCartWebAPI/v1/CustomerGroups").status_code == 204
    assert [api.get(item_path(1)).status_code for _ in range(4)] == [404, 404, 404, 429]


def test_buckets_are_per_store_and_application(server: LiveServer, issue: IssueFn, clock: Clock) -> None:
    main = issue("a.example.com", "app-one")
    other_app = issue("a.example.com", "app-two")
    other_store = issue("b.example.com", "app-three")
    same_app_other_store = issue("b.example.com", "app-one")
    for issued in (main, other_app, other_store):
        with client_for(server, issued) as client:
            assert [client.get(item_path(1)).status_code for _ in range(4)] == [404, 404, 404, 429]
    # app-one's token for store b has its own bucket (the key is store + application).
    headers = {**headers_for(same_app_other_store, main.private_key)}
    with plain_client(server.base_url + "/3dCartWebAPI/v1", headers) as client:
        assert [client.get(item_path(1)).status_code for _ in range(4)] == [404, 404, 404, 429]
    # A second token of the same store and application shares the first one's bucket.
    again = issue("a.example.com", "app-one")
    with plain_client(server.base_url + "/3dCartWebAPI/v1", headers_for(again, main.private_key)) as client:
        assert client.get(item_path(1)).status_code == 429


def test_the_store_switch_changes_throttling_at_run_time(
    server: LiveServer, api: httpx.Client, creds: Issued, issue: IssueFn, clock: Clock
) -> None:
    services = server.app.services
    assert services is not None and services.limiter is not None
    other = issue("other.example.com", "other-app")
    services.limiter.stores = {-1}  # nobody
    assert {api.get(item_path(1)).status_code for _ in range(6)} == {404}
    services.limiter.stores = {store_id_of(server.db, creds.secure_url)}
    assert [api.get(item_path(1)).status_code for _ in range(4)] == [404, 404, 404, 429]
    with client_for(server, other) as client:
        assert {client.get(item_path(1)).status_code for _ in range(6)} == {404}


@pytest.fixture
def limited_pair(live_server: LiveServer) -> Iterator[tuple[LiveServer, LiveServer]]:
    """Two more servers on the session database, each with its own Database object, limited by
    the setting to 4 requests draining one per 1000 seconds (the database's clock)."""
    settings = Settings(database_url=live_server.app.settings.database_url, rate_limit="4/0.001")
    first, first_thread = start_server(settings)
    second, second_thread = start_server(settings)
    yield first, second
    stop_in_thread(first.server, first_thread)
    stop_in_thread(second.server, second_thread)


def test_a_limit_from_the_settings_is_shared_by_two_servers_on_one_database(
    server: LiveServer, creds: Issued, limited_pair: tuple[LiveServer, LiveServer]
) -> None:
    first, second = limited_pair
    with client_for(first, creds) as one, client_for(second, creds) as two:
        statuses = [client.get(item_path(1)).status_code for client in (one, two, one, two)]
        assert statuses == [404] * 4
        for client in (one, two):
            refused = client.get(item_path(1))
            assert refused.status_code == 429
            wait = int(refused.headers["retry-after"])
            assert 1 <= wait <= 1000
            assert_error(refused, 429, limited(wait))
    # The default server on the same database is not limited.
    with client_for(server, creds) as plain:
        assert plain.get(item_path(1)).status_code == 404
