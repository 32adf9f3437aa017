"""What every console page shares: the console's services, templates, security headers,
sessions and CSRF checks, form parsing, and error pages.

Pages are server-rendered (Jinja2, autoescaped). Handlers are ``async``. The customer-group
and customer pages await the API's own async services; the store, customer search, token,
session and sandbox services are synchronous (the CLI's too), so every call into them goes
through ``await off_loop(...)`` (cartgroups/offloop.py): on PostgreSQL each is a round trip,
and seconds while the database does not answer, which on the event loop would hold up every
request of the process. Only the password check (scrypt, ~0.1 s of CPU, no database) runs on
anyio's worker threads instead.
"""

from __future__ import annotations

import hmac
import logging
import re
import secrets
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from functools import wraps
from typing import Any
from urllib.parse import parse_qsl, quote

from jinja2 import Environment, PackageLoader, select_autoescape
from starlette.requests import ClientDisconnect, Request
from starlette.responses import HTMLResponse, RedirectResponse, Response

from cartgroups.api.deadlines import Deadlines
from cartgroups.api.dispatch import read_body
from cartgroups.api.errors import PayloadTooLarge, RequestTimeout
from cartgroups.errors import DatabaseUnavailable, NotFound
from cartgroups.offloop import off_loop
from cartgroups.service.customer_groups import CustomerGroups
from cartgroups.service.customer_search import CustomerSearch
from cartgroups.service.customers import Customers
from cartgroups.service.operators import Operators, Session
from cartgroups.service.sandbox import Sandbox
from cartgroups.service.stores import Stores

log = logging.getLogger("cartgroups.admin")

PREFIX = "/admin"
SESSION_COOKIE = "cartgroups_admin"
SIGN_IN_CSRF_COOKIE = "cartgroups_admin_signin"
MAX_FORM_FIELDS = 50

SECURITY_HEADERS = {
    "content-security-policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
        "form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
    ),
    "x-frame-options": "DENY",
    "x-content-type-options": "nosniff",
    "referrer-policy": "same-origin",
    "cross-origin-opener-policy": "same-origin",
}
NO_STORE = {"cache-control": "no-store"}

_ID = re.compile(r"[0-9]{1,10}")
ID_MAX = 2_147_483_647


@dataclass(slots=True)
class Console:
    groups: CustomerGroups
    customers: Customers  # the API's own service: its rules and messages
    customer_search: CustomerSearch  # the customers list and a group's members (synchronous)
    stores: Stores
    operators: Operators
    max_body_bytes: int
    templates: Environment
    body_deadlines: Deadlines  # for reading a form: the API's (CARTGROUPS_BODY_TIMEOUT_SECONDS)
    sandbox: Sandbox | None = None  # set while the server runs with --sandbox


