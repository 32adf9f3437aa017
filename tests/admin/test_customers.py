"""The customer pages of the console: the table (search, sort, paging), the create, edit and
delete forms with the API's rules and messages, moving customers between groups (on the form
and on the group's page), a group's members and its delete warning; every form under the
console's CSRF protection and audited as the operator. Both databases."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator

import httpx
import pytest
import sqlalchemy as sa

from cartgroups.admin.groups import PAGE_SIZE
from cartgroups.service import audit, credentials
from cartgroups.service.credentials import Issued
from cartgroups.service.customer_groups import HAS_MEMBERS
from cartgroups.service.customers import EMAIL_TAKEN, NO_SUCH_GROUP
from cartgroups.service.operators import verify_password
from cartgroups.storage import tables
from tests.admin.support import USERNAME, Browser, field_error, text_of
from tests.conftest import STORE, LiveServer, create_group

State = Callable[[], list[tuple[object, ...]]]
CUSTOMERS = "/Customers"


def _store_id(server: LiveServer, secure_url: str = STORE) -> int:
    return credentials.store_id_of(server.db, secure_url)


def _create(api: httpx.Client, email: str, **fields: object) -> int:
    response = api.post(CUSTOMERS, json={"Email": email, **fields})
    assert response.status_code == 201, response.text
    return int(response.json()[0]["Value"])


def _get(api: httpx.Client, customer_id: int) -> dict[str, object]:
    response = api.get(f"{CUSTOMERS}/{customer_id}")
    assert response.status_code == 200, response.text
    found: dict[str, object] = response.json()[0]
    return found


def _emails_in_table(page: str) -> list[str]:
    body = page.split("<tbody>", 1)[1].split("</tbody>", 1)[0]
    return [text_of(part.split("</th>", 1)[0]) for part in body.split('<th scope="row">')[1:]]


def _password_hash(server: LiveServer, customer_id: int) -> str | None:
    with server.db.read() as conn:
        found = conn.execute(
            sa.select(tables.customers.c.password_hash).where(tables.customers.c.customer_id == customer_id)
        ).scalar_one()
    return None if found is None else str(found)


def _form(**fields: str) -> dict[str, str]:
    """A new customer's form as the browser sends it: every box, empty unless given; Enabled ticked."""
    boxes = [
        "Email",
        "Password",
        "CustomerGroupID",
        *(f"{side}{part}" for side in ("Billing", "Shipping") for part in _ADDRESS),
        "BillingTaxID",
        "ShippingAddressType",
        "Comments",
        "AdditionalField1",
        "AdditionalField2",
        "AdditionalField3",
    ]
    form = dict.fromkeys(boxes, "")
    form.update(CustomerGroupID="0", ShippingAddressType="0", Enabled="on")
    form.update(fields)
    return form


_ADDRESS = (
    "Company",
    "FirstName",
    "LastName",
    "Address1",
    "Address2",
    "City",
    "State",
    "ZipCode",
    "Country",
    "PhoneNumber",
)


def _edit_form(browser: Browser, path: str) -> dict[str, str]:
    """The edit form's values as the page shows them (what a browser would send unchanged)."""
    page = browser.get(path).text
    form: dict[str, str] = {}
    for name, value in re.findall(r'<input id="f-[^"]+" name="([^"]+)" value="([^"]*)"', page):
        form[name] = _unescape(value)
    for name in re.findall(r'<input type="checkbox" id="f-[^"]+" name="([^"]+)" value="on" checked', page):
        form[name] = "on"
    chosen = re.search(r'<option value="([0-9]+)" selected>', page)
    if chosen:
        form["CustomerGroupID"] = chosen.group(1)
    form["Password"] = ""
    return form


def _unescape(text: str) -> str:
    import html

    return html.unescape(text)


@pytest.fixture
def store_id(server: LiveServer, creds: Issued) -> int:
    return _store_id(server)


# --- the table


