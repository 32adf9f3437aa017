"""PriceLevel (issue #17 item 1): any 32-bit integer, stored as given, 0 when absent; the 1 to 10
of the store's UI only with the setting price_level_1_to_10 (off by default)."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from cartgroups.config import Settings
from cartgroups.service import credentials
from cartgroups.service.credentials import Issued
from cartgroups.testing.server import stop_in_thread
from tests.admin.support import Browser, field_error, make_operator
from tests.api.support import (
    COLLECTION,
    JSON,
    LEVEL_RULE,
    UI_LEVEL_RULE,
    State,
    array,
    assert_error,
    group_bytes,
    item_path,
    record,
    stored,
    stored_one,
)
from tests.conftest import LiveServer, create_group, headers_for, plain_client, start_server

UPDATED = "updated successfully"
LEVELS = [0, -48512740, 2147483647, -2147483648, 1, 10, 11]
OUT_OF_RANGE = [2147483648, -2147483649, 1.5, "2147483648", "1.5", "x", True, [1]]

# What the official C# REST-API-Client sends for its POST sample, which leaves PriceLevel unset
# (its model's int default, 0), the id at 0 and two strings null; chunked by httpx (an iterator).
OFFICIAL_CLIENT_POST = (
    b'{"CustomerGroupID":0,"Name":"AnotherCustomerGroup121615_01","Description":"CustomerGroup121615_01",'
    b'"MinimumOrder":0.0,"NonTaxable":false,"AllowRegistration":false,"DisableRewardPoints":false,'
    b'"AutoApprove":false,"RegistrationMessage":null,"PriceLevel":0}'
)


def test_absent_on_post_is_0(api: httpx.Client) -> None:
    assert create_group(api, Name="Retail") == 1
    assert stored(api, 1) == b"[" + group_bytes(1, "Retail", price_level=0) + b"]"
    create_group(api, Name="Null level", PriceLevel=None)
    assert stored_one(api, 2)["PriceLevel"] == 0


def test_the_official_clients_post_body_is_created(api: httpx.Client) -> None:
    response = api.post(
        COLLECTION,
        content=iter([OFFICIAL_CLIENT_POST[:100], OFFICIAL_CLIENT_POST[100:]]),
        headers={"Content-Type": "application/json; charset=utf-8"},
    )
    assert response.status_code == 201, response.text
    assert response.request.headers["transfer-encoding"] == "chunked"
    assert (
        stored(api, 1)
        == b"["
        + group_bytes(1, "AnotherCustomerGroup121615_01", description="CustomerGroup121615_01", price_level=0)
        + b"]"
    )


@pytest.mark.parametrize("level", LEVELS)
def test_any_32_bit_level_is_stored_and_returned_exactly(api: httpx.Client, level: int) -> None:
    create_group(api, Name="posted", PriceLevel=level)
    assert stored(api, 1) == b"[" + group_bytes(1, "posted", price_level=level) + b"]"
    create_group(api, Name="put")
    assert api.put(item_path(2), json={"PriceLevel": level}).status_code == 200
    assert stored(api, 2) == b"[" + group_bytes(2, "put", price_level=level) + b"]"
    create_group(api, Name="bulk", PriceLevel=5)
    response = api.put(COLLECTION, json=[{"CustomerGroupID": 3, "PriceLevel": str(level)}])
    assert response.content == array(record(3, 200, UPDATED))
    listed = api.get(COLLECTION).json()
    assert [g["PriceLevel"] for g in listed] == [level, level, level]


def test_minus_zero_is_0(api: httpx.Client) -> None:
    api.post(COLLECTION, content=b'{"Name":"x","PriceLevel":-0}', headers=JSON)
    assert stored_one(api, 1)["PriceLevel"] == 0


@pytest.mark.parametrize("level", OUT_OF_RANGE)
def test_outside_32_bits_or_not_an_integer_is_400_and_nothing_changes(
    api: httpx.Client, state: State, level: object
) -> None:
    create_group(api, Name="kept", PriceLevel=-7)
    before = state()
    assert_error(api.post(COLLECTION, json={"Name": "x", "PriceLevel": level}), 400, LEVEL_RULE)
    assert_error(api.put(item_path(1), json={"PriceLevel": level}), 400, LEVEL_RULE)
    response = api.put(COLLECTION, json=[{"CustomerGroupID": 1, "PriceLevel": level}])
    assert response.status_code == 400
    assert response.content == array(record(1, 400, LEVEL_RULE))
    assert state() == before
    assert stored(api, 1) == b"[" + group_bytes(1, "kept", price_level=-7) + b"]"


# --- the setting price_level_1_to_10 --------------------------------------------------------------


@pytest.fixture
def ui_server(server: LiveServer) -> Iterator[LiveServer]:
    """Another server on the (emptied) session database, with the setting on."""
    settings = Settings(database_url=server.app.settings.database_url, price_level_1_to_10=True)
    live, thread = start_server(settings)
    yield live
    stop_in_thread(live.server, thread)


@pytest.fixture
def ui_api(ui_server: LiveServer, creds: Issued) -> Iterator[httpx.Client]:
    with plain_client(ui_server.base_url + "/3dCartWebAPI/v1", headers_for(creds)) as client:
        yield client


@pytest.mark.parametrize("level", [0, 11, -1, 2147483647, 2147483648, "abc", 1.5])
def test_with_the_setting_levels_outside_1_to_10_get_its_message_and_nothing_changes(
    ui_api: httpx.Client, state: State, level: object
) -> None:
    create_group(ui_api, Name="kept", PriceLevel=4)
    before = state()
    assert_error(ui_api.post(COLLECTION, json={"Name": "x", "PriceLevel": level}), 400, UI_LEVEL_RULE)
    assert_error(ui_api.put(item_path(1), json={"PriceLevel": level}), 400, UI_LEVEL_RULE)
    response = ui_api.put(COLLECTION, json=[{"CustomerGroupID": 1, "PriceLevel": level}])
    assert response.content == array(record(1, 400, UI_LEVEL_RULE))
    assert state() == before


def test_with_the_setting_1_and_10_pass_and_an_absent_level_is_1(
    ui_api: httpx.Client, api: httpx.Client
) -> None:
    create_group(ui_api, Name="one", PriceLevel=1)
    create_group(ui_api, Name="ten", PriceLevel=10)
    create_group(ui_api, Name="absent")
    assert ui_api.put(item_path(3), json={"Description": "no level"}).status_code == 200
    assert ui_api.put(COLLECTION, json=[{"CustomerGroupID": 1, "PriceLevel": 10}]).status_code == 200
    assert ui_api.put(item_path(2), json={"PriceLevel": "1"}).status_code == 200
    assert [g["PriceLevel"] for g in ui_api.get(COLLECTION).json()] == [10, 1, 1]
    # The official client's body (PriceLevel 0) is refused there, and accepted by the default server.
    assert_error(ui_api.post(COLLECTION, content=OFFICIAL_CLIENT_POST, headers=JSON), 400, UI_LEVEL_RULE)
    assert api.post(COLLECTION, content=OFFICIAL_CLIENT_POST, headers=JSON).status_code == 201


def test_with_the_setting_the_console_offers_1_and_refuses_0(
    server: LiveServer, ui_server: LiveServer, creds: Issued, state: State
) -> None:
    make_operator(server.db)
    store_id = credentials.store_id_of(server.db, creds.secure_url)
    for live, default in ((server, "0"), (ui_server, "1")):
        browser = Browser(live.base_url)
        try:
            assert browser.sign_in().status_code == 303
            browser.get("/admin/stores")  # the session's CSRF token
            form = browser.get(f"/admin/stores/{store_id}/groups/new")
            assert f'name="PriceLevel" value="{default}"' in form.text
            if live is ui_server:
                before = state()
                response = browser.post(
                    f"/admin/stores/{store_id}/groups/new", {"Name": "x", "PriceLevel": "0"}
                )
                assert response.status_code == 400
                assert field_error(response.text, "PriceLevel") == UI_LEVEL_RULE
                assert state() == before
        finally:
            browser.close()
