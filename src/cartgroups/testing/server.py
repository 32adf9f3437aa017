"""serve(): a real cartgroups server for tests, on 127.0.0.1, in a background thread of the caller's
process, on a throw-away SQLite file. Clients reach it over real HTTP, exactly as they reach 3dcart."""

from __future__ import annotations

import difflib
import json
import tempfile
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from decimal import Decimal
from pathlib import Path
from typing import Any

import uvicorn
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource

from cartgroups.api import wire
from cartgroups.api.sandbox import fault_json, journal_json
from cartgroups.app import CartgroupsApp, create_app
from cartgroups.config import Settings
from cartgroups.http_limits import uvicorn_options
from cartgroups.service import credentials
from cartgroups.service.sandbox import Sandbox, SeedRejected
from cartgroups.storage import credentials as cred_sql
from cartgroups.storage.database import Database

API_PATH = "/3dCartWebAPI/v1"
APPLICATION = "cartgroups-testing"
START_TIMEOUT = 30.0
STOP_TIMEOUT = 10.0
# Chosen by serve() itself: one process, loopback, a free port, a fresh file, sandbox on.
_FIXED = frozenset({"database_url", "host", "port", "workers", "sandbox", "sandbox_token"})


def _store_name(number: int) -> str:
    return f"store{number}.cartgroups.test"


class SeedError(ValueError):
    """seed() was given groups or customers that a POST would reject; nothing was written."""


class Seeded(list[int]):
    """What seed() returns: the seeded groups' ids (it is that list, as before customers could
    be seeded), and ``customers``, the seeded customers' ids, each in the order given."""

    def __init__(self, groups: Sequence[int], customers: Sequence[int] = ()) -> None:
        super().__init__(groups)
        self.customers: list[int] = list(customers)

    @property
    def groups(self) -> list[int]:
        return list(self)


class _TestSettings(Settings):
    """Settings from serve()'s arguments only. A CARTGROUPS_* variable in the environment (say,
    the URL of a real database) must never reach a test server."""

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (init_settings,)


class StoreCredentials:
    """The three 3dcart headers of one store, with read and write scope (unless asked otherwise)."""

    __slots__ = ("private_key", "secure_url", "token")

    def __init__(self, secure_url: str, private_key: str, token: str) -> None:
        self.secure_url = secure_url
        self.private_key = private_key
        self.token = token

    @property
    def headers(self) -> dict[str, str]:
        """A new dict of the SecureURL, PrivateKey and Token headers."""
        return {"SecureURL": self.secure_url, "PrivateKey": self.private_key, "Token": self.token}

    def __repr__(self) -> str:
        return f"StoreCredentials(secure_url={self.secure_url!r}, private_key=..., token=...)"


class Faults:
    """Fault injection rules of a TestServer (``server.faults``); see docs/sandbox.md."""

    __slots__ = ("_server",)

    def __init__(self, server: TestServer) -> None:
        self._server = server

    def add(
        self,
        status: int | None = None,
        *,
        method: str = "*",
        path: str = "*",
        match: str = "glob",
        store: StoreCredentials | str | None = None,
        message: str | None = None,
        retry_after: int | None = None,
        latency_ms: int = 0,
        probability: float = 1.0,
        times: int | None = None,
    ) -> dict[str, Any]:
        """Add a rule and return it as the control API shows it (with its ``id``).

        Requests to the 3dcart routes whose method (``*``: any) and path (a glob on the whole
        path, e.g. ``*/CustomerGroups/*``, or with ``match="regex"`` a regular expression
        searched in it; case-insensitive) match, and whose SecureURL names ``store`` when
        given, wait ``latency_ms`` and then get ``status`` with an error record (``message``,
        or the status's default). ``probability`` is the chance a matching request is hit;
        ``times`` makes the rule expire after hitting that many requests."""
        body = {
            "method": method,
            "path": path,
            "match": match,
            "store": self._server._store_name(store) if store is not None else None,
            "status": status,
            "message": message,
            "retry_after": retry_after,
            "latency_ms": latency_ms,
            "probability": probability,
            "times": times,
        }
        return fault_json(self._server.sandbox.add_fault(body))

    def list(self) -> list[dict[str, Any]]:
        """The live rules, in the order they are tried."""
        return [fault_json(row) for row in self._server.sandbox.faults()]

    def delete(self, fault_id: int) -> None:
        self._server.sandbox.delete_fault(fault_id)

    def clear(self) -> int:
        """Delete every rule; returns how many there were."""
        return self._server.sandbox.clear_faults()


