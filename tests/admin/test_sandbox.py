"""The console's sandbox pages (server run with --sandbox): a store's request journal and the
fault rules, on SQLite and PostgreSQL. Each page is checked against the sandbox itself: a
request made through the 3dcart API shows in the journal, a rule added in the console faults
the next 3dcart request."""

from __future__ import annotations

import html
import re
from collections.abc import Iterator

import httpx
import pytest

from cartgroups.service import credentials
from cartgroups.service.credentials import Issued
from cartgroups.service.sandbox import Sandbox
from tests.admin.support import Browser, field_error, make_operator, text_of
from tests.conftest import STORE, LiveServer, create_group, error_body, sandbox_state

GROUPS = "/CustomerGroups"
FAULTS = "/admin/sandbox/faults"


def _controls(sandbox: LiveServer) -> Sandbox:
    assert sandbox.app.sandbox is not None
    return sandbox.app.sandbox


def _count(api: httpx.Client) -> httpx.Response:
    """GET /CustomerGroups?countonly=1: 200 on an empty store too (the plain list is a 404 then)."""
    return api.get(GROUPS, params={"countonly": "1"})


def _store_id(server: LiveServer) -> int:
    return credentials.store_id_of(server.db, STORE)


@pytest.fixture
def console(sandbox: LiveServer, sandbox_creds: Issued) -> Iterator[Browser]:
    """Signed in to the console of the sandbox server, which has a store with credentials."""
    make_operator(sandbox.db)
    browser = Browser(sandbox.base_url)
    assert browser.sign_in().status_code == 303
    browser.get("/admin/stores")  # picks up the session's CSRF token
    yield browser
    browser.close()


def test_the_pages_do_not_exist_without_the_sandbox(
    browser: Browser, anon: Browser, server: LiveServer, creds: Issued
) -> None:
    store_id = _store_id(server)
    page = browser.get(f"/admin/stores/{store_id}/groups")
    assert page.status_code == 200
    assert "/journal" not in page.text and FAULTS not in page.text
    assert "Journal" not in text_of(page.text) and "Fault rules" not in text_of(page.text)
    for client in (browser, anon):  # 404 like any unknown page, signed in or not
        for path in (f"/admin/stores/{store_id}/journal", f"/admin/stores/{store_id}/journal/1", FAULTS):
            response = client.get(path)
            assert response.status_code == 404, path
            assert "No such page." in text_of(response.text)
    for path in (f"/admin/stores/{store_id}/journal/clear", FAULTS, f"{FAULTS}/clear", f"{FAULTS}/1/delete"):
        assert browser.post(path).status_code == 404, path


def test_with_the_sandbox_the_store_tabs_and_the_top_bar_link_to_them(
    console: Browser, sandbox: LiveServer
) -> None:
    store_id = _store_id(sandbox)
    page = console.get(f"/admin/stores/{store_id}/groups").text
    assert f'href="/admin/stores/{store_id}/journal"' in page
    assert f'href="{FAULTS}"' in page
    journal = console.get(f"/admin/stores/{store_id}/journal").text
    assert re.search(r'<a href="[^"]+/journal" aria-current="page">Journal</a>', journal)
    faults = console.get(FAULTS).text
    assert re.search(r'<a href="/admin/sandbox/faults" aria-current="page">Fault rules</a>', faults)


def test_signed_out_pages_go_to_sign_in_and_forms_are_refused(
    sandbox: LiveServer, sandbox_creds: Issued
) -> None:
    store_id = _store_id(sandbox)
    _controls(sandbox).add_fault({"status": 500, "times": 1})
    before = sandbox_state(sandbox.db)
    with httpx.Client(base_url=sandbox.base_url, follow_redirects=False) as anon:
        for path in (f"/admin/stores/{store_id}/journal", f"/admin/stores/{store_id}/journal/1", FAULTS):
            response = anon.get(path)
            assert response.status_code == 303, path
            assert response.headers["location"] == f"/admin/sign-in?next={path}"
        for path in (
            f"/admin/stores/{store_id}/journal/clear",
            FAULTS,
            f"{FAULTS}/clear",
            f"{FAULTS}/1/delete",
        ):
            response = anon.post(path, data={"status": "500"})
            assert response.status_code == 403, path
            assert "Your session has ended. Sign in again." in text_of(response.text)
    assert sandbox_state(sandbox.db) == before


