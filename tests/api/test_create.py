"""POST /CustomerGroups: the result record, defaults, Json.NET-style input, and every rule."""

from __future__ import annotations

import json

import httpx
import pytest

from tests.api.support import (
    COLLECTION,
    JSON,
    LEVEL_RULE,
    NOT_AN_OBJECT,
    State,
    assert_error,
    group_bytes,
    stored,
    stored_one,
)
from tests.conftest import create_group, error_body, result_body

SEED_BODY = b"""{
  "CustomerGroupID": -75462011,
  "Name": "Excepteur reprehenderit mollit",
  "Description": "aliquip exer",
  "MinimumOrder": 34158822.957761675,
  "NonTaxable": true,
  "AllowRegistration": false,
  "DisableRewardPoints": true,
  "AutoApprove": false,
  "RegistrationMessage": "aute enim commodo eiusmod",
  "PriceLevel": 3
}"""


def test_create_returns_exact_record_and_stores_every_field(api: httpx.Client) -> None:
    response = api.post(COLLECTION, content=SEED_BODY, headers=JSON)
    assert response.status_code == 201
    assert response.content == result_body(201, 1, "Created successfully")
    assert response.headers["content-type"] == "application/json; charset=utf-8"
    assert stored(api, 1) == (
        b'[{"CustomerGroupID":1,"Name":"Excepteur reprehenderit mollit",'
        b'"Description":"aliquip exer",'
        b'"MinimumOrder":34158822.957761675,"NonTaxable":true,"AllowRegistration":false,'
        b'"DisableRewardPoints":true,"AutoApprove":false,'
        b'"RegistrationMessage":"aute enim commodo eiusmod","PriceLevel":3}]'
    )


def test_result_is_one_record_the_csharp_sample_client_can_cut_out(api: httpx.Client) -> None:
    # The official sample drops the first and last character and reads one object.
    response = api.post(COLLECTION, json={"Name": "Retail"})
    inner = json.loads(response.content[1:-1])
    assert inner == {
        "Key": "CustomerGroupID",
        "Value": "1",
        "Status": "201",
        "Message": "Created successfully",
    }


def test_ids_ascend_per_store_and_are_never_reused(api: httpx.Client) -> None:
    assert [create_group(api) for _ in range(3)] == [1, 2, 3]
    assert api.delete("/CustomerGroups/3").status_code == 200
    assert create_group(api) == 4


def test_absent_fields_take_their_defaults(api: httpx.Client) -> None:
    create_group(api, Name="Only a name")
    assert stored(api, 1) == b"[" + group_bytes(1, "Only a name") + b"]"


@pytest.mark.parametrize("sent_id", [0, -75462011, 99, "7", None])
def test_customer_group_id_in_the_body_is_ignored(api: httpx.Client, sent_id: object) -> None:
    create_group(api, Name="First")
    response = api.post(COLLECTION, json={"CustomerGroupID": sent_id, "Name": "Second"})
    assert response.content == result_body(201, 2, "Created successfully")
    assert stored_one(api, 2)["Name"] == "Second"
    assert stored_one(api, 1)["Name"] == "First"


def test_property_names_match_case_insensitively(api: httpx.Client) -> None:
    body = {
        "name": "lower",
        "DESCRIPTION": "upper",
        "minimumorder": 2.5,
        "NONTAXABLE": True,
        "allowRegistration": True,
        "disablerewardpoints": True,
        "AutoAPPROVE": True,
        "registrationmessage": "hi",
        "pricelevel": 4,
    }
    assert api.post(COLLECTION, json=body).status_code == 201
    assert (
        stored(api, 1)
        == b"["
        + group_bytes(
            1,
            "lower",
            description="upper",
            minimum_order="2.5",
            non_taxable=True,
            allow_registration=True,
            disable_reward_points=True,
            auto_approve=True,
            registration_message="hi",
            price_level=4,
        )
        + b"]"
    )


