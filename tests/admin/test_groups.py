"""Stores and groups pages: list, search, sort, paging, create, edit, delete; the API's rules
and messages; changes seen by API clients at once and the other way round."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Sequence

import httpx
import pytest

from cartgroups.admin.groups import PAGE_SIZE
from cartgroups.service import audit, credentials
from cartgroups.service.credentials import Issued, Principal
from cartgroups.service.customer_groups import CustomerGroups
from cartgroups.storage.store import open_store
from tests.admin.support import USERNAME, Browser, field_error, text_of
from tests.conftest import STORE, LiveServer, create_group

State = Callable[[], list[tuple[object, ...]]]

VALID = {
    "Name": "Wholesale",
    "Description": "Resellers",
    "MinimumOrder": "250.50",
    "PriceLevel": "2",
    "NonTaxable": "on",
    "AutoApprove": "on",
    "RegistrationMessage": "Welcome",
}


def _store_id(server: LiveServer, secure_url: str = STORE) -> int:
    return credentials.store_id_of(server.db, secure_url)


def _seeder(store_id: int) -> Principal:
    """Groups made by the test itself, like cartgroups.testing's seed(): no token or application."""
    return Principal(store_id, STORE, can_read=True, can_write=True)


def _create_groups(server: LiveServer, store_id: int, bodies: Sequence[dict[str, object]]) -> None:
    """Groups created in order through the service, under the server's rules. The server's own
    store serves the server's event loop only, so they go through a store and a loop of their own."""
    assert server.app.services is not None
    rules = server.app.services.groups

    async def main() -> None:
        store = open_store(server.db)
        await store.open()
        try:
            groups = CustomerGroups(
                store, max_bulk_items=rules.max_bulk_items, price_level_1_to_10=rules.price_level_1_to_10
            )
            for body in bodies:
                await groups.create(principal=_seeder(store_id), body=body)
        finally:
            await store.close()

    asyncio.run(main())


def _add_groups(server: LiveServer, store_id: int, names: list[str]) -> None:
    _create_groups(server, store_id, [{"Name": name} for name in names])


def _names_in_table(page: str) -> list[str]:
    body = page.split("<tbody>", 1)[1].split("</tbody>", 1)[0]
    return [text_of(part.split("</th>", 1)[0]) for part in body.split('<th scope="row">')[1:]]


def test_stores_list_and_search(browser: Browser, server: LiveServer, issue: Callable[..., Issued]) -> None:
    issue(store="shop.example.com")
    issue(store="other-shop.example.org")
    issue(store="third.example.net")
    _add_groups(server, _store_id(server), ["A", "B"])
    page = browser.get("/admin/stores")
    assert page.status_code == 200
    text = text_of(page.text)
    assert "3 stores" in text
    assert "shop.example.com 2" in text  # two groups
    found = browser.get("/admin/stores", q="SHOP")
    assert "2 stores matching “SHOP”" in text_of(found.text)
    assert "third.example.net" not in found.text
    none = browser.get("/admin/stores", q="100%_")  # LIKE wildcards are searched for literally
    assert "0 stores" in text_of(none.text) and "No stores match your search." in text_of(none.text)


def test_stores_paging(browser: Browser, server: LiveServer, issue: Callable[..., Issued]) -> None:
    for number in range(PAGE_SIZE + 3):
        issue(store=f"s{number:03d}.example.com")
    first = browser.get("/admin/stores")
    assert "Page 1 of 2" in text_of(first.text) and "s049.example.com" in first.text
    assert "s050.example.com" not in first.text
    second = browser.get("/admin/stores", page="2")
    assert "Page 2 of 2" in text_of(second.text) and "s052.example.com" in second.text
    for bad in ("0", "99", "x", "-1"):
        assert browser.get("/admin/stores", page=bad).status_code == 200


