"""serve(): a real cartgroups server for tests, on 127.0.0.1, in a background thread of the caller's
process, on a throw-away SQLite file. Clients reach it over real HTTP, exactly as they reach 3dcart."""

from __future__ import annotations

import json
import logging
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

from cartgroups.app import CartgroupsApp, create_app
from cartgroups.config import Settings
from cartgroups.errors import Invalid
from cartgroups.service import credentials, validation
from cartgroups.storage import credentials as cred_sql
from cartgroups.storage.database import Database
from cartgroups.testing.wipe import empty_every_store

API_PATH = "/3dCartWebAPI/v1"
APPLICATION = "cartgroups-testing"
START_TIMEOUT = 30.0
STOP_TIMEOUT = 10.0
# Chosen by serve() itself: one process, loopback, a free port, a fresh file.
_FIXED = frozenset({"database_url", "host", "port", "workers"})


def _store_name(number: int) -> str:
    return f"store{number}.cartgroups.test"


class SeedError(ValueError):
    """seed() was given groups that a POST would reject; nothing was written."""


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


class TestServer:
    """A running server: where it listens, credentials for its first store, and state controls."""

    __test__ = False  # not a test class, even when a test module imports it

    def __init__(self, app: CartgroupsApp, base_url: str) -> None:
        self._app = app
        self.base_url = base_url
        self.api_url = base_url + API_PATH
        self._lock = threading.Lock()
        self._private_key: str | None = None
        self._stores_made = 0
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

    def reset(self) -> None:
        """Delete every group of every store; each store's next CustomerGroupID is 1 again.

        Stores and credentials stay valid, including those from new_store()."""
        with self.db.write() as conn:
            empty_every_store(conn)

    def seed(
        self, groups: Sequence[Mapping[str, Any]], store: StoreCredentials | str | None = None
    ) -> list[int]:
        """Create groups as a POST of each would, and return their ids in order.

        ``groups`` are 3dcart-shaped dicts (``{"Name": "Wholesale", "MinimumOrder": 250}``);
        a CustomerGroupID in them is ignored, as in a POST. ``store`` is credentials from
        new_store() or a SecureURL; the first store by default. Every group is checked before
        any is written: a bad one raises SeedError naming each problem, and nothing is stored."""
        if isinstance(groups, Mapping | str | bytes):
            raise TypeError("seed() takes a list of groups (dicts), not a single one")
        bodies = _as_posted(groups)
        problems = []
        for index, body in enumerate(bodies):
            try:
                validation.group_values(body, creating=True)
            except Invalid as exc:
                problems.append(f"groups[{index}]: {exc.message}")
        if problems:
            raise SeedError("; ".join(problems))
        secure_url = store.secure_url if isinstance(store, StoreCredentials) else store
        secure_url = credentials.normalise_secure_url(secure_url or self.credentials.secure_url)
        store_id = credentials.store_id_of(self.db, secure_url)
        services = self._app.services
        assert services is not None, "the server has stopped"
        # Not through the API: audit entries of seeded groups have no token or application.
        seeder = credentials.Principal(store_id, secure_url, can_read=True, can_write=True)
        return [services.groups.create(principal=seeder, body=body) for body in bodies]

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
    fixed = sorted(_FIXED & settings.keys())
    if fixed:
        raise TypeError(f"serve() chooses {', '.join(fixed)} itself")
    with tempfile.TemporaryDirectory(prefix="cartgroups-test-") as directory:
        url = f"sqlite:///{Path(directory) / 'cartgroups.db'}"
        app = create_app(_TestSettings(database_url=url, **settings))
        server, thread = start_in_thread(app)
        try:
            port = server.servers[0].sockets[0].getsockname()[1]
            yield TestServer(app, f"http://127.0.0.1:{port}")
        finally:
            stop_in_thread(server, thread)


def start_in_thread(app: CartgroupsApp) -> tuple[uvicorn.Server, threading.Thread]:
    """uvicorn serving ``app`` on 127.0.0.1 and a free port, in a daemon thread; returns once it
    listens. (The project's own test suite starts its servers with this too.)"""
    config = uvicorn.Config(
        app, host="127.0.0.1", port=0, log_config=None, log_level="warning", access_log=False
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name="cartgroups-test-server", daemon=True)
    with _logging_module_kept():
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


@contextmanager
def _logging_module_kept() -> Iterator[None]:
    """The app turns off logging's caller, thread and process fields for speed when it starts.
    That is right for a server process, not for the test process it is borrowing: put them back."""
    saved = (logging._srcfile, logging.logThreads, logging.logProcesses, logging.logMultiprocessing)
    try:
        yield
    finally:
        logging._srcfile, logging.logThreads, logging.logProcesses, logging.logMultiprocessing = saved


def _as_posted(groups: Sequence[Mapping[str, Any]]) -> list[object]:
    """The groups as the server would read them from a JSON body (floats and Decimals become
    exact decimals), so that seed() accepts and rejects exactly what a POST does."""
    text = json.dumps(list(groups), default=_decimal_text)
    loaded: list[object] = json.loads(text, parse_float=Decimal)
    return loaded


def _decimal_text(value: object) -> str:
    if isinstance(value, Decimal):
        return str(value)
    raise TypeError(f"seed() groups must hold JSON values; got {type(value).__name__}")
