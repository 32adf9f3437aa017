"""Shared fixtures. Every storage-touching test runs twice: on a SQLite file and on PostgreSQL.

PostgreSQL is found at $CARTGROUPS_TEST_POSTGRES_URL (default postgresql://postgres@127.0.0.1:5432/test);
each test session creates a throw-away database there and drops it at the end. Without a
reachable server those tests skip with a one-line reason, unless CARTGROUPS_TEST_REQUIRE_POSTGRES=1
(as in CI), which makes them fail instead.
"""

from __future__ import annotations

import functools
import os
import secrets
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import psycopg
import pytest
import sqlalchemy as sa
import uvicorn

from cartgroups.app import CartgroupsApp, create_app
from cartgroups.config import Settings
from cartgroups.service import credentials
from cartgroups.service.credentials import Issued
from cartgroups.storage import migrate, tables
from cartgroups.storage.database import Database
from cartgroups.testing.server import start_in_thread, stop_in_thread
from tests.cli.procs import ServerStderr

PG_URL = os.environ.get("CARTGROUPS_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")
REQUIRE_PG = os.environ.get("CARTGROUPS_TEST_REQUIRE_POSTGRES") == "1"
STORE = "shop.example.com"


@functools.cache
def _pg_problem() -> str | None:
    try:
        psycopg.connect(PG_URL, connect_timeout=3).close()
    except psycopg.Error as exc:
        return str(exc).strip().splitlines()[0]
    return None


def _pg_skip_reason() -> str:
    return f"PostgreSQL not reachable at {PG_URL}: {_pg_problem()}"


def pytest_configure(config: pytest.Config) -> None:
    # A failing test's report shows the stderr of every `cartgroups serve` it ran (tests/cli/procs.py).
    config.pluginmanager.register(ServerStderr(), "cartgroups-server-stderr")


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    """Skip a PostgreSQL test here rather than in its fixture: a skip raised in a fixture is
    reported at each test's own line, so -ra printed one line per test; raised here, every such
    skip has the same reason and place, which pytest reports as one line with their count."""
    callspec = getattr(item, "callspec", None)
    params = callspec.params.values() if callspec is not None else ()
    wants_pg = "postgresql" in params or "postgres_url" in getattr(item, "fixturenames", ())
    if wants_pg and not REQUIRE_PG and _pg_problem():
        pytest.skip(_pg_skip_reason())


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A fresh, empty PostgreSQL database for this test session."""
    problem = _pg_problem()
    if problem:
        if REQUIRE_PG:
            pytest.fail(f"PostgreSQL is required (CARTGROUPS_TEST_REQUIRE_POSTGRES=1): {problem}")
        pytest.skip(_pg_skip_reason())
    with _pg_database("test") as url:
        yield url


@contextmanager
def _pg_database(kind: str) -> Iterator[str]:
    """A new PostgreSQL database on the test server, dropped afterwards."""
    name = f"cartgroups_{kind}_{secrets.token_hex(4)}"
    with psycopg.connect(PG_URL, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield sa.make_url(PG_URL).set(database=name).render_as_string(hide_password=False)
    finally:
        with psycopg.connect(PG_URL, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="session", params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path_factory.mktemp('sqlite') / 'cartgroups.db'}"
    return str(request.getfixturevalue("postgres_url"))


@pytest.fixture(scope="session")
def quiet_database_url(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Per database kind, a second session database that no live test server uses: the servers'
    background threads (the audit indexer, the pruner) write to the shared one at any moment,
    which a test counting what such a job does cannot allow."""
    if database_url.startswith("sqlite"):
        yield f"sqlite:///{tmp_path_factory.mktemp('quiet') / 'cartgroups.db'}"
        return
    with _pg_database("quiet") as url:
        yield url


@dataclass
class LiveServer:
    """A real uvicorn server on 127.0.0.1, in a thread of the test process."""

    app: CartgroupsApp
    server: uvicorn.Server
    base_url: str

    @property
    def db(self) -> Database:
        assert self.app.db is not None
        return self.app.db


