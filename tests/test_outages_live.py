"""The database goes away under a running ``cartgroups serve`` and comes back: requests get a 503
error record (bounded: PostgreSQL connects time out after 5 s), /healthz says what is wrong,
and the server recovers by itself.

- PostgreSQL "stopped": the server reaches PostgreSQL through a loopback TCP proxy (tests/
  tcpproxy.py), which is cut (every connection closed, new ones refused) and restored. The
  shared PostgreSQL server itself is never stopped.
- SQLite "read-only": the tests may run as root, which file permissions do not stop, and a
  server keeps the file open anyway (permissions are checked at open). So the database file
  and its WAL are made immutable (``chattr +i``, FS_IMMUTABLE_FL), which refuses writes to
  open files too, even root's. Where chattr is not permitted the test is skipped, saying so.
"""

from __future__ import annotations

import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa

from cartgroups.service import credentials
from cartgroups.storage.database import UNAVAILABLE, Database
from tests.cli.procs import Served, serving
from tests.conftest import error_body, headers_for, reset_database
from tests.tcpproxy import TcpProxy

pytestmark = pytest.mark.slow

API = "/3dCartWebAPI/v1"
DOWN = error_body(503, UNAVAILABLE)
CLIENT_TIMEOUT = 15  # every request during the outage must be answered well within this


def group_ids(db: Database) -> list[int]:
    with db.read() as conn:
        return list(conn.exec_driver_sql("SELECT group_id FROM customer_groups ORDER BY group_id").scalars())


def assert_down(response: httpx.Response) -> None:
    assert response.status_code == 503, response.text
    assert response.content == DOWN
    assert response.headers["retry-after"] == "1"


def wait_healthy(served: Served, timeout: float = 20) -> httpx.Response:
    deadline = time.monotonic() + timeout
    while True:
        response = httpx.get(served.base_url + "/healthz", timeout=CLIENT_TIMEOUT)
        if response.status_code == 200 or time.monotonic() > deadline:
            return response
        time.sleep(0.1)


@pytest.fixture
def db(database_url: str) -> Iterator[Database]:
    reset_database(database_url)
    database = Database(database_url)
    yield database
    database.dispose()


def test_postgresql_going_away_is_503_and_the_server_recovers_by_itself(
    db: Database, database_url: str, tmp_path: Path
) -> None:
    if db.dialect_name != "postgresql":
        pytest.skip("the SQLite outage is test_a_read_only_sqlite_file_...")
    issued = credentials.issue(db, secure_url="outage.example.com", application="outage")
    url = sa.make_url(database_url)
    proxy = TcpProxy((url.host or "127.0.0.1", url.port or 5432))
    proxied = url.set(host="127.0.0.1", port=proxy.port).render_as_string(hide_password=False)
    try:
        with (
            serving("--log-level", "warning", database_url=proxied, cwd=tmp_path) as served,
            httpx.Client(
                base_url=served.base_url + API, headers=headers_for(issued), timeout=CLIENT_TIMEOUT
            ) as api,
        ):
            assert api.post("/CustomerGroups", json={"Name": "before"}).status_code == 201

            proxy.cut()
            for _ in range(3):  # the broken connections, then refused reconnects
                assert_down(api.get("/CustomerGroups/1"))
                assert_down(api.post("/CustomerGroups", json={"Name": "during"}))
                assert_down(api.put("/CustomerGroups", json=[{"CustomerGroupID": 1, "Name": "x"}]))
            health = httpx.get(served.base_url + "/healthz", timeout=CLIENT_TIMEOUT)
            assert health.status_code == 503
            assert health.json() == {"status": "unavailable", "database": "unreachable"}

            proxy.restore()
            assert wait_healthy(served).json() == {"status": "ok", "database": "ok"}
            assert api.get("/CustomerGroups/1").json()[0]["Name"] == "before"
            created = api.post("/CustomerGroups", json={"Name": "after"})
            assert created.status_code == 201 and created.json()[0]["Value"] == "2"
            assert "Traceback" not in served.stderr
            assert "database unavailable" in served.stderr  # logged as a warning, one line each
    finally:
        proxy.close()
    assert group_ids(db) == [1, 2]  # nothing written during the outage


def chattr(flag: str, *paths: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["chattr", flag, *map(str, paths)], capture_output=True, text=True, check=False)


def test_a_read_only_sqlite_file_is_503_for_writes_and_the_server_recovers_by_itself(
    db: Database, database_url: str, tmp_path: Path
) -> None:
    if db.dialect_name != "sqlite":
        pytest.skip("the PostgreSQL outage is test_postgresql_going_away_...")
    probe = tmp_path / "probe"
    probe.write_text("x")
    tried = chattr("+i", probe)
    if tried.returncode != 0:
        pytest.skip(f"chattr +i is not permitted here: {tried.stderr.strip()}")
    chattr("-i", probe)
    issued = credentials.issue(db, secure_url="readonly.example.com", application="readonly")
    file = Path(sa.make_url(database_url).database or "")
    files = (file, file.with_name(file.name + "-wal"))
    with (
        serving("--log-level", "warning", database_url=database_url, cwd=tmp_path) as served,
        httpx.Client(
            base_url=served.base_url + API, headers=headers_for(issued), timeout=CLIENT_TIMEOUT
        ) as api,
    ):
        assert api.post("/CustomerGroups", json={"Name": "before"}).status_code == 201
        assert all(f.exists() for f in files)
        try:
            assert chattr("+i", *files).returncode == 0
            assert_down(api.post("/CustomerGroups", json={"Name": "during"}))
            assert_down(api.put("/CustomerGroups/1", json={"Name": "during"}))
            assert_down(api.delete("/CustomerGroups/1"))
            # Reads are still served from the file ...
            assert api.get("/CustomerGroups/1").json()[0]["Name"] == "before"
            # ... and /healthz tells that writes fail.
            health = httpx.get(served.base_url + "/healthz", timeout=CLIENT_TIMEOUT)
            assert health.status_code == 503
            assert health.json() == {"status": "unavailable", "database": "not writable"}
        finally:
            chattr("-i", *files)
        assert wait_healthy(served).json() == {"status": "ok", "database": "ok"}
        created = api.post("/CustomerGroups", json={"Name": "after"})
        assert created.status_code == 201 and created.json()[0]["Value"] == "2"
        assert "Traceback" not in served.stderr
    assert group_ids(db) == [1, 2]
    with db.read() as conn:
        assert conn.exec_driver_sql("PRAGMA integrity_check").scalar_one() == "ok"
