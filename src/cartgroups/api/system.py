"""Routes that are cartgroups' own, not 3dcart's: /healthz, /openapi.json and the /docs page
(Swagger UI from the swagger-ui-bundle package, served locally: it works without internet)."""

from __future__ import annotations

import functools
import mimetypes
from collections.abc import Awaitable, Callable
from pathlib import Path

import orjson
import swagger_ui_bundle

from cartgroups.api import openapi
from cartgroups.api.dispatch import Reply
from cartgroups.api.errors import MethodNotAllowed

JSON = (b"content-type", b"application/json; charset=utf-8")
ASSETS = Path(str(swagger_ui_bundle.swagger_ui_path))
_ASSET_NAMES = ("swagger-ui-bundle.js", "swagger-ui.css", "favicon-32x32.png")

_DOCS_PAGE = b"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>cartgroups API</title>
<link rel="stylesheet" href="/docs/static/swagger-ui.css">
<link rel="icon" href="/docs/static/favicon-32x32.png">
</head>
<body>
<div id="swagger-ui"></div>
<script src="/docs/static/swagger-ui-bundle.js"></script>
<script src="/docs/static/init.js"></script>
</body>
</html>
"""
_DOCS_INIT = b"""window.ui = SwaggerUIBundle({url: "/openapi.json", dom_id: "#swagger-ui",
  deepLinking: true, tryItOutEnabled: false, validatorUrl: null});
"""
# Everything the docs page loads comes from this origin; no inline script at all (the page's
# start-up code is the served init.js). Swagger UI's markdown writes table alignment as inline
# style attributes, the only inline styling allowed (style-src-attr); <style> elements are not.
# No framing (clickjacking), no referrer, no MIME sniffing. The same headers go on every route
# of this module: they are harmless on JSON. 3dcart routes keep their exact headers.
CSP = (
    b"default-src 'none'; script-src 'self'; style-src 'self'; style-src-attr 'unsafe-inline'; "
    b"img-src 'self' data:; font-src 'self'; connect-src 'self'; base-uri 'none'; "
    b"form-action 'none'; frame-ancestors 'none'"
)
SECURITY_HEADERS = [
    (b"content-security-policy", CSP),
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"no-referrer"),
    (b"cross-origin-resource-policy", b"same-origin"),
]


@functools.cache
def openapi_bytes() -> bytes:
    return orjson.dumps(openapi.build())


@functools.cache
def _asset(name: str) -> tuple[bytes, bytes]:
    if name == "init.js":
        return _DOCS_INIT, b"text/javascript; charset=utf-8"
    kind = mimetypes.guess_type(name)[0] or "application/octet-stream"
    if kind.startswith("text/") or kind.endswith("javascript"):
        kind += "; charset=utf-8"
    return (ASSETS / name).read_bytes(), kind.encode()


def _is_own(path: str) -> bool:
    name = path.removeprefix("/docs/static/")
    return path in ("/healthz", "/openapi.json", "/docs", "/docs/") or (
        name != path and (name in _ASSET_NAMES or name == "init.js")
    )


async def handle(database_health: Callable[[], Awaitable[str]], method: str, path: str) -> Reply | None:
    """The reply for one of these routes, or None when the path is none of them.
    ``database_health()``: "ok" or what is wrong with the database (service/health.py)."""
    if method not in ("GET", "HEAD"):
        if _is_own(path):
            raise MethodNotAllowed(method, ("GET", "HEAD"))
        return None
    if path == "/healthz":
        health = await database_health()
        ok = health == "ok"
        body = {"status": "ok" if ok else "unavailable", "database": health}
        return Reply(
            200 if ok else 503,
            orjson.dumps(body),
            [JSON, (b"cache-control", b"no-store"), *SECURITY_HEADERS],
        )
    if path == "/openapi.json":
        return Reply(200, openapi_bytes(), [JSON, *SECURITY_HEADERS])
    if path in ("/docs", "/docs/"):
        return Reply(200, _DOCS_PAGE, [(b"content-type", b"text/html; charset=utf-8"), *SECURITY_HEADERS])
    name = path.removeprefix("/docs/static/")
    if name != path and (name in _ASSET_NAMES or name == "init.js"):
        content, kind = _asset(name)
        return Reply(
            200, content, [(b"content-type", kind), (b"cache-control", b"max-age=86400"), *SECURITY_HEADERS]
        )
    return None
