"""GET /CustomerGroups: paging (limit, 1-based offset, countonly), order and the empty cases."""

from __future__ import annotations

import httpx
import pytest

from tests.api.support import (
    AWKWARD_AMOUNTS,
    COLLECTION,
    LIMIT_RULE,
    NO_GROUPS,
    OFFSET_PAST_END,
    OFFSET_RULE,
    array,
    assert_error,
    awkward_group,
    group_bytes,
    ids_of,
    item_path,
)
from tests.conftest import create_group


def _make(client: httpx.Client, count: int) -> None:
    for n in range(1, count + 1):
        assert create_group(client, Name=f"g{n}") == n


def test_an_empty_collection_is_404(api: httpx.Client) -> None:
    assert_error(api.get(COLLECTION), 404, NO_GROUPS)


@pytest.mark.parametrize("query", ["?offset=5", "?limit=3&offset=0", "?limit=&offset=&countonly="])
def test_an_empty_collection_is_404_whatever_the_paging(api: httpx.Client, query: str) -> None:
    assert_error(api.get(COLLECTION + query), 404, NO_GROUPS)


def test_a_collection_emptied_by_deletes_is_404(api: httpx.Client) -> None:
    _make(api, 2)
    for n in (1, 2):
        assert api.delete(item_path(n)).status_code == 200
    assert_error(api.get(COLLECTION), 404, NO_GROUPS)


def test_count_of_an_empty_collection_is_200(api: httpx.Client) -> None:
    response = api.get(COLLECTION, params={"countonly": "1"})
    assert response.status_code == 200
    assert response.content == b'{"TotalCount":0}'
    assert response.headers["content-type"] == "application/json; charset=utf-8"


def test_count_ignores_limit_and_offset_even_when_malformed(api: httpx.Client) -> None:
    _make(api, 3)
    for query in (
        "?countonly=1",
        "?countonly=1&limit=1&offset=3",
        "?countonly=1&limit=abc&offset=-9",
        "?countonly=1&offset=50",
        "?countonly=true",
    ):
        response = api.get(COLLECTION + query)
        assert response.status_code == 200, query
        assert response.content == b'{"TotalCount":3}', query


def test_countonly_zero_or_empty_lists(api: httpx.Client) -> None:
    _make(api, 2)
    assert ids_of(api.get(COLLECTION + "?countonly=0")) == [1, 2]
    assert ids_of(api.get(COLLECTION + "?countonly=")) == [1, 2]


def test_bad_countonly_is_400(api: httpx.Client) -> None:
    _make(api, 1)
    assert_error(api.get(COLLECTION + "?countonly=2"), 400, "countonly must be 0 or 1")


def test_list_bytes_are_exact(api: httpx.Client) -> None:
    create_group(api, Name="Retail")
    create_group(
        api,
        Name="Wholesale",
        Description="d",
        MinimumOrder="250.00",
        NonTaxable=True,
        AllowRegistration=True,
        DisableRewardPoints=True,
        AutoApprove=True,
        RegistrationMessage="Welcome",
        PriceLevel=2,
    )
    response = api.get(COLLECTION)
    assert response.status_code == 200
    assert response.content == array(
        group_bytes(1, "Retail"),
        group_bytes(
            2,
            "Wholesale",
            description="d",
            minimum_order="250.00",
            non_taxable=True,
            allow_registration=True,
            disable_reward_points=True,
            auto_approve=True,
            registration_message="Welcome",
            price_level=2,
        ),
    )


def test_a_page_has_the_bytes_of_its_groups_read_one_by_one(api: httpx.Client) -> None:
    """The store writes a page's JSON itself (Store.list_groups_json: SQLite's json_object, in
    the database) while GET by id is written by api/wire: they must agree byte for byte on every
    kind of value."""
    for n in range(len(AWKWARD_AMOUNTS)):
        create_group(api, **awkward_group(n))
    singles = [api.get(item_path(n)).content for n in range(1, len(AWKWARD_AMOUNTS) + 1)]
    assert all(single.startswith(b"[{") and single.endswith(b"}]") for single in singles)
    page = api.get(COLLECTION, params={"limit": 100})
    assert page.status_code == 200
    assert page.content == b"[" + b",".join(single[1:-1] for single in singles) + b"]"


