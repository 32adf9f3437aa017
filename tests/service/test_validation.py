"""The input rules, without HTTP: Json.NET-like leniency, and a clear message for every rule."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cartgroups.errors import Invalid
from cartgroups.model import FieldSpec, decimal_text
from cartgroups.service import validation
from cartgroups.service.customer_groups import Page, parse_page

LEVEL_RULE = "PriceLevel must be an integer from -2147483648 to 2147483647"
UI_LEVEL_RULE = "PriceLevel must be an integer from 1 to 10"


def values(obj: object, creating: bool = True) -> dict[str, object]:
    return validation.group_values(obj, creating=creating)


def test_defaults_on_create() -> None:
    assert values({"Name": "Retail"}) == {
        "name": "Retail",
        "description": "",
        "minimum_order": Decimal("0"),
        "non_taxable": False,
        "allow_registration": False,
        "disable_reward_points": False,
        "auto_approve": False,
        "registration_message": "",
        "price_level": 0,
    }


def test_names_match_case_insensitively_and_the_later_spelling_wins() -> None:
    assert values({"name": "a", "NAME": "b", "pricelevel": "3"})["name"] == "b"
    assert values({"PRICELEVEL": "3", "Name": "x"})["price_level"] == 3


def test_update_returns_only_what_was_sent_and_null_is_absent() -> None:
    assert values({"PriceLevel": 2, "Description": None, "Junk": [1]}, creating=False) == {"price_level": 2}


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({}, "Name is required"),
        ({"Name": ""}, "Name must not be empty"),
        ({"Name": "   "}, "Name must not be empty"),
        ({"Name": "x" * 151}, "Name must be at most 150 characters (got 151)"),
        ({"Name": 5}, "Name must be a string"),
        ({"Name": "a\x00b"}, "Name must be valid Unicode text without NUL characters"),
        ({"Name": "\ud800"}, "Name must be valid Unicode text without NUL characters"),
        (
            {"Name": "x", "Description": "d" * 65536},
            "Description must be at most 65535 characters (got 65536)",
        ),
        ({"Name": "x", "PriceLevel": 2147483648}, LEVEL_RULE),
        ({"Name": "x", "PriceLevel": -2147483649}, LEVEL_RULE),
        ({"Name": "x", "PriceLevel": "2147483648"}, LEVEL_RULE),
        ({"Name": "x", "PriceLevel": Decimal("2.5")}, LEVEL_RULE),
        ({"Name": "x", "PriceLevel": True}, LEVEL_RULE),
        ({"Name": "x", "PriceLevel": "3.0"}, LEVEL_RULE),
        ({"Name": "x", "NonTaxable": "yes"}, "NonTaxable must be true or false, or a number (0 is false)"),
        ({"Name": "x", "NonTaxable": {"x": 1}}, "NonTaxable must be true or false, or a number (0 is false)"),
        ({"Name": "x", "MinimumOrder": "abc"}, "MinimumOrder must be a number"),
        ({"Name": "x", "MinimumOrder": "NaN"}, "MinimumOrder must be a number"),
        ({"Name": "x", "MinimumOrder": False}, "MinimumOrder must be a number"),
        ({"Name": "x", "MinimumOrder": Decimal("-0.01")}, "MinimumOrder must not be negative"),
        (
            {"Name": "x", "MinimumOrder": Decimal("1E+400")},
            "MinimumOrder must be at most 79228162514264337593543950335 with at most 28 decimal places",
        ),
        (
            {"Name": "x", "MinimumOrder": Decimal("0." + "1" * 29)},
            "MinimumOrder must be at most 79228162514264337593543950335 with at most 28 decimal places",
        ),
        (
            {"PriceLevel": 2**31, "NonTaxable": "x"},
            f"Name is required; NonTaxable must be true or false, or a number (0 is false); {LEVEL_RULE}",
        ),
        ([], "The request body must be a JSON object (a CustomerGroup)"),
        ("x", "The request body must be a JSON object (a CustomerGroup)"),
    ],
)
def test_each_rule_has_its_message(body: object, message: str) -> None:
    with pytest.raises(Invalid) as caught:
        values(body)
    assert caught.value.message == message


@pytest.mark.parametrize(
    ("given_value", "stored"),
    [
        ("3", 3),
        (Decimal("3.0"), 3),
        ("+4", 4),
        ("-48512740", -48512740),
        (Decimal("-2147483648.0"), -2147483648),
    ],
)
def test_integers_are_read_leniently(given_value: object, stored: int) -> None:
    assert values({"Name": "x", "PriceLevel": given_value})["price_level"] == stored


@pytest.mark.parametrize("level", [0, 11, -48512740, 2147483647, -2147483648, 1, 10])
def test_price_level_is_any_32_bit_integer_stored_as_given(level: int) -> None:
    assert values({"Name": "x", "PriceLevel": level})["price_level"] == level
    assert values({"PriceLevel": level}, creating=False) == {"price_level": level}


def ui_levels(obj: object, creating: bool = True) -> dict[str, object]:
    return validation.group_values(obj, creating=creating, price_level_1_to_10=True)


@pytest.mark.parametrize(("level", "stored"), [(1, 1), (10, 10), ("5", 5), (Decimal("7.0"), 7)])
def test_with_the_1_to_10_setting_the_store_ui_levels_pass(level: object, stored: int) -> None:
    assert ui_levels({"Name": "x", "PriceLevel": level})["price_level"] == stored
    assert ui_levels({"PriceLevel": level}, creating=False) == {"price_level": stored}


@pytest.mark.parametrize("level", [0, 11, -1, 2147483647, 2147483648, "abc", Decimal("1.5"), True])
def test_with_the_1_to_10_setting_other_levels_get_its_message(level: object) -> None:
    for creating in (True, False):
        with pytest.raises(Invalid) as caught:
            ui_levels({"Name": "x", "PriceLevel": level}, creating=creating)
        assert caught.value.message == UI_LEVEL_RULE
        assert caught.value.fields == {"PriceLevel": UI_LEVEL_RULE}


def test_with_the_1_to_10_setting_an_absent_level_is_1_and_problems_keep_field_order() -> None:
    assert ui_levels({"Name": "x"})["price_level"] == 1
    assert validation.create_defaults(price_level_1_to_10=True)["price_level"] == 1
    assert validation.create_defaults()["price_level"] == 0
    assert ui_levels({"Name": "x", "PriceLevel": None}, creating=False) == {"name": "x"}
    with pytest.raises(Invalid) as caught:
        ui_levels({"PriceLevel": 0, "NonTaxable": "x"})
    assert (
        caught.value.message
        == f"Name is required; NonTaxable must be true or false, or a number (0 is false); {UI_LEVEL_RULE}"
    )


@pytest.mark.parametrize(
    ("given_value", "text"),
    [
        (Decimal("0.1"), "0.1"),
        (Decimal("101.25"), "101.25"),
        (Decimal("34158822.957761675"), "34158822.957761675"),
        (Decimal("1.50"), "1.50"),
        (5, "5.0"),
        ("12.5", "12.5"),
        (Decimal("1E+3"), "1000.0"),
        (Decimal("-0"), "0.0"),
        ("79228162514264337593543950335", "79228162514264337593543950335.0"),
    ],
)
def test_money_keeps_its_digits(given_value: object, text: str) -> None:
    stored = values({"Name": "x", "MinimumOrder": given_value})["minimum_order"]
    assert isinstance(stored, Decimal)
    assert decimal_text(stored) == text


@given(st.decimals(min_value=0, max_value=10**12, places=6, allow_nan=False, allow_infinity=False))
def test_any_money_value_round_trips_through_its_text(amount: Decimal) -> None:
    stored = values({"Name": "x", "MinimumOrder": str(amount)})["minimum_order"]
    assert isinstance(stored, Decimal)
    assert Decimal(decimal_text(stored)) == amount
    assert "." in decimal_text(stored)


@pytest.mark.parametrize(
    ("query", "page"),
    [
        ((None, None, None), Page(10, 1, False)),
        (("", "", ""), Page(10, 1, False)),
        (("500", "0", "0"), Page(500, 1, False)),
        (("1", "101", None), Page(1, 101, False)),
        (("abc", "-5", "1"), Page(count_only=True)),
        ((None, None, "true"), Page(count_only=True)),
    ],
)
def test_paging_parameters(query: tuple[str | None, str | None, str | None], page: Page) -> None:
    assert parse_page(*query) == page


@pytest.mark.parametrize(
    ("query", "message"),
    [
        (("0", None, None), "limit must be an integer from 1 to 500"),
        (("501", None, None), "limit must be an integer from 1 to 500"),
        (("ten", None, None), "limit must be an integer from 1 to 500"),
        ((None, "-1", None), "offset must be a whole number; the first record is 1"),
        ((None, "x", None), "offset must be a whole number; the first record is 1"),
        ((None, None, "2"), "countonly must be 0 or 1"),
    ],
)
def test_bad_paging_parameters(query: tuple[str | None, str | None, str | None], message: str) -> None:
    with pytest.raises(Invalid) as caught:
        parse_page(*query)
    assert caught.value.message == message


@pytest.mark.parametrize("raw", ["abc", "0", "-1", "1.5", "2147483648", "99999999999999999999", ""])
def test_bad_path_ids(raw: str) -> None:
    with pytest.raises(Invalid) as caught:
        validation.path_id(raw)
    assert caught.value.message == "CustomerGroupID in the URL must be an integer from 1 to 2147483647"
    assert caught.value.value == raw


def test_object_values_follow_any_field_table() -> None:
    """The rules are the field table's, not CustomerGroup's: a required property, defaults on
    create, a partial update, and every problem named in field order (issue #18's Customer
    will be a table like this one)."""
    email = FieldSpec("Email", "email", "string", "Login.", max_length=100, required=True)
    credit = FieldSpec("Credit", "credit", "decimal", "Money.", default=Decimal("0"), minimum=0)
    enabled = FieldSpec("Enabled", "enabled", "boolean", "On.", default=False)
    table = (email, credit, enabled)
    _given, values, problems = validation.object_values(
        {"EMAIL": "a@example.com"}, table, entity="Customer", creating=True
    )
    assert (values, problems) == ({"email": "a@example.com", "credit": Decimal("0"), "enabled": False}, {})
    _given, values, problems = validation.object_values(
        {"Credit": "-1", "Email": "  "}, table, entity="Customer", creating=False
    )
    assert values == {}
    assert problems == {"Email": "Email must not be empty", "Credit": "Credit must not be negative"}
    _given, _values, problems = validation.object_values({}, table, entity="Customer", creating=True)
    assert problems == {"Email": "Email is required"}
    with pytest.raises(Invalid, match=r"a JSON object \(a Customer\)"):
        validation.object_values([], table, entity="Customer", creating=True)


def test_a_path_id_is_checked_against_its_resources_id_field() -> None:
    customer_id = FieldSpec("CustomerID", "customer_id", "id", "Id.", minimum=1, maximum=2**31 - 1)
    assert validation.path_id("42", customer_id) == 42
    with pytest.raises(Invalid, match="CustomerID in the URL must be an integer from 1 to 2147483647"):
        validation.path_id("0", customer_id)
    with pytest.raises(Invalid, match="CustomerID is required"):
        validation.bulk_item_id({}, customer_id)