def test_groups_table_sorts_searches_and_pages(browser: Browser, server: LiveServer, creds: Issued) -> None:
    store_id = _store_id(server)
    names = [f"Group {n:03d}" for n in range(PAGE_SIZE + 10)] + ["zeta", "Alpha wholesale", "beta WHOLESALE"]
    _add_groups(server, store_id, names)
    base = f"/admin/stores/{store_id}/groups"
    by_id = browser.get(base)
    assert by_id.status_code == 200
    assert f"{len(names)} groups" in text_of(by_id.text)
    assert _names_in_table(by_id.text) == names[:PAGE_SIZE]
    assert "Page 1 of 2" in text_of(by_id.text)
    page_two = browser.get(base, page="2")
    assert _names_in_table(page_two.text) == names[PAGE_SIZE:]
    by_name_desc = browser.get(base, sort="name", dir="desc")
    assert _names_in_table(by_name_desc.text)[:3] == ["zeta", "Group 059", "Group 058"]
    assert 'aria-sort="descending"' in by_name_desc.text
    search = browser.get(base, q="wholesale", sort="name")
    assert _names_in_table(search.text) == ["Alpha wholesale", "beta WHOLESALE"]
    assert "2 groups matching “wholesale”" in text_of(search.text)
    assert "Page" not in text_of(search.text).split("groups matching")[1]
    unknown_sort = browser.get(base, sort="description; drop table x", dir="sideways")
    assert _names_in_table(unknown_sort.text) == names[:PAGE_SIZE]


def test_groups_table_sorts_by_price_level(browser: Browser, server: LiveServer, creds: Issued) -> None:
    store_id = _store_id(server)
    _create_groups(
        server,
        store_id,
        [{"Name": name, "PriceLevel": level} for name, level in (("low", 1), ("high", 9), ("mid", 5))],
    )
    page = browser.get(f"/admin/stores/{store_id}/groups", sort="price_level", dir="desc")
    assert _names_in_table(page.text) == ["high", "mid", "low"]


def test_names_are_escaped(browser: Browser, server: LiveServer, creds: Issued) -> None:
    store_id = _store_id(server)
    _add_groups(server, store_id, ['<script>alert("x")</script>'])
    page = browser.get(f"/admin/stores/{store_id}/groups")
    assert "<script>alert" not in page.text
    assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;" in page.text


def test_unknown_store_and_bad_ids_are_404_pages(browser: Browser, server: LiveServer, creds: Issued) -> None:
    store_id = _store_id(server)
    for path in (
        "/admin/stores/999999/groups",
        "/admin/stores/abc/groups",
        "/admin/stores/99999999999/groups",
        f"/admin/stores/{store_id}/groups/5/edit",
        f"/admin/stores/{store_id}/groups/0/delete",
        f"/admin/stores/{store_id}/groups/2147483648/edit",
        "/admin/nowhere",
    ):
        response = browser.get(path)
        assert response.status_code == 404, path
        assert "content-security-policy" in response.headers


def test_create_a_group_and_the_api_sees_it(browser: Browser, server: LiveServer, api: httpx.Client) -> None:
    store_id = _store_id(server)
    form = browser.get(f"/admin/stores/{store_id}/groups/new")
    assert form.status_code == 200
    for wire in VALID:
        assert f'<label for="f-{wire}">{wire}</label>' in form.text
    response = browser.post(f"/admin/stores/{store_id}/groups/new", VALID)
    assert response.status_code == 303
    assert response.headers["location"] == f"/admin/stores/{store_id}/groups?created=1"
    assert "Group 1 created." in text_of(browser.get(response.headers["location"]).text)
    got = api.get("/CustomerGroups/1").json()[0]
    assert got["Name"] == "Wholesale" and got["MinimumOrder"] == 250.5 and got["PriceLevel"] == 2
    assert got["NonTaxable"] is True and got["AutoApprove"] is True and got["AllowRegistration"] is False
    assert got["Description"] == "Resellers" and got["RegistrationMessage"] == "Welcome"


BAD_INPUT = [
    ({"Name": ""}, {"Name": "Name must not be empty"}),
    ({"Name": "x" * 151}, {"Name": "Name must be at most 150 characters (got 151)"}),
    ({"MinimumOrder": "-1"}, {"MinimumOrder": "MinimumOrder must not be negative"}),
    ({"MinimumOrder": "lots"}, {"MinimumOrder": "MinimumOrder must be a number"}),
    (
        {"PriceLevel": "2147483648", "Name": "  "},
        {
            "Name": "Name must not be empty",
            "PriceLevel": "PriceLevel must be an integer from -2147483648 to 2147483647",
        },
    ),
    (
        {"Description": "a\x00b"},
        {"Description": "Description must be valid Unicode text without NUL characters"},
    ),
]


