"""The route table (api/routes.py): resources, and operations made from a resource and a kind.

A second resource is coming (Customers, issue #18): everything but its handlers must follow
from its Resource entry, so these tests make one and look at what the table makes of it."""

from __future__ import annotations

import ast
from decimal import Decimal
from pathlib import Path

import pytest

from cartgroups.api import customer_groups as h
from cartgroups.api import openapi, routes, wire
from cartgroups.api.routes import CUSTOMER_GROUPS, CUSTOMERS, OPERATIONS
from cartgroups.model import FIELDS, POSITION, PRICE_LEVEL, CustomerGroup


@pytest.mark.parametrize(
    "path",
    [
        "/3dCartWebAPI/v1/CustomerGroups",
        "/3dcartwebapi/V2/customergroups/",
        "/3DCARTWEBAPI/v1/CUSTOMERGROUPS",
    ],
)
def test_a_collection_path_matches_its_resource_in_any_letter_case(path: str) -> None:
    assert routes.match(path) == routes.Match(CUSTOMER_GROUPS, "collection", None)


def test_an_item_path_keeps_its_id_as_sent() -> None:
    assert routes.match("/3dCartWebAPI/v2/CustomerGroups/0012/") == routes.Match(
        CUSTOMER_GROUPS, "item", "0012"
    )


@pytest.mark.parametrize(
    "path",
    [
        "/3dCartWebAPI/v1/Orders",  # not served: no resource of that name
        "/3dCartWebAPI/v3/CustomerGroups",
        "/api/v1/CustomerGroups",
        "/3dCartWebAPI/v1/CustomerGroups/1/Orders",  # a group lists its customers only
        "/3dCartWebAPI/v1/Customers/1/Customers",  # a customer lists no members
        "/3dCartWebAPI/v1/CustomerGroups//Customers",
    ],
)
def test_other_paths_are_no_route(path: str) -> None:
    assert routes.match(path) is None


def test_the_operations_are_3dcarts() -> None:
    table = {(op.operation_id, op.method, op.route, op.success, op.writes, op.keyed) for op in OPERATIONS}
    assert table == {
        ("createCustomerGroup", "POST", "collection", 201, True, True),
        ("listCustomerGroups", "GET", "collection", 200, False, False),
        ("updateCustomerGroups", "PUT", "collection", 200, True, True),
        ("getCustomerGroup", "GET", "item", 200, False, False),
        ("updateCustomerGroup", "PUT", "item", 200, True, False),
        ("deleteCustomerGroup", "DELETE", "item", 200, True, False),
        ("listCustomerGroupMembers", "GET", "members", 200, False, False),
        ("createCustomer", "POST", "collection", 201, True, True),
        ("listCustomers", "GET", "collection", 200, False, False),
        ("updateCustomers", "PUT", "collection", 200, True, True),
        ("getCustomer", "GET", "item", 200, False, False),
        ("updateCustomer", "PUT", "item", 200, True, False),
        ("deleteCustomer", "DELETE", "item", 200, True, False),
    }
    assert routes.ALLOWED[(CUSTOMER_GROUPS, "collection")] == ("POST", "GET", "PUT", "OPTIONS")
    assert routes.ALLOWED[(CUSTOMER_GROUPS, "item")] == ("GET", "PUT", "DELETE", "OPTIONS")
    assert routes.ALLOWED[(CUSTOMER_GROUPS, "members")] == ("GET", "OPTIONS")
    assert routes.ALLOWED[(CUSTOMERS, "item")] == ("GET", "PUT", "DELETE", "OPTIONS")


def test_a_groups_members_route_matches_in_any_case() -> None:
    assert routes.match("/3dcartwebapi/V2/customergroups/7/CUSTOMERS/") == routes.Match(
        CUSTOMER_GROUPS, "members", "7"
    )
    assert routes.match("/3dCartWebAPI/v1/customers/3") == routes.Match(CUSTOMERS, "item", "3")


def test_another_resource_gets_its_operations_from_its_entry() -> None:
    customers = CUSTOMERS
    made = {kind: routes.of(customers, kind, h.get) for kind in ("create", "list", "bulk_update", "get")}
    assert [op.operation_id for op in made.values()] == [
        "createCustomer",
        "listCustomers",
        "updateCustomers",
        "getCustomer",
    ]
    assert made["list"].summary == "List customers, a page at a time, or count them"
    assert made["create"].success == 201 and made["create"].keyed
    assert not made["get"].writes
    # Its OpenAPI operation names its own schemas and tag.
    doc = openapi._operation(made["bulk_update"])
    assert doc["tags"] == ["Customers"]
    assert doc["requestBody"]["content"]["application/json"]["schema"]["items"] == {
        "$ref": "#/components/schemas/CustomerBulkItem"
    }


def test_the_openapi_writer_never_asks_which_operation_it_writes_by_id() -> None:
    """It asks an operation's kind and resource, so that another resource's operations are
    written by the same code."""
    tree = ast.parse(Path(openapi.__file__).read_text())
    compared = [
        node
        for node in ast.walk(tree)
        if isinstance(node, ast.Compare)
        and any(
            isinstance(side, ast.Attribute) and side.attr == "operation_id"
            for side in [node.left, *node.comparators]
        )
    ]
    assert compared == []


def test_every_decimal_property_is_written_with_its_digits(monkeypatch: pytest.MonkeyPatch) -> None:
    """api/wire writes each decimal property of an object as its digits and scale, however many
    an object has (a Customer's TotalStoreCredit will be one more): here PriceLevel's place is
    taken for a second decimal."""
    monkeypatch.setattr(wire, "_DECIMALS", (*wire._DECIMALS, (PRICE_LEVEL.wire, POSITION[PRICE_LEVEL])))
    values: list[object] = [f.default for f in FIELDS]
    values[0], values[1] = 7, "Two decimals"
    values[POSITION[FIELDS[3]]] = Decimal("1.50")
    values[POSITION[PRICE_LEVEL]] = Decimal("100")
    body = wire.groups_body([CustomerGroup(*values)])
    assert b'"MinimumOrder":1.50,' in body
    assert body.endswith(b'"PriceLevel":100.0}]')