def start_server(settings: Settings) -> tuple[LiveServer, threading.Thread]:
    app = create_app(settings)
    server, thread = start_in_thread(app)
    port = server.servers[0].sockets[0].getsockname()[1]
    return LiveServer(app, server, f"http://127.0.0.1:{port}"), thread


@pytest.fixture(scope="session")
def live_server(database_url: str) -> Iterator[LiveServer]:
    live, thread = start_server(Settings(database_url=database_url))
    yield live
    stop_in_thread(live.server, thread)


def wipe(db: Database) -> None:
    with db.write() as conn:
        for table in reversed(tables.metadata.sorted_tables):
            conn.execute(sa.delete(table))


@pytest.fixture
def server(live_server: LiveServer) -> LiveServer:
    """The live server on an empty database."""
    wipe(live_server.db)
    assert live_server.app.services is not None
    live_server.app.services.auth.clear()
    return live_server


def headers_for(issued: Issued, private_key: str | None = None) -> dict[str, str]:
    key = private_key or issued.private_key
    assert key is not None
    return {"SecureURL": issued.secure_url, "PrivateKey": key, "Token": issued.token}


@pytest.fixture
def issue(server: LiveServer) -> Callable[..., Issued]:
    """issue(store=..., app=..., scope=...) -> fresh credentials on the live server's database."""

    def _issue(store: str = STORE, app: str = "default", scope: str = "read,write") -> Issued:
        return credentials.issue(server.db, secure_url=store, application=app, scope=scope)

    return _issue


@pytest.fixture
def creds(issue: Callable[..., Issued]) -> Issued:
    return issue()


def plain_client(base_url: str, headers: dict[str, str] | None = None) -> httpx.Client:
    """An httpx client for the plain-http test server (no TLS context: that costs ~35 ms each)."""
    return httpx.Client(base_url=base_url, headers=headers, timeout=30, verify=False)  # noqa: S501


@pytest.fixture
def api(server: LiveServer, creds: Issued) -> Iterator[httpx.Client]:
    """A client for /3dCartWebAPI/v1 of a store with read/write credentials."""
    with plain_client(server.base_url + "/3dCartWebAPI/v1", headers_for(creds)) as client:
        yield client


@pytest.fixture
def raw(server: LiveServer) -> Iterator[httpx.Client]:
    """A client with no credentials, for the server root."""
    with plain_client(server.base_url) as client:
        yield client


def db_state(db: Database) -> list[tuple[object, ...]]:
    """Every stored group and customer, every store's id counters and how many audit entries
    there are: compare before and after a rejected request."""
    with db.read() as conn:
        groups = conn.execute(
            sa.select(tables.customer_groups).order_by(
                tables.customer_groups.c.store_id, tables.customer_groups.c.group_id
            )
        ).all()
        customers = conn.execute(
            sa.select(tables.customers).order_by(tables.customers.c.store_id, tables.customers.c.customer_id)
        ).all()
        s = tables.stores.c
        stores = conn.execute(sa.select(s.id, s.last_group_id, s.last_customer_id).order_by(s.id)).all()
        audit = conn.execute(sa.select(sa.func.count()).select_from(tables.audit_log)).all()
    return [tuple(row) for row in (*groups, *customers, *stores, *audit)]


@pytest.fixture
def state(server: LiveServer) -> Callable[[], list[tuple[object, ...]]]:
    return lambda: db_state(server.db)


def error_body(status: int, message: str, value: str = "") -> bytes:
    return (f'[{{"Key":"Error","Value":"{value}","Status":"{status}","Message":"{message}"}}]').encode()


def result_body(status: int, group_id: int, message: str) -> bytes:
    return (
        f'[{{"Key":"CustomerGroupID","Value":"{group_id}","Status":"{status}","Message":"{message}"}}]'
    ).encode()


