"""The console's numeric fields, page numbers and form charsets (issue #15, items 1 and 9):
huge exponents answer at once with the field's message and write nothing; a zero with an
exponent is stored as 0; "²" (a digit to str.isdigit(), not to int()) is no 500; a form is
read as UTF-8 whatever charset its Content-Type names."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import httpx
import pytest
import sqlalchemy as sa

from cartgroups.service import credentials
from cartgroups.service.credentials import Issued
from cartgroups.storage import tables
from tests.admin.support import Browser, field_error, make_operator, text_of
from tests.api.hostile import HOSTILE_NUMBERS
from tests.conftest import STORE, LiveServer, sandbox_state

State = Callable[[], list[tuple[object, ...]]]
QUICK = 5.0  # seconds
HOSTILE_PAGES = [*HOSTILE_NUMBERS, "²", "١٢", "9" * 5000, "-1"]


def _store_id(server: LiveServer) -> int:
    return credentials.store_id_of(server.db, STORE)


@pytest.mark.parametrize("text", HOSTILE_NUMBERS)
def test_a_huge_exponent_in_the_group_form_is_the_fields_message_at_once(
    browser: Browser, server: LiveServer, creds: Issued, state: State, text: str
) -> None:
    store_id = _store_id(server)
    before = state()
    form = {"Name": "x", "PriceLevel": text, "MinimumOrder": text, "csrf_token": browser.csrf}
    response = browser.client.post(f"/admin/stores/{store_id}/groups/new", data=form, timeout=QUICK)
    assert response.status_code == 400
    assert (
        field_error(response.text, "PriceLevel")
        == "PriceLevel must be an integer from -2147483648 to 2147483647"
    )
    assert field_error(response.text, "MinimumOrder") is not None
    assert state() == before


def test_a_zero_with_an_exponent_typed_in_the_form_is_stored_as_0(
    browser: Browser, server: LiveServer, creds: Issued
) -> None:
    store_id = _store_id(server)
    response = browser.post(
        f"/admin/stores/{store_id}/groups/new", {"Name": "x", "MinimumOrder": "0e9999", "PriceLevel": "1"}
    )
    assert response.status_code == 303, response.text
    with server.db.read() as conn:
        column = sa.cast(tables.customer_groups.c.minimum_order, sa.Text)
        assert conn.execute(sa.select(column)).scalar_one() == "0"
    edit = browser.get(f"/admin/stores/{store_id}/groups/1/edit")
    assert 'name="MinimumOrder" value="0"' in edit.text


@pytest.mark.parametrize("page", HOSTILE_PAGES)
def test_a_hostile_page_number_is_page_1(
    browser: Browser, server: LiveServer, creds: Issued, page: str
) -> None:
    store_id = _store_id(server)
    for path in ("/admin/stores", f"/admin/stores/{store_id}/groups"):
        response = browser.client.get(path, params={"page": page}, timeout=QUICK)
        assert response.status_code == 200, response.text
        assert STORE in text_of(response.text)


@pytest.mark.parametrize("text", ["²", "١٢", "9" * 5000, "1e1000000"])
def test_a_hostile_id_in_a_console_path_is_404(
    browser: Browser, server: LiveServer, creds: Issued, text: str
) -> None:
    store_id = _store_id(server)
    for path in (f"/admin/stores/{text}/groups", f"/admin/stores/{store_id}/groups/{text}/edit"):
        assert browser.client.get(path, timeout=QUICK).status_code == 404


@pytest.mark.parametrize("charset", ["rot13", "base64", "zlib", "punycode", "undefined"])
def test_a_form_is_read_as_utf8_whatever_its_charset(
    browser: Browser, server: LiveServer, api: httpx.Client, charset: str
) -> None:
    store_id = _store_id(server)
    body = f"csrf_token={browser.csrf}&Name=%C3%A9t%C3%A9&MinimumOrder=0&PriceLevel=1".encode()
    headers = {"Content-Type": f"application/x-www-form-urlencoded; charset={charset}"}
    response = browser.client.post(f"/admin/stores/{store_id}/groups/new", content=body, headers=headers)
    assert response.status_code == 303, response.text
    assert api.get("/CustomerGroups/1").json()[0]["Name"] == "été"


# The sandbox's fault form ----------------------------------------------------------------------


@pytest.fixture
def console(sandbox: LiveServer, sandbox_creds: Issued) -> Iterator[Browser]:
    make_operator(sandbox.db)
    browser = Browser(sandbox.base_url)
    assert browser.sign_in().status_code == 303
    browser.get("/admin/sandbox/faults")
    yield browser
    browser.close()


FAULT_FIELDS = {
    "status": "status must be a whole number from 400 to 599",
    "latency_ms": "latency_ms must be a whole number from 0 to 60000",
    "times": "times must be a whole number from 1 to 1000000",
    "retry_after": "retry_after must be a whole number from 0 to 86400",
    "probability": "probability must be a number from 0 to 1",
}


@pytest.mark.parametrize(
    ("field", "text"),
    [
        (field, text)
        for field in FAULT_FIELDS
        for text in (*HOSTILE_NUMBERS, "²", "9" * 5000)
        if not (field == "probability" and text in ("0E+1000000", "1E-1000000"))  # from 0 to 1
    ],
)
def test_a_hostile_number_in_the_fault_form_is_the_fields_message_at_once(
    console: Browser, sandbox: LiveServer, field: str, text: str
) -> None:
    before = sandbox_state(sandbox.db)
    form = {"method": "*", "path": "*", "match": "glob", "status": "500", field: text}
    response = console.client.post(
        "/admin/sandbox/faults", data={"csrf_token": console.csrf, **form}, timeout=QUICK
    )
    assert response.status_code == 400, response.text
    assert field_error(response.text, field) == FAULT_FIELDS[field]
    assert sandbox_state(sandbox.db) == before