def test_of_two_spellings_of_one_property_the_later_wins(api: httpx.Client) -> None:
    response = api.post(COLLECTION, content=b'{"Name":"first","NAME":"second"}', headers=JSON)
    assert response.status_code == 201
    assert stored_one(api, 1)["Name"] == "second"


def test_unknown_properties_are_ignored(api: httpx.Client) -> None:
    body = {"Name": "x", "Foo": {"bar": [1, None]}, "CustomerID": "abc", "PriceLevell": "zz"}
    assert api.post(COLLECTION, json=body).status_code == 201
    assert stored(api, 1) == b"[" + group_bytes(1, "x") + b"]"


def test_null_means_absent(api: httpx.Client) -> None:
    body = {
        "Name": "x",
        "Description": None,
        "MinimumOrder": None,
        "NonTaxable": None,
        "AllowRegistration": None,
        "DisableRewardPoints": None,
        "AutoApprove": None,
        "RegistrationMessage": None,
        "PriceLevel": None,
    }
    assert api.post(COLLECTION, json=body).status_code == 201
    assert stored(api, 1) == b"[" + group_bytes(1, "x") + b"]"


def test_numeric_and_boolean_strings_are_accepted(api: httpx.Client) -> None:
    body = {
        "Name": "x",
        "PriceLevel": "3",
        "MinimumOrder": "12.5",
        "NonTaxable": "true",
        "AllowRegistration": "True",
        "DisableRewardPoints": "false",
        "AutoApprove": "TRUE",
    }
    assert api.post(COLLECTION, json=body).status_code == 201
    assert (
        stored(api, 1)
        == b"["
        + group_bytes(
            1,
            "x",
            minimum_order="12.5",
            non_taxable=True,
            allow_registration=True,
            auto_approve=True,
            price_level=3,
        )
        + b"]"
    )


def test_an_integral_number_is_accepted_for_price_level(api: httpx.Client) -> None:
    assert api.post(COLLECTION, content=b'{"Name":"x","PriceLevel":7.0}', headers=JSON).is_success
    assert stored_one(api, 1)["PriceLevel"] == 7


def test_text_round_trips_exactly_in_utf8(api: httpx.Client) -> None:
    name = 'Großhändler "VIP" \\ 😀'
    description = "line one\nline two\ttab"
    create_group(api, Name=name, Description=description)
    body = stored(api, 1)
    assert body == b"[" + group_bytes(1, name, description=description) + b"]"
    assert "Großhändler".encode() in body  # raw UTF-8, not \\u escapes


@pytest.mark.parametrize(
    ("field", "length"),
    [("Name", 150), ("Description", 65535), ("RegistrationMessage", 65535)],
)
def test_strings_at_their_maximum_length_are_accepted(api: httpx.Client, field: str, length: int) -> None:
    value = "é" * length
    create_group(api, **{field: value})
    assert stored_one(api, 1)[field] == value


@pytest.mark.parametrize("level", [1, 10])
def test_price_level_bounds_are_accepted(api: httpx.Client, level: int) -> None:
    create_group(api, PriceLevel=level)
    assert stored_one(api, 1)["PriceLevel"] == level


