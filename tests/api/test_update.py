"""PUT /CustomerGroups/{id}: a partial update where the path id wins."""

from __future__ import annotations

import httpx
import pytest

from tests.api.support import (
    BAD_PATH_ID,
    GROUP_NOT_FOUND,
    JSON,
    LEVEL_RULE,
    NOT_AN_OBJECT,
    State,
    assert_error,
    group_bytes,
    item_path,
    stored,
)
from tests.conftest import create_group, result_body

FULL = {
    "Name": "Retail",
    "Description": "desc",
    "MinimumOrder": "10.50",
    "NonTaxable": True,
    "AllowRegistration": True,
    "DisableRewardPoints": True,
    "AutoApprove": True,
    "RegistrationMessage": "msg",
    "PriceLevel": 4,
}
FULL_BYTES = group_bytes(
    1,
    "Retail",
    description="desc",
    minimum_order="10.50",
    non_taxable=True,
    allow_registration=True,
    disable_reward_points=True,
    auto_approve=True,
    registration_message="msg",
    price_level=4,
)


def test_update_answers_the_exact_record(api: httpx.Client) -> None:
    create_group(api)
    response = api.put(item_path(1), json={"Name": "Renamed"})
    assert response.status_code == 200
    assert response.content == result_body(200, 1, "updated successfully")


def test_only_the_fields_sent_change(api: httpx.Client) -> None:
    create_group(api, **FULL)
    assert api.put(item_path(1), json={"Name": "Renamed", "PriceLevel": 9}).status_code == 200
    assert (
        stored(api, 1)
        == b"["
        + group_bytes(
            1,
            "Renamed",
            description="desc",
            minimum_order="10.50",
            non_taxable=True,
            allow_registration=True,
            disable_reward_points=True,
            auto_approve=True,
            registration_message="msg",
            price_level=9,
        )
        + b"]"
    )


def test_every_field_can_change(api: httpx.Client) -> None:
    create_group(api)
    assert api.put(item_path(1), json=FULL).status_code == 200
    assert stored(api, 1) == b"[" + FULL_BYTES + b"]"
    back = {
        "Name": "Wholesale",
        "Description": "",
        "MinimumOrder": 0,
        "NonTaxable": False,
        "AllowRegistration": "false",
        "DisableRewardPoints": False,
        "AutoApprove": False,
        "RegistrationMessage": "",
        "PriceLevel": "0",
    }
    assert api.put(item_path(1), json=back).status_code == 200
    assert stored(api, 1) == b"[" + group_bytes(1) + b"]"


def test_null_and_unknown_properties_leave_fields_unchanged(api: httpx.Client) -> None:
    create_group(api, **FULL)
    body = {"Name": None, "PriceLevel": None, "MinimumOrder": None, "Color": "red"}
    assert api.put(item_path(1), json=body).status_code == 200
    assert stored(api, 1) == b"[" + FULL_BYTES + b"]"


def test_an_empty_object_changes_nothing(api: httpx.Client, state: State) -> None:
    create_group(api, **FULL)
    before = state()
    response = api.put(item_path(1), json={})
    assert response.content == result_body(200, 1, "updated successfully")
    # Every row as it was; the audit entry count (state's last item) is one more: an accepted
    # update is recorded, with equal before and after.
    after = state()
    assert after[:-1] == before[:-1]
    assert after[-1] == (before[-1][0] + 1,)  # type: ignore[operator]


def test_names_match_case_insensitively_and_strings_convert(api: httpx.Client) -> None:
    create_group(api)
    body = {"name": "lower", "PRICELEVEL": "3", "nontaxable": "True", "minimumORDER": "2.25"}
    assert api.put(item_path(1), json=body).status_code == 200
    assert (
        stored(api, 1)
        == b"[" + group_bytes(1, "lower", non_taxable=True, minimum_order="2.25", price_level=3) + b"]"
    )


@pytest.mark.parametrize("body_id", [2, 99, 0, -5, "abc"])
def test_the_path_id_wins_over_the_body(api: httpx.Client, body_id: object) -> None:
    create_group(api, Name="one")
    create_group(api, Name="two")
    response = api.put(item_path(1), json={"CustomerGroupID": body_id, "Name": "changed"})
    assert response.content == result_body(200, 1, "updated successfully")
    assert stored(api, 1) == b"[" + group_bytes(1, "changed") + b"]"
    assert stored(api, 2) == b"[" + group_bytes(2, "two") + b"]"
    assert api.get("/CustomerGroups", params={"countonly": "1"}).content == b'{"TotalCount":2}'


def test_unknown_id_is_404_and_nothing_is_written(api: httpx.Client, state: State) -> None:
    create_group(api)
    before = state()
    assert_error(api.put(item_path(2), json={"Name": "x"}), 404, GROUP_NOT_FOUND, "2")
    assert_error(api.put(item_path(7), json={}), 404, GROUP_NOT_FOUND, "7")
    assert state() == before


def test_a_deleted_group_cannot_be_updated(api: httpx.Client, state: State) -> None:
    create_group(api)
    assert api.delete(item_path(1)).status_code == 200
    before = state()
    assert_error(api.put(item_path(1), json={"Name": "back"}), 404, GROUP_NOT_FOUND, "1")
    assert state() == before


@pytest.mark.parametrize("raw", ["abc", "0", "-1", "2147483648", "99999999999"])
def test_bad_path_id_is_400_and_nothing_is_written(api: httpx.Client, state: State, raw: str) -> None:
    create_group(api)
    before = state()
    assert_error(api.put(item_path(raw), json={"Name": "x"}), 400, BAD_PATH_ID, raw)
    assert state() == before


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"Name": ""}, "Name must not be empty"),
        ({"Name": "n" * 151}, "Name must be at most 150 characters (got 151)"),
        ({"Description": 1}, "Description must be a string"),
        ({"PriceLevel": 2147483648}, LEVEL_RULE),
        ({"PriceLevel": -2147483649}, LEVEL_RULE),
        ({"PriceLevel": 1.5}, LEVEL_RULE),
        ({"PriceLevel": "3.5"}, LEVEL_RULE),
        ({"AutoApprove": "maybe"}, "AutoApprove must be true or false, or a number (0 is false)"),
        ({"MinimumOrder": -0.5}, "MinimumOrder must not be negative"),
        (
            {"Name": "ok", "PriceLevel": "x", "NonTaxable": "maybe"},
            f"NonTaxable must be true or false, or a number (0 is false); {LEVEL_RULE}",
        ),
    ],
)
def test_invalid_values_are_400_and_nothing_is_written(
    api: httpx.Client, state: State, body: dict[str, object], message: str
) -> None:
    create_group(api, **FULL)
    before = state()
    assert_error(api.put(item_path(1), json=body), 400, message)
    assert state() == before


@pytest.mark.parametrize("content", [b"[]", b'[{"Name":"x"}]', b'"x"', b"7"])
def test_a_body_that_is_not_an_object_is_400(api: httpx.Client, state: State, content: bytes) -> None:
    create_group(api)
    before = state()
    assert_error(api.put(item_path(1), content=content, headers=JSON), 400, NOT_AN_OBJECT)
    assert state() == before


def test_paging_parameters_are_ignored(api: httpx.Client) -> None:
    create_group(api)
    response = api.put(item_path(1) + "?limit=abc&offset=-1&countonly=1", json={"Name": "q"})
    assert response.content == result_body(200, 1, "updated successfully")
    assert stored(api, 1) == b"[" + group_bytes(1, "q") + b"]"
