"""The SDK's select= and order_by= (OData $select and $orderby) on list and get: what it sends,
what it returns (PartialCustomerGroup for select=), and the same against the real server."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from decimal import Decimal
from urllib.parse import parse_qsl

import httpx
import pytest

from cartgroups.client import AsyncClient, BadRequest, Client, CustomerGroup, NotFound, PartialCustomerGroup
from cartgroups.client._core import odata_params

# created second: the server makes it group 2 (the id in a created model is ignored)
ALPHA = CustomerGroup(group_id=2, name="alpha", minimum_order=Decimal("2.50"), price_level=2)


# ---------------------------------------------------------------- what is sent


@pytest.mark.parametrize(
    ("select", "order_by", "expected"),
    [
        (["name", "group_id"], None, {"$select": "Name,CustomerGroupID"}),
        ("Name, minimumorder,name", None, {"$select": "Name,MinimumOrder"}),
        (("PRICELEVEL",), "name DESC", {"$select": "PriceLevel", "$orderby": "Name desc"}),
        (None, ["price_level desc", "Name"], {"$orderby": "PriceLevel desc,Name"}),
        (None, "price_level desc, name asc", {"$orderby": "PriceLevel desc,Name asc"}),
        (None, None, {}),
    ],
)
def test_field_names_are_sent_as_wire_names(
    select: str | list[str] | tuple[str, ...] | None,
    order_by: str | list[str] | None,
    expected: dict[str, str],
) -> None:
    assert odata_params(select, order_by) == expected


@pytest.mark.parametrize(
    ("select", "order_by", "message"),
    [
        (["nope"], None, "unknown CustomerGroup field 'nope'"),
        ([], None, "select= needs one or more items"),
        ("name,", None, "select= needs one or more items"),
        (None, "name sideways", "an order_by= item is 'field', 'field asc' or 'field desc'"),
        (None, "name asc desc", "an order_by= item is"),
        (None, ["name", ""], "order_by= needs one or more items"),
        (None, "nope desc", "unknown CustomerGroup field 'nope'"),
    ],
)
def test_what_the_server_would_refuse_is_a_value_error_before_sending(
    select: str | list[str] | None, order_by: str | list[str] | None, message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        odata_params(select, order_by)


def _answering(body: bytes, seen: list[httpx.URL]) -> Client:
    """A client whose every request is answered 200 with ``body``; the URLs it sent go in ``seen``."""

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request.url)
        return httpx.Response(200, content=body)

    return Client("http://x.test", "s", "k", "t", transport=httpx.MockTransport(handler))


def test_the_query_on_the_wire_and_partial_groups_back() -> None:
    seen: list[httpx.URL] = []
    with _answering(b'[{"Name":"alpha","MinimumOrder":2.50}]', seen) as client:
        got = client.list(2, 1, select=["name", "minimum_order"], order_by="name desc")
        one = client.get(1, select="Name")
    assert got == [PartialCustomerGroup(name="alpha", minimum_order=Decimal("2.50"))]
    assert str(got[0].minimum_order) == "2.50"
    assert got[0].selected == ("name", "minimum_order")
    assert got[0].price_level is None
    assert one.name == "alpha"
    assert dict(parse_qsl(seen[0].query.decode())) == {
        "limit": "2",
        "offset": "1",
        "$select": "Name,MinimumOrder",
        "$orderby": "Name desc",
    }
    assert seen[1].path == "/3dCartWebAPI/v1/CustomerGroups/1"
    assert dict(parse_qsl(seen[1].query.decode())) == {"$select": "Name"}


def test_without_them_nothing_is_added_to_the_query() -> None:
    seen: list[httpx.URL] = []
    with _answering(b'[{"CustomerGroupID":1,"Name":"a"}]', seen) as client:
        assert client.get(1) == CustomerGroup(group_id=1, name="a")
        client.list()
    assert seen[0].query == b""
    assert dict(parse_qsl(seen[1].query.decode())) == {"limit": "10", "offset": "1"}


# ---------------------------------------------------------------- against the server


def _seed(client: Client) -> None:
    client.create(name="beta", minimum_order=Decimal("10"), price_level=1)
    client.create(ALPHA)
    client.create(name="Gamma", non_taxable=True, price_level=2)


def test_list_and_get_with_select_and_order_by(client: Client) -> None:
    _seed(client)
    page = client.list(limit=2, select=["group_id", "name"], order_by="name")
    # the page is groups 1 and 2; order_by sorts that page (Gamma, group 3, is not on it)
    assert page == [
        PartialCustomerGroup(group_id=2, name="alpha"),
        PartialCustomerGroup(group_id=1, name="beta"),
    ]
    whole = client.list(order_by=["price_level desc", "name desc"])
    assert [g.group_id for g in whole] == [3, 2, 1]
    assert whole[1] == ALPHA
    one = client.get(2, select=("MinimumOrder", "price_level"))
    assert one == PartialCustomerGroup(minimum_order=Decimal("2.50"), price_level=2)
    assert str(one.minimum_order) == "2.50"
    assert client.get(2, order_by="name") == ALPHA


def test_the_servers_refusals_and_404_are_the_usual_errors(client: Client) -> None:
    _seed(client)
    with pytest.raises(NotFound):
        client.get(9, select=["name"])
    with pytest.raises(BadRequest) as info:
        client.list(order_by="name,Name desc")
    assert info.value.message == "Duplicate property named 'Name' is not supported in '$orderby'."


def test_the_async_client_takes_them_too(
    client: Client, make_async_client: Callable[..., AsyncClient]
) -> None:
    _seed(client)

    async def scenario() -> None:
        async with make_async_client(version="v2") as api:
            names = await api.list(select="name", order_by="name desc")
            assert names == [PartialCustomerGroup(name=n) for n in ("Gamma", "beta", "alpha")]
            assert await api.get(3, select=["non_taxable"]) == PartialCustomerGroup(non_taxable=True)
            assert (await api.get(3, order_by="name")).name == "Gamma"
            assert [g.group_id for g in await api.list(order_by="minimum_order desc")] == [1, 2, 3]

    asyncio.run(scenario())