def test_table_searches_sorts_and_pages(browser: Browser, api: httpx.Client, store_id: int) -> None:
    _create(api, "zed@shop.test", BillingFirstName="Zoe", BillingLastName="Adams")
    _create(api, "amy@shop.test", BillingFirstName="Amy", BillingLastName="Zimmer")
    _create(api, "bob@other.test", BillingFirstName="Bob", BillingLastName="Miller 100%_x")
    _create(api, "no.name@shop.test")
    base = f"/admin/stores/{store_id}/customers"
    by_id = browser.get(base)
    assert by_id.status_code == 200
    assert _emails_in_table(by_id.text) == [
        "zed@shop.test",
        "amy@shop.test",
        "bob@other.test",
        "no.name@shop.test",
    ]
    assert "4 customers" in text_of(by_id.text)
    by_email = browser.get(base, sort="email")
    assert _emails_in_table(by_email.text) == [
        "amy@shop.test",
        "bob@other.test",
        "no.name@shop.test",
        "zed@shop.test",
    ]
    by_last_desc = browser.get(base, sort="last_name", dir="desc")
    # A last name never set sorts as "": last when descending.
    assert _emails_in_table(by_last_desc.text) == [
        "amy@shop.test",
        "bob@other.test",
        "zed@shop.test",
        "no.name@shop.test",
    ]
    assert 'aria-sort="descending"' in by_last_desc.text
    # The search: a part of the e-mail, the first or the last name, or "first last", any case.
    for query, expected in [
        ("SHOP.test", ["zed@shop.test", "amy@shop.test", "no.name@shop.test"]),
        ("zoe", ["zed@shop.test"]),
        ("zimm", ["amy@shop.test"]),
        ("  Amy ZIM ", ["amy@shop.test"]),
        ("100%_", ["bob@other.test"]),  # LIKE's wildcards are searched for literally
        ("%", ["bob@other.test"]),
        ("nobody", []),
        ("a\x00b", []),  # no stored text holds a NUL: nothing, without asking the database
    ]:
        found = browser.get(base, q=query)
        assert found.status_code == 200, query
        if expected:
            assert _emails_in_table(found.text) == expected, query
        else:
            assert "No customer's e-mail or name contains" in text_of(found.text), query
    assert "1 customer matching “zoe”" in text_of(browser.get(base, q="zoe").text)
    # An unknown sort is by id.
    assert _emails_in_table(browser.get(base, sort="password").text)[0] == "zed@shop.test"


def test_table_pages(browser: Browser, api: httpx.Client, store_id: int) -> None:
    emails = [f"c{n:03d}@shop.test" for n in range(PAGE_SIZE + 3)]
    for email in emails:
        _create(api, email)
    base = f"/admin/stores/{store_id}/customers"
    first = browser.get(base)
    assert _emails_in_table(first.text) == emails[:PAGE_SIZE]
    assert "Page 1 of 2" in text_of(first.text)
    second = browser.get(base, page="2")
    assert _emails_in_table(second.text) == emails[PAGE_SIZE:]
    assert _emails_in_table(browser.get(base, page="99").text) == emails[PAGE_SIZE:]  # clamped
    for bad in ("0", "x", "-1"):
        assert _emails_in_table(browser.get(base, page=bad).text) == emails[:PAGE_SIZE]
    descending = browser.get(base, sort="email", dir="desc", page="2")
    assert _emails_in_table(descending.text) == emails[:3][::-1]


def test_store_pages_link_to_the_customers(browser: Browser, store_id: int) -> None:
    link = f'href="/admin/stores/{store_id}/customers"'
    assert link in browser.get("/admin/stores").text
    assert link in browser.get(f"/admin/stores/{store_id}/groups").text
    page = browser.get(f"/admin/stores/{store_id}/customers")
    assert f'{link} aria-current="page"' in page.text