def create_group(client: httpx.Client, **fields: object) -> int:
    body = {"Name": "Wholesale", **fields}
    response = client.post("/CustomerGroups", json=body)
    assert response.status_code == 201, response.text
    return int(response.json()[0]["Value"])


ROOT = Path(__file__).resolve().parent.parent


def reset_database(url: str) -> None:
    """Bring the database's schema up to date and delete every row."""
    db = Database(url)
    try:
        migrate.upgrade(db)
        wipe(db)
    finally:
        db.dispose()


@pytest.fixture
def empty_database_url(database_url: str) -> str:
    """The session database (SQLite or PostgreSQL), schema up to date and every row deleted."""
    reset_database(database_url)
    return database_url


@pytest.fixture(params=["sqlite", "postgresql"])
def fresh_database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A brand-new database with no schema at all, for this test only."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'fresh.db'}"
        return
    request.getfixturevalue("postgres_url")  # skips (or fails in CI) without PostgreSQL
    name = f"cartgroups_fresh_{secrets.token_hex(4)}"
    with psycopg.connect(PG_URL, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield sa.make_url(PG_URL).set(database=name).render_as_string(hide_password=False)
    finally:
        with psycopg.connect(PG_URL, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def fresh_db(fresh_database_url: str) -> Iterator[Database]:
    """A Database on a brand-new database of this test's own, its schema up to date."""
    database = Database(fresh_database_url)
    migrate.upgrade(database)
    yield database
    database.dispose()


SANDBOX_TOKEN = "sandbox-token-for-tests-0123456789"


@pytest.fixture(scope="session")
def live_sandbox(database_url: str) -> Iterator[LiveServer]:
    """A second live server on the session database, with the sandbox controls on."""
    settings = Settings(
        database_url=database_url, sandbox=True, sandbox_token=SANDBOX_TOKEN, sandbox_journal_size=5
    )
    live, thread = start_server(settings)
    yield live
    stop_in_thread(live.server, thread)


@pytest.fixture
def sandbox(live_sandbox: LiveServer) -> Iterator[LiveServer]:
    """The sandbox server on an empty database, with real sleep and random put back afterwards."""
    wipe(live_sandbox.db)
    app = live_sandbox.app
    assert app.services is not None and app.sandbox is not None and app.sandbox_layer is not None
    app.services.auth.clear()
    layer, controls = app.sandbox_layer, app.sandbox
    saved = (layer.sleep, layer.clock, controls.random)
    yield live_sandbox
    layer.sleep, layer.clock, controls.random = saved


@pytest.fixture
def control(sandbox: LiveServer) -> Iterator[httpx.Client]:
    """A client for /_cartgroups of the sandbox server, with the sandbox token."""
    headers = {"Authorization": f"Bearer {SANDBOX_TOKEN}"}
    with plain_client(sandbox.base_url + "/_cartgroups", headers) as client:
        yield client


@pytest.fixture
def sandbox_creds(sandbox: LiveServer) -> Issued:
    return credentials.issue(sandbox.db, secure_url=STORE, application="default")


@pytest.fixture
def sandbox_api(sandbox: LiveServer, sandbox_creds: Issued) -> Iterator[httpx.Client]:
    """A 3dcart client of the sandbox server, for a store with read/write credentials."""
    with plain_client(sandbox.base_url + "/3dCartWebAPI/v1", headers_for(sandbox_creds)) as client:
        yield client


def sandbox_state(db: Database) -> list[tuple[object, ...]]:
    """db_state plus every sandbox table: compare before and after a rejected control request."""
    with db.read() as conn:
        extra = [
            tuple(row)
            for table in (tables.sandbox_stores, tables.sandbox_faults, tables.sandbox_journal)
            for row in conn.execute(sa.select(table).order_by(*table.primary_key.columns)).all()
        ]
    return db_state(db) + extra