# (case, body, message)
REJECTED_BODIES: list[tuple[str, dict[str, object], str]] = [
    ("name-missing", {"Description": "x"}, "Name is required"),
    ("name-null", {"Name": None}, "Name is required"),
    ("name-empty", {"Name": ""}, "Name must not be empty"),
    ("name-blank", {"Name": "   "}, "Name must not be empty"),
    ("name-number", {"Name": 5}, "Name must be a string"),
    ("name-array", {"Name": ["a"]}, "Name must be a string"),
    ("name-long", {"Name": "x" * 151}, "Name must be at most 150 characters (got 151)"),
    (
        "description-long",
        {"Name": "x", "Description": "d" * 65536},
        "Description must be at most 65535 characters (got 65536)",
    ),
    ("description-bool", {"Name": "x", "Description": True}, "Description must be a string"),
    (
        "message-long",
        {"Name": "x", "RegistrationMessage": "m" * 65536},
        "RegistrationMessage must be at most 65535 characters (got 65536)",
    ),
    ("message-object", {"Name": "x", "RegistrationMessage": {}}, "RegistrationMessage must be a string"),
    ("name-nul", {"Name": "a\u0000b"}, "Name must be valid Unicode text without NUL characters"),
    ("level-above-int32", {"Name": "x", "PriceLevel": 2147483648}, LEVEL_RULE),
    ("level-below-int32", {"Name": "x", "PriceLevel": -2147483649}, LEVEL_RULE),
    ("level-text", {"Name": "x", "PriceLevel": "abc"}, LEVEL_RULE),
    ("level-fraction", {"Name": "x", "PriceLevel": 2.5}, LEVEL_RULE),
    ("level-bool", {"Name": "x", "PriceLevel": True}, LEVEL_RULE),
    (
        "bool-yes",
        {"Name": "x", "NonTaxable": "yes"},
        "NonTaxable must be true or false, or a number (0 is false)",
    ),
    (
        "bool-array",
        {"Name": "x", "AllowRegistration": []},
        "AllowRegistration must be true or false, or a number (0 is false)",
    ),
    (
        "bool-digit-string",
        {"Name": "x", "DisableRewardPoints": "1"},
        "DisableRewardPoints must be true or false, or a number (0 is false)",
    ),
    (
        "bool-no",
        {"Name": "x", "AutoApprove": "no"},
        "AutoApprove must be true or false, or a number (0 is false)",
    ),
    ("money-text", {"Name": "x", "MinimumOrder": "abc"}, "MinimumOrder must be a number"),
    ("money-negative", {"Name": "x", "MinimumOrder": -1}, "MinimumOrder must not be negative"),
]


def test_each_rule_is_enforced_and_nothing_is_written(api: httpx.Client, state: State) -> None:
    create_group(api, Name="Existing")
    before = state()
    for case, body, message in REJECTED_BODIES:
        response = api.post(COLLECTION, json=body)
        assert (response.status_code, response.json()[0]["Message"]) == (400, message), case
        assert_error(response, 400, message)
    assert state() == before
    assert create_group(api) == 2  # the rejected requests used up no id


def test_all_problems_are_named_in_field_order(api: httpx.Client, state: State) -> None:
    before = state()
    body = {
        "PriceLevel": 2147483648,
        "NonTaxable": "yes",
        "MinimumOrder": -1,
        "Description": 5,
        "Name": "",
    }
    response = api.post(COLLECTION, json=body)
    assert_error(
        response,
        400,
        "Name must not be empty; Description must be a string; MinimumOrder must not be negative; "
        f"NonTaxable must be true or false, or a number (0 is false); {LEVEL_RULE}",
    )
    assert state() == before


def test_a_lone_surrogate_is_rejected(api: httpx.Client, state: State) -> None:
    before = state()
    response = api.post(COLLECTION, content=b'{"Name":"a\\ud800b"}', headers=JSON)
    assert_error(response, 400, "Name must be valid Unicode text without NUL characters")
    assert state() == before


@pytest.mark.parametrize("content", [b"[]", b'[{"Name":"x"}]', b'"Wholesale"', b"42", b"null"])
def test_a_body_that_is_not_an_object_is_rejected(api: httpx.Client, state: State, content: bytes) -> None:
    before = state()
    response = api.post(COLLECTION, content=content, headers=JSON)
    assert_error(response, 400, NOT_AN_OBJECT)
    assert state() == before


def test_missing_name_is_rejected_and_nothing_is_written(api: httpx.Client, state: State) -> None:
    before = state()
    response = api.post("/CustomerGroups", json={"Description": "x"})
    assert response.status_code == 400
    assert response.content == error_body(400, "Name is required")
    assert state() == before