def test_another_stores_customers_are_not_reachable(
    browser: Browser, server: LiveServer, api: httpx.Client, issue: Callable[..., Issued], state: State
) -> None:
    customer_id = _create(api, "mine@shop.test")
    group_id = create_group(api, Name="Mine")
    issue(store="other.example.com")
    other = _store_id(server, "other.example.com")
    assert "mine@shop.test" not in browser.get(f"/admin/stores/{other}/customers").text
    before = state()
    assert browser.get(f"/admin/stores/{other}/customers/{customer_id}/edit").status_code == 404
    assert browser.post(f"/admin/stores/{other}/customers/{customer_id}/edit", _form()).status_code == 404
    assert browser.post(f"/admin/stores/{other}/customers/{customer_id}/delete").status_code == 404
    assert browser.get(f"/admin/stores/{other}/groups/{group_id}").status_code == 404
    assert (
        browser.post(
            f"/admin/stores/{other}/groups/{group_id}/members", {"customer": str(customer_id)}
        ).status_code
        == 404
    )
    assert browser.get("/admin/stores/999999/customers").status_code == 404
    assert browser.get(f"/admin/stores/{other}/customers/x/edit").status_code == 404
    assert state() == before


# --- create


def test_create(browser: Browser, server: LiveServer, api: httpx.Client, store_id: int) -> None:
    group_id = create_group(api, Name="Wholesale")
    page = browser.get(f"/admin/stores/{store_id}/customers/new")
    assert page.status_code == 200
    assert f'<option value="{group_id}">Wholesale (id {group_id})</option>' in page.text
    form = _form(
        Email="Jane@Example.com",
        Password="s3cret pass",
        CustomerGroupID=str(group_id),
        BillingFirstName="Jane",
        BillingLastName="Doe",
        ShippingAddressType="2",
        NonTaxable="on",
    )
    response = browser.post(f"/admin/stores/{store_id}/customers/new", form)
    assert response.status_code == 303, text_of(response.text)
    assert response.headers["location"] == f"/admin/stores/{store_id}/customers?created=1"
    listed = browser.get(response.headers["location"])
    assert "Customer 1 created." in text_of(listed.text)
    got = _get(api, 1)
    assert (got["Email"], got["BillingFirstName"], got["BillingLastName"]) == (
        "Jane@Example.com",
        "Jane",
        "Doe",
    )
    assert (got["CustomerGroupID"], got["ShippingAddressType"], got["NonTaxable"]) == (group_id, 2, True)
    assert (got["Enabled"], got["MailList"], got["Password"]) == (True, False, "")
    # Empty boxes are fields not given: text never set stays null (D4).
    assert got["BillingCompany"] is None and got["Comments"] is None
    hashed = _password_hash(server, 1)
    assert hashed is not None and verify_password("s3cret pass", hashed)
    assert "s3cret" not in browser.get(f"/admin/stores/{store_id}/customers/1/edit").text


@pytest.mark.parametrize(
    ("fields", "wire", "message"),
    [
        ({"Email": ""}, "Email", None),
        ({"Email": "e" * 101}, "Email", None),
        ({"Email": "ok@shop.test", "CustomerGroupID": "77"}, "CustomerGroupID", NO_SUCH_GROUP.format(77)),
        ({"Email": "ok@shop.test", "ShippingAddressType": "x"}, "ShippingAddressType", None),
        ({"Email": "ok@shop.test", "Password": "p" * 51}, "Password", None),
        ({"Email": " TAKEN@shop.test "}, "Email", EMAIL_TAKEN),
    ],
)
def test_create_refused_with_the_apis_message_next_to_the_field(
    browser: Browser,
    api: httpx.Client,
    store_id: int,
    state: State,
    fields: dict[str, str],
    wire: str,
    message: str | None,
) -> None:
    _create(api, "taken@shop.test")
    sent = {**_form(), **fields}
    from_api = api.post(CUSTOMERS, json=_api_body(sent))
    assert from_api.status_code == 400
    api_message = from_api.json()[0]["Message"]
    if message is not None:
        assert api_message == message
    before = state()
    response = browser.post(f"/admin/stores/{store_id}/customers/new", sent)
    assert response.status_code == 400
    shown = field_error(response.text, wire)
    assert shown is not None and shown in api_message, (shown, api_message)
    assert 'role="alert"' in response.text and f'id="f-{wire}"' in response.text
    assert 'type="password" value=""' in response.text  # never shown again
    if wire != "Password" and sent.get("Password"):
        assert sent["Password"] not in response.text
    if wire == "Email" and fields["Email"]:
        assert f'value="{fields["Email"]}"' in response.text  # the form keeps what was typed
    assert state() == before


