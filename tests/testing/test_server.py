"""cartgroups.testing.serve(), driven with plain httpx the way a user's own 3dcart client would."""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from cartgroups.testing import SeedError, StoreCredentials, TestServer, serve

GROUPS = "/CustomerGroups"


@pytest.fixture(scope="module")
def running() -> Iterator[TestServer]:
    with serve() as server:
        yield server


@pytest.fixture
def server(running: TestServer) -> TestServer:
    running.reset()
    return running


def client(server: TestServer, credentials: StoreCredentials | None = None) -> httpx.Client:
    headers = credentials.headers if credentials else server.headers
    return httpx.Client(base_url=server.api_url, headers=headers, timeout=10)


def create(api: httpx.Client, name: str) -> int:
    response = api.post(GROUPS, json={"Name": name, "MinimumOrder": 250})
    assert response.status_code == 201, response.text
    return int(response.json()[0]["Value"])


def test_addresses_and_headers(server: TestServer) -> None:
    assert server.base_url.startswith("http://127.0.0.1:")
    assert server.api_url == server.base_url + "/3dCartWebAPI/v1"
    creds = server.credentials
    assert server.headers == {
        "SecureURL": creds.secure_url,
        "PrivateKey": creds.private_key,
        "Token": creds.token,
    }
    assert creds.token not in repr(creds) and creds.private_key not in repr(creds)


def test_post_then_get_as_a_3dcart_client(server: TestServer) -> None:
    with client(server) as api:
        group_id = create(api, "Wholesale")
        response = api.get(f"{GROUPS}/{group_id}")
    assert response.status_code == 200
    [group] = response.json()
    assert group["CustomerGroupID"] == group_id == 1
    assert group["Name"] == "Wholesale"
    assert group["MinimumOrder"] == 250


def test_wrong_or_missing_credentials_are_refused(server: TestServer) -> None:
    with client(server) as api:
        assert api.get(GROUPS, headers={"Token": "0" * 32}).status_code == 401
    assert httpx.get(server.api_url + GROUPS).status_code == 401


def test_reset_empties_the_store_and_restarts_ids(server: TestServer) -> None:
    with client(server) as api:
        assert [create(api, "A"), create(api, "B")] == [1, 2]
        server.reset()
        assert api.get(GROUPS).status_code == 404  # 3dcart's answer for a store without groups
        assert create(api, "C") == 1  # same credentials still work


def test_reset_forgets_idempotency_keys(server: TestServer) -> None:
    with client(server) as api:
        keyed = {"Idempotency-Key": "order-1"}
        assert api.post(GROUPS, json={"Name": "A"}, headers=keyed).status_code == 201
        server.reset()
        again = api.post(GROUPS, json={"Name": "A"}, headers=keyed)
        assert again.status_code == 201 and "idempotent-replayed" not in again.headers
        assert api.get(f"{GROUPS}/1").status_code == 200  # written this time, not replayed


def test_seed_creates_groups_as_posts_would(server: TestServer) -> None:
    ids = server.seed(
        [
            {"Name": "Retail"},
            {"Name": "Wholesale", "MinimumOrder": 250.5, "NonTaxable": True, "CustomerGroupID": 77},
        ]
    )
    assert ids == [1, 2]
    with client(server) as api:
        listed = api.get(GROUPS).json()
        assert api.get(f"{GROUPS}/77").status_code == 404  # the id in the dict is ignored, as in a POST
    assert [(g["CustomerGroupID"], g["Name"]) for g in listed] == [(1, "Retail"), (2, "Wholesale")]
    assert listed[1]["MinimumOrder"] == 250.5 and listed[1]["NonTaxable"] is True


def test_seed_rejects_bad_groups_and_writes_nothing(server: TestServer) -> None:
    with pytest.raises(SeedError) as raised:
        server.seed([{"Name": "ok"}, {"Name": ""}, {"MinimumOrder": -1}])
    assert str(raised.value) == (
        "groups[1]: Name must not be empty; groups[2]: Name is required; MinimumOrder must not be negative"
    )
    with client(server) as api:
        assert api.get(GROUPS).status_code == 404
    with pytest.raises(TypeError, match="list of groups"):
        server.seed({"Name": "one"})  # type: ignore[arg-type]


def test_stores_are_isolated(server: TestServer) -> None:
    other = server.new_store()
    assert other.secure_url != server.credentials.secure_url
    server.seed([{"Name": "Mine"}])
    assert server.seed([{"Name": "Theirs"}], store=other) == [1]
    with client(server) as mine, client(server, other) as theirs:
        assert mine.get(f"{GROUPS}/1").json()[0]["Name"] == "Mine"
        assert theirs.get(f"{GROUPS}/1").json()[0]["Name"] == "Theirs"
        assert create(theirs, "Second") == 2
        assert mine.get(GROUPS, params={"countonly": 1}).json() == {"TotalCount": 1}
    named = server.new_store("https://www.Shop.example.com/")
    assert named.secure_url == "shop.example.com"
    assert server.seed([{"Name": "x"}], store="shop.example.com") == [1]


def test_new_store_with_a_scope(server: TestServer) -> None:
    read_only = server.new_store(server.credentials.secure_url, scope="read")
    server.seed([{"Name": "Retail"}])
    with client(server, read_only) as api:
        assert api.get(f"{GROUPS}/1").status_code == 200
        assert api.post(GROUPS, json={"Name": "No"}).status_code == 401


def test_settings_are_passed_and_the_environment_is_ignored(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CARTGROUPS_DATABASE_URL", "postgresql://nobody@127.0.0.1:1/production")
    monkeypatch.setenv("CARTGROUPS_MAX_BULK_ITEMS", "1000")
    with serve(max_bulk_items=1) as server, client(server) as api:
        server.seed([{"Name": "A"}, {"Name": "B"}])
        response = api.put(GROUPS, json=[{"CustomerGroupID": 1}, {"CustomerGroupID": 2}])
    assert response.status_code == 400
    assert "at most 1 items" in response.text
    with (
        pytest.raises(TypeError, match="chooses database_url, port itself"),
        serve(port=8000, database_url="x"),
    ):
        pass


def test_exit_stops_the_server_and_deletes_the_database() -> None:
    threads_before = set(threading.enumerate())
    logging_before = (logging._srcfile, logging.logThreads, logging.logProcesses)
    with serve() as server:
        db_path = Path(server.db.engine.url.database or "")
        assert db_path.exists()
        assert (logging._srcfile, logging.logThreads, logging.logProcesses) == logging_before
    assert not db_path.parent.exists()
    assert set(threading.enumerate()) == threads_before
    with pytest.raises(httpx.ConnectError):
        httpx.get(server.base_url + "/")