@pytest.mark.parametrize(("changes", "expected"), BAD_INPUT)
def test_create_rejects_what_the_api_rejects_with_the_same_messages(
    browser: Browser,
    server: LiveServer,
    api: httpx.Client,
    state: State,
    changes: dict[str, str],
    expected: dict[str, str],
) -> None:
    store_id = _store_id(server)
    before = state()
    body = {**VALID, **changes}
    response = browser.post(f"/admin/stores/{store_id}/groups/new", body)
    assert response.status_code == 400
    for wire, message in expected.items():
        assert field_error(response.text, wire) == message
        assert f'id="f-{wire}"' in response.text
    others = [spec for spec in VALID if spec not in expected]
    assert all(field_error(response.text, wire) is None for wire in others)
    # The API answers the same JSON with the same message, all problems joined.
    api_body = {k: v for k, v in body.items() if k not in ("NonTaxable", "AutoApprove")}
    api_response = api.post("/CustomerGroups", json=api_body)
    assert api_response.status_code == 400
    assert api_response.json()[0]["Message"] == "; ".join(expected.values())
    assert state() == before
    # The form keeps what was typed.
    if "Name" not in expected:
        assert 'value="Wholesale"' in response.text


def test_edit_a_group_from_the_console_and_the_api_sees_it(
    browser: Browser, server: LiveServer, api: httpx.Client
) -> None:
    group_id = create_group(api, Name="Retail", MinimumOrder=10, NonTaxable=True)
    store_id = _store_id(server)
    form = browser.get(f"/admin/stores/{store_id}/groups/{group_id}/edit")
    assert form.status_code == 200
    assert 'value="Retail"' in form.text and 'value="10"' in form.text
    assert 'name="NonTaxable" value="on" checked' in form.text
    changed = {**VALID, "Name": "Retail plus", "MinimumOrder": "12.25"}
    del changed["NonTaxable"]  # unticked
    response = browser.post(f"/admin/stores/{store_id}/groups/{group_id}/edit", changed)
    assert response.status_code == 303
    assert response.headers["location"] == f"/admin/stores/{store_id}/groups?updated={group_id}"
    got = api.get(f"/CustomerGroups/{group_id}").json()[0]
    assert got["Name"] == "Retail plus" and got["MinimumOrder"] == 12.25 and got["NonTaxable"] is False


def test_edit_rejected_by_validation_changes_nothing(
    browser: Browser, server: LiveServer, api: httpx.Client, state: State
) -> None:
    group_id = create_group(api, Name="Retail")
    store_id = _store_id(server)
    before = state()
    response = browser.post(
        f"/admin/stores/{store_id}/groups/{group_id}/edit",
        {**VALID, "PriceLevel": "1.5", "MinimumOrder": "1.5e-30"},
    )
    assert response.status_code == 400
    assert (
        field_error(response.text, "PriceLevel")
        == "PriceLevel must be an integer from -2147483648 to 2147483647"
    )
    assert field_error(response.text, "MinimumOrder") == (
        "MinimumOrder must be at most 79228162514264337593543950335 with at most 28 decimal places"
    )
    assert 'aria-invalid="true"' in response.text and 'role="alert"' in response.text
    assert state() == before


def test_changes_through_the_api_show_in_the_console(
    browser: Browser, server: LiveServer, api: httpx.Client
) -> None:
    store_id = _store_id(server)
    group_id = create_group(api, Name="From the API")
    assert "From the API" in browser.get(f"/admin/stores/{store_id}/groups").text
    api.put(f"/CustomerGroups/{group_id}", json={"Name": "Renamed by the API"})
    assert (
        'value="Renamed by the API"' in browser.get(f"/admin/stores/{store_id}/groups/{group_id}/edit").text
    )
    api.delete(f"/CustomerGroups/{group_id}")
    assert browser.get(f"/admin/stores/{store_id}/groups/{group_id}/edit").status_code == 404


def test_delete_asks_first_then_deletes(
    browser: Browser, server: LiveServer, api: httpx.Client, state: State
) -> None:
    group_id = create_group(api, Name="Doomed")
    store_id = _store_id(server)
    before = state()
    confirm = browser.get(f"/admin/stores/{store_id}/groups/{group_id}/delete")
    assert confirm.status_code == 200
    assert "Delete group 1?" in text_of(confirm.text) and "This cannot be undone." in text_of(confirm.text)
    assert state() == before  # asking changes nothing
    response = browser.post(f"/admin/stores/{store_id}/groups/{group_id}/delete")
    assert response.status_code == 303
    assert response.headers["location"] == f"/admin/stores/{store_id}/groups?deleted={group_id}"
    assert api.get(f"/CustomerGroups/{group_id}").status_code == 404
    again = browser.post(f"/admin/stores/{store_id}/groups/{group_id}/delete")
    assert again.status_code == 404
    assert "The specified Customer Group does not exist." in text_of(again.text)