class TestServer:
    """A running server: where it listens, credentials for its first store, and state controls.

    The server runs with the sandbox on: besides the methods here, its control endpoints are
    at ``control_url`` with the header ``Authorization: Bearer <sandbox_token>``."""

    __test__ = False  # not a test class, even when a test module imports it

    def __init__(self, app: CartgroupsApp, base_url: str) -> None:
        self._app = app
        self.base_url = base_url
        self.api_url = base_url + API_PATH
        self._lock = threading.Lock()
        self._private_key: str | None = None
        self._stores_made = 0
        assert app.sandbox_token is not None
        self.sandbox_token = app.sandbox_token
        self.control_url = base_url + "/_cartgroups"
        self.faults = Faults(self)
        self.credentials = self.new_store(_store_name(1))

    @property
    def headers(self) -> dict[str, str]:
        """A new dict of the three headers of the first store."""
        return self.credentials.headers

    def __repr__(self) -> str:
        return f"TestServer(base_url={self.base_url!r})"

    @property
    def db(self) -> Database:
        assert self._app.db is not None, "the server has stopped"
        return self._app.db

    @property
    def sandbox(self) -> Sandbox:
        assert self._app.sandbox is not None, "the server has stopped"
        return self._app.sandbox

    def _store_name(self, store: StoreCredentials | str | None) -> str:
        if store is None:
            return self.credentials.secure_url
        return store.secure_url if isinstance(store, StoreCredentials) else store

    def reset(self, store: StoreCredentials | str | None = None) -> None:
        """Without ``store``: delete every group and customer of every store (each store's next
        CustomerGroupID and CustomerID are 1 again), every journal entry, throttling override
        and fault rule. With ``store``: that store's groups, customers, journal, override and
        the rules that name it.

        Stores and credentials stay valid, including those from new_store()."""
        if store is None:
            self.sandbox.reset_all()
        else:
            self.sandbox.reset_store(self._store_name(store))

    def seed(
        self,
        groups: Sequence[Mapping[str, Any]] = (),
        store: StoreCredentials | str | None = None,
        *,
        customers: Sequence[Mapping[str, Any]] = (),
    ) -> Seeded:
        """Create groups, and customers, as a POST of each would, and return the groups' ids in
        order (the customers' ids are ``.customers`` of the result).

        ``groups`` and ``customers`` are 3dcart-shaped dicts (``{"Name": "Wholesale",
        "MinimumOrder": 250}``, ``{"Email": "jane@example.com", "CustomerGroupID": 1}``); a
        CustomerGroupID in a group and a CustomerID in a customer are ignored as ids, as in a
        POST. The groups are written first. A customer's CustomerGroupID names a group of the
        store (0: none), those just seeded included (ids from 1 after a reset); or, when one of
        ``groups`` carries that CustomerGroupID, that seeded group, whatever id it gets.
        A customer may carry ``TotalStoreCredit`` (a non-negative number; the only way to give a
        customer store credit: the API ignores it) and ``Password`` (stored hashed).

        ``store`` is credentials from new_store() or a SecureURL; the first store by default.
        Everything is checked before anything is kept: a bad group or customer raises SeedError
        naming each problem (``groups[1]: ...``, ``customers[0]: ...``), and nothing is stored."""
        if isinstance(groups, Mapping | str | bytes):
            raise TypeError("seed() takes a list of groups (dicts), not a single one")
        if isinstance(customers, Mapping | str | bytes):
            raise TypeError("seed() takes a list of customers (dicts), not a single one")
        body: object = _as_posted(groups)
        if customers:
            body = {"groups": body, "customers": _as_posted(customers)}
        try:
            seeded = self.sandbox.seed_store(self._store_name(store), body)
        except SeedRejected as exc:
            raise SeedError(exc.message) from None
        return Seeded(seeded.groups, seeded.customers)

    def export(self, store: StoreCredentials | str | None = None) -> list[dict[str, Any]]:
        """The store's groups (the first store's by default) as a 3dcart GET returns them:
        wire-format dicts in ascending id order, money as Decimal."""
        body = wire.groups_body(self.sandbox.export(self._store_name(store)))
        exported: list[dict[str, Any]] = json.loads(body, parse_float=Decimal)
        return exported

    def export_customers(self, store: StoreCredentials | str | None = None) -> list[dict[str, Any]]:
        """The store's customers as a 3dcart GET returns them (Password "", TotalStoreCredit a
        Decimal), in ascending id order."""
        _groups, found = self.sandbox.export_store(self._store_name(store))
        exported: list[dict[str, Any]] = json.loads(wire.customers_body(found), parse_float=Decimal)
        return exported

    def journal(
        self, store: StoreCredentials | str | None = None, *, limit: int | None = None
    ) -> list[dict[str, Any]]:
        """The store's last requests, newest first: method, path, query, status, duration_ms,
        request_headers (secrets shown as "[redacted]"), request_body, response_body, fault_id."""
        return [journal_json(row) for row in self.sandbox.journal(self._store_name(store), limit)]

    def clear_journal(self, store: StoreCredentials | str | None = None) -> int:
        return self.sandbox.clear_journal(self._store_name(store))

    def throttle(self, store: StoreCredentials | str | None = None) -> bool | None:
        """The store's throttling override: True, False, or None (none set)."""
        return self.sandbox.throttle(self._store_name(store))

    def set_throttle(self, enabled: bool | None, store: StoreCredentials | str | None = None) -> None:
        """Turn 3dcart's rate limiting on or off for the store (None removes the override)."""
        self.sandbox.set_throttle(self._store_name(store), {"throttle": enabled})

    def new_store(self, secure_url: str | None = None, *, scope: str = "read,write") -> StoreCredentials:
        """Credentials for another store (tenant), named ``secure_url`` or a fresh name.

        A store that exists already gets another token (with ``scope``: read, write or
        read,write), so this is also how to get, say, read-only credentials for a store."""
        with self._lock:
            self._stores_made += 1
            if secure_url is None:
                secure_url = self._unused_store_name()
            issued = credentials.issue(self.db, secure_url=secure_url, application=APPLICATION, scope=scope)
            if issued.private_key is not None:  # shown once, when the application is created
                self._private_key = issued.private_key
        assert self._private_key is not None
        return StoreCredentials(issued.secure_url, self._private_key, issued.token)

    def _unused_store_name(self) -> str:
        number = self._stores_made
        with self.db.read() as conn:
            while cred_sql.find_store_id(conn, secure_url=_store_name(number)) is not None:
                number += 1
        return _store_name(number)


