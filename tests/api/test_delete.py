"""DELETE /CustomerGroups/{id}."""

from __future__ import annotations

import httpx
import pytest

from tests.api.support import (
    BAD_PATH_ID,
    COLLECTION,
    GROUP_NOT_FOUND,
    State,
    assert_error,
    group_bytes,
    ids_of,
    item_path,
    stored,
)
from tests.conftest import create_group, result_body


def test_delete_answers_the_exact_record_and_removes_only_that_group(api: httpx.Client) -> None:
    for name in ("a", "b", "c"):
        create_group(api, Name=name)
    response = api.delete(item_path(2))
    assert response.status_code == 200
    assert response.content == result_body(200, 2, "Deleted successfully")
    assert response.headers["content-type"] == "application/json; charset=utf-8"
    assert_error(api.get(item_path(2)), 404, GROUP_NOT_FOUND, "2")
    assert ids_of(api.get(COLLECTION)) == [1, 3]
    assert stored(api, 1) == b"[" + group_bytes(1, "a") + b"]"


def test_deleting_twice_is_404_the_second_time(api: httpx.Client, state: State) -> None:
    create_group(api)
    assert api.delete(item_path(1)).status_code == 200
    before = state()
    assert_error(api.delete(item_path(1)), 404, GROUP_NOT_FOUND, "1")
    assert state() == before


def test_unknown_id_is_404_and_nothing_changes(api: httpx.Client, state: State) -> None:
    create_group(api)
    before = state()
    assert_error(api.delete(item_path(2)), 404, GROUP_NOT_FOUND, "2")
    assert state() == before


@pytest.mark.parametrize("raw", ["abc", "0", "-1", "1.5", "2147483648", "99999999999"])
def test_bad_path_id_is_400_and_nothing_changes(api: httpx.Client, state: State, raw: str) -> None:
    create_group(api)
    before = state()
    assert_error(api.delete(item_path(raw)), 400, BAD_PATH_ID, raw)
    assert state() == before


def test_paging_parameters_are_ignored(api: httpx.Client) -> None:
    create_group(api)
    response = api.delete(item_path(1) + "?limit=abc&offset=-1&countonly=1")
    assert response.content == result_body(200, 1, "Deleted successfully")


def test_a_deleted_id_is_not_handed_out_again(api: httpx.Client) -> None:
    create_group(api)
    create_group(api)
    assert api.delete(item_path(2)).status_code == 200
    assert api.delete(item_path(1)).status_code == 200
    assert create_group(api) == 3
