"""Issue #15, item 12: a server whose database lost its schema (tables dropped under it, or a
database made anew, empty) says so on /healthz with 503, and answers API calls with 503 and
the 3dcart error record rather than 500."""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterator

import httpx
import psycopg
import pytest
import sqlalchemy as sa

from cartgroups.config import Settings
from cartgroups.service import credentials
from cartgroups.storage import migrate
from cartgroups.storage.database import UNAVAILABLE
from cartgroups.testing.server import stop_in_thread
from tests.conftest import LiveServer, headers_for, start_server

API = "/3dCartWebAPI/v1"
# A bound, not a timing claim: a process looks at the schema at most once a second.
WITHIN = 5.0


@pytest.fixture
def server(fresh_database_url: str) -> Iterator[LiveServer]:
    live, thread = start_server(Settings(database_url=fresh_database_url))
    yield live
    stop_in_thread(live.server, thread)


def _healthz_once_it_is_not(server: LiveServer, status: int) -> httpx.Response:
    deadline = time.monotonic() + WITHIN
    while True:
        response = httpx.get(server.base_url + "/healthz", timeout=10)
        if response.status_code != status or time.monotonic() >= deadline:
            return response
        time.sleep(0.05)


def _drop_everything(url: str) -> None:
    """What an operator's mistake does: every table gone, under the running server."""
    if url.startswith("sqlite"):
        with sqlite3.connect(url.removeprefix("sqlite:///"), isolation_level=None) as conn:
            conn.execute("PRAGMA foreign_keys = OFF")
            names = [row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
            for name in names:
                if not name.startswith("sqlite_"):
                    conn.execute(f'DROP TABLE "{name}"')
        conn.close()
        return
    with psycopg.connect(sa.make_url(url).set(drivername="postgresql").render_as_string(False)) as conn:
        conn.execute("DROP SCHEMA public CASCADE")
        conn.execute("CREATE SCHEMA public")


def _set_revision(server: LiveServer, revision: str) -> None:
    with server.db.write() as conn:
        conn.execute(sa.text("UPDATE alembic_version SET version_num = :r"), {"r": revision})


def test_healthz_and_the_api_say_503_when_the_schema_is_gone(
    server: LiveServer, fresh_database_url: str
) -> None:
    issued = credentials.issue(server.db, secure_url="shop.example.com")
    api = httpx.Client(base_url=server.base_url + API, headers=headers_for(issued), timeout=10)
    assert api.post("/CustomerGroups", json={"Name": "A"}).status_code == 201
    assert api.get("/CustomerGroups/1").status_code == 200  # credentials and the read kept
    healthy = httpx.get(server.base_url + "/healthz", timeout=10)
    assert (healthy.status_code, healthy.json()) == (200, {"status": "ok", "database": "ok"})

    _drop_everything(fresh_database_url)

    gone = _healthz_once_it_is_not(server, 200)
    assert (gone.status_code, gone.json()) == (503, {"status": "unavailable", "database": "schema missing"})
    assert gone.headers["cache-control"] == "no-store"
    deadline = time.monotonic() + WITHIN
    while (read := api.get("/CustomerGroups/1")).status_code == 200 and time.monotonic() < deadline:
        time.sleep(0.05)  # PostgreSQL: the credentials kept are used until the next poll
    for response in (read, api.get("/CustomerGroups"), api.post("/CustomerGroups", json={"Name": "B"})):
        assert response.status_code == 503, response.text
        assert response.json() == [{"Key": "Error", "Value": "", "Status": "503", "Message": UNAVAILABLE}]
    api.close()


def test_healthz_tells_an_older_schema_and_takes_a_newer_one(server: LiveServer) -> None:
    assert httpx.get(server.base_url + "/healthz", timeout=10).status_code == 200
    _set_revision(server, "0009")  # as a pg_restore of an older dump leaves it
    older = _healthz_once_it_is_not(server, 200)
    assert (older.status_code, older.json()) == (
        503,
        {"status": "unavailable", "database": "schema out of date"},
    )
    _set_revision(server, "ffff9999")  # a newer version's, met during a rolling upgrade
    newer = _healthz_once_it_is_not(server, 503)
    assert (newer.status_code, newer.json()) == (200, {"status": "ok", "database": "ok"})
    _set_revision(server, migrate.head_revision())


def test_the_schema_is_looked_at_once_a_second_at_most(
    server: LiveServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    looks: list[object] = []
    real = migrate._schema_state
    monkeypatch.setattr(migrate, "_schema_state", lambda db: looks.append(db) or real(db))
    migrate._looked.clear()
    started = time.monotonic()
    for _ in range(20):
        assert httpx.get(server.base_url + "/healthz", timeout=10).status_code == 200
    elapsed = time.monotonic() - started
    assert 1 <= len(looks) <= 1 + elapsed // migrate.SCHEMA_CHECK_SECONDS