def _api_body(form: dict[str, str]) -> dict[str, object]:
    """What the API is sent for the same form (empty boxes left out, as the console does)."""
    body: dict[str, object] = {k: v for k, v in form.items() if v and k not in ("Enabled", "NonTaxable")}
    body["Email"] = form["Email"]
    return body


# --- edit


def test_edit_changes_only_what_changed_and_keeps_the_password(
    browser: Browser, server: LiveServer, api: httpx.Client, store_id: int
) -> None:
    group_id = create_group(api, Name="Retail")
    customer_id = _create(api, "jane@shop.test", Password="first pass", BillingFirstName="Jane", Comments="")
    hashed = _password_hash(server, customer_id)
    path = f"/admin/stores/{store_id}/customers/{customer_id}/edit"
    page = browser.get(path)
    assert page.status_code == 200
    assert "first pass" not in page.text and 'type="password" value=""' in page.text
    assert "Total store credit: 0.0 (read-only)." in text_of(page.text)
    form = _edit_form(browser, path)
    assert form["Email"] == "jane@shop.test" and form["CustomerGroupID"] == "0"
    # Unchanged: nothing is written (no audit entry either).
    entries = len(audit.list_entries(server.db, secure_url=STORE, filters=audit.Filters()))
    same = browser.post(path, form)
    assert same.status_code == 303 and same.headers["location"].endswith(f"?unchanged={customer_id}")
    assert len(audit.list_entries(server.db, secure_url=STORE, filters=audit.Filters())) == entries
    # Move it to a group and change a name; the empty password keeps the password.
    changed = {**form, "CustomerGroupID": str(group_id), "BillingLastName": "Doe", "MailList": "on"}
    response = browser.post(path, changed)
    assert response.status_code == 303
    assert response.headers["location"] == f"/admin/stores/{store_id}/customers?updated={customer_id}"
    got = _get(api, customer_id)
    assert (got["CustomerGroupID"], got["BillingLastName"], got["MailList"]) == (group_id, "Doe", True)
    assert got["Comments"] == "" and got["BillingCompany"] is None  # "" stays "", null stays null
    assert _password_hash(server, customer_id) == hashed
    # A new password is set when typed.
    assert browser.post(path, {**changed, "Password": "second pass"}).status_code == 303
    new_hash = _password_hash(server, customer_id)
    assert new_hash is not None and verify_password("second pass", new_hash)
    # Unticking a box and emptying a text is a change.
    browser.post(path, {**{k: v for k, v in changed.items() if k != "MailList"}, "BillingFirstName": ""})
    got = _get(api, customer_id)
    assert (got["MailList"], got["BillingFirstName"]) == (False, "")


def test_edit_refused_with_the_apis_messages(
    browser: Browser, api: httpx.Client, store_id: int, state: State
) -> None:
    _create(api, "taken@shop.test")
    customer_id = _create(api, "jane@shop.test")
    path = f"/admin/stores/{store_id}/customers/{customer_id}/edit"
    form = _edit_form(browser, path)
    before = state()
    taken = browser.post(path, {**form, "Email": "TAKEN@shop.test", "CustomerGroupID": "5"})
    assert taken.status_code == 400
    # Every problem is checked before anything is written; the API names the first it meets.
    shown = field_error(taken.text, "Email") or field_error(taken.text, "CustomerGroupID")
    assert shown in (EMAIL_TAKEN, NO_SUCH_GROUP.format(5))
    bad = browser.post(path, {**form, "ShippingAddressType": "1.5", "Email": ""})
    assert bad.status_code == 400
    assert field_error(bad.text, "ShippingAddressType") is not None
    assert field_error(bad.text, "Email") is not None
    assert 'aria-invalid="true"' in bad.text
    assert state() == before
    gone = browser.post(f"/admin/stores/{store_id}/customers/{customer_id + 5}/edit", form)
    assert gone.status_code == 404 and "The Customer record was not found." in text_of(gone.text)


