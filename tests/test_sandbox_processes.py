"""Sandbox state is shared by server processes: ``cartgroups serve --sandbox`` twice on one
database (SQLite file or PostgreSQL), and once with two workers and a token made at start."""

from __future__ import annotations

import re
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from pathlib import Path

import httpx
import pytest

from cartgroups.service import credentials
from cartgroups.storage.database import Database
from tests.cli.procs import Served, run, serving
from tests.conftest import SANDBOX_TOKEN, reset_database

pytestmark = pytest.mark.slow

API = "/3dCartWebAPI/v1/CustomerGroups"
AUTH = {"Authorization": f"Bearer {SANDBOX_TOKEN}"}


@pytest.fixture(scope="module")
def two(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[list[Served]]:
    reset_database(database_url)
    cwd = tmp_path_factory.mktemp("sandbox-serve")
    with ExitStack() as stack:
        started = [
            stack.enter_context(
                serving(
                    "--sandbox",
                    "--sandbox-token",
                    SANDBOX_TOKEN,
                    database_url=database_url,
                    cwd=cwd,
                    ready=False,
                )
            )
            for _ in range(2)
        ]
        for served in started:
            served.wait_ready()
        yield started


def test_a_next_n_rule_fires_exactly_n_times_across_processes(two: list[Served], database_url: str) -> None:
    db = Database(database_url)
    try:
        issued = credentials.issue(db, secure_url="shared.example.com", application="shared")
    finally:
        db.dispose()
    assert issued.private_key is not None
    headers = {"SecureURL": issued.secure_url, "PrivateKey": issued.private_key, "Token": issued.token}
    first, second = two
    rule = httpx.post(first.base_url + "/_cartgroups/faults", headers=AUTH, json={"status": 503, "times": 7})
    assert rule.status_code == 201
    # The rule added through one process is listed by the other.
    assert httpx.get(second.base_url + "/_cartgroups/faults", headers=AUTH).json() == [rule.json()]

    def ask(base_url: str) -> list[int]:
        with httpx.Client(base_url=base_url, headers=headers, timeout=30) as api:
            return [api.get(API).status_code for _ in range(10)]

    with ThreadPoolExecutor(4) as pool:
        statuses = [s for job in [pool.submit(ask, s.base_url) for s in (*two, *two)] for s in job.result()]
    assert len(statuses) == 40
    assert statuses.count(503) == 7
    assert statuses.count(404) == 33  # the store has no groups: 3dcart's 404
    assert httpx.get(first.base_url + "/_cartgroups/faults", headers=AUTH).json() == []

    # One journal, whichever process answered (the test server keeps the default 100 per store).
    journal = httpx.get(second.base_url + f"/_cartgroups/stores/{issued.secure_url}/journal", headers=AUTH)
    assert sorted(entry["status"] for entry in journal.json()) == [404] * 33 + [503] * 7
    # A throttling switch set through one process is read by the other.
    url = f"/_cartgroups/stores/{issued.secure_url}/throttle"
    assert httpx.put(first.base_url + url, headers=AUTH, json={"throttle": True}).status_code == 200
    assert httpx.get(second.base_url + url, headers=AUTH).json()["throttle"] is True


def test_a_token_made_at_start_is_printed_and_shared_by_the_workers(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'workers.db'}"
    with serving("--sandbox", "--workers", "2", database_url=url, cwd=tmp_path) as served:
        line = served.wait_for(served.out, lambda text: "Sandbox token (made for this run):" in text)
        token = line.split(": ", 1)[1].strip()
        assert re.fullmatch(r"[A-Za-z0-9_-]{32}", token)
        assert f"Sandbox controls at http://127.0.0.1:{served.port}/_cartgroups/" in served.stdout
        with httpx.Client(base_url=served.base_url, timeout=30) as client:
            # Several requests on new connections, so that both workers answer some.
            for _ in range(8):
                response = client.get(
                    "/_cartgroups/faults", headers={"Authorization": f"Bearer {token}", "Connection": "close"}
                )
                assert response.status_code == 200, response.text
            assert client.get("/_cartgroups/faults", headers={"Authorization": "Bearer x"}).status_code == 401
    assert token not in served.stderr  # never logged


def test_without_sandbox_the_prefix_is_404_and_no_token_is_printed(tmp_path: Path) -> None:
    with serving(
        database_url=f"sqlite:///{tmp_path / 'plain.db'}",
        cwd=tmp_path,
        CARTGROUPS_SANDBOX_TOKEN=SANDBOX_TOKEN,
    ) as served:
        response = httpx.get(served.base_url + "/_cartgroups/faults", headers=AUTH)
        assert response.status_code == 404
        assert "Sandbox" not in served.stdout


def test_a_short_sandbox_token_is_refused_in_one_line(tmp_path: Path) -> None:
    result = run(
        ["serve", "--sandbox", "--sandbox-token", "short"],
        database_url=f"sqlite:///{tmp_path / 'x.db'}",
        cwd=tmp_path,
    )
    assert result.one_line_error() == (
        "error: invalid setting sandbox_token (CARTGROUPS_SANDBOX_TOKEN or its flag): "
        "String should have at least 16 characters"
    )