def test_the_journal_shows_api_requests_newest_first_with_secrets_redacted(
    console: Browser, sandbox: LiveServer, sandbox_api: httpx.Client, sandbox_creds: Issued
) -> None:
    created = sandbox_api.post(GROUPS, json={"Name": "<b>Wholesale</b> & co"})
    assert created.status_code == 201
    listed = sandbox_api.get(GROUPS, params={"limit": "5", "Token": sandbox_creds.token})
    assert listed.status_code == 200
    store_id = _store_id(sandbox)
    page = console.get(f"/admin/stores/{store_id}/journal")
    assert page.status_code == 200
    assert page.headers["cache-control"] == "no-store"
    rows = re.findall(r"<tr(?: class=\"failed\")?>\s*<td class=\"time\">(.*?)</tr>", page.text, re.S)
    assert len(rows) == 2
    newest, oldest = (text_of(row) for row in rows)
    assert " GET /3dCartWebAPI/v1/CustomerGroups?limit=5&Token=%5Bredacted%5D 200 " in newest
    assert " POST /3dCartWebAPI/v1/CustomerGroups 201 " in oldest
    assert "2 entries" in text_of(page.text)
    entries = _controls(sandbox).journal(STORE)
    assert [e.method for e in entries] == ["GET", "POST"]
    post = entries[1]
    assert f'href="/admin/stores/{store_id}/journal/{post.id}"' in page.text

    detail = console.get(f"/admin/stores/{store_id}/journal/{post.id}")
    assert detail.status_code == 200
    text = text_of(detail.text)
    assert "POST /3dCartWebAPI/v1/CustomerGroups" in text and "Status 201" in text
    assert "privatekey [redacted]" in text and "token [redacted]" in text
    assert f"secureurl {STORE}" in text
    assert sandbox_creds.private_key is not None
    for secret in (sandbox_creds.private_key, sandbox_creds.token):
        assert secret not in detail.text and secret not in page.text
    # The bodies, escaped: the group's name shows as text, never as markup.
    assert "<b>" not in detail.text
    request_body = re.search(r'<pre class="body" id="request-body">(.*?)</pre>', detail.text, re.S)
    response_body = re.search(r'<pre class="body" id="response-body">(.*?)</pre>', detail.text, re.S)
    assert request_body and response_body
    assert "&lt;b&gt;Wholesale&lt;/b&gt; &amp; co" in request_body.group(1)
    assert html.unescape(response_body.group(1)) == created.text


def test_a_journal_entry_of_another_store_or_gone_is_not_found(
    console: Browser, sandbox: LiveServer, sandbox_api: httpx.Client
) -> None:
    create_group(sandbox_api)
    [entry] = _controls(sandbox).journal(STORE)
    other = credentials.issue(sandbox.db, secure_url="other.example.com", application="default")
    other_id = credentials.store_id_of(sandbox.db, other.secure_url)
    for path in (
        f"/admin/stores/{other_id}/journal/{entry.id}",
        f"/admin/stores/{_store_id(sandbox)}/journal/{entry.id + 1}",
        f"/admin/stores/{_store_id(sandbox)}/journal/x1",
        "/admin/stores/999999/journal",
    ):
        response = console.get(path)
        assert response.status_code == 404, path
        assert response.headers["x-frame-options"] == "DENY"


def test_clear_journal(console: Browser, sandbox: LiveServer, sandbox_api: httpx.Client) -> None:
    create_group(sandbox_api)
    sandbox_api.get(GROUPS)
    store_id = _store_id(sandbox)
    page = console.get(f"/admin/stores/{store_id}/journal")
    assert f'action="/admin/stores/{store_id}/journal/clear"' in page.text
    response = console.post(f"/admin/stores/{store_id}/journal/clear")
    assert response.status_code == 303
    assert response.headers["location"] == f"/admin/stores/{store_id}/journal?cleared=2"
    assert _controls(sandbox).journal(STORE) == []
    after = text_of(console.get(response.headers["location"]).text)
    assert "2 journal entries deleted." in after and "No requests recorded for this store." in after


def _form(**fields: str) -> dict[str, str]:
    blank = dict.fromkeys(
        ("method", "path", "match", "store", "status", "message", "latency_ms", "probability", "times"),
        "",
    )
    return {**blank, "retry_after": "", **fields}