# --- delete


def test_delete_after_confirming(browser: Browser, api: httpx.Client, store_id: int, state: State) -> None:
    group_id = create_group(api, Name="Kept")
    customer_id = _create(api, "doomed@shop.test", BillingFirstName="Dee", CustomerGroupID=group_id)
    path = f"/admin/stores/{store_id}/customers/{customer_id}/delete"
    before = state()
    page = browser.get(path)
    assert page.status_code == 200
    assert f"Delete customer {customer_id}?" in text_of(page.text)
    assert state() == before  # a GET deletes nothing
    response = browser.post(path)
    assert response.status_code == 303
    assert response.headers["location"] == f"/admin/stores/{store_id}/customers?deleted={customer_id}"
    assert api.get(f"{CUSTOMERS}/{customer_id}").status_code == 404
    assert api.get(f"/CustomerGroups/{group_id}").status_code == 200  # the group stays (D3)
    again = browser.post(path)
    assert again.status_code == 404 and "The Customer record was not found." in text_of(again.text)


# --- groups: members, moves, delete


def test_group_page_shows_members_and_moves_customers(
    browser: Browser, api: httpx.Client, store_id: int, state: State
) -> None:
    group_id = create_group(api, Name="VIP")
    other_group = create_group(api, Name="Other")
    inside = _create(
        api, "in@shop.test", BillingFirstName="In", BillingLastName="Side", CustomerGroupID=group_id
    )
    outside = _create(api, "out@shop.test")
    _create(api, "elsewhere@shop.test", CustomerGroupID=other_group)
    path = f"/admin/stores/{store_id}/groups/{group_id}"
    assert f'href="{path}"' in browser.get(f"/admin/stores/{store_id}/groups").text
    page = browser.get(path)
    assert page.status_code == 200
    assert "1 member" in text_of(page.text)
    assert _emails_in_table(page.text) == ["in@shop.test"]
    assert f'href="/admin/stores/{store_id}/customers/{inside}/edit"' in page.text
    # Move one in by e-mail (any case), then one by id.
    added = browser.post(f"{path}/members", {"customer": " OUT@shop.test "})
    assert added.status_code == 303 and added.headers["location"] == f"{path}?added={outside}"
    assert "Customer 2 moved into this group." in text_of(browser.get(added.headers["location"]).text)
    assert _get(api, outside)["CustomerGroupID"] == group_id
    assert browser.post(f"{path}/members", {"customer": "3"}).status_code == 303
    assert _emails_in_table(browser.get(path).text) == [
        "in@shop.test",
        "out@shop.test",
        "elsewhere@shop.test",
    ]
    assert "3 members" in text_of(browser.get(path).text)
    # Nobody by that e-mail or id: 400, nothing changed.
    before = state()
    for asked in ("nobody@shop.test", "99", "not an e-mail", "", "99999999999"):
        refused = browser.post(f"{path}/members", {"customer": asked})
        assert refused.status_code == 400, asked
        assert f"No customer of this store has the e-mail or id “{asked}”." in text_of(refused.text)
    assert state() == before
    # Remove one from the group: it is then in no group.
    removed = browser.post(f"{path}/members/{inside}/remove")
    assert removed.status_code == 303 and removed.headers["location"] == f"{path}?removed={inside}"
    assert _get(api, inside)["CustomerGroupID"] == 0
    before = state()
    again = browser.post(f"{path}/members/{inside}/remove")
    assert again.status_code == 400 and f"Customer {inside} is not in this group." in text_of(again.text)
    assert state() == before


