"""ETag on GET by id, If-None-Match -> 304, If-Match on PUT and DELETE by id -> 412 when the group
changed. Without these headers every reply is byte for byte what it was."""

from __future__ import annotations

import hashlib
import threading
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from cartgroups.service.credentials import Issued
from tests.api.support import GROUP_NOT_FOUND, JSON, State, assert_error, group_bytes, item_path, stored
from tests.conftest import LiveServer, create_group, headers_for, plain_client, result_body

CHANGED = "The Customer Group has changed since it was read: If-Match does not match its current ETag"


def tag_of(body: bytes) -> str:
    return '"' + hashlib.blake2b(body, digest_size=16).hexdigest() + '"'


def test_get_by_id_sends_a_strong_etag_of_the_exact_bytes(api: httpx.Client) -> None:
    create_group(api)
    response = api.get(item_path(1))
    assert response.status_code == 200
    assert response.content == b"[" + group_bytes(1) + b"]"  # the 3dcart bytes are unchanged
    assert response.headers["etag"] == tag_of(response.content)
    assert "etag" in response.headers["access-control-expose-headers"].lower()
    again = api.get(item_path(1))
    assert again.headers["etag"] == response.headers["etag"]
    v2 = api.get(api.base_url.join("/3dCartWebAPI/v2/CustomerGroups/1"))
    assert v2.headers["etag"] == response.headers["etag"]


def test_the_etag_changes_with_the_group_and_not_otherwise(api: httpx.Client) -> None:
    create_group(api)
    create_group(api, Name="Other")
    first = api.get(item_path(1)).headers["etag"]
    assert api.put(item_path(2), json={"Name": "Changed"}).status_code == 200
    assert api.get(item_path(1)).headers["etag"] == first  # another group's change
    assert api.put(item_path(1), json={"MinimumOrder": "1.50"}).status_code == 200
    changed = api.get(item_path(1))
    assert changed.headers["etag"] != first
    assert changed.headers["etag"] == tag_of(changed.content)
    assert api.get(item_path(2)).headers["etag"] != first


def test_lists_and_errors_carry_no_etag(api: httpx.Client) -> None:
    create_group(api)
    assert "etag" not in api.get("/CustomerGroups").headers
    assert "etag" not in api.get(item_path(9)).headers


@pytest.mark.parametrize("header", ["{tag}", "W/{tag}", '"other", {tag}', "*"])
def test_if_none_match_with_the_current_tag_is_304_without_a_body(api: httpx.Client, header: str) -> None:
    create_group(api)
    tag = api.get(item_path(1)).headers["etag"]
    response = api.get(item_path(1), headers={"If-None-Match": header.format(tag=tag)})
    assert response.status_code == 304
    assert response.content == b""
    assert response.headers["etag"] == tag
    assert "content-length" not in response.headers


def test_if_none_match_with_an_old_tag_gets_the_group(api: httpx.Client) -> None:
    create_group(api)
    old = api.get(item_path(1)).headers["etag"]
    api.put(item_path(1), json={"Name": "New"})
    response = api.get(item_path(1), headers={"If-None-Match": old})
    assert response.status_code == 200
    assert response.content == b"[" + group_bytes(1, "New") + b"]"


def test_if_none_match_on_a_missing_group_is_404(api: httpx.Client) -> None:
    assert_error(api.get(item_path(5), headers={"If-None-Match": "*"}), 404, GROUP_NOT_FOUND, "5")


def test_put_with_the_current_tag_updates(api: httpx.Client) -> None:
    create_group(api)
    tag = api.get(item_path(1)).headers["etag"]
    response = api.put(item_path(1), json={"Name": "Mine"}, headers={"If-Match": tag})
    assert response.status_code == 200
    assert response.content == result_body(200, 1, "updated successfully")
    assert stored(api, 1) == b"[" + group_bytes(1, "Mine") + b"]"


