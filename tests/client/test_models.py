"""The CustomerGroup model: wire names from the field table, exact decimals both ways."""

from __future__ import annotations

import dataclasses
from decimal import Decimal

import httpx
import pytest

from cartgroups.client import Client, CustomerGroup, NotFound
from cartgroups.client._core import dumps, loads
from cartgroups.model import FIELDS


def test_attributes_follow_the_field_table() -> None:
    assert [f.name for f in dataclasses.fields(CustomerGroup)] == [f.column for f in FIELDS]
    assert list(CustomerGroup(name="x").to_wire()) == [f.wire for f in FIELDS]
    assert "CustomerGroupID" not in CustomerGroup(name="x").to_wire(include_id=False)


def test_groups_are_frozen() -> None:
    group = CustomerGroup(name="x")
    with pytest.raises(dataclasses.FrozenInstanceError):
        group.name = "y"  # type: ignore[misc]


def test_json_round_trip_keeps_every_digit() -> None:
    text = b'[{"CustomerGroupID":3,"Name":"n","MinimumOrder":34158822.957761675}]'
    group = CustomerGroup.from_wire(loads(text)[0])
    assert group.minimum_order == Decimal("34158822.957761675")
    assert float(group.minimum_order) != group.minimum_order  # a float could not hold it
    assert dumps({"MinimumOrder": group.minimum_order}) == b'{"MinimumOrder":34158822.957761675}'
    assert dumps({"MinimumOrder": Decimal("1.50")}) == b'{"MinimumOrder":1.50}'
    assert dumps({"MinimumOrder": Decimal("1E+2")}) == b'{"MinimumOrder":100}'


def test_from_wire_reads_like_json_net() -> None:
    group = CustomerGroup.from_wire(
        {"customergroupid": "4", "NAME": "n", "minimumorder": "2.50", "NonTaxable": "true", "Extra": 1}
    )
    assert group == CustomerGroup(group_id=4, name="n", minimum_order=Decimal("2.50"), non_taxable=True)
    with pytest.raises(ValueError):
        CustomerGroup.from_wire([1])


def test_minimum_order_inputs_become_exact_decimals() -> None:
    assert CustomerGroup(name="x", minimum_order=Decimal("0.1")).minimum_order == Decimal("0.1")
    assert CustomerGroup(name="x", minimum_order="0.10").minimum_order == Decimal("0.10")  # type: ignore[arg-type]
    assert CustomerGroup(name="x", minimum_order=1.1).minimum_order == Decimal("1.1")  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        CustomerGroup(name="x", minimum_order="NaN")  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        CustomerGroup(name="x", minimum_order="ten")  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        CustomerGroup(name="x", minimum_order=True)  # type: ignore[arg-type]


def test_a_404_page_that_is_not_an_api_answer_is_not_an_empty_store() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(404, text="<html>Not Found</html>")

    client = Client("http://x.test", "s", "k", "t", transport=httpx.MockTransport(handler))
    with client, pytest.raises(NotFound):
        client.list()
