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
import secrets
import time
from collections.abc import Callable
from zoneinfo import ZoneInfo

from starlette.requests import ClientDisconnect
from starlette.types import ASGIApp

from cartgroups.admin import create_admin_app
from cartgroups.api import dispatch, errors, routes, system
from cartgroups.api.deadlines import Deadlines
from cartgroups.api.sandbox import SandboxLayer
from cartgroups.asgi import Message, Receive, Scope, Send
from cartgroups.config import Settings
from cartgroups.errors import CartgroupsError
from cartgroups.logs import AccessLog
from cartgroups.service import health, rate_limit
from cartgroups.service.audit import Indexer, Pruner
from cartgroups.service.credentials import Authenticator
from cartgroups.service.customer_groups import CustomerGroups
from cartgroups.service.customers import Customers
from cartgroups.service.idempotency import Idempotency
from cartgroups.service.operators import Operators
from cartgroups.service.sandbox import Sandbox
from cartgroups.service.stores import Stores
from cartgroups.storage import migrate
from cartgroups.storage.database import Database
from cartgroups.storage.read_cache import ReadCache
from cartgroups.storage.store import Store, open_store

log = logging.getLogger("cartgroups")

# How long a stopping server waits for its background threads (audit pruning and indexing).
BACKGROUND_STOP_SECONDS = 10.0

_REQUEST_ID = b"x-request-id"


def _client(scope: Scope) -> str:
    """The client's address as the server saw it (or as a trusted proxy reported it)."""
    client = scope.get("client")
    return str(client[0]) if client else "-"