@contextmanager
def serve(**settings: Any) -> Iterator[TestServer]:
    """Run a server until the block ends; then stop it and delete its database.

    Keyword arguments are Settings fields (for instance ``max_bulk_items=10``); the
    environment's CARTGROUPS_* variables are not read. Host, port and database are chosen here."""
    check_settings(settings)
    with tempfile.TemporaryDirectory(prefix="cartgroups-test-") as directory:
        url = f"sqlite:///{Path(directory) / 'cartgroups.db'}"
        app = create_app(_TestSettings(database_url=url, sandbox=True, **settings))
        server, thread = start_in_thread(app)
        try:
            port = server.servers[0].sockets[0].getsockname()[1]
            yield TestServer(app, f"http://127.0.0.1:{port}")
        finally:
            stop_in_thread(server, thread)


def check_settings(settings: Mapping[str, Any]) -> None:
    """TypeError naming the first key of ``settings`` that serve() does not take: one that is
    not a Settings field (with the closest field's name, if one is close), or one serve()
    chooses itself. A misspelt key would otherwise be ignored, and the test run on defaults."""
    fixed = sorted(_FIXED & settings.keys())
    if fixed:
        raise TypeError(f"serve() chooses {', '.join(fixed)} itself")
    known = Settings.model_fields.keys() - _FIXED
    for key in settings:
        if key not in known:
            close = difflib.get_close_matches(str(key), sorted(known), n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            raise TypeError(
                f"unknown cartgroups setting {key!r}{hint} (the settings are the fields of "
                "cartgroups.config.Settings)"
            )


def start_in_thread(app: CartgroupsApp) -> tuple[uvicorn.Server, threading.Thread]:
    """uvicorn serving ``app`` on 127.0.0.1 and a free port, in a daemon thread; returns once it
    listens. (The project's own test suite starts its servers with this too.)"""
    config = uvicorn.Config(
        app,
        host="127.0.0.1",
        port=0,
        log_config=None,
        log_level="warning",
        access_log=False,
        **uvicorn_options(app.settings),  # the connection limits of `cartgroups serve`
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name="cartgroups-test-server", daemon=True)
    thread.start()
    deadline = time.monotonic() + START_TIMEOUT
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            server.should_exit = True
            thread.join(STOP_TIMEOUT)
            raise RuntimeError("the cartgroups test server did not start; its log says why")
        time.sleep(0.002)
    return server, thread


def stop_in_thread(server: uvicorn.Server, thread: threading.Thread) -> None:
    """Stop a server from start_in_thread(), forcing it if a request is still held open."""
    server.should_exit = True
    thread.join(STOP_TIMEOUT)
    if thread.is_alive():  # a client still holds a request open
        server.force_exit = True
        thread.join(STOP_TIMEOUT)
    if thread.is_alive():
        raise RuntimeError(f"the cartgroups test server did not stop within {2 * STOP_TIMEOUT:.0f} s")


def _as_posted(groups: Sequence[Mapping[str, Any]]) -> list[object]:
    """The groups (or customers) as the server would read them from a JSON body (floats and Decimals become
    exact decimals), so that seed() accepts and rejects exactly what a POST does."""
    text = json.dumps(list(groups), default=_decimal_text)
    loaded: list[object] = json.loads(text, parse_float=Decimal)
    return loaded


def _decimal_text(value: object) -> str:
    if isinstance(value, Decimal):
        return str(value)
    raise TypeError(f"seed() groups must hold JSON values; got {type(value).__name__}")
