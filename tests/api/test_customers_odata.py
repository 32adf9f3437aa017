"""OData $select and $orderby on the Customers reads (SQLite and PostgreSQL): GET /Customers,
GET /Customers/{id} and GET /CustomerGroups/{id}/Customers. As on the group routes they act on
the page already read (limit, offset, ascending id); unlike them they never cause an error
(customers.md D9): what cannot be read is ignored. Password stays "" whatever is selected."""

from __future__ import annotations

import httpx
import pytest

from tests.api.support import State
from tests.api.test_xml import NS, XML
from tests.conftest import create_group

CUSTOMERS = "/Customers"


def create(api: httpx.Client, email: str, **fields: object) -> int:
    response = api.post(CUSTOMERS, json={"Email": email, "Password": "secret", **fields})
    assert response.status_code == 201, response.text
    return int(response.json()[0]["Value"])


@pytest.fixture
def three(api: httpx.Client) -> None:
    """Customers 1-3: last names b, null, A; 2 and 3 in group 1."""
    group_id = create_group(api, PriceLevel=1)
    create(api, "one@example.com", BillingLastName="b", ShippingAddressType=5)
    create(api, "two@example.com", CustomerGroupID=group_id, ShippingAddressType=5, Enabled=True)
    create(api, "three@example.com", BillingLastName="A", CustomerGroupID=group_id, ShippingAddressType=1)


def test_select_keeps_the_named_properties_in_wire_order(api: httpx.Client, three: None) -> None:
    response = api.get(CUSTOMERS, params={"$select": "totalstorecredit, Password,email,CUSTOMERID,Email"})
    assert response.status_code == 200
    assert response.content == (
        b'[{"CustomerID":1,"Email":"one@example.com","Password":"","TotalStoreCredit":0.0},'
        b'{"CustomerID":2,"Email":"two@example.com","Password":"","TotalStoreCredit":0.0},'
        b'{"CustomerID":3,"Email":"three@example.com","Password":"","TotalStoreCredit":0.0}]'
    )
    # A selected null is written null in JSON, and left out in XML (as XmlSerializer does).
    response = api.get(CUSTOMERS, params={"$select": "BillingLastName,CustomerID", "limit": "2"})
    assert (
        response.content
        == b'[{"CustomerID":1,"BillingLastName":"b"},{"CustomerID":2,"BillingLastName":null}]'
    )
    xml = api.get(CUSTOMERS, params={"$select": "BillingLastName,CustomerID", "limit": "2"}, headers=XML)
    assert xml.status_code == 200
    assert (
        xml.content
        == (
            f"<ArrayOfCustomer{NS}><Customer><CustomerID>1</CustomerID><BillingLastName>b</BillingLastName>"
            "</Customer><Customer><CustomerID>2</CustomerID></Customer></ArrayOfCustomer>"
        ).encode()
    )


def test_orderby_sorts_the_page_only_nulls_first(api: httpx.Client, three: None) -> None:
    def ids(**params: str) -> list[int]:
        response = api.get(CUSTOMERS, params={"$select": "CustomerID", **params})
        assert response.status_code == 200, response.text
        return [c["CustomerID"] for c in response.json()]

    assert ids(**{"$orderby": "BillingLastName"}) == [2, 3, 1]  # null, "A", "b"
    assert ids(**{"$orderby": "BillingLastName desc"}) == [1, 3, 2]
    assert ids(**{"$orderby": "ShippingAddressType desc,Email"}) == [1, 2, 3]
    assert ids(**{"$orderby": "Enabled DESC"}) == [2, 1, 3]  # equal keys keep id order
    # The page is read first (ids 2 and 3), then sorted.
    assert ids(**{"$orderby": "BillingLastName desc", "offset": "2"}) == [3, 2]
    assert ids(**{"$orderby": "BillingLastName desc", "limit": "2"}) == [1, 2]


