"""What every console page has: security headers, vendored assets, labelled fields."""

from __future__ import annotations

import logging
import re
import time

import httpx
import pytest

from cartgroups.service import credentials
from cartgroups.service.credentials import Issued
from tests.admin.support import Browser
from tests.conftest import STORE, LiveServer, create_group

HEADERS = {
    "x-frame-options": "DENY",
    "x-content-type-options": "nosniff",
    "referrer-policy": "same-origin",
}


def _pages(server: LiveServer, api: httpx.Client) -> list[str]:
    store_id = credentials.store_id_of(server.db, STORE)
    group_id = create_group(api)
    s = f"/admin/stores/{store_id}"
    return [
        "/admin/stores",
        f"{s}/groups",
        f"{s}/groups/new",
        f"{s}/groups/{group_id}/edit",
        f"{s}/groups/{group_id}/delete",
        f"{s}/credentials",
    ]


def test_every_page_sends_security_headers_and_is_not_cached(
    browser: Browser, anon: Browser, server: LiveServer, api: httpx.Client, creds: Issued
) -> None:
    for path in ["/admin/sign-in", *_pages(server, api)]:
        response = (anon if path == "/admin/sign-in" else browser).get(path)
        assert response.status_code == 200, path
        for name, value in HEADERS.items():
            assert response.headers[name] == value, (path, name)
        csp = response.headers["content-security-policy"]
        assert "frame-ancestors 'none'" in csp and "default-src 'none'" in csp
        assert "unsafe-inline" not in csp
        assert response.headers["cache-control"] == "no-store"
        # Nothing from another site; no inline script or style (the CSP would block them).
        assert not re.search(r'(src|href)="(https?:)?//', response.text), path
        assert "<style" not in response.text and " style=" not in response.text
        assert not re.search(r"<script(?![^>]*\bsrc=)", response.text), path


def test_every_input_has_a_label(
    browser: Browser, server: LiveServer, api: httpx.Client, creds: Issued
) -> None:
    for path in ["/admin/sign-in", *_pages(server, api)]:
        page = browser.get(path).text
        ids = re.findall(r'<(?:input|textarea|select)(?![^>]*type="hidden")[^>]*\bid="([^"]+)"', page)
        unlabelled = [i for i in ids if f'<label for="{i}"' not in page]
        assert unlabelled == [], (path, unlabelled)
        inputs = re.findall(r"<(?:input|textarea)(?![^>]*type=\"hidden\")[^>]*>", page)
        assert all(' id="' in tag for tag in inputs), (path, inputs)


def test_assets_are_served_from_the_package(raw: httpx.Client) -> None:
    css = raw.get("/admin/static/admin.css")
    assert css.status_code == 200 and css.headers["content-type"] == "text/css; charset=utf-8"
    assert "@media" in css.text
    js = raw.get("/admin/static/admin.js")
    assert js.status_code == 200 and js.headers["content-type"].startswith("text/javascript")
    assert js.headers["x-content-type-options"] == "nosniff"
    assert raw.get("/admin/static/../app.py").status_code == 404
    assert raw.get("/admin/static/nothing.css").status_code == 404


def test_the_api_routes_are_untouched(raw: httpx.Client) -> None:
    # Paths that only look like the console stay the API's own 404 records.
    for path in ("/administrator", "/adminx/stores"):
        response = raw.get(path)
        assert response.status_code == 404
        assert response.headers["content-type"] == "application/json; charset=utf-8"


def test_console_requests_get_one_access_line_without_secrets(
    anon: Browser, operator: int, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="cartgroups.access")  # the running server honours it
    anon.get("/admin/stores")
    anon.sign_in()
    # The server thread writes the line just after the answer went out: wait for it (bounded).
    deadline = time.monotonic() + 10
    while True:
        lines = [r.getMessage() for r in caplog.records if r.name == "cartgroups.access"]
        if any(line.startswith("POST /admin/sign-in 303 ") for line in lines) or time.monotonic() > deadline:
            break
        time.sleep(0.02)
    assert any(line.startswith("GET /admin/stores 303 ") for line in lines), lines
    assert any(line.startswith("POST /admin/sign-in 303 ") for line in lines), lines
    assert not any("correct horse" in line or "csrf" in line for line in lines)