def test_default_limit_is_10_and_the_seed_query_means_defaults(api: httpx.Client) -> None:
    _make(api, 12)
    assert ids_of(api.get(COLLECTION)) == list(range(1, 11))
    assert ids_of(api.get(COLLECTION + "?limit=&offset=&countonly=")) == list(range(1, 11))


def test_limit_picks_the_page_size(api: httpx.Client) -> None:
    _make(api, 12)
    assert ids_of(api.get(COLLECTION, params={"limit": "1"})) == [1]
    assert ids_of(api.get(COLLECTION, params={"limit": "11"})) == list(range(1, 12))
    assert ids_of(api.get(COLLECTION, params={"limit": "500"})) == list(range(1, 13))


def test_offset_is_a_one_based_record_index(api: httpx.Client) -> None:
    _make(api, 12)
    assert ids_of(api.get(COLLECTION, params={"limit": "5", "offset": "1"})) == [1, 2, 3, 4, 5]
    assert ids_of(api.get(COLLECTION, params={"limit": "5", "offset": "6"})) == [6, 7, 8, 9, 10]
    assert ids_of(api.get(COLLECTION, params={"limit": "5", "offset": "11"})) == [11, 12]
    assert ids_of(api.get(COLLECTION, params={"offset": "12"})) == [12]
    assert ids_of(api.get(COLLECTION, params={"limit": "2", "offset": "0"})) == [1, 2]


def test_pages_walk_the_collection_once(api: httpx.Client) -> None:
    _make(api, 7)
    seen: list[int] = []
    for offset in range(1, 30, 3):  # bounded: a server that ignores offset must not hang us
        response = api.get(COLLECTION, params={"limit": "3", "offset": str(offset)})
        if response.status_code == 400:
            assert_error(response, 400, OFFSET_PAST_END)
            break
        seen += ids_of(response)
    assert seen == list(range(1, 8))
    assert offset == 10


@pytest.mark.parametrize("offset", ["4", "5", "1000", "2147483648", "99999999999999999999999"])
def test_offset_past_the_end_is_400_with_the_exact_text(api: httpx.Client, offset: str) -> None:
    _make(api, 3)
    assert_error(api.get(COLLECTION, params={"offset": offset}), 400, OFFSET_PAST_END)


def test_bad_limit_is_400(api: httpx.Client) -> None:
    _make(api, 1)
    for limit in ("0", "501", "-1", "abc", "1.5", "1e2", " 5", "99999999999999999999"):
        response = api.get(COLLECTION, params={"limit": limit})
        assert response.status_code == 400, limit
        assert_error(response, 400, LIMIT_RULE)


def test_bad_offset_is_400(api: httpx.Client) -> None:
    _make(api, 1)
    for offset in ("-1", "abc", "1.5", "first"):
        response = api.get(COLLECTION, params={"offset": offset})
        assert response.status_code == 400, offset
        assert_error(response, 400, OFFSET_RULE)


def test_order_is_ascending_id_after_deletes_and_updates(api: httpx.Client) -> None:
    _make(api, 5)
    assert api.delete(item_path(2)).status_code == 200
    assert api.put(item_path(1), json={"Name": "zzz renamed last"}).status_code == 200
    assert create_group(api, Name="aaa") == 6
    assert ids_of(api.get(COLLECTION)) == [1, 3, 4, 5, 6]
    assert ids_of(api.get(COLLECTION, params={"limit": "2", "offset": "2"})) == [3, 4]


def test_query_parameter_names_are_case_insensitive(api: httpx.Client) -> None:
    _make(api, 4)
    assert ids_of(api.get(COLLECTION + "?LIMIT=2&Offset=2")) == [2, 3]
    assert ids_of(api.get(COLLECTION + "?Limit=1&OFFSET=4")) == [4]
    response = api.get(COLLECTION + "?CountOnly=1")
    assert response.content == b'{"TotalCount":4}'
    assert_error(api.get(COLLECTION + "?LIMIT=0"), 400, LIMIT_RULE)


def test_unknown_query_parameters_are_ignored(api: httpx.Client) -> None:
    _make(api, 2)
    assert ids_of(api.get(COLLECTION + "?page=7&sort=desc")) == [1, 2]
