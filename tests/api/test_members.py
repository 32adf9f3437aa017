"""A group's customers (shared/spec/customers.md §5, D3): GET /CustomerGroups/{id}/Customers with
the list's filters and paging, its 404s, and what deleting a group does to its members, with and
without the setting safe_group_delete."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import orjson
import pytest
import sqlalchemy as sa

from cartgroups.config import Settings
from cartgroups.service.credentials import Issued
from cartgroups.storage import tables
from cartgroups.testing.server import stop_in_thread
from tests.api.support import GROUP_NOT_FOUND, IssueFn, State, array, assert_error
from tests.api.test_customers import (
    CUSTOMERS,
    LIMIT_RULE,
    OFFSET_PAST_END,
    bad_date,
    create_customer,
    customer_audit,
    customer_bytes,
    got,
    got_one,
    ids_of,
)
from tests.conftest import LiveServer, create_group, headers_for, plain_client, result_body, start_server

NO_MEMBERS = "The Customer Group was not found and/or contains no customer records."
BAD_GROUP_PATH_ID = "CustomerGroupID in the URL must be an integer from 1 to 2147483647"


def members_path(group_id: object) -> str:
    return f"/CustomerGroups/{group_id}/Customers"


def has_members(count: int) -> str:
    return (
        f"The Customer Group has {count} customer(s); this server keeps groups that have customers (safe "
        "group delete): move them to another group or to none first"
    )


def test_a_groups_customers_are_listed_with_filters_and_paging(api: httpx.Client) -> None:
    create_group(api, Name="One")
    create_group(api, Name="Two")
    for n in range(1, 15):
        create_customer(
            api, f"c{n}@example.com", CustomerGroupID=1 if n % 2 else 2, BillingCity=f"City{n % 3}"
        )
    odd = list(range(1, 15, 2))
    assert ids_of(api.get(members_path(1))) == odd
    assert ids_of(api.get(members_path(2), params={"limit": "0"})) == list(range(2, 15, 2))
    assert ids_of(api.get(members_path(1), params={"limit": "3", "offset": "2"})) == [3, 5, 7]
    assert ids_of(api.get(members_path(1), params={"city": "CITY1 "})) == [1, 7, 13]
    assert ids_of(api.get(members_path(1), params={"city": "city1", "email": "c7@example.com"})) == [7]
    assert api.get(members_path(1), params={"countonly": "1"}).content == b'{"TotalCount":7}'
    assert api.get(members_path(1), params={"countonly": "1", "city": "city0"}).content == b'{"TotalCount":2}'
    assert api.get(members_path(1), params={"limit": "1"}).content == array(
        customer_bytes(1, "c1@example.com", CustomerGroupID=1, BillingCity="City1")
    )
    # The path in any case, and under v2 too.
    assert ids_of(api.get("/customergroups/1/CUSTOMERS", params={"limit": "2"})) == [1, 3]


def test_members_under_v2(server: LiveServer, creds: Issued) -> None:
    with plain_client(server.base_url + "/3dCartWebAPI/v2", headers_for(creds)) as v2:
        create_group(v2)
        create_customer(v2, "a@example.com", CustomerGroupID=1)
        assert v2.get(members_path(1)).content == array(customer_bytes(1, "a@example.com", CustomerGroupID=1))


def test_the_404s_of_a_groups_customers(api: httpx.Client, state: State) -> None:
    create_group(api, Name="Empty")
    create_group(api, Name="Full")
    create_customer(api, "a@example.com", CustomerGroupID=2, BillingCity="Here")
    create_customer(api, "b@example.com")  # in no group
    before = state()
    assert_error(api.get(members_path(1)), 404, NO_MEMBERS)  # an empty group
    assert_error(api.get(members_path(3)), 404, NO_MEMBERS, "3")  # a missing group
    assert_error(api.get(members_path(2), params={"city": "there"}), 404, NO_MEMBERS)  # no member matches
    assert_error(api.get(members_path(1), params={"offset": "3"}), 404, NO_MEMBERS)
    assert_error(api.get(members_path(2), params={"offset": "2"}), 400, OFFSET_PAST_END)
    # countonly: 200 on an existing group, also for 0; 404 on a missing one.
    assert api.get(members_path(1), params={"countonly": "1"}).content == b'{"TotalCount":0}'
    assert api.get(members_path(2), params={"countonly": "1", "city": "x"}).content == b'{"TotalCount":0}'
    assert_error(api.get(members_path(3), params={"countonly": "1"}), 404, NO_MEMBERS, "3")
    # Group 0 is no group: a 404, not the ungrouped customers (customer 2), countonly too.
    for zero in ("0", "00"):
        assert_error(api.get(members_path(zero)), 404, NO_MEMBERS, "0")
        assert_error(api.get(members_path(zero), params={"countonly": "1"}), 404, NO_MEMBERS, "0")
    assert_error(api.get("/CustomerGroups/0"), 400, BAD_GROUP_PATH_ID, "0")
    for raw in ("-1", "x", "2147483648"):
        assert_error(api.get(members_path(raw)), 400, BAD_GROUP_PATH_ID, raw)
    assert_error(api.get(members_path(2), params={"limit": "501"}), 400, LIMIT_RULE)
    assert_error(
        api.get(members_path(2), params={"lastupdatestart": "x"}), 400, bad_date("lastupdatestart"), "x"
    )
    assert state() == before


def test_another_stores_group_has_no_customers_here(
    server: LiveServer, api: httpx.Client, issue: IssueFn
) -> None:
    other = issue(store="other.example.com", app="other-app")
    with plain_client(server.base_url + "/3dCartWebAPI/v1", headers_for(other)) as client:
        create_group(client)
        create_customer(client, "a@example.com", CustomerGroupID=1)
    assert_error(api.get(members_path(1)), 404, NO_MEMBERS, "1")
    assert_error(api.get(members_path(1), params={"countonly": "1"}), 404, NO_MEMBERS, "1")


def test_a_member_moved_or_deleted_leaves_the_list(api: httpx.Client) -> None:
    create_group(api)
    create_group(api)
    create_customer(api, "a@example.com", CustomerGroupID=1)
    create_customer(api, "b@example.com", CustomerGroupID=1)
    assert ids_of(api.get(members_path(1))) == [1, 2]
    api.put(f"{CUSTOMERS}/1", json={"CustomerGroupID": 2})
    assert ids_of(api.get(members_path(1))) == [2]
    assert ids_of(api.get(members_path(2))) == [1]
    api.delete(f"{CUSTOMERS}/2")
    assert_error(api.get(members_path(1)), 404, NO_MEMBERS)


# ---------------------------------------------------------------- deleting a group (D3)


def _updated_at(server: LiveServer) -> dict[int, float]:
    with server.db.read() as conn:
        rows = conn.execute(sa.select(tables.customers.c.customer_id, tables.customers.c.updated_at)).all()
    return {int(row[0]): float(row[1]) for row in rows}


def test_deleting_a_group_puts_its_members_in_no_group_with_audit_entries(
    api: httpx.Client, server: LiveServer
) -> None:
    create_group(api, Name="Going")
    create_group(api, Name="Staying")
    create_customer(api, "a@example.com", CustomerGroupID=1, BillingCity="A")
    create_customer(api, "b@example.com", CustomerGroupID=2)
    create_customer(api, "c@example.com", CustomerGroupID=1, Password="pw")
    assert ids_of(api.get(members_path(1))) == [1, 3]  # read (and perhaps cached) before the delete
    got(api, 1)
    times = _updated_at(server)
    entries = len(customer_audit(server))
    response = api.delete("/CustomerGroups/1")
    assert response.status_code == 200
    assert response.content == result_body(200, 1, "Deleted successfully")  # unchanged by D3
    assert got(api, 1) == array(customer_bytes(1, "a@example.com", BillingCity="A"))
    assert got_one(api, 2)["CustomerGroupID"] == 2
    assert got_one(api, 3)["CustomerGroupID"] == 0
    assert_error(api.get(members_path(1)), 404, NO_MEMBERS, "1")
    assert ids_of(api.get(members_path(2))) == [2]
    # Their last-update time moved (D8); the other customer's did not.
    after = _updated_at(server)
    assert after[1] > times[1] and after[3] > times[3] and after[2] == times[2]
    # One update entry per member, before and after, resource Customer, no password.
    released = customer_audit(server)[entries:]
    assert [(action, item) for action, item, _, _ in released] == [("update", 1), ("update", 3)] or [
        (action, item) for action, item, _, _ in released
    ] == [("update", 3), ("update", 1)]
    for _action, item, before, after_text in released:
        assert before is not None and after_text is not None
        assert orjson.loads(before)["CustomerGroupID"] == 1
        assert after_text.encode() == got(api, item)[1:-1]
        assert "pw" not in before and orjson.loads(before)["Password"] == ""
    # A new group never takes the deleted group's id, so no customer can fall into it.
    assert create_group(api, Name="New") == 3


def test_deleting_a_group_without_members_touches_no_customer(api: httpx.Client, server: LiveServer) -> None:
    create_group(api)
    create_customer(api, "a@example.com")
    times, entries = _updated_at(server), len(customer_audit(server))
    assert api.delete("/CustomerGroups/1").content == result_body(200, 1, "Deleted successfully")
    assert _updated_at(server) == times
    assert len(customer_audit(server)) == entries


def test_a_missing_group_delete_changes_nothing(api: httpx.Client, state: State) -> None:
    create_customer(api, "a@example.com")
    before = state()
    assert_error(api.delete("/CustomerGroups/5"), 404, GROUP_NOT_FOUND, "5")
    assert state() == before


# ---------------------------------------------------------------- safe_group_delete


@pytest.fixture
def safe_server(server: LiveServer) -> Iterator[LiveServer]:
    """Another server on the (emptied) session database, with the setting safe_group_delete on."""
    settings = Settings(database_url=server.app.settings.database_url, safe_group_delete=True)
    live, thread = start_server(settings)
    yield live
    stop_in_thread(live.server, thread)


@pytest.fixture
def safe_api(safe_server: LiveServer, creds: Issued) -> Iterator[httpx.Client]:
    with plain_client(safe_server.base_url + "/3dCartWebAPI/v1", headers_for(creds)) as client:
        yield client


def test_safe_delete_keeps_a_group_with_members_and_deletes_an_empty_one(
    safe_api: httpx.Client, state: State
) -> None:
    create_group(safe_api, Name="Full")
    create_group(safe_api, Name="Empty")
    create_customer(safe_api, "a@example.com", CustomerGroupID=1)
    create_customer(safe_api, "b@example.com", CustomerGroupID=1)
    create_customer(safe_api, "c@example.com")
    before = state()
    assert_error(safe_api.delete("/CustomerGroups/1"), 400, has_members(2), "1")
    assert_error(safe_api.delete("/customergroups/1"), 400, has_members(2), "1")
    assert state() == before
    assert ids_of(safe_api.get(members_path(1))) == [1, 2]
    assert safe_api.delete("/CustomerGroups/2").content == result_body(200, 2, "Deleted successfully")
    assert_error(safe_api.delete("/CustomerGroups/7"), 404, GROUP_NOT_FOUND, "7")
    # Once its members have moved, the group may go.
    safe_api.put(CUSTOMERS, json=[{"CustomerID": 1, "CustomerGroupID": 0}])
    assert_error(safe_api.delete("/CustomerGroups/1"), 400, has_members(1), "1")
    safe_api.put(f"{CUSTOMERS}/2", json={"CustomerGroupID": 0})
    assert safe_api.delete("/CustomerGroups/1").content == result_body(200, 1, "Deleted successfully")
    assert_error(safe_api.get("/CustomerGroups/1"), 404, GROUP_NOT_FOUND, "1")
