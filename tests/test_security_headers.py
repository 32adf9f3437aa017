"""Security headers on cartgroups' own pages (/docs, its assets, /openapi.json, /healthz), and
none added to the 3dcart routes, whose bytes and headers stay as 3dcart sends them."""

from __future__ import annotations

import re

import httpx
import pytest

from cartgroups.api.system import CSP

OWN = [
    "/docs",
    "/docs/",
    "/docs/static/init.js",
    "/docs/static/swagger-ui-bundle.js",
    "/docs/static/swagger-ui.css",
    "/docs/static/favicon-32x32.png",
    "/openapi.json",
    "/healthz",
]
SECURITY = {
    "content-security-policy",
    "x-content-type-options",
    "x-frame-options",
    "referrer-policy",
    "cross-origin-resource-policy",
}


@pytest.mark.parametrize("path", OWN)
def test_own_routes_carry_the_security_headers(raw: httpx.Client, path: str) -> None:
    response = raw.get(path)
    assert response.status_code == 200
    assert response.headers["content-security-policy"] == CSP.decode()
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["x-frame-options"] == "DENY"
    assert response.headers["referrer-policy"] == "no-referrer"
    assert response.headers["cross-origin-resource-policy"] == "same-origin"


def test_the_policy_allows_only_this_origin_and_no_inline_script() -> None:
    directives = dict(part.strip().split(" ", 1) for part in CSP.decode().split(";"))
    assert directives["default-src"] == "'none'"
    assert directives["script-src"] == "'self'"  # no 'unsafe-inline', no 'unsafe-eval'
    assert directives["style-src"] == "'self'"
    assert directives["frame-ancestors"] == "'none'"
    assert "unsafe" not in directives["script-src"] + directives["style-src"] + directives["connect-src"]


def test_the_docs_page_has_no_inline_script_or_style(raw: httpx.Client) -> None:
    page = raw.get("/docs").text
    scripts = re.findall(r"<script([^>]*)>(.*?)</script>", page, flags=re.S)
    assert scripts and all('src="/docs/static/' in attrs and not body.strip() for attrs, body in scripts)
    assert "<style" not in page and " style=" not in page and not re.search(r"\son[a-z]+=", page)
    init = raw.get("/docs/static/init.js").text
    assert "validatorUrl: null" in init  # no badge image from validator.swagger.io


def test_3dcart_routes_get_none_of_them(api: httpx.Client) -> None:
    for response in (
        api.get("/CustomerGroups"),  # 404 error record
        api.post("/CustomerGroups", json={"Name": "x"}),
        api.get("/CustomerGroups/1"),
        api.get("/NoSuchThing"),
    ):
        assert SECURITY.isdisjoint(response.headers), response.headers


@pytest.mark.parametrize("path", ["/healthz", "/openapi.json", "/docs", "/docs/static/init.js"])
@pytest.mark.parametrize("method", ["POST", "PUT", "DELETE", "TRACE"])
def test_other_methods_on_own_routes_are_405_with_allow(raw: httpx.Client, path: str, method: str) -> None:
    response = raw.request(method, path)
    assert response.status_code == 405
    assert response.headers["allow"] == "GET, HEAD"
    assert response.json()[0]["Status"] == "405"