def make_templates() -> Environment:
    env = Environment(
        loader=PackageLoader("cartgroups.admin", "templates"),
        autoescape=select_autoescape(default=True, default_for_string=True),
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.globals["prefix"] = PREFIX
    return env


def console(request: Request) -> Console:
    found: Console = request.app.state.console
    return found


def page(
    request: Request,
    template: str,
    status: int = 200,
    *,
    session: Session | None = None,
    **context: Any,
) -> HTMLResponse:
    found = console(request)
    html = found.templates.get_template(template).render(
        session=session, path=request.url.path, sandbox_on=found.sandbox is not None, **context
    )
    return HTMLResponse(html, status_code=status, headers={**SECURITY_HEADERS, **NO_STORE})


def redirect(location: str) -> RedirectResponse:
    return RedirectResponse(location, status_code=303, headers={**SECURITY_HEADERS, **NO_STORE})


def error_page(
    request: Request, status: int, title: str, message: str, session: Session | None = None
) -> Response:
    return page(request, "error.html", status, session=session, title=title, message=message)


INTERNAL = "Something went wrong on the server; it has been logged."
_INTERNAL_PAGE = "<!doctype html><title>Server error</title><h1>Server error</h1><p>" + INTERNAL


def internal_error_page(request: Request) -> Response:
    """The 500 page for a bug; a plain one, with the same headers, if even the template fails."""
    try:
        return error_page(request, 500, "Server error", INTERNAL)
    except Exception:
        log.exception("admin: the error page failed too")
        return HTMLResponse(_INTERNAL_PAGE, status_code=500, headers={**SECURITY_HEADERS, **NO_STORE})


def parse_id(raw: str) -> int:
    """An id from the URL; anything that cannot be one is NotFound (a 404 page)."""
    if not _ID.fullmatch(raw) or not 1 <= int(raw) <= ID_MAX:
        raise NotFound("No such page.")
    return int(raw)


def is_https(request: Request) -> bool:
    return request.url.scheme == "https"


async def current_session(request: Request) -> Session | None:
    """The operator's live session, looked up off the loop (a database read); None without a
    session cookie, without asking the database."""
    session_id = request.cookies.get(SESSION_COOKIE, "")
    return await off_loop(console(request).operators.session, session_id) if session_id else None


def safe_next(raw: str | None) -> str:
    """Where to go after signing in: only a path inside the console (no open redirect)."""
    if raw and (raw == PREFIX or raw.startswith(PREFIX + "/")) and "//" not in raw and "\\" not in raw:
        return raw
    return PREFIX + "/stores"


class FormError(Exception):
    """The request cannot be read as a form (wrong type, too large, too many fields)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


async def read_form(request: Request) -> dict[str, str]:
    """An application/x-www-form-urlencoded body, read as the API reads one: under its size limit
    and its deadline (a body that stalls is cut with 408, see form_error); the last of repeated
    names wins."""
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if kind != "application/x-www-form-urlencoded":
        raise FormError(415, "Forms must be sent as application/x-www-form-urlencoded.")
    found = console(request)
    limit = found.max_body_bytes
    declared = {"content-length": request.headers.get("content-length", "")}
    try:
        body = await read_body(request.receive, declared, limit, found.body_deadlines)
    except PayloadTooLarge:
        raise FormError(413, f"The form is larger than the limit of {limit} bytes.") from None
    except RequestTimeout:
        seconds = found.body_deadlines.seconds
        raise FormError(408, f"The form did not arrive within {seconds:g} seconds.") from None
    except ConnectionAbortedError:
        raise ClientDisconnect() from None
    try:
        pairs = parse_qsl(
            body.decode("utf-8", "replace"), keep_blank_values=True, max_num_fields=MAX_FORM_FIELDS
        )
    except ValueError:
        raise FormError(400, "The form has too many fields.") from None
    return dict(pairs)


def form_error(request: Request, exc: FormError, session: Session | None = None) -> Response:
    response = error_page(request, exc.status, "Unreadable form", exc.message, session)
    if exc.status == 408:  # the rest of the body may still come: don't read it
        response.headers["connection"] = "close"
    return response


def same_origin(request: Request) -> bool:
    """A browser's Origin header, when it sends one, must name this site."""
    origin = request.headers.get("origin")
    if origin is None:
        return True
    return origin == f"{request.url.scheme}://{request.headers.get('host', '')}"


def csrf_ok(expected: str, form: Mapping[str, str]) -> bool:
    given = form.get("csrf_token", "")
    return bool(expected) and hmac.compare_digest(given.encode(), expected.encode())


CSRF_FAILED = (
    "This form was not sent from a page of this console, or the page was too old. "
    "Go back, reload the page and try again."
)

PROXY_HINT = (
    "The page came over https but the form reached this server over plain http: behind an https "
    "proxy, start the server with --proxy-headers (docs/operations.md, Behind a reverse proxy)."
)


def csrf_failed(request: Request) -> str:
    """What to tell about a form the CSRF checks refused. When the browser's https origin names
    this host but the request arrived as http, the server is behind a TLS proxy whose headers it
    was not told to believe: say so, on the page and in the log (without the header's value)."""
    if request.url.scheme == "http" and request.headers.get("origin") == (
        f"https://{request.headers.get('host', '')}"
    ):
        log.warning(
            "admin: a form from an https page arrived over http; behind an https proxy, "
            "start serve with --proxy-headers (and --forwarded-allow-ips)"
        )
        return f"{CSRF_FAILED} {PROXY_HINT}"
    return CSRF_FAILED


Handler = Callable[[Request, Session], Awaitable[Response]]


def signed_in(handler: Handler) -> Callable[[Request], Awaitable[Response]]:
    """The page needs an operator: without a live session, GET goes to the sign-in page and
    anything else gets 403. A POST must carry the session's CSRF token; its form is then in
    ``request.state.form``. NotFound and DatabaseUnavailable become error pages."""

    @wraps(handler)
    async def wrapped(request: Request) -> Response:
        try:
            session = await current_session(request)
            if session is None:
                if request.method in ("GET", "HEAD"):
                    return redirect(f"{PREFIX}/sign-in?next={quote(request.url.path)}")
                return error_page(request, 403, "Signed out", "Your session has ended. Sign in again.")
            if request.method == "POST":
                try:
                    form = await read_form(request)
                except FormError as exc:
                    return form_error(request, exc, session)
                if not (same_origin(request) and csrf_ok(session.csrf_token, form)):
                    return error_page(request, 403, "Form rejected", csrf_failed(request), session)
                request.state.form = form
            return await handler(request, session)
        except NotFound as exc:
            return error_page(request, 404, "Not found", exc.message)
        except DatabaseUnavailable as exc:
            return unavailable(request, exc)

    return wrapped


def unavailable(request: Request, exc: DatabaseUnavailable) -> Response:
    log.warning("admin: database unavailable: %s", exc.__cause__)
    response = error_page(request, 503, "Database unavailable", exc.message + ".")
    response.headers["retry-after"] = "1"
    return response


def new_sign_in_token() -> str:
    return secrets.token_urlsafe(32)
