"""Issue #15, item 2: a restore under running servers leaves nothing they kept from before it in
use. Real ``cartgroups serve`` processes, their caches warmed, across ``cartgroups db restore``
(SQLite) or ``pg_restore`` (PostgreSQL): credentials issued after the backup stop working, and a
new store that gets the id of a restored-away one is not reachable with that store's token."""

from __future__ import annotations

import subprocess
import time
from contextlib import ExitStack
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa

from cartgroups.service import credentials
from cartgroups.service.credentials import REJECTED, Issued
from cartgroups.storage.commits import Commits
from cartgroups.storage.database import Database
from tests.cli.procs import Served, run, serving
from tests.conftest import headers_for

pytestmark = pytest.mark.slow

API = "/3dCartWebAPI/v1"
# A bound, not a timing claim: on PostgreSQL a process notices a pg_restore at its next poll of
# the database's generation (auth_cache_seconds, at most 1 s); SQLite at its next request.
NOTICED_WITHIN = 5.0


@pytest.fixture
def db(fresh_db: Database) -> Database:
    return fresh_db


def _backup(url: str, to: Path, cwd: Path) -> None:
    if url.startswith("sqlite"):
        run(["db", "backup", str(to)], database_url=url, cwd=cwd).ok()
    else:
        subprocess.run(["pg_dump", "-Fc", "-f", str(to), "-d", url], check=True, timeout=60)


def _restore(url: str, backup: Path, cwd: Path) -> None:
    if url.startswith("sqlite"):
        run(["db", "restore", str(backup), "--yes"], database_url=url, cwd=cwd).ok()
    else:  # over the live database, as docs/operations.md shows, in one transaction
        subprocess.run(
            ["pg_restore", "--clean", "--if-exists", "--single-transaction", "-d", url, str(backup)],
            check=True,
            timeout=60,
        )


def _create(served: Served, issued: Issued, name: str) -> httpx.Response:
    return httpx.post(
        served.base_url + API + "/CustomerGroups",
        headers=headers_for(issued),
        json={"Name": name},
        timeout=10,
    )


def _names(served: Served, issued: Issued) -> list[str]:
    response = httpx.get(served.base_url + API + "/CustomerGroups", headers=headers_for(issued), timeout=10)
    assert response.status_code == 200, response.text
    return [group["Name"] for group in response.json()]


def _status(
    served: Served, issued: Issued, method: str = "GET", path: str = "/CustomerGroups", **kw: object
) -> int:
    response = httpx.request(
        method, served.base_url + API + path, headers=headers_for(issued), timeout=10, **kw
    )
    return response.status_code


def _rejected_everywhere(servers: list[Served], issued: Issued, exact: bool) -> None:
    """Every process answers 401 REJECTED to these credentials: at once where the database
    tells every commit (SQLite), else within NOTICED_WITHIN."""
    deadline = time.monotonic() + (0 if exact else NOTICED_WITHIN)
    for served in servers:
        while True:
            response = httpx.get(
                served.base_url + API + "/CustomerGroups", headers=headers_for(issued), timeout=10
            )
            if response.status_code == 401 or time.monotonic() >= deadline:
                break
            time.sleep(0.05)
        assert response.status_code == 401, (served.base_url, response.status_code, response.text)
        assert response.json()[0]["Message"] == REJECTED


def test_a_restore_under_running_servers_drops_what_they_kept(
    db: Database, fresh_database_url: str, tmp_path: Path
) -> None:
    url = fresh_database_url
    exact = Commits(db).exact
    first = credentials.issue(db, secure_url="first.example.com", application="first-app")
    with ExitStack() as stack:
        servers = [
            stack.enter_context(serving(database_url=url, cwd=tmp_path, ready=False)) for _ in range(2)
        ]
        for served in servers:
            served.wait_ready()
        first_group = _create(servers[0], first, "First's group")
        assert first_group.status_code == 201, first_group.text
        _backup(url, tmp_path / "backup", tmp_path)

        # After the backup: a store, its token and a group, used on every process (its
        # credentials verified and kept, its reads kept by the read cache).
        later = credentials.issue(db, secure_url="later.example.com", application="later-app")
        later_store = credentials.store_id_of(db, "later.example.com")
        created = _create(servers[0], later, "Later's group")
        assert created.status_code == 201, created.text
        renamed = _status(servers[0], first, "PUT", "/CustomerGroups/1", json={"Name": "Renamed later"})
        assert renamed == 200
        for served in servers:
            for _ in range(3):
                assert _status(served, later) == 200
                assert _status(served, later, path="/CustomerGroups/1") == 200
                assert _names(served, first) == ["Renamed later"]

        _restore(url, tmp_path / "backup", tmp_path)

        _rejected_everywhere(servers, later, exact)
        for served in servers:  # the restored store's credentials work, and no read is kept
            assert _names(served, first) == ["First's group"]

        # A new tenant gets the id the restored-away store had; its stale token reaches none of it.
        new = credentials.issue(db, secure_url="new-tenant.example.com", application="new-app")
        assert credentials.store_id_of(db, "new-tenant.example.com") == later_store
        made = _create(servers[1], new, "New tenant's group")
        assert made.status_code == 201, made.text
        group_id = made.json()[0]["Value"]
        for served in servers:
            assert _status(served, later) == 401
            assert _status(served, later, path=f"/CustomerGroups/{group_id}") == 401
            assert (
                _status(served, later, "PUT", f"/CustomerGroups/{group_id}", json={"Name": "Renamed"}) == 401
            )
            assert _status(served, later, "DELETE", f"/CustomerGroups/{group_id}") == 401
        kept = httpx.get(
            servers[0].base_url + API + f"/CustomerGroups/{group_id}", headers=headers_for(new), timeout=10
        )
        assert kept.status_code == 200 and kept.json()[0]["Name"] == "New tenant's group"
    with db.read() as conn:  # the audit log names only the new tenant's application
        applications = (
            conn.execute(
                sa.text("SELECT DISTINCT application FROM audit_log WHERE store_id = :store"),
                {"store": later_store},
            )
            .scalars()
            .all()
        )
    assert applications == ["new-app"]
