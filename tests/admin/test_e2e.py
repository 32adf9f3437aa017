"""End to end in real headless Chromium (Debian's chromium + chromium-driver, driven by
Selenium): sign-in, create a group, an edit rejected by validation, delete, revoke a token;
a customer created, searched, edited and moved to a group, seen on the group's page, deleted;
with --sandbox, add a fault rule (rejected once, then fixed) and find its effect in the journal.

Skipped with a one-line reason when the browser is missing, unless
CARTGROUPS_TEST_REQUIRE_BROWSER=1 (as in .ci/run), which makes that a failure."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from cartgroups.service import credentials
from cartgroups.service.credentials import Issued
from tests.admin import chromium
from tests.admin.support import PASSWORD, USERNAME, make_operator
from tests.conftest import STORE, LiveServer, create_group, db_state, headers_for, plain_client

# One database is enough here: the route tests run every page on both. This keeps the
# browser part to about 20 s.
pytestmark = [pytest.mark.e2e, pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)]


@pytest.fixture(scope="session")
def driver() -> Iterator[Any]:
    reason = chromium.problem()
    if reason:
        if chromium.REQUIRE:
            pytest.fail(f"a browser is required (CARTGROUPS_TEST_REQUIRE_BROWSER=1): {reason}")
        pytest.skip(f"end-to-end tests need a browser: {reason}")
    browser = chromium.start()
    browser.implicitly_wait(0)
    yield browser
    browser.quit()


@pytest.fixture
def chrome(driver: Any, server: LiveServer, operator: int) -> Any:
    """The browser with no cookies (both live servers are on 127.0.0.1), signed out."""
    driver.get(server.base_url + "/admin/static/admin.css")
    driver.delete_all_cookies()
    return driver


def by_css(driver: Any, selector: str) -> Any:
    return driver.find_element("css selector", selector)


def go(driver: Any, element: Any) -> None:
    """Click a link or a submit button and wait until the next page has replaced this one."""
    from selenium.common.exceptions import WebDriverException
    from selenium.webdriver.support.expected_conditions import staleness_of
    from selenium.webdriver.support.wait import WebDriverWait

    page = driver.find_element("tag name", "html")
    element.click()
    # While the old document is being torn down, chromedriver may answer the staleness probe with
    # "Node with given id does not belong to the document" (a WebDriverException, not a
    # StaleElementReferenceException): that is the navigation under way, so poll again.
    wait = WebDriverWait(driver, 15, ignored_exceptions=[WebDriverException])
    wait.until(staleness_of(page))
    wait.until(lambda d: d.execute_script("return document.readyState") == "complete")


def sign_in(driver: Any, server: LiveServer, username: str = USERNAME, password: str = PASSWORD) -> None:
    driver.get(server.base_url + "/admin/sign-in")
    by_css(driver, "#username").send_keys(username)
    by_css(driver, "#password").send_keys(password)
    go(driver, by_css(driver, "form.stack button[type=submit]"))


def _store_id(server: LiveServer) -> int:
    return credentials.store_id_of(server.db, STORE)


def test_sign_in_wrong_then_right_then_sign_out(chrome: Any, server: LiveServer, creds: Issued) -> None:
    chrome.get(server.base_url + "/admin/stores")
    assert chrome.current_url.startswith(server.base_url + "/admin/sign-in?next=")
    sign_in(chrome, server, password="not the password")
    assert by_css(chrome, "[role=alert]").text == "Wrong username or password."
    assert by_css(chrome, "#username").get_attribute("value") == USERNAME
    by_css(chrome, "#password").send_keys(PASSWORD)
    go(chrome, by_css(chrome, "form.stack button[type=submit]"))
    assert chrome.current_url == server.base_url + "/admin/stores"
    assert by_css(chrome, "h1").text == "Stores"
    assert STORE in by_css(chrome, "tbody").text
    session = chrome.get_cookie("cartgroups_admin")
    assert session["httpOnly"] is True and session["sameSite"] == "Lax"
    go(chrome, by_css(chrome, ".sign-out button"))
    assert chrome.current_url == server.base_url + "/admin/sign-in"
    chrome.get(server.base_url + "/admin/stores")
    assert "/admin/sign-in" in chrome.current_url


def test_create_a_group(chrome: Any, server: LiveServer, api: httpx.Client) -> None:
    sign_in(chrome, server)
    go(chrome, chrome.find_element("link text", STORE))
    go(chrome, chrome.find_element("link text", "New group"))
    by_css(chrome, "#f-Name").send_keys("Wholesale")
    price = by_css(chrome, "#f-MinimumOrder")
    price.clear()
    price.send_keys("99.95")
    by_css(chrome, "#f-NonTaxable").click()
    go(chrome, by_css(chrome, ".group-form button[type=submit]"))
    assert by_css(chrome, "[role=status]").text == "Group 1 created."
    assert "Wholesale" in by_css(chrome, "tbody").text
    got = api.get("/CustomerGroups/1").json()[0]
    assert (got["Name"], got["MinimumOrder"], got["NonTaxable"]) == ("Wholesale", 99.95, True)


def test_an_edit_rejected_by_validation(chrome: Any, server: LiveServer, api: httpx.Client) -> None:
    group_id = create_group(api, Name="Retail", PriceLevel=3)
    before = db_state(server.db)
    sign_in(chrome, server)
    chrome.get(f"{server.base_url}/admin/stores/{_store_id(server)}/groups")
    go(chrome, chrome.find_element("css selector", "a[aria-label='Edit Retail']"))
    name = by_css(chrome, "#f-Name")
    name.clear()
    level = by_css(chrome, "#f-PriceLevel")
    level.clear()
    level.send_keys("-2147483649")
    go(chrome, by_css(chrome, ".group-form button[type=submit]"))
    assert by_css(chrome, "#e-Name").text.endswith("Name must not be empty")
    assert by_css(chrome, "#e-PriceLevel").text.endswith(
        "PriceLevel must be an integer from -2147483648 to 2147483647"
    )
    assert by_css(chrome, "#f-PriceLevel").get_attribute("aria-invalid") == "true"
    summary = by_css(chrome, "#error-summary")
    assert chrome.switch_to.active_element == summary  # focused by admin.js
    assert db_state(server.db) == before
    # Fix it from the same page.
    by_css(chrome, "#f-Name").send_keys("Retail two")
    level = by_css(chrome, "#f-PriceLevel")
    level.clear()
    level.send_keys("4")
    go(chrome, by_css(chrome, ".group-form button[type=submit]"))
    assert by_css(chrome, "[role=status]").text == f"Group {group_id} saved."
    got = api.get(f"/CustomerGroups/{group_id}").json()[0]
    assert (got["Name"], got["PriceLevel"]) == ("Retail two", 4)


def test_delete_after_confirming(chrome: Any, server: LiveServer, api: httpx.Client) -> None:
    group_id = create_group(api, Name="Doomed")
    sign_in(chrome, server)
    chrome.get(f"{server.base_url}/admin/stores/{_store_id(server)}/groups")
    go(chrome, chrome.find_element("css selector", "a[aria-label='Delete Doomed']"))
    assert by_css(chrome, "h1").text == f"Delete group {group_id}?"
    assert api.get(f"/CustomerGroups/{group_id}").status_code == 200  # not yet
    go(chrome, by_css(chrome, "button.danger"))
    assert by_css(chrome, "[role=status]").text == f"Group {group_id} deleted."
    assert api.get(f"/CustomerGroups/{group_id}").status_code == 404


def test_customer_create_search_edit_move_then_delete(
    chrome: Any, server: LiveServer, api: httpx.Client
) -> None:
    from selenium.webdriver.support.select import Select

    group_id = create_group(api, Name="VIP")
    sign_in(chrome, server)
    go(chrome, chrome.find_element("link text", STORE))
    go(chrome, chrome.find_element("link text", "Customers"))
    assert by_css(chrome, "h1").text == "Customers"
    go(chrome, chrome.find_element("link text", "New customer"))
    go(chrome, by_css(chrome, ".customer-form button[type=submit]"))  # no e-mail
    assert by_css(chrome, "#e-Email").text.endswith("Email must not be empty")  # the API's message
    assert chrome.switch_to.active_element == by_css(chrome, "#error-summary")
    email = by_css(chrome, "#f-Email")
    email.clear()
    email.send_keys("jane@example.com")
    by_css(chrome, "#f-Password").send_keys("a secret")
    by_css(chrome, "#f-BillingFirstName").send_keys("Jane")
    by_css(chrome, "#f-BillingLastName").send_keys("Doe")
    go(chrome, by_css(chrome, ".customer-form button[type=submit]"))
    assert by_css(chrome, "[role=status]").text == "Customer 1 created."
    # Search it by a part of its name.
    by_css(chrome, "#q").send_keys("jane d")
    go(chrome, by_css(chrome, "form.search button[type=submit]"))
    assert by_css(chrome, "tbody").text.startswith("1 jane@example.com Jane Doe none")
    # Edit it and move it to the group; the password is never shown.
    go(chrome, by_css(chrome, "a[aria-label='Edit jane@example.com']"))
    assert by_css(chrome, "#f-Password").get_attribute("value") == ""
    by_css(chrome, "#f-BillingCity").send_keys("Oslo")
    Select(by_css(chrome, "#f-CustomerGroupID")).select_by_visible_text(f"VIP (id {group_id})")
    go(chrome, by_css(chrome, ".customer-form button[type=submit]"))
    assert by_css(chrome, "[role=status]").text == "Customer 1 saved."
    got = api.get("/Customers/1").json()[0]
    assert (got["BillingCity"], got["CustomerGroupID"], got["Password"]) == ("Oslo", group_id, "")
    # It is on the group's page.
    go(chrome, chrome.find_element("link text", "VIP"))
    assert by_css(chrome, "#member-count").text == "1 member"
    assert "jane@example.com" in by_css(chrome, "tbody").text
    # The group's delete warns of it; then delete the customer from its own page.
    go(chrome, chrome.find_element("link text", "Delete group"))
    assert (
        by_css(chrome, "#members-warning").text
        == "1 customer of this group will be put in no group (CustomerGroupID 0)."
    )
    go(chrome, chrome.find_element("link text", "Cancel"))
    chrome.get(f"{server.base_url}/admin/stores/{_store_id(server)}/groups/{group_id}")
    go(chrome, chrome.find_element("link text", "jane@example.com"))
    go(chrome, chrome.find_element("link text", "Customers"))
    go(chrome, by_css(chrome, "a[aria-label='Delete jane@example.com']"))
    assert by_css(chrome, "h1").text == "Delete customer 1?"
    go(chrome, by_css(chrome, "button.danger"))
    assert by_css(chrome, "[role=status]").text == "Customer 1 deleted."
    assert api.get("/Customers/1").status_code == 404


def test_issue_then_revoke_a_token(chrome: Any, server: LiveServer, creds: Issued) -> None:
    assert server.app.services is not None
    server.app.services.auth.cache_seconds = 0  # see the revocation at once (normally within 1 s)
    try:
        sign_in(chrome, server)
        chrome.get(f"{server.base_url}/admin/stores/{_store_id(server)}/credentials")
        application = by_css(chrome, "#application")
        application.clear()
        application.send_keys("reports")
        by_css(chrome, "#scope-write").click()  # read only
        go(chrome, by_css(chrome, "form.group-form button[type=submit]"))
        copy = by_css(chrome, "button[data-copy=secret-token]")
        assert copy.is_displayed()  # shown by admin.js (progressive enhancement)
        token = by_css(chrome, "#secret-token").text
        key = by_css(chrome, "#secret-key").text
        assert len(token) == len(key) == 32
        go(chrome, chrome.find_element("link text", "Back to the credentials"))
        assert token[:8] in by_css(chrome, "main").text and token not in chrome.page_source

        with plain_client(server.base_url + "/3dCartWebAPI/v1", headers_for(creds)) as api:
            assert api.get("/CustomerGroups", params={"countonly": "1"}).status_code == 200
            go(chrome, by_css(chrome, f"button[aria-label^='Revoke token {creds.token_id} ']"))
            assert by_css(chrome, "[role=status]").text == f"Token {creds.token_id} revoked."
            assert api.get("/CustomerGroups", params={"countonly": "1"}).status_code == 401
    finally:
        server.app.services.auth.cache_seconds = 0.5


@pytest.fixture
def sandbox_chrome(driver: Any, sandbox: LiveServer, sandbox_creds: Issued) -> Any:
    """The browser, signed out, on the server that runs with --sandbox (it has an operator)."""
    make_operator(sandbox.db)
    driver.get(sandbox.base_url + "/admin/static/admin.css")
    driver.delete_all_cookies()
    return driver


def test_add_a_fault_rule_then_it_faults_and_shows_in_the_journal(
    sandbox_chrome: Any, sandbox: LiveServer, sandbox_api: httpx.Client
) -> None:
    from selenium.webdriver.support.select import Select

    chrome = sandbox_chrome
    sign_in(chrome, sandbox)
    go(chrome, chrome.find_element("link text", "Fault rules"))
    Select(by_css(chrome, "#f-method")).select_by_visible_text("GET")
    by_css(chrome, "#f-path").clear()
    by_css(chrome, "#f-path").send_keys("*/CustomerGroups")
    by_css(chrome, "#f-status").send_keys("5xx")
    by_css(chrome, "#f-times").send_keys("1")
    go(chrome, by_css(chrome, ".group-form button[type=submit]"))
    assert by_css(chrome, "#e-status").text.endswith("status must be a whole number from 400 to 599")
    assert chrome.switch_to.active_element == by_css(chrome, "#error-summary")
    assert sandbox.app.sandbox is not None and sandbox.app.sandbox.faults() == []
    status = by_css(chrome, "#f-status")
    status.clear()
    status.send_keys("503")
    go(chrome, by_css(chrome, ".group-form button[type=submit]"))
    [rule] = sandbox.app.sandbox.faults()
    assert by_css(chrome, "[role=status]").text == f"Fault rule {rule.id} added."
    assert by_css(chrome, f"#rule-{rule.id}").text.startswith(f"{rule.id} GET */CustomerGroups glob any 503")

    faulted = sandbox_api.get("/CustomerGroups", params={"countonly": "1"})
    assert faulted.status_code == 503
    chrome.get(f"{sandbox.base_url}/admin/stores/{_store_id(sandbox)}/groups")
    go(chrome, chrome.find_element("link text", "Journal"))
    first_row = by_css(chrome, "tbody tr")
    assert "GET /3dCartWebAPI/v1/CustomerGroups?countonly=1 503" in first_row.text
    go(chrome, first_row.find_element("link text", "Details"))
    assert by_css(chrome, "#response-body").text == faulted.text
