"""api/errors.py: an error is mapped by what it is, so a subclass of a domain error gets its
parent's status (a subclass of Invalid is a 400, not a 500), and only an error of no known
kind is a 500."""

from __future__ import annotations

import httpx
import orjson
import pytest

from cartgroups.api.errors import INTERNAL, RouteNotFound, render, status_of
from cartgroups.errors import CartgroupsError, DatabaseUnavailable, Invalid, NotFound
from cartgroups.service.customer_groups import CustomerGroups
from tests.api.support import assert_error, item_path
from tests.conftest import LiveServer, create_group


class NameTaken(Invalid):
    """A rule of some later resource, written as a subclass of Invalid."""


class GroupGone(NotFound):
    pass


class DeeperStill(NameTaken):
    pass


class OfNoKind(CartgroupsError):
    """A domain error that no status was ever given to."""


def records(body: bytes) -> list[dict[str, str]]:
    found: list[dict[str, str]] = orjson.loads(body)
    return found


@pytest.mark.parametrize(
    ("error", "status"),
    [
        (NameTaken("The name is taken", value="Retail"), 400),
        (DeeperStill("Deeper", value="x"), 400),
        (GroupGone("The group is gone", value="5"), 404),
    ],
)
def test_a_subclass_of_a_domain_error_gets_its_parents_status(error: CartgroupsError, status: int) -> None:
    assert status_of(error) == status
    got, body, headers = render(error)
    assert got == status and headers == []
    assert records(body) == [
        {"Key": "Error", "Value": error.value, "Status": str(status), "Message": error.message}
    ]


def test_a_subclass_keeps_its_parents_headers() -> None:
    class Overloaded(DatabaseUnavailable):
        pass

    status, _body, headers = render(Overloaded("busy"))
    assert status == 503 and (b"retry-after", b"1") in headers


def test_the_nearest_mapped_class_decides() -> None:
    class Unrouted(RouteNotFound, Invalid):  # RouteNotFound comes first in its method resolution order
        pass

    assert status_of(Unrouted("/x")) == 404


@pytest.mark.parametrize("error", [OfNoKind("no status of its own"), ValueError("a bug")])
def test_an_error_of_no_known_kind_is_a_500_that_tells_nothing(error: Exception) -> None:
    status, body, _headers = render(error)
    assert status == 500
    assert records(body) == [{"Key": "Error", "Value": "", "Status": "500", "Message": INTERNAL}]


def test_a_subclass_raised_by_the_service_reaches_the_client_with_its_status(
    server: LiveServer, api: httpx.Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    create_group(api)

    def refuse(self: CustomerGroups, *, store_id: int, group_id: int) -> object:
        raise GroupGone("The group is gone", value=str(group_id))

    monkeypatch.setattr(CustomerGroups, "get", refuse)
    assert_error(api.get(item_path(1)), 404, "The group is gone", "1")

    def invalid(self: CustomerGroups, *, store_id: int, group_id: int) -> object:
        raise NameTaken("The name is taken", value="Wholesale")

    monkeypatch.setattr(CustomerGroups, "get", invalid)
    assert_error(api.get(item_path(1)), 400, "The name is taken", "Wholesale")
