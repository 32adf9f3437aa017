"""The sync SDK against the real server: every method, exact decimals, paging, typed errors."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from decimal import Decimal

import httpx
import pytest

from cartgroups.client import (
    OFFSET_EXCEEDED,
    BadRequest,
    Client,
    CustomerGroup,
    ItemResult,
    NotFound,
    Unauthorized,
)
from cartgroups.service.credentials import Issued
from tests.conftest import LiveServer

UPDATED = "updated successfully"


def test_create_from_fields_and_get_back_exact_values(client: Client) -> None:
    group_id = client.create(
        name="Wholesale",
        description="Resellers",
        minimum_order=Decimal("34158822.957761675"),
        non_taxable=True,
        price_level=3,
    )
    assert group_id == 1
    group = client.get(group_id)
    assert group == CustomerGroup(
        group_id=1,
        name="Wholesale",
        description="Resellers",
        minimum_order=Decimal("34158822.957761675"),
        non_taxable=True,
        price_level=3,
    )
    assert str(group.minimum_order) == "34158822.957761675"  # not 34158822.95776167 (a float)


def test_create_from_a_model_keeps_trailing_zeros(client: Client) -> None:
    group = CustomerGroup(
        name="Retail",
        minimum_order=Decimal("1.50"),
        allow_registration=True,
        auto_approve=True,
        disable_reward_points=True,
        registration_message="Welcome",
        price_level=10,
    )
    group_id = client.create(group)
    got = client.get(group_id)
    assert str(got.minimum_order) == "1.50"
    assert got == CustomerGroup(
        group_id=group_id,
        name="Retail",
        minimum_order=Decimal("1.50"),
        allow_registration=True,
        auto_approve=True,
        disable_reward_points=True,
        registration_message="Welcome",
        price_level=10,
    )
    # a whole integer comes back the Json.NET way (5.0) and still equals 5
    assert client.get(client.create(name="five", minimum_order=5)).minimum_order == Decimal("5.0")


def test_ids_are_ascending_and_the_id_in_a_model_is_ignored(client: Client) -> None:
    assert client.create(CustomerGroup(group_id=77, name="a")) == 1
    assert client.create(name="b") == 2


def test_empty_store_lists_nothing_and_counts_zero(client: Client) -> None:
    assert client.list() == []
    assert list(client.iter_all()) == []
    assert client.count() == 0


def test_list_pages_with_the_one_based_offset(client: Client) -> None:
    for n in range(1, 6):
        client.create(name=f"g{n}")
    assert [g.name for g in client.list()] == ["g1", "g2", "g3", "g4", "g5"]
    assert [g.group_id for g in client.list(limit=2, offset=1)] == [1, 2]
    assert [g.group_id for g in client.list(limit=2, offset=3)] == [3, 4]
    assert [g.group_id for g in client.list(limit=2, offset=5)] == [5]
    assert client.count() == 5


def test_list_past_the_end_raises_the_offset_message(client: Client) -> None:
    client.create(name="only")
    with pytest.raises(BadRequest) as info:
        client.list(limit=10, offset=30)
    assert info.value.status == 400
    assert info.value.message == OFFSET_EXCEEDED


class Recording(httpx.HTTPTransport):
    """The real transport, remembering the query of every request."""

    def __init__(self) -> None:
        super().__init__()
        self.queries: list[str] = []

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        self.queries.append(request.url.query.decode())
        return super().handle_request(request)


def test_iter_all_walks_every_page(make_client: Callable[..., Client]) -> None:
    transport = Recording()
    client = make_client(transport=transport)
    for n in range(1, 26):
        client.create(name=f"g{n}")
    transport.queries.clear()
    groups = list(client.iter_all(page_size=10))
    assert [g.group_id for g in groups] == list(range(1, 26))
    assert [g.name for g in groups] == [f"g{n}" for n in range(1, 26)]
    # a short last page ends the walk: no extra request
    assert transport.queries == ["limit=10&offset=1", "limit=10&offset=11", "limit=10&offset=21"]


def test_iter_all_stops_on_the_offset_exceeds_answer(make_client: Callable[..., Client]) -> None:
    transport = Recording()
    client = make_client(transport=transport)
    for n in range(1, 21):
        client.create(name=f"g{n}")
    transport.queries.clear()
    assert len(list(client.iter_all(page_size=10))) == 20
    assert transport.queries[-1] == "limit=10&offset=21"  # answered 400 "Offset amount exceeds ..."


def test_update_changes_only_the_given_fields(client: Client) -> None:
    group_id = client.create(name="a", description="keep", minimum_order=Decimal("9.99"), non_taxable=True)
    client.update(group_id, name="renamed", minimum_order="2159148.3678348362", price_level=4)
    assert client.get(group_id) == CustomerGroup(
        group_id=group_id,
        name="renamed",
        description="keep",
        minimum_order=Decimal("2159148.3678348362"),
        non_taxable=True,
        price_level=4,
    )


def test_update_of_an_unknown_group_is_not_found(client: Client) -> None:
    with pytest.raises(NotFound) as info:
        client.update(42, name="x")
    assert info.value.status == 404
    assert info.value.message


def test_delete_then_get_is_not_found(client: Client) -> None:
    group_id = client.create(name="gone")
    client.delete(group_id)
    with pytest.raises(NotFound) as info:
        client.get(group_id)
    assert info.value.status == 404
    assert info.value.message
    with pytest.raises(NotFound):
        client.delete(group_id)
    assert client.count() == 0


def test_bulk_update_returns_per_item_results_on_206(client: Client) -> None:
    for n in (1, 2):
        client.create(name=f"g{n}")
    results = client.bulk_update(
        [
            {"group_id": 1, "name": "new", "minimum_order": Decimal("0.1")},
            {"group_id": 99, "name": "ghost"},
            {"group_id": 2, "price_level": 2147483648},
        ]
    )
    assert [(r.status, r.value) for r in results] == [(200, "1"), (404, "99"), (400, "2")]
    assert results[0] == ItemResult(200, "1", UPDATED)
    assert results[0].ok and not results[1].ok
    assert results[1].group_id == 99
    assert results[2].message == "PriceLevel must be an integer from -2147483648 to 2147483647"
    assert client.get(1).minimum_order == Decimal("0.1")
    assert client.get(2).price_level == 0  # the invalid item was not written


def test_bulk_update_all_ok_with_models_and_all_unknown(client: Client) -> None:
    first = client.get(client.create(name="a"))
    second = client.get(client.create(name="b"))
    results = client.bulk_update([dataclasses.replace(first, name="A"), second])
    assert [r.status for r in results] == [200, 200]
    assert client.get(1).name == "A"
    unknown = client.bulk_update([{"group_id": 8, "name": "x"}, {"group_id": 9, "name": "y"}])
    assert [(r.status, r.group_id) for r in unknown] == [(404, 8), (404, 9)]  # the 404 answer does not raise


def test_a_whole_request_error_on_bulk_update_raises(client: Client) -> None:
    with pytest.raises(BadRequest) as info:
        client.bulk_update([])
    assert info.value.status == 400
    assert info.value.message


def test_invalid_input_is_a_bad_request_with_the_server_message(client: Client) -> None:
    with pytest.raises(BadRequest) as info:
        client.create(name="x", price_level=-(2**31) - 1)
    assert info.value.message == "PriceLevel must be an integer from -2147483648 to 2147483647"
    assert str(info.value) == "400: PriceLevel must be an integer from -2147483648 to 2147483647"
    with pytest.raises(BadRequest):
        client.list(limit=501)
    assert client.count() == 0


def test_unknown_field_names_fail_before_any_request(client: Client) -> None:
    with pytest.raises(TypeError, match="nam"):
        client.create(nam="typo")
    with pytest.raises(TypeError, match="unknown CustomerGroup field 'group_id'"):
        client.update(1, group_id=2)  # the path names the group
    with pytest.raises(ValueError):
        client.update(1)
    assert client.count() == 0


def test_wrong_credentials_are_unauthorized_without_echoing_secrets(
    server: LiveServer, creds: Issued
) -> None:
    assert creds.private_key is not None
    client = Client(server.base_url, creds.secure_url, creds.private_key, "not-the-token")
    with client, pytest.raises(Unauthorized) as info:
        client.list()
    assert info.value.status == 401
    assert info.value.message
    assert "not-the-token" not in str(info.value)
    assert creds.private_key not in str(info.value) + repr(client)


def test_read_only_credentials_cannot_write(
    server: LiveServer, issue: Callable[..., Issued], client: Client
) -> None:
    reader = issue(app="reader", scope="read")
    assert reader.private_key is not None
    with Client(server.base_url, reader.secure_url, reader.private_key, reader.token) as read_only:
        assert read_only.list() == []
        with pytest.raises(Unauthorized):
            read_only.create(name="x")


def test_v2_and_the_context_manager(server: LiveServer, creds: Issued) -> None:
    assert creds.private_key is not None
    with Client(
        server.base_url + "/", creds.secure_url, creds.private_key, creds.token, version="v2"
    ) as client:
        assert client.base_url == server.base_url + "/3dCartWebAPI/v2"
        assert client.create(name="v2") == 1
        assert client.get(1).name == "v2"