def test_add_a_rule_then_it_faults_a_3dcart_request(
    console: Browser, sandbox: LiveServer, sandbox_api: httpx.Client
) -> None:
    form_page = console.get(FAULTS).text
    assert f'<datalist id="known-stores"><option value="{STORE}"></datalist>' in form_page
    form = _form(
        method="GET",
        path="*/customergroups",
        match="glob",
        store="https://www.Shop.Example.com/",
        status="503",
        message="Down for <maintenance>",
        retry_after="7",
        times="1",
    )
    response = console.post(FAULTS, form)
    assert response.status_code == 303, response.text
    [rule] = _controls(sandbox).faults()
    assert response.headers["location"] == f"{FAULTS}?added={rule.id}"
    assert (rule.method, rule.path, rule.regex, rule.secure_url) == ("GET", "*/customergroups", False, STORE)
    assert (rule.status, rule.message, rule.retry_after, rule.remaining) == (
        503,
        "Down for <maintenance>",
        7,
        1,
    )
    assert (rule.latency_ms, rule.probability, rule.applied) == (0, 1.0, 0)
    page = console.get(response.headers["location"])
    assert f"Fault rule {rule.id} added." in text_of(page.text)
    assert "Down for &lt;maintenance&gt;" in page.text and "<maintenance>" not in page.text
    found = re.search(rf'<tr id="rule-{rule.id}">(.*?)</tr>', page.text, re.S)
    assert found
    shown = f"{rule.id} GET */customergroups glob {STORE} 503 Down for <maintenance> 0 1 7 0 / 1 Delete"
    assert text_of(found.group(1)) == shown

    faulted = _count(sandbox_api)
    assert faulted.status_code == 503
    assert faulted.content == error_body(503, "Down for <maintenance>")
    assert faulted.headers["retry-after"] == "7"
    assert _count(sandbox_api).status_code == 200  # times=1: used up
    [after, during] = _controls(sandbox).journal(STORE)
    assert (during.status, during.fault_id, after.fault_id) == (503, rule.id, None)
    journal = console.get(f"/admin/stores/{_store_id(sandbox)}/journal").text
    rows = re.findall(r"<tr(?: class=\"failed\")?>(.*?)</tr>", journal, re.S)
    assert " 503 " in text_of(rows[-1]) and f" {rule.id} Details" in text_of(rows[-1])  # the oldest
    assert _controls(sandbox).faults() == []  # used up, the rule is gone


def test_a_latency_only_regex_rule_with_defaults(console: Browser, sandbox: LiveServer) -> None:
    console.get(FAULTS)
    response = console.post(FAULTS, _form(path="groups/[0-9]+$", match="regex", latency_ms="250"))
    assert response.status_code == 303
    [rule] = _controls(sandbox).faults()
    assert (rule.method, rule.regex, rule.secure_url, rule.status, rule.message) == (
        "*",
        True,
        None,
        None,
        None,
    )
    assert (rule.latency_ms, rule.probability, rule.remaining, rule.retry_after) == (250, 1.0, None, None)
    text = text_of(console.get(FAULTS).text)
    none = "\u2013"  # the dash of an empty cell
    assert f"{rule.id} * groups/[0-9]+$ regex any {none} {none} 250 1 {none} 0 / unlimited" in text


@pytest.mark.parametrize(
    ("form", "field", "message"),
    [
        (_form(), "status", "a fault needs a status, a latency_ms, or both"),
        (_form(status="abc"), "status", "status must be a whole number from 400 to 599"),
        (_form(status="399"), "status", "status must be a whole number from 400 to 599"),
        (_form(status="5" * 40), "status", "status must be a whole number from 400 to 599"),
        (_form(status="500.5"), "status", "status must be a whole number from 400 to 599"),
        (_form(latency_ms="-1"), "latency_ms", "latency_ms must be a whole number from 0 to 60000"),
        (_form(latency_ms="60001"), "latency_ms", "latency_ms must be a whole number from 0 to 60000"),
        (_form(status="500", probability="1.5"), "probability", "probability must be a number from 0 to 1"),
        (_form(status="500", probability="NaN"), "probability", "probability must be a number from 0 to 1"),
        (_form(status="500", probability="half"), "probability", "probability must be a number from 0 to 1"),
        (_form(status="500", times="0"), "times", "times must be a whole number from 1 to 1000000"),
        (
            _form(status="500", method="FETCH"),
            "method",
            "method must be * or one of GET, POST, PUT, DELETE, PATCH, HEAD, OPTIONS",
        ),
        (_form(status="500", match="exact"), "match", "match must be glob or regex"),
        (
            _form(status="500", match="regex", path="("),
            "path",
            "path is not a valid regular expression: missing ), unterminated subpattern at position 0",
        ),
        (_form(status="500", path="x" * 501), "path", "path must be at most 500 characters"),
        (_form(status="500", store="nobody.example.com"), "store", "There is no store 'nobody.example.com'"),
        (_form(latency_ms="5", message="hi"), "message", "message needs a status"),
        (
            _form(status="500", message="a\x00b"),
            "message",
            "message must be valid Unicode text without NUL characters",
        ),
        (
            _form(status="500", retry_after="-1"),
            "retry_after",
            "retry_after must be a whole number from 0 to 86400",
        ),
    ],
)
def test_bad_rules_show_the_apis_message_next_to_the_field_and_add_nothing(
    console: Browser, sandbox: LiveServer, form: dict[str, str], field: str, message: str
) -> None:
    console.get(FAULTS)
    before = sandbox_state(sandbox.db)
    response = console.post(FAULTS, form)
    assert response.status_code == 400
    assert field_error(response.text, field) == message
    assert f'id="f-{field}"' in response.text
    assert "The rule was not added:" in text_of(response.text)
    assert sandbox_state(sandbox.db) == before
    # What was typed is shown again (escaped) for correcting.
    for name in ("path", "store", "status", "message", "latency_ms", "probability", "times", "retry_after"):
        if form[name]:
            assert f'name="{name}" value="{html.escape(form[name])}"' in response.text, name


