"""client.customers and client.group_members against the real server (SQLite and PostgreSQL):
every method, filters, paging, typed errors; the async twin."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import datetime, timedelta
from decimal import Decimal

import pytest

from cartgroups.client import AsyncClient, BadRequest, Client, Customer, ItemResult, NotFound
from cartgroups.service.customers import EMAIL_TAKEN, NO_MEMBERS, NOT_FOUND, SOME_NOT_FOUND


def test_create_get_update_delete(client: Client) -> None:
    group_id = client.create(name="Wholesale")
    customer_id = client.customers.create(
        email="jane@example.com", password="s3cret", billing_first_name="Jane", customer_group_id=group_id
    )
    assert customer_id == 1
    jane = client.customers.get(customer_id)
    assert jane == Customer(
        customer_id=1, email="jane@example.com", billing_first_name="Jane", customer_group_id=group_id
    )
    assert jane.password == "" and jane.total_store_credit == Decimal("0.0") and jane.billing_city is None
    client.customers.update(customer_id, billing_city="Oslo", enabled=True)
    assert client.customers.get(customer_id) == Customer(
        customer_id=1,
        email="jane@example.com",
        billing_first_name="Jane",
        billing_city="Oslo",
        enabled=True,
        customer_group_id=group_id,
    )
    client.customers.delete(customer_id)
    with pytest.raises(NotFound) as raised:
        client.customers.get(customer_id)
    assert raised.value.message == NOT_FOUND
    with pytest.raises(NotFound):
        client.customers.delete(customer_id)


def test_create_from_a_model_and_errors_are_typed(client: Client) -> None:
    customer_id = client.customers.create(
        Customer(email="a@example.com", mail_list=True, shipping_address_type=2)
    )
    got = client.customers.get(customer_id)
    assert got.mail_list is True and got.shipping_address_type == 2
    with pytest.raises(BadRequest) as raised:
        client.customers.create(email="A@example.com ")
    assert raised.value.message == EMAIL_TAKEN
    assert client.customers.count() == 1  # nothing written
    with pytest.raises(TypeError):
        client.customers.create(email="b@example.com", total_store_credit=5)  # read-only
    with pytest.raises(TypeError):
        client.customers.update(customer_id, nickname="x")


def test_list_filters_count_and_iterate(client: Client) -> None:
    for i in range(7):
        client.customers.create(
            email=f"c{i}@example.com", billing_country="US" if i % 2 else "NO", billing_last_name=f"L{i % 3}"
        )
    assert client.customers.count() == 7
    assert client.customers.count(country="us") == 3
    assert [c.customer_id for c in client.customers.list(limit=2, offset=3)] == [3, 4]
    assert [c.email for c in client.customers.list(country="US", lastname="L1")] == ["c1@example.com"]
    assert client.customers.list(email="nobody@example.com") == []
    assert [c.customer_id for c in client.customers.iter_all(page_size=2)] == list(range(1, 8))
    assert [c.customer_id for c in client.customers.iter_all(page_size=2, country="NO")] == [1, 3, 5, 7]
    tomorrow = datetime.now() + timedelta(days=2)
    assert client.customers.count(lastupdatestart=tomorrow) == 0
    assert client.customers.count(lastupdateend=tomorrow.strftime("%m/%d/%Y")) == 7
    with pytest.raises(BadRequest):
        client.customers.list(lastupdatestart="yesterday")
    with pytest.raises(TypeError):
        client.customers.list(zipcode="1")


def test_bulk_update_reports_each_item(client: Client) -> None:
    first = client.customers.create(email="a@example.com")
    customer = client.customers.get(first)
    results = client.customers.bulk_update(
        [
            Customer(**{**_fields(customer), "comments": "vip"}),
            {"customer_id": 99, "comments": "x"},
        ]
    )
    assert results == [
        ItemResult(200, "1", "updated successfully", "CustomerID"),
        ItemResult(404, "99", SOME_NOT_FOUND, "CustomerID"),
    ]
    assert results[0].customer_id == 1
    assert client.customers.get(first).comments == "vip"


def _fields(customer: Customer) -> dict[str, object]:
    return {name: getattr(customer, name) for name in Customer.__dataclass_fields__}


def test_group_members_and_their_count(client: Client) -> None:
    group_id = client.create(name="Retail")
    empty_group = client.create(name="Empty")
    for i in range(3):
        client.customers.create(email=f"m{i}@example.com", customer_group_id=group_id if i else 0)
    assert [c.customer_id for c in client.group_members(group_id)] == [2, 3]
    assert [c.customer_id for c in client.group_members(group_id, limit=1, offset=2)] == [3]
    assert client.group_members(group_id, email="m1@example.com")[0].customer_id == 2
    assert client.group_members(empty_group) == []
    assert client.count_group_members(group_id) == 2
    assert client.count_group_members(empty_group) == 0
    with pytest.raises(NotFound) as raised:
        client.count_group_members(999)
    assert raised.value.message == NO_MEMBERS


def test_the_async_client_has_the_same_methods(make_async_client: Callable[..., AsyncClient]) -> None:
    async def run() -> None:
        async with make_async_client() as client:
            group_id = await client.create(name="G")
            customer_id = await client.customers.create(email="x@example.com", customer_group_id=group_id)
            await client.customers.update(customer_id, billing_state="CA")
            assert (await client.customers.get(customer_id)).billing_state == "CA"
            assert await client.customers.count(state="ca") == 1
            assert [c.customer_id async for c in client.customers.iter_all()] == [customer_id]
            assert len(await client.customers.list()) == 1
            assert [c.email for c in await client.group_members(group_id)] == ["x@example.com"]
            assert await client.count_group_members(group_id) == 1
            results = await client.customers.bulk_update([{"customer_id": customer_id, "comments": "c"}])
            assert results[0].ok
            await client.customers.delete(customer_id)
            with pytest.raises(NotFound):
                await client.customers.get(customer_id)

    asyncio.run(run())
