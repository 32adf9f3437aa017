"""server.seed(customers=[...]) of the test server: groups named by their seed label or id,
store credit, hashed passwords, all-or-nothing, reset, export_customers."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal

import httpx
import pytest

from cartgroups.client import Client
from cartgroups.testing import SeedError, TestServer, serve


@pytest.fixture(scope="module")
def running() -> Iterator[TestServer]:
    with serve() as server:
        yield server


@pytest.fixture
def server(running: TestServer) -> TestServer:
    running.reset()
    return running


def _client(server: TestServer) -> Client:
    creds = server.credentials
    return Client(server.base_url, creds.secure_url, creds.private_key, creds.token)


def test_the_docs_example_seeds_a_member_with_store_credit(server: TestServer) -> None:
    seeded = server.seed(
        [{"Name": "Wholesale"}],
        customers=[
            {"Email": "jane@example.com", "CustomerGroupID": 1, "TotalStoreCredit": Decimal("25.00")},
            {"Email": "joe@example.com", "Password": "s3cret"},
        ],
    )
    assert seeded == [1] and seeded.groups == [1] and seeded.customers == [1, 2]
    with _client(server) as client:
        jane = client.customers.get(1)
        assert jane.total_store_credit == Decimal("25.00") and jane.customer_group_id == 1
        assert [c.email for c in client.group_members(1)] == ["jane@example.com"]
        assert client.customers.get(2).password == ""


def test_a_customer_names_a_seeded_group_by_its_label(server: TestServer) -> None:
    server.seed([{"Name": "First"}])
    seeded = server.seed(
        [{"Name": "Second", "CustomerGroupID": 100}],
        customers=[{"Email": "a@example.com", "CustomerGroupID": 100}],
    )
    assert seeded.groups == [2]
    assert server.export_customers()[0]["CustomerGroupID"] == 2


def test_a_bad_customer_raises_and_nothing_is_written(server: TestServer) -> None:
    with pytest.raises(SeedError) as raised:
        server.seed(
            [{"Name": "G"}],
            customers=[{"Email": "a@example.com"}, {"Email": "b@example.com", "CustomerGroupID": 9}],
        )
    assert str(raised.value) == (
        "customers[1]: CustomerGroupID must be 0 or a customer group of this store (there is no group 9)"
    )
    assert server.export() == [] and server.export_customers() == []
    with pytest.raises(TypeError):
        server.seed(customers={"Email": "a@example.com"})  # type: ignore[arg-type]


def test_reset_empties_customers_and_restarts_ids(server: TestServer) -> None:
    server.seed(customers=[{"Email": "a@example.com"}])
    server.reset()
    assert server.export_customers() == []
    assert server.seed(customers=[{"Email": "b@example.com"}]).customers == [1]
    response = httpx.get(server.api_url + "/Customers", headers=server.headers, timeout=10)
    assert [c["Email"] for c in response.json()] == ["b@example.com"]