def test_get_by_id_and_a_groups_members_take_them_too(api: httpx.Client, three: None) -> None:
    one = api.get(f"{CUSTOMERS}/3", params={"$select": "Email,Password", "$orderby": "Email"})
    assert one.status_code == 200
    assert one.content == b'[{"Email":"three@example.com","Password":""}]'
    members = api.get("/CustomerGroups/1/Customers", params={"$select": "CustomerID", "$orderby": "Email"})
    assert members.status_code == 200
    assert members.content == b'[{"CustomerID":3},{"CustomerID":2}]'
    xml = api.get("/CustomerGroups/1/Customers", params={"$select": "Password,CustomerGroupID"}, headers=XML)
    assert (
        xml.content
        == (
            f"<ArrayOfCustomer{NS}>"
            + "<Customer><Password /><CustomerGroupID>1</CustomerGroupID></Customer>" * 2
            + "</ArrayOfCustomer>"
        ).encode()
    )


def test_countonly_ignores_them(api: httpx.Client, three: None) -> None:
    params = {"countonly": "1", "$select": "Email", "$orderby": "Nope up"}
    assert api.get(CUSTOMERS, params=params).content == b'{"TotalCount":3}'
    assert api.get("/CustomerGroups/1/Customers", params=params).content == b'{"TotalCount":2}'


@pytest.mark.parametrize(
    ("asked", "meant"),
    [
        ({"$select": "Nope"}, {}),  # no property named: every property
        ({"$select": "Email,,Nope, "}, {"$select": "Email"}),
        ({"$select": "Email BillingLastName"}, {}),
        ({"$orderby": "Nope desc,BillingLastName"}, {"$orderby": "BillingLastName"}),
        ({"$orderby": "BillingLastName up"}, {}),
        ({"$orderby": " , BillingLastName desc asc,Email desc"}, {"$orderby": "Email desc"}),
        ({"$orderby": "billinglastname desc,BillingLastName"}, {"$orderby": "BillingLastName desc"}),
        ({"$select": "Émail\U0001f600", "$orderby": "\x00"}, {}),
    ],
)
def test_what_cannot_be_read_is_ignored_never_an_error(
    api: httpx.Client, state: State, three: None, asked: dict[str, str], meant: dict[str, str]
) -> None:
    before = state()
    for path in (CUSTOMERS, f"{CUSTOMERS}/2", "/CustomerGroups/1/Customers"):
        for headers in ({}, XML):
            response = api.get(path, params=asked, headers=headers)
            assert response.status_code == 200, response.text
            assert response.content == api.get(path, params=meant, headers=headers).content
    assert state() == before


def test_the_group_routes_still_refuse_what_they_cannot_read(api: httpx.Client, three: None) -> None:
    response = api.get("/CustomerGroups", params={"$select": "Email"})
    assert response.status_code == 400
    assert response.json()[0]["Message"].startswith("$select: 'Email' is not a property of CustomerGroup")


def test_each_shape_is_kept_apart_by_the_read_cache(api: httpx.Client, three: None) -> None:
    """The same page asked with other options, in another order, never gets another's bytes."""
    for path in (CUSTOMERS, f"{CUSTOMERS}/1", "/CustomerGroups/1/Customers"):
        whole = api.get(path).content
        selected = api.get(path, params={"$select": "Email"}).content
        ordered = api.get(path, params={"$orderby": "Email desc"}).content
        assert selected != whole and b'"BillingLastName"' in whole and b'"BillingLastName"' not in selected
        assert api.get(path).content == whole
        assert api.get(path, params={"$select": "EMAIL"}).content == selected
        assert api.get(path, params={"$orderby": "email DESC"}).content == ordered
        assert api.get(path, params={"$select": "Email"}, headers=XML).content.startswith(b"<ArrayOfCustomer")
    assert api.get(CUSTOMERS, params={"$orderby": "Email desc"}).json()[0]["Email"] == "two@example.com"