def test_group_page_pages_its_members(browser: Browser, api: httpx.Client, store_id: int) -> None:
    group_id = create_group(api, Name="Big")
    emails = [f"m{n:03d}@shop.test" for n in range(PAGE_SIZE + 2)]
    for email in emails:
        _create(api, email, CustomerGroupID=group_id)
    _create(api, "loner@shop.test")
    path = f"/admin/stores/{store_id}/groups/{group_id}"
    first = browser.get(path)
    assert f"{PAGE_SIZE + 2} members" in text_of(first.text) and "Page 1 of 2" in text_of(first.text)
    assert _emails_in_table(first.text) == emails[:PAGE_SIZE]
    assert _emails_in_table(browser.get(path, page="2").text) == emails[PAGE_SIZE:]
    empty = browser.get(f"/admin/stores/{store_id}/groups/{create_group(api, Name='Empty')}")
    assert "0 members" in text_of(empty.text) and "This group has no customers." in text_of(empty.text)
    assert browser.get(f"/admin/stores/{store_id}/groups/9999").status_code == 404


def test_new_customer_from_a_group_page_starts_in_the_group(
    browser: Browser, api: httpx.Client, store_id: int
) -> None:
    group_id = create_group(api, Name="Start here")
    page = browser.get(f"/admin/stores/{store_id}/customers/new", group=str(group_id))
    assert f'<option value="{group_id}" selected>Start here (id {group_id})</option>' in page.text


def test_group_delete_warns_of_its_members_and_releases_them(
    browser: Browser, api: httpx.Client, store_id: int
) -> None:
    group_id = create_group(api, Name="Going")
    members = [_create(api, f"g{n}@shop.test", CustomerGroupID=group_id) for n in range(2)]
    path = f"/admin/stores/{store_id}/groups/{group_id}/delete"
    page = browser.get(path)
    assert "2 customers of this group will be put in no group (CustomerGroupID 0)." in text_of(page.text)
    empty = create_group(api, Name="Empty")
    assert "The group has no customers." in text_of(
        browser.get(f"/admin/stores/{store_id}/groups/{empty}/delete").text
    )
    assert browser.post(path).status_code == 303
    assert [_get(api, m)["CustomerGroupID"] for m in members] == [0, 0]


@pytest.fixture
def safe_delete(server: LiveServer) -> Iterator[None]:
    """The setting safe_group_delete on (the console uses the API's own CustomerGroups)."""
    assert server.app.services is not None
    groups = server.app.services.groups
    groups.safe_delete = True
    try:
        yield
    finally:
        groups.safe_delete = False


def test_group_delete_refused_with_safe_group_delete(
    browser: Browser, api: httpx.Client, store_id: int, state: State, safe_delete: None
) -> None:
    group_id = create_group(api, Name="Kept")
    _create(api, "stay@shop.test", CustomerGroupID=group_id)
    path = f"/admin/stores/{store_id}/groups/{group_id}/delete"
    page = browser.get(path)
    assert "This server keeps groups that have customers (safe group delete)" in text_of(page.text)
    before = state()
    refused = browser.post(path)
    assert refused.status_code == 400
    assert HAS_MEMBERS.format(1) in text_of(refused.text)
    assert 'role="alert"' in refused.text
    assert api.delete(f"/CustomerGroups/{group_id}").json()[0]["Message"] == HAS_MEMBERS.format(1)
    assert state() == before
    # Emptied, it goes.
    browser.post(f"/admin/stores/{store_id}/groups/{group_id}/members/1/remove")
    assert browser.post(path).status_code == 303


# --- CSRF and the audit identity