@pytest.mark.parametrize("header", ["*", '"nope", {tag}', "{tag},"])
def test_if_match_star_or_a_list_holding_the_tag_matches(api: httpx.Client, header: str) -> None:
    create_group(api)
    tag = api.get(item_path(1)).headers["etag"]
    response = api.put(item_path(1), json={"Name": "Mine"}, headers={"If-Match": header.format(tag=tag)})
    assert response.status_code == 200


@pytest.mark.parametrize("header", ['"0123"', "W/{tag}", "", "{stale}"])
def test_put_with_a_stale_or_weak_tag_is_412_and_changes_nothing(
    api: httpx.Client, state: State, header: str
) -> None:
    create_group(api)
    stale = api.get(item_path(1)).headers["etag"]
    api.put(item_path(1), json={"Name": "Theirs"})
    tag = api.get(item_path(1)).headers["etag"]
    before = state()
    response = api.put(
        item_path(1), json={"Name": "Mine"}, headers={"If-Match": header.format(tag=tag, stale=stale)}
    )
    assert_error(response, 412, CHANGED, "1")
    assert state() == before


def test_delete_with_a_stale_tag_is_412_and_deletes_nothing(api: httpx.Client, state: State) -> None:
    create_group(api)
    stale = api.get(item_path(1)).headers["etag"]
    api.put(item_path(1), json={"PriceLevel": 3})
    before = state()
    assert_error(api.delete(item_path(1), headers={"If-Match": stale}), 412, CHANGED, "1")
    assert state() == before
    tag = api.get(item_path(1)).headers["etag"]
    response = api.delete(item_path(1), headers={"If-Match": tag})
    assert response.content == result_body(200, 1, "Deleted successfully")
    assert api.get(item_path(1)).status_code == 404


def test_if_match_on_a_missing_group_is_404_as_without_it(api: httpx.Client, state: State) -> None:
    before = state()
    for header in ("*", '"abc"'):
        assert_error(
            api.put(item_path(4), json={"Name": "x"}, headers={"If-Match": header}), 404, GROUP_NOT_FOUND, "4"
        )
        assert_error(api.delete(item_path(4), headers={"If-Match": header}), 404, GROUP_NOT_FOUND, "4")
    assert state() == before


def test_a_bad_body_is_400_before_the_tag_is_compared(api: httpx.Client, state: State) -> None:
    create_group(api)
    before = state()
    response = api.put(item_path(1), content=b"[1]", headers={**JSON, "If-Match": '"stale"'})
    assert response.status_code == 400
    assert state() == before


def test_concurrent_puts_with_one_tag_let_exactly_one_through(
    server: LiveServer, api: httpx.Client, creds: Issued
) -> None:
    """No lost update: the tag is compared on the locked row inside the write transaction, so of
    many writers that all read the same version, one wins and the rest get 412."""
    create_group(api)
    tag = api.get(item_path(1)).headers["etag"]
    writers = 8
    barrier = threading.Barrier(writers)

    def put(n: int) -> tuple[int, str]:
        with plain_client(server.base_url + "/3dCartWebAPI/v1", headers_for(creds)) as client:
            barrier.wait(timeout=30)
            response = client.put(item_path(1), json={"Name": f"Writer {n}"}, headers={"If-Match": tag})
            return response.status_code, f"Writer {n}"

    with ThreadPoolExecutor(writers) as pool:
        results = list(pool.map(put, range(writers)))
    statuses = sorted(status for status, _ in results)
    assert statuses == [200] + [412] * (writers - 1)
    winner = next(name for status, name in results if status == 200)
    assert stored(api, 1) == b"[" + group_bytes(1, winner) + b"]"


def test_without_the_headers_nothing_changes(api: httpx.Client) -> None:
    create_group(api)
    response = api.put(item_path(1), json={"Name": "Plain"})
    assert response.content == result_body(200, 1, "updated successfully")
    assert "etag" not in response.headers
    assert set(response.headers) - {"server", "date"} == {
        "content-type",
        "access-control-allow-origin",
        "cache-control",
        "pragma",
        "expires",
        "vary",
        "content-length",
        "x-request-id",
    }