def test_console_changes_are_audited_as_the_operator(
    browser: Browser, server: LiveServer, api: httpx.Client, creds: Issued
) -> None:
    store_id = _store_id(server)
    from_api = create_group(api, Name="From the API")
    assert browser.post(f"/admin/stores/{store_id}/groups/new", VALID).status_code == 303
    created = from_api + 1
    edited = {**VALID, "Name": "Wholesale EU"}
    assert browser.post(f"/admin/stores/{store_id}/groups/{created}/edit", edited).status_code == 303
    assert browser.post(f"/admin/stores/{store_id}/groups/{created}/delete").status_code == 303
    entries = audit.list_entries(server.db, secure_url=STORE, filters=audit.Filters())
    by_console = [(e.action, e.item_id, e.application, e.token_id) for e in entries[:3]]
    assert by_console == [
        ("delete", created, f"admin:{USERNAME}", None),
        ("update", created, f"admin:{USERNAME}", None),
        ("create", created, f"admin:{USERNAME}", None),
    ]
    assert json.loads(entries[1].before or "")["Name"] == "Wholesale"
    assert json.loads(entries[1].after or "")["Name"] == "Wholesale EU"
    assert entries[2].before is None and entries[0].after is None
    # The API's own change is recorded as its application and token, not as an operator.
    [api_entry] = entries[3:]
    assert (api_entry.action, api_entry.item_id) == ("create", from_api)
    assert (api_entry.application, api_entry.token_id) == (creds.application, creds.token_id)
    only_console = audit.list_entries(
        server.db, secure_url=STORE, filters=audit.Filters(application=f"admin:{USERNAME}")
    )
    assert [e.id for e in only_console] == [e.id for e in entries[:3]]


def test_another_stores_group_is_not_reachable(
    browser: Browser, server: LiveServer, api: httpx.Client, issue: Callable[..., Issued], state: State
) -> None:
    group_id = create_group(api, Name="Mine")
    issue(store="other.example.com")
    other = _store_id(server, "other.example.com")
    before = state()
    assert browser.get(f"/admin/stores/{other}/groups/{group_id}/edit").status_code == 404
    assert browser.post(f"/admin/stores/{other}/groups/{group_id}/edit", VALID).status_code == 404
    assert browser.post(f"/admin/stores/{other}/groups/{group_id}/delete").status_code == 404
    assert state() == before


@pytest.mark.parametrize("action", ["new", "edit", "delete"])
@pytest.mark.parametrize("token", ["", "forged"])
def test_group_forms_reject_a_missing_or_wrong_csrf_token(
    browser: Browser, server: LiveServer, api: httpx.Client, state: State, action: str, token: str
) -> None:
    group_id = create_group(api, Name="Kept")
    store_id = _store_id(server)
    before = state()
    path = (
        f"/admin/stores/{store_id}/groups/new"
        if action == "new"
        else f"/admin/stores/{store_id}/groups/{group_id}/{action}"
    )
    response = browser.post(path, VALID, csrf=token)
    assert response.status_code == 403
    assert "This form was not sent from a page of this console" in text_of(response.text)
    assert state() == before


def test_another_sessions_token_is_rejected(
    browser: Browser, server: LiveServer, api: httpx.Client, state: State
) -> None:
    other = Browser(server.base_url)
    try:
        other.sign_in()
        other.get("/admin/stores")
        assert other.csrf and other.csrf != browser.csrf
        before = state()
        store_id = _store_id(server)
        response = browser.post(f"/admin/stores/{store_id}/groups/new", VALID, csrf=other.csrf)
        assert response.status_code == 403
        assert state() == before
    finally:
        other.close()


def test_oversized_and_non_form_bodies_are_refused(
    browser: Browser, server: LiveServer, creds: Issued, state: State
) -> None:
    store_id = _store_id(server)
    before = state()
    path = f"/admin/stores/{store_id}/groups/new"
    as_json = browser.client.post(path, json={"Name": "x", "csrf_token": browser.csrf})
    assert as_json.status_code == 415
    huge = browser.post(path, {"Name": "x", "Description": "d" * (1024 * 1024 + 1)})
    assert huge.status_code == 413
    assert "The form is larger than the limit of 1048576 bytes." in text_of(huge.text)
    many = browser.client.post(
        path,
        content="&".join(f"f{n}=1" for n in range(60)).encode(),
        headers={"content-type": "application/x-www-form-urlencoded"},
    )
    assert many.status_code == 400
    assert state() == before
