"""The admin console: a web UI at /admin for operators (see docs/admin.md).

A separate Starlette application; CartgroupsApp hands it every request whose path is /admin or
starts with /admin/, after the 3dcart routes have had their chance, so the API's hot path
pays one string comparison for it at most."""

from __future__ import annotations

from importlib import resources

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from cartgroups.admin import auth, credentials, customers, groups, sandbox, web
from cartgroups.api.deadlines import Deadlines
from cartgroups.service.customer_groups import CustomerGroups
from cartgroups.service.customer_search import CustomerSearch
from cartgroups.service.customers import Customers
from cartgroups.service.operators import Operators
from cartgroups.service.sandbox import Sandbox
from cartgroups.service.stores import Stores

_ASSETS = {"admin.css": "text/css; charset=utf-8", "admin.js": "text/javascript; charset=utf-8"}


def _load_assets() -> dict[str, bytes]:
    folder = resources.files("cartgroups.admin") / "static"
    return {name: (folder / name).read_bytes() for name in _ASSETS}


def create_admin_app(
    *,
    groups_service: CustomerGroups,
    stores: Stores,
    operators: Operators,
    max_body_bytes: int,
    body_deadlines: Deadlines | None = None,
    sandbox_service: Sandbox | None = None,
    customers_service: Customers | None = None,
) -> Starlette:
    """The console, on the services it is handed: it reads and writes only through them (the
    groups through the API's own CustomerGroups, customers through its Customers (one on the
    groups' store when not given) and CustomerSearch, stores and credentials through Stores,
    operator accounts and sessions through Operators), never storage itself. With ``sandbox_service``
    (the server runs with --sandbox) it also has the journal and fault-rule pages, which
    otherwise do not exist (404 like any unknown page). Forms are read under ``body_deadlines``
    (the API's; 30 s when not given).

    Every answer is a console page with its security headers, errors too: a 404 or 405 from the
    routing, and a 500 for a bug (the exception is raised on after the page is sent, and
    CartgroupsApp logs it)."""
    assets = _load_assets()

    async def static(request: Request) -> Response:
        name = request.path_params["name"]
        if name not in assets:
            return web.error_page(request, 404, "Not found", "No such file.")
        headers = {**web.SECURITY_HEADERS, "cache-control": "public, max-age=3600"}
        return Response(assets[name], media_type=_ASSETS[name], headers=headers)

    async def not_found(request: Request, exc: Exception) -> Response:
        return web.error_page(request, 404, "Not found", "No such page.")

    async def not_allowed(request: Request, exc: Exception) -> Response:
        return web.error_page(request, 405, "Method not allowed", "This page does not take that method.")

    async def other_http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)
        return web.error_page(request, exc.status_code, "Request refused", exc.detail)

    async def server_error(request: Request, exc: Exception) -> Response:
        return web.internal_error_page(request)

    p = web.PREFIX
    s = p + "/stores/{store_id}"
    routes = [
        Route(p, groups.home),
        Route(p + "/", groups.home),
        Route(p + "/sign-in", auth.sign_in_form, methods=["GET"]),
        Route(p + "/sign-in", auth.sign_in, methods=["POST"]),
        Route(p + "/sign-out", auth.sign_out, methods=["POST"]),
        Route(p + "/stores", groups.stores),
        Route(s + "/groups", groups.group_table),
        Route(s + "/groups/new", groups.new_group, methods=["GET", "POST"]),
        Route(s + "/groups/{group_id}", customers.group_page, methods=["GET"]),
        Route(s + "/groups/{group_id}/members", customers.add_member, methods=["POST"]),
        Route(
            s + "/groups/{group_id}/members/{customer_id}/remove", customers.remove_member, methods=["POST"]
        ),
        Route(s + "/groups/{group_id}/edit", groups.edit_group, methods=["GET", "POST"]),
        Route(s + "/groups/{group_id}/delete", groups.delete_group, methods=["GET", "POST"]),
        Route(s + "/customers", customers.customer_table, methods=["GET"]),
        Route(s + "/customers/new", customers.new_customer, methods=["GET", "POST"]),
        Route(s + "/customers/{customer_id}/edit", customers.edit_customer, methods=["GET", "POST"]),
        Route(s + "/customers/{customer_id}/delete", customers.delete_customer, methods=["GET", "POST"]),
        Route(s + "/credentials", credentials.credentials_page, methods=["GET"]),
        Route(s + "/credentials", credentials.issue_token, methods=["POST"]),
        Route(s + "/tokens/{token_id}/revoke", credentials.revoke_token, methods=["POST"]),
        Route(p + "/static/{name}", static),
    ]
    if sandbox_service is not None:
        routes += [
            Route(s + "/journal", sandbox.journal, methods=["GET"]),
            Route(s + "/journal/clear", sandbox.clear_journal, methods=["POST"]),
            Route(s + "/journal/{entry_id}", sandbox.journal_entry, methods=["GET"]),
            Route(p + "/sandbox/faults", sandbox.faults, methods=["GET"]),
            Route(p + "/sandbox/faults", sandbox.add_fault, methods=["POST"]),
            Route(p + "/sandbox/faults/clear", sandbox.clear_faults, methods=["POST"]),
            Route(p + "/sandbox/faults/{fault_id}/delete", sandbox.delete_fault, methods=["POST"]),
        ]
    handlers = {404: not_found, 405: not_allowed, HTTPException: other_http_error, Exception: server_error}
    app = Starlette(routes=routes, exception_handlers=handlers)
    if customers_service is None:
        customers_service = Customers(groups_service.store, max_bulk_items=groups_service.max_bulk_items)
    app.state.console = web.Console(
        groups=groups_service,
        customers=customers_service,
        customer_search=CustomerSearch(stores.db),
        stores=stores,
        operators=operators,
        max_body_bytes=max_body_bytes,
        body_deadlines=body_deadlines or Deadlines(30.0),
        templates=web.make_templates(),
        sandbox=sandbox_service,
    )
    return app
