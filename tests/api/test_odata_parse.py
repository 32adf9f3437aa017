"""api/odata.py without a server: parsing $select and $orderby, the sort keys, the shape as a key."""

from __future__ import annotations

from decimal import Decimal

import pytest

from cartgroups.api import odata
from cartgroups.errors import Invalid
from cartgroups.model import FIELDS, CustomerGroup

NAME, MINIMUM_ORDER, NON_TAXABLE, PRICE_LEVEL = 1, 3, 4, 9


def group(group_id: int, name: str, amount: str = "0", flag: bool = False, level: int = 0) -> CustomerGroup:
    return CustomerGroup(group_id, name, "", Decimal(amount), flag, False, False, False, "", level)


@pytest.mark.parametrize("query", [{}, {"limit": "2"}, {"$select": ""}, {"$select": "", "$orderby": ""}])
def test_a_query_without_them_asks_no_shape(query: dict[str, str]) -> None:
    assert odata.parse(query) is None


def test_select_is_kept_in_wire_order_whatever_order_or_case_it_was_asked_in() -> None:
    shape = odata.parse({"$select": "PriceLevel, name,CUSTOMERGROUPID,Name"})
    assert shape is not None
    assert shape.select == (0, NAME, PRICE_LEVEL)
    assert [f.wire for f in shape.fields] == ["CustomerGroupID", "Name", "PriceLevel"]
    assert shape.order == ()


@pytest.mark.parametrize("select", ["*", "Name,*", None])
def test_every_field_is_the_field_table_itself(select: str | None) -> None:
    query = {"$orderby": "Name"} if select is None else {"$select": select}
    shape = odata.parse(query)
    assert shape is not None
    assert shape.fields is FIELDS  # what lets wire.groups_body take its whole-group path


def test_the_same_request_in_other_spellings_is_the_same_key() -> None:
    one = odata.parse({"$select": "Name,PriceLevel", "$orderby": "Name desc,PriceLevel"})
    other = odata.parse({"$select": "pricelevel , NAME,name", "$orderby": "name DESC, pricelevel asc"})
    assert one == other
    assert hash(one) == hash(other)
    assert odata.parse({"$orderby": "Name desc"}) != odata.parse({"$orderby": "Name"})


def test_orderby_items_read_as_property_and_direction() -> None:
    shape = odata.parse({"$orderby": "PriceLevel desc,\tName ,MinimumOrder ASC"})
    assert shape is not None
    assert shape.order == ((PRICE_LEVEL, True), (NAME, False), (MINIMUM_ORDER, False))


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ({"$select": "Name,,PriceLevel"}, "$select has an empty item"),
        ({"$select": "Name PriceLevel"}, "$select: 'Name PriceLevel' is not a property of CustomerGroup"),
        ({"$orderby": " , Name"}, "$orderby has an empty item"),
        ({"$orderby": "Name up"}, "$orderby: 'up' after Name is not a direction; use asc or desc"),
        ({"$orderby": "Nope up"}, "$orderby: 'Nope' is not a property of CustomerGroup"),
        ({"$orderby": "Name asc desc"}, "$orderby: 'Name asc desc' is not 'Property [asc|desc]'"),
        ({"$orderby": "NAME,Name desc"}, "Duplicate property named 'Name' is not supported in '$orderby'."),
        ({"$select": "Name\ud800"}, "$select: 'Name\\ud800' is not a property"),
    ],
)
def test_what_cannot_be_read_is_invalid_naming_it(query: dict[str, str], message: str) -> None:
    with pytest.raises(Invalid) as caught:
        odata.parse(query)
    assert caught.value.message.startswith(message)


def test_sort_is_stable_with_each_key_in_its_direction() -> None:
    groups = [group(1, "b", level=2), group(2, "a", level=1), group(3, "b", level=1), group(4, "a", level=2)]
    shape = odata.parse({"$orderby": "Name desc,PriceLevel"})
    assert shape is not None
    assert [g.group_id for g in shape.sort(groups)] == [3, 1, 2, 4]
    assert [g.group_id for g in groups] == [1, 2, 3, 4]  # the page itself is left as it was
    ties = odata.parse({"$orderby": "Description desc"})
    assert ties is not None
    assert [g.group_id for g in ties.sort(groups)] == [1, 2, 3, 4]


def test_numbers_by_value_and_false_before_true() -> None:
    groups = [
        group(1, "x", "10", True),
        group(2, "x", "9.99"),
        group(3, "x", "10.00"),
        group(4, "x", "1E+2", True),
    ]
    by_amount = odata.parse({"$orderby": "MinimumOrder"})
    by_flag = odata.parse({"$orderby": "NonTaxable desc"})
    assert by_amount is not None and by_flag is not None
    assert [g.group_id for g in by_amount.sort(groups)] == [2, 1, 3, 4]
    assert [g.group_id for g in by_flag.sort(groups)] == [1, 4, 2, 3]


def test_text_key_orders_letters_then_case_then_accents_then_lower_case_first() -> None:
    words = ["Zebra", "apple", "Äpfel", "Apple", "äpfel", "apfel", "Straße", "strasse", "10", "2"]
    assert sorted(words, key=odata.text_key) == [
        "10",
        "2",
        "apfel",
        "äpfel",
        "Äpfel",
        "apple",
        "Apple",
        "strasse",
        "Straße",
        "Zebra",
    ]
