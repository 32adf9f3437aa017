"""The sandbox controls as the test server offers them: server.faults, journal(), reset(store=),
export(), throttle switches, and the control endpoints at server.control_url."""

from __future__ import annotations

import json
from collections.abc import Iterator
from decimal import Decimal

import httpx
import pytest

from cartgroups.client import Client, ServerError
from cartgroups.errors import Invalid, NotFound
from cartgroups.testing import TestServer, serve

GROUPS = "/CustomerGroups"


@pytest.fixture(scope="module")
def running() -> Iterator[TestServer]:
    with serve() as server:
        yield server


@pytest.fixture
def server(running: TestServer) -> TestServer:
    running.reset()
    return running


def api(server: TestServer) -> httpx.Client:
    return httpx.Client(base_url=server.api_url, headers=server.headers, timeout=10)


def test_a_retry_is_tested_with_a_one_shot_fault(server: TestServer) -> None:
    """The docs/testing.md example: the SDK retries a GET that got a 503 once."""
    server.seed([{"Name": "Retail"}])
    server.faults.add(503, method="GET", path="*/CustomerGroups/*", times=1)
    creds = server.credentials
    with Client(server.base_url, creds.secure_url, creds.private_key, creds.token, backoff=0) as client:
        assert client.get(1).name == "Retail"
    assert [(e["status"], e["fault_id"] is not None) for e in server.journal()] == [(200, False), (503, True)]
    assert server.faults.list() == []  # the one-shot rule has expired


def test_fault_methods(server: TestServer) -> None:
    other = server.new_store()
    rule = server.faults.add(500, store=other, message="Down for them", retry_after=3)
    assert rule["store"] == other.secure_url and rule["message"] == "Down for them"
    with api(server) as mine:
        assert mine.get(GROUPS).status_code == 404
    with httpx.Client(base_url=server.api_url, headers=other.headers) as theirs:
        response = theirs.get(GROUPS)
    assert response.status_code == 500 and response.headers["retry-after"] == "3"
    assert [f["id"] for f in server.faults.list()] == [rule["id"]]
    server.faults.delete(rule["id"])
    with pytest.raises(NotFound):
        server.faults.delete(rule["id"])
    with pytest.raises(Invalid, match="status must be a whole number from 400 to 599"):
        server.faults.add(200)
    server.faults.add(500)
    server.faults.add(latency_ms=1)
    assert server.faults.clear() == 2
    with pytest.raises(ServerError):  # after clear the server answers; a rule makes the SDK raise
        server.faults.add(500, times=1)
        with Client(server.base_url, *server.headers.values(), retries=0) as client:
            client.count()


def test_reset_one_store_export_and_journal(server: TestServer) -> None:
    other = server.new_store()
    server.seed([{"Name": "Mine", "MinimumOrder": "12.50"}])
    server.seed([{"Name": "Theirs"}], store=other)
    assert server.export() == [
        {
            "CustomerGroupID": 1,
            "Name": "Mine",
            "Description": "",
            "MinimumOrder": Decimal("12.50"),
            "NonTaxable": False,
            "AllowRegistration": False,
            "DisableRewardPoints": False,
            "AutoApprove": False,
            "RegistrationMessage": "",
            "PriceLevel": 0,
        }
    ]
    with api(server) as mine:
        mine.get(f"{GROUPS}/1")
        mine.get(f"{GROUPS}/2")
    assert [e["status"] for e in server.journal()] == [404, 200]
    assert [e["status"] for e in server.journal(limit=1)] == [404]
    assert json.loads(server.journal()[1]["response_body"])[0]["Name"] == "Mine"
    assert server.journal()[0]["request_headers"]["token"] == "[redacted]"
    server.reset(store=server.credentials)
    assert server.export() == [] and server.journal() == []
    assert [g["Name"] for g in server.export(other)] == ["Theirs"]
    assert server.clear_journal(other) == 0


def test_throttle_switch(server: TestServer) -> None:
    other = server.new_store()
    assert server.throttle() is None
    server.set_throttle(True)
    server.set_throttle(False, store=other)
    assert (server.throttle(), server.throttle(other.secure_url)) == (True, False)
    server.reset()
    assert server.throttle() is None


def test_the_control_endpoints_are_on_with_the_servers_token(server: TestServer) -> None:
    headers = {"Authorization": f"Bearer {server.sandbox_token}"}
    with httpx.Client(base_url=server.control_url, headers=headers) as control:
        assert control.post(f"/stores/{server.credentials.secure_url}/seed", json=[{"Name": "A"}]).json() == {
            "ids": [1]
        }
        assert control.get("/stores").status_code == 200
    assert httpx.get(server.control_url + "/stores").status_code == 401
    assert len(server.sandbox_token) >= 32


def test_reset_between_tests_drops_faults(server: TestServer) -> None:
    server.faults.add(500)
    server.reset()
    with api(server) as mine:
        assert mine.get(GROUPS).status_code == 404


def test_sandbox_settings_are_chosen_by_serve() -> None:
    with pytest.raises(TypeError, match="chooses sandbox itself"), serve(sandbox=False):
        pass