class CartgroupsApp:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.db: Database | None = None
        self.store: Store | None = None  # the request path's way to the database (storage/store.py)
        self.services: dispatch.Services | None = None
        self.access = AccessLog()
        self.pruner: Pruner | None = None
        self.indexer: Indexer | None = None
        # Set only with settings.sandbox: the controls (the rate limiter asks
        # sandbox.throttle_enabled) and the layer that wraps each request.
        self.sandbox: Sandbox | None = None
        self.sandbox_layer: SandboxLayer | None = None
        self.sandbox_token: str | None = None
        self.admin: ASGIApp | None = None
        # Called in order at the end of start(), once the app is set up. `cartgroups serve`
        # tunes its worker processes this way (cli/serve.py): tuning that an app embedded in
        # another process (a test server, the pytest plugin) must not do to its host.
        self.after_start: list[Callable[[], None]] = []

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            await self._http(scope, receive, send)
        elif scope["type"] == "lifespan":
            await self._lifespan(receive, send)

    def start(self) -> None:
        """Open the database and upgrade its schema (safe when several processes do it at once)."""
        self.access = AccessLog()  # after the server has applied its logging configuration
        settings = self.settings
        db = Database(settings.database_url, sqlite_synchronous=settings.sqlite_synchronous)
        migrate.upgrade(db)
        self.db = db
        store = self.store = open_store(db, pool_size=settings.pg_pool_size)
        self.services = dispatch.Services(
            groups=CustomerGroups(
                store,
                max_bulk_items=settings.max_bulk_items,
                price_level_1_to_10=settings.price_level_1_to_10,
                safe_delete=settings.safe_group_delete,
            ),
            customers=Customers(
                store, max_bulk_items=settings.max_bulk_items, zone=ZoneInfo(settings.store_timezone)
            ),
            auth=Authenticator(store, cache_seconds=settings.auth_cache_seconds),
            max_body_bytes=settings.max_body_bytes,
            idempotency=Idempotency(store),
            reads=ReadCache(
                store, enabled=settings.read_cache, max_bytes=settings.read_cache_mb * 1024 * 1024
            ),
            limiter=rate_limit.from_setting(store, settings.rate_limit),
            body_deadlines=Deadlines(settings.body_timeout_seconds),
        )
        self.services.auth.on_restore.append(self._forget_local_buckets)
        self.pruner = Pruner(db, retention_days=settings.audit_retention_days)
        self.pruner.start()
        self.indexer = Indexer(db)
        self.indexer.start()
        if settings.sandbox:
            # `cartgroups serve` always passes a token, so that every worker has the same one.
            self.sandbox_token = settings.sandbox_token or secrets.token_urlsafe(24)
            self.sandbox = Sandbox(
                db,
                token=self.sandbox_token,
                journal_size=settings.sandbox_journal_size,
                price_level_1_to_10=settings.price_level_1_to_10,
            )
            self.sandbox_layer = SandboxLayer(
                self.sandbox,
                max_body_bytes=settings.max_body_bytes,
                body_timeout_seconds=settings.body_timeout_seconds,
            )
            self.services.limiter = rate_limit.switchable(
                store, self.services.limiter, self.sandbox.throttle_enabled
            )
        self.admin = create_admin_app(
            groups_service=self.services.groups,
            stores=Stores(db),
            operators=Operators(db),
            max_body_bytes=settings.max_body_bytes,
            body_deadlines=self.services.body_deadlines,
            sandbox_service=self.sandbox,
            customers_service=self.services.customers,
        )
        for hook in self.after_start:
            hook()

    def _forget_local_buckets(self) -> None:
        limiter = self.services.limiter if self.services is not None else None  # may change at run time
        if limiter is not None:
            limiter.forget_local()

    def stop(self) -> None:
        self.access.flush()
        # Both background threads are told at once and waited for within one deadline: each
        # may be in a database call, which ends within the database's bounds, but not sooner.
        background = [thread for thread in (self.pruner, self.indexer) if thread is not None]
        for thread in background:
            thread.ask_to_stop()
        deadline = time.monotonic() + BACKGROUND_STOP_SECONDS
        for thread in background:
            thread.join(max(0.0, deadline - time.monotonic()))
        if self.db is not None:
            self.db.dispose()

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                try:
                    self.start()
                    assert self.store is not None
                    await self.store.open()
                except Exception as exc:
                    text = exc.message if isinstance(exc, CartgroupsError) else repr(exc)
                    await send({"type": "lifespan.startup.failed", "message": text})
                    return
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                if self.store is not None:
                    await self.store.close()
                self.stop()
                await send({"type": "lifespan.shutdown.complete"})
                return

    async def _admin(self, scope: Scope, receive: Receive, send: Send, request_id: bytes) -> None:
        assert self.admin is not None, "the lifespan has not started the app"
        started, status = time.perf_counter(), 0

        async def send_and_note(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [*message.get("headers", ()), (_REQUEST_ID, request_id)]
            await send(message)

        try:
            await self.admin(scope, receive, send_and_note)
        except ClientDisconnect:
            return  # the browser left before sending its whole form
        except Exception:
            # Starlette has answered with a plain 500 page already; keep the traceback in the log.
            log.exception("admin console: unhandled error on %s", scope["path"])
        if self.access.enabled:
            elapsed = (time.perf_counter() - started) * 1000
            self.access.line(
                scope["method"], scope["path"], status, elapsed, "-", request_id.decode(), _client(scope)
            )

    async def _http(self, scope: Scope, receive: Receive, send: Send) -> None:
        path: str = scope["path"]
        request_id = dispatch.request_id(scope)
        if path[:6] == "/admin" and (len(path) == 6 or path[6] == "/"):
            await self._admin(scope, receive, send, request_id)  # the console answers for itself
            return
        started = time.perf_counter()
        layer = self.sandbox_layer
        if layer is None:
            reply = await self._answer(scope, receive)
        else:
            reply = await layer.handle(scope, receive, self._answer)
        if reply is None:
            return  # the client left before sending its whole body; nobody to answer
        method = scope["method"]
        if reply.status in (204, 304):  # these carry no Content-Length (RFC 9110, 8.6)
            headers = [*reply.headers, (_REQUEST_ID, request_id)]
        else:
            headers = [
                *reply.headers,
                (b"content-length", str(len(reply.body)).encode()),
                (_REQUEST_ID, request_id),
            ]
        await send({"type": "http.response.start", "status": reply.status, "headers": headers})
        await send({"type": "http.response.body", "body": b"" if method == "HEAD" else reply.body})
        if self.access.enabled:
            self.access.line(
                method,
                scope["path"],
                reply.status,
                (time.perf_counter() - started) * 1000,
                scope.get("cartgroups.store", "-"),  # set once the credentials are verified
                request_id.decode(),
                _client(scope),
            )

    async def _answer(self, scope: Scope, receive: Receive) -> dispatch.Reply | None:
        """The reply with all its headers but Content-Length; None when the client left."""
        method, path = scope["method"], scope["path"]
        services, db = self.services, self.db
        assert services is not None and db is not None, "the lifespan has not started the app"
        try:
            found = routes.match(path)
            if found is not None:
                reply = await dispatch.handle(services, scope, receive, found)
                return dispatch.with_route_headers(reply)
            system_reply = await system.handle(lambda: health.database(db), method, path)
            if system_reply is None:
                raise errors.RouteNotFound(path)
            return system_reply
        except ConnectionAbortedError:
            return None
        except Exception as exc:
            return dispatch.error_reply(exc, dispatch.request_headers(scope))


def create_app(settings: Settings | None = None) -> CartgroupsApp:
    return CartgroupsApp(settings or Settings())