@pytest.mark.parametrize("token", ["", "forged"])
@pytest.mark.parametrize("action", ["new", "edit", "delete", "add", "remove"])
def test_customer_forms_reject_a_missing_or_wrong_csrf_token(
    browser: Browser, api: httpx.Client, store_id: int, state: State, action: str, token: str
) -> None:
    group_id = create_group(api, Name="G")
    customer_id = _create(api, "kept@shop.test", CustomerGroupID=group_id)
    _create(api, "other@shop.test")
    customers, group = f"/admin/stores/{store_id}/customers", f"/admin/stores/{store_id}/groups/{group_id}"
    path, form = {
        "new": (f"{customers}/new", _form(Email="new@shop.test")),
        "edit": (f"{customers}/{customer_id}/edit", _form(Email="changed@shop.test")),
        "delete": (f"{customers}/{customer_id}/delete", {}),
        "add": (f"{group}/members", {"customer": "other@shop.test"}),
        "remove": (f"{group}/members/{customer_id}/remove", {}),
    }[action]
    before = state()
    response = browser.post(path, form, csrf=token)
    assert response.status_code == 403
    assert "This form was not sent from a page of this console" in text_of(response.text)
    assert state() == before


def test_signed_out_is_sent_to_sign_in_or_refused(
    anon: Browser, server: LiveServer, api: httpx.Client, store_id: int, state: State
) -> None:
    customer_id = _create(api, "kept@shop.test")
    page = anon.get(f"/admin/stores/{store_id}/customers")
    assert page.status_code == 303 and "/admin/sign-in?next=" in page.headers["location"]
    before = state()
    assert anon.post(f"/admin/stores/{store_id}/customers/{customer_id}/delete").status_code == 403
    assert state() == before


def test_console_changes_are_audited_as_the_operator(
    browser: Browser, server: LiveServer, api: httpx.Client, creds: Issued, store_id: int
) -> None:
    group_id = create_group(api, Name="Audited")
    assert (
        browser.post(f"/admin/stores/{store_id}/customers/new", _form(Email="a@shop.test")).status_code == 303
    )
    path = f"/admin/stores/{store_id}/customers/1/edit"
    assert browser.post(path, {**_edit_form(browser, path), "BillingCity": "Oslo"}).status_code == 303
    assert (
        browser.post(f"/admin/stores/{store_id}/groups/{group_id}/members", {"customer": "1"}).status_code
        == 303
    )
    assert browser.post(f"/admin/stores/{store_id}/customers/1/delete").status_code == 303
    entries = audit.list_entries(server.db, secure_url=STORE, filters=audit.Filters(resource="Customer"))
    assert [(e.action, e.item_id, e.application, e.token_id) for e in entries] == [
        ("delete", 1, f"admin:{USERNAME}", None),
        ("update", 1, f"admin:{USERNAME}", None),
        ("update", 1, f"admin:{USERNAME}", None),
        ("create", 1, f"admin:{USERNAME}", None),
    ]
    assert json.loads(entries[2].after or "")["BillingCity"] == "Oslo"
    assert json.loads(entries[1].after or "")["CustomerGroupID"] == group_id
    assert all(json.loads(e.after or e.before or "")["Password"] == "" for e in entries)


def test_the_customer_search_runs_off_the_event_loop(
    browser: Browser, server: LiveServer, api: httpx.Client, store_id: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    import threading
    from typing import cast

    from starlette.applications import Starlette

    console = cast(Starlette, server.app.admin).state.console
    real = console.customer_search.search
    threads: list[str] = []

    def search(*args: object, **kwargs: object) -> object:
        threads.append(threading.current_thread().name)
        return real(*args, **kwargs)

    monkeypatch.setattr(console.customer_search, "search", search)
    group_id = create_group(api, Name="G")
    assert browser.get(f"/admin/stores/{store_id}/customers").status_code == 200
    assert browser.get(f"/admin/stores/{store_id}/groups/{group_id}").status_code == 200
    assert len(threads) == 2 and all(name.startswith("cartgroups-sync") for name in threads), threads
