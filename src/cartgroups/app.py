"""The ASGI application.

The 3dcart routes are dispatched by a small router of our own rather than FastAPI's: the wire
format needs case-insensitive paths, error records for every status (404/405/413/415 included)
and exact bytes, and issue #3's throughput targets sit at FastAPI's hello-world speed. The
OpenAPI document is still derived from code (api/openapi.py).

Nothing happens at import time: create_app(settings) returns an app that opens the database
and brings its schema up to date in the ASGI lifespan.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from starlette.requests import ClientDisconnect
from starlette.types import ASGIApp

from cartgroups.admin import create_admin_app
from cartgroups.api import dispatch, errors, routes, system
from cartgroups.config import Settings
from cartgroups.errors import CartgroupsError
from cartgroups.logs import skip_unused_record_fields
from cartgroups.service.credentials import Authenticator
from cartgroups.service.customer_groups import CustomerGroups
from cartgroups.storage import migrate
from cartgroups.storage.database import Database

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

access_log = logging.getLogger("cartgroups.access")
log = logging.getLogger("cartgroups")

_JSON = (b"content-type", b"application/json; charset=utf-8")
_CORS = (b"access-control-allow-origin", b"*")


class CartgroupsApp:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.db: Database | None = None
        self.services: dispatch.Services | None = None
        self.admin: ASGIApp | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            await self._http(scope, receive, send)
        elif scope["type"] == "lifespan":
            await self._lifespan(receive, send)

    def start(self) -> None:
        """Open the database and upgrade its schema (safe when several processes do it at once)."""
        skip_unused_record_fields()
        settings = self.settings
        db = Database(settings.database_url, sqlite_synchronous=settings.sqlite_synchronous)
        migrate.upgrade(db)
        self.db = db
        self.services = dispatch.Services(
            groups=CustomerGroups(db, max_bulk_items=settings.max_bulk_items),
            auth=Authenticator(db, cache_seconds=settings.auth_cache_seconds),
            max_body_bytes=settings.max_body_bytes,
        )
        self.admin = create_admin_app(db, self.services.groups, max_body_bytes=settings.max_body_bytes)

    def stop(self) -> None:
        if self.db is not None:
            self.db.dispose()

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                try:
                    self.start()
                except Exception as exc:
                    text = exc.message if isinstance(exc, CartgroupsError) else repr(exc)
                    await send({"type": "lifespan.startup.failed", "message": text})
                    return
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                self.stop()
                await send({"type": "lifespan.shutdown.complete"})
                return

    async def _admin(self, scope: Scope, receive: Receive, send: Send) -> None:
        assert self.admin is not None, "the lifespan has not started the app"
        started, status = time.perf_counter(), 0

        async def send_and_note(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.admin(scope, receive, send_and_note)
        except ClientDisconnect:
            return  # the browser left before sending its whole form
        except Exception:
            # Starlette has answered with a plain 500 page already; keep the traceback in the log.
            log.exception("admin console: unhandled error on %s", scope["path"])
        if access_log.isEnabledFor(logging.INFO):
            elapsed = (time.perf_counter() - started) * 1000
            access_log.info("%s %s %d %.1fms store=-", scope["method"], scope["path"], status, elapsed)

    async def _http(self, scope: Scope, receive: Receive, send: Send) -> None:
        started = time.perf_counter()
        method, path = scope["method"], scope["path"]
        services, db = self.services, self.db
        assert services is not None and db is not None, "the lifespan has not started the app"
        try:
            found = routes.match(path)
            if found is not None:
                reply = await dispatch.handle(services, scope, receive, found)
                headers = [_JSON, _CORS, *reply.headers] if reply.body else [_CORS, *reply.headers]
            elif path[:6] == "/admin" and (len(path) == 6 or path[6] == "/"):
                await self._admin(scope, receive, send)
                return
            else:
                system_reply = system.handle(db, method, path)
                if system_reply is None:
                    raise errors.RouteNotFound(path)
                reply, headers = system_reply, system_reply.headers
        except ConnectionAbortedError:
            return  # the client left before sending its whole body; nobody to answer
        except Exception as exc:
            status, body, extra = errors.render(exc)
            reply = dispatch.Reply(status, body, extra)
            headers = [_JSON, _CORS, *extra]
        if reply.status != 204:  # a 204 carries no Content-Length (RFC 9110, 8.6)
            headers = [*headers, (b"content-length", str(len(reply.body)).encode())]
        await send({"type": "http.response.start", "status": reply.status, "headers": headers})
        await send({"type": "http.response.body", "body": b"" if method == "HEAD" else reply.body})
        if access_log.isEnabledFor(logging.INFO):
            access_log.info(
                "%s %s %d %.1fms store=%s",
                method,
                path,
                reply.status,
                (time.perf_counter() - started) * 1000,
                scope.get("cartgroups.store", "-"),  # set once the credentials are verified
            )


def create_app(settings: Settings | None = None) -> CartgroupsApp:
    return CartgroupsApp(settings or Settings())