def test_delete_one_rule(console: Browser, sandbox: LiveServer, sandbox_api: httpx.Client) -> None:
    controls = _controls(sandbox)
    first = controls.add_fault({"status": 500})
    second = controls.add_fault({"status": 502, "path": "*/nothing"})
    assert _count(sandbox_api).status_code == 500
    page = console.get(FAULTS).text
    assert f'action="{FAULTS}/{first.id}/delete"' in page
    response = console.post(f"{FAULTS}/{first.id}/delete")
    assert response.status_code == 303
    assert response.headers["location"] == f"{FAULTS}?deleted={first.id}"
    assert [rule.id for rule in controls.faults()] == [second.id]
    assert _count(sandbox_api).status_code == 200
    assert f"Fault rule {first.id} deleted." in text_of(console.get(response.headers["location"]).text)
    # Gone already: a 404 page with the sandbox's message, and nothing else changes.
    before = sandbox_state(sandbox.db)
    again = console.post(f"{FAULTS}/{first.id}/delete")
    assert again.status_code == 404
    assert f"There is no fault rule {first.id}" in text_of(again.text)
    assert console.post(f"{FAULTS}/x/delete").status_code == 404
    assert sandbox_state(sandbox.db) == before


def test_clear_all_rules(console: Browser, sandbox: LiveServer, sandbox_api: httpx.Client) -> None:
    controls = _controls(sandbox)
    controls.add_fault({"status": 500})
    controls.add_fault({"status": 502})
    assert "Delete all 2 rules" in text_of(console.get(FAULTS).text)
    response = console.post(f"{FAULTS}/clear")
    assert response.status_code == 303
    assert response.headers["location"] == f"{FAULTS}?cleared=2"
    assert controls.faults() == []
    assert _count(sandbox_api).status_code == 200
    after = text_of(console.get(response.headers["location"]).text)
    assert "2 fault rules deleted." in after and "No fault rules: every request reaches the store." in after


@pytest.mark.parametrize("kind", ["clear-journal", "add", "delete", "clear"])
@pytest.mark.parametrize("token", ["", "wrong"])
def test_every_sandbox_form_needs_the_csrf_token(
    console: Browser, sandbox: LiveServer, sandbox_api: httpx.Client, kind: str, token: str
) -> None:
    create_group(sandbox_api)  # a journal entry
    rule = _controls(sandbox).add_fault({"status": 500, "path": "*/nothing"})
    path = {
        "clear-journal": f"/admin/stores/{_store_id(sandbox)}/journal/clear",
        "add": FAULTS,
        "delete": f"{FAULTS}/{rule.id}/delete",
        "clear": f"{FAULTS}/clear",
    }[kind]
    before = sandbox_state(sandbox.db)
    response = console.post(path, _form(status="500"), csrf=token)
    assert response.status_code == 403
    assert "This form was not sent from a page of this console" in text_of(response.text)
    # A right token from another site (Origin) is refused too.
    foreign = console.client.post(
        path, data={"csrf_token": console.csrf, "status": "500"}, headers={"Origin": "https://evil.example"}
    )
    assert foreign.status_code == 403
    assert sandbox_state(sandbox.db) == before


def test_the_pages_send_security_headers_and_label_every_field(
    console: Browser, sandbox: LiveServer, sandbox_api: httpx.Client
) -> None:
    create_group(sandbox_api)
    [entry] = _controls(sandbox).journal(STORE)
    _controls(sandbox).add_fault({"status": 500, "path": "*/nothing"})
    store_id = _store_id(sandbox)
    for path in (f"/admin/stores/{store_id}/journal", f"/admin/stores/{store_id}/journal/{entry.id}", FAULTS):
        response = console.get(path)
        assert response.status_code == 200, path
        assert response.headers["x-frame-options"] == "DENY"
        assert "default-src 'none'" in response.headers["content-security-policy"]
        assert response.headers["cache-control"] == "no-store"
        assert "<style" not in response.text and " style=" not in response.text
        assert not re.search(r"<script(?![^>]*\bsrc=)", response.text), path
        page = response.text
        ids = re.findall(r'<(?:input|textarea|select)(?![^>]*type="hidden")[^>]*\bid="([^"]+)"', page)
        assert [i for i in ids if f'<label for="{i}"' not in page] == [], path
        inputs = re.findall(r"<(?:input|textarea|select)(?![^>]*type=\"hidden\")[^>]*>", page)
        assert all(' id="' in tag for tag in inputs), (path, inputs)
