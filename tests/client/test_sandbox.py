"""cartgroups.client.sandbox.SandboxClient against the live sandbox server (SQLite and PostgreSQL)."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal

import httpx
import pytest

from cartgroups.client import BadRequest, CartgroupsConnectionError, NotFound, Unauthorized
from cartgroups.client.sandbox import SandboxClient
from cartgroups.service.credentials import Issued
from tests.conftest import SANDBOX_TOKEN, STORE, LiveServer, sandbox_state


@pytest.fixture
def sandbox_client(sandbox: LiveServer) -> Iterator[SandboxClient]:
    with SandboxClient(sandbox.base_url, SANDBOX_TOKEN) as client:
        yield client


def test_every_control(
    sandbox_client: SandboxClient, sandbox_api: httpx.Client, sandbox_creds: Issued
) -> None:
    client = sandbox_client
    assert client.seed(STORE, [{"Name": "A", "MinimumOrder": Decimal("1.50")}, {"Name": "B"}]) == [1, 2]
    exported = client.export(STORE)
    assert [(g["Name"], g["MinimumOrder"]) for g in exported] == [
        ("A", Decimal("1.50")),
        ("B", Decimal("0.0")),
    ]
    rule = client.add_fault(status=503, method="GET", times=1)
    assert client.faults() == [rule]
    assert sandbox_api.get("/CustomerGroups/1").status_code == 503
    assert client.faults() == []
    assert [e["status"] for e in client.journal(STORE, limit=1)] == [503]
    assert client.clear_journal(STORE) == 1
    assert client.set_throttle(STORE, True) is True
    assert client.throttle(STORE) is True
    assert client.set_throttle(STORE, None) is None
    second = client.add_fault(latency_ms=1)
    client.delete_fault(int(str(second["id"])))
    client.add_fault(status=500, path="/nowhere")
    assert client.clear_faults() == 1
    made = client.create_store("made.example.com", scope="read")
    assert made["SecureURL"] == "made.example.com" and made["Scope"] == "read"
    assert {s["SecureURL"] for s in client.stores()} == {STORE, "made.example.com"}
    assert client.reset(STORE) == {"reset": STORE}
    assert client.reset() == {"reset": "all", "stores": 2}
    assert client.export(STORE) == []
    assert "token" not in repr(client).lower() or SANDBOX_TOKEN not in repr(client)


def test_errors_are_typed_and_change_nothing(sandbox: LiveServer, sandbox_client: SandboxClient) -> None:
    before = sandbox_state(sandbox.db)
    with pytest.raises(NotFound, match=r"There is no store 'nobody\.example\.com'"):
        sandbox_client.export("nobody.example.com")
    with pytest.raises(BadRequest, match="a fault needs a status"):
        sandbox_client.add_fault(path="*")
    with pytest.raises(NotFound, match="There is no fault rule 7"):
        sandbox_client.delete_fault(7)
    with (
        SandboxClient(sandbox.base_url, "wrong-token-wrong-token") as wrong,
        pytest.raises(Unauthorized) as raised,
    ):
        wrong.faults()
    assert "wrong-token" not in str(raised.value)
    assert sandbox_state(sandbox.db) == before


def test_an_unreachable_server_is_a_connection_error() -> None:
    with (
        SandboxClient("http://127.0.0.1:9", SANDBOX_TOKEN, timeout=2) as client,
        pytest.raises(CartgroupsConnectionError),
    ):
        client.faults()
