"""The admin console: a web UI at /admin for operators (see docs/admin.md).

A separate Starlette application; CartgroupsApp hands it every request whose path is /admin or
starts with /admin/, after the 3dcart routes have had their chance, so the API's hot path
pays one string comparison for it at most."""

from __future__ import annotations

from importlib import resources

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from cartgroups.admin import auth, credentials, groups, web
from cartgroups.service.customer_groups import CustomerGroups
from cartgroups.service.operators import Operators
from cartgroups.storage.database import Database

_ASSETS = {"admin.css": "text/css; charset=utf-8", "admin.js": "text/javascript; charset=utf-8"}


def _load_assets() -> dict[str, bytes]:
    folder = resources.files("cartgroups.admin") / "static"
    return {name: (folder / name).read_bytes() for name in _ASSETS}


def create_admin_app(
    db: Database, groups_service: CustomerGroups, *, max_body_bytes: int, operators: Operators | None = None
) -> Starlette:
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
        Route(s + "/groups/{group_id}/edit", groups.edit_group, methods=["GET", "POST"]),
        Route(s + "/groups/{group_id}/delete", groups.delete_group, methods=["GET", "POST"]),
        Route(s + "/credentials", credentials.credentials_page, methods=["GET"]),
        Route(s + "/credentials", credentials.issue_token, methods=["POST"]),
        Route(s + "/tokens/{token_id}/revoke", credentials.revoke_token, methods=["POST"]),
        Route(p + "/static/{name}", static),
    ]
    app = Starlette(routes=routes, exception_handlers={404: not_found, 405: not_allowed})
    app.state.console = web.Console(
        db=db,
        groups=groups_service,
        operators=operators or Operators(db),
        max_body_bytes=max_body_bytes,
        templates=web.make_templates(),
    )
    return app
