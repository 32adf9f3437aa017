"""GET /CustomerGroups/{id}: a one-element array, 404 for unknown ids, 400 for bad ones."""

from __future__ import annotations

import httpx
import pytest

from tests.api.support import (
    BAD_PATH_ID,
    GROUP_NOT_FOUND,
    assert_error,
    group_bytes,
    item_path,
)
from tests.conftest import create_group

# Path ids that are not ids: not digits, zero, negative, signed, beyond a 32-bit int, blank.
BAD_IDS = ["abc", "0", "-1", "+1", "1.0", "1e3", "2147483648", "99999999999", "1%20"]


def test_get_returns_a_one_element_array(api: httpx.Client) -> None:
    create_group(api, Name="Retail")
    create_group(
        api,
        Name="VIP",
        Description="Top",
        MinimumOrder="101.25",
        NonTaxable=True,
        AllowRegistration=False,
        DisableRewardPoints=True,
        AutoApprove=True,
        RegistrationMessage="Hi",
        PriceLevel=10,
    )
    response = api.get(item_path(2))
    assert response.status_code == 200
    assert (
        response.content
        == b"["
        + group_bytes(
            2,
            "VIP",
            description="Top",
            minimum_order="101.25",
            non_taxable=True,
            disable_reward_points=True,
            auto_approve=True,
            registration_message="Hi",
            price_level=10,
        )
        + b"]"
    )
    assert response.headers["content-type"] == "application/json; charset=utf-8"


def test_unknown_id_is_404_naming_the_id(api: httpx.Client) -> None:
    create_group(api)
    assert_error(api.get(item_path(2)), 404, GROUP_NOT_FOUND, "2")
    assert_error(api.get(item_path(2147483647)), 404, GROUP_NOT_FOUND, "2147483647")


def test_a_deleted_group_is_gone(api: httpx.Client) -> None:
    create_group(api)
    assert api.delete(item_path(1)).status_code == 200
    assert_error(api.get(item_path(1)), 404, GROUP_NOT_FOUND, "1")


@pytest.mark.parametrize("raw", BAD_IDS)
def test_a_bad_path_id_is_400_echoing_it(api: httpx.Client, raw: str) -> None:
    create_group(api)
    shown = raw.replace("%20", " ")
    assert_error(api.get(item_path(raw)), 400, BAD_PATH_ID, shown)


def test_leading_zeros_name_the_same_group(api: httpx.Client) -> None:
    create_group(api)
    assert api.get(item_path("001")).content == b"[" + group_bytes(1) + b"]"


def test_paging_parameters_are_ignored_on_the_by_id_route(api: httpx.Client) -> None:
    create_group(api)
    expected = b"[" + group_bytes(1) + b"]"
    for query in ("?limit=abc&offset=-5", "?countonly=1", "?limit=0&offset=99&countonly=7"):
        response = api.get(item_path(1) + query)
        assert response.status_code == 200, query
        assert response.content == expected, query
