"""Issue 15, item 6, over HTTP: with ``--rate-limit`` or ``--sandbox``, every request writes
bookkeeping (its rate-limit bucket, its journal entry). While another connection holds SQLite's
write lock those writes used to wait out the 10 s busy timeout on the event loop (delaying
/healthz too, and the limiter then answered 503); with the database not writable every read was
a 503. Now reads and /healthz answer at once, the limiter decides by the process's own bucket,
and the journal entries are written once the database takes them."""

from __future__ import annotations

import sqlite3
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from cartgroups.config import Settings
from cartgroups.service import credentials
from cartgroups.storage import tables
from cartgroups.storage.database import Database
from cartgroups.testing.server import stop_in_thread
from tests.conftest import SANDBOX_TOKEN, LiveServer, create_group, headers_for, plain_client, start_server

STORE = "books.example.com"
PROMPT_SECONDS = 5.0  # far below the 10 s busy timeout every request used to wait
CONTROL = {"Authorization": f"Bearer {SANDBOX_TOKEN}"}
SETUPS: dict[str, dict[str, Any]] = {
    "rate-limit": {"rate_limit": "50/0.001"},
    "sandbox": {"sandbox": True, "sandbox_token": SANDBOX_TOKEN},
    "both": {"rate_limit": "50/0.001", "sandbox": True, "sandbox_token": SANDBOX_TOKEN},
}


@contextmanager
def serving(url: str, **settings: Any) -> Iterator[LiveServer]:
    live, thread = start_server(Settings(database_url=url, **settings))
    try:
        yield live
    finally:
        stop_in_thread(live.server, thread)


def journal(live: LiveServer) -> list[dict[str, object]]:
    response = httpx.get(f"{live.base_url}/_cartgroups/stores/{STORE}/journal", headers=CONTROL, timeout=30)
    assert response.status_code == 200
    result: list[dict[str, object]] = response.json()
    return result


def bucket_level(db: Database) -> float:
    """The level of the one bucket there is, as last stored."""
    with db.read() as conn:
        [level] = conn.execute(sa.select(tables.rate_buckets.c.level)).scalars().all()
    return float(level)


@pytest.mark.parametrize("setup", list(SETUPS))
def test_a_held_write_lock_delays_no_read_and_no_healthz(
    database_url: str, tmp_path: Path, setup: str
) -> None:
    if not database_url.startswith("sqlite"):
        pytest.skip("PostgreSQL has no database-wide write lock")
    file = tmp_path / "cg.db"
    with serving(f"sqlite:///{file}", **SETUPS[setup]) as live:
        issued = credentials.issue(live.db, secure_url=STORE, application="default")
        with plain_client(live.base_url + "/3dCartWebAPI/v1", headers_for(issued)) as api:
            group_id = create_group(api)
            blocker = sqlite3.connect(file, isolation_level=None)
            blocker.execute("BEGIN IMMEDIATE")
            try:
                started = time.monotonic()
                statuses = [api.get(f"/CustomerGroups/{group_id}").status_code for _ in range(5)]
                health = httpx.get(live.base_url + "/healthz", timeout=30)
                elapsed = time.monotonic() - started
            finally:
                blocker.execute("ROLLBACK")
                blocker.close()
            assert statuses == [200] * 5
            assert (health.status_code, health.json()) == (200, {"status": "ok", "database": "ok"})
            assert elapsed < PROMPT_SECONDS
            time.sleep(0.3)  # the limiter tries the shared bucket again every 0.1 s
            assert api.get(f"/CustomerGroups/{group_id}").status_code == 200
        if "sandbox" in SETUPS[setup]:  # every request is in the journal once it could be written
            assert [e["method"] for e in journal(live)][::-1] == ["POST"] + ["GET"] * 6
        if "rate_limit" in SETUPS[setup]:  # and in the shared bucket
            assert 6.99 < bucket_level(live.db) <= 7.0  # the POST and 6 GETs (less what drained)


def chattr(flag: str, *paths: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["chattr", flag, *map(str, paths)], capture_output=True, text=True, check=False)


@contextmanager
def sqlite_unwritable(file: Path) -> Iterator[None]:
    """The file and its WAL made immutable (how tests/test_outages_live.py does it)."""
    probe = file.with_name("probe")
    probe.write_text("x")
    if chattr("+i", probe).returncode != 0:
        pytest.skip("chattr +i is not permitted here")
    chattr("-i", probe)
    files = (file, file.with_name(file.name + "-wal"))
    assert chattr("+i", *files).returncode == 0
    try:
        yield
    finally:
        chattr("-i", *files)


def test_reads_with_rate_limit_and_sandbox_are_served_from_an_unwritable_sqlite_file(
    database_url: str, tmp_path: Path
) -> None:
    if not database_url.startswith("sqlite"):
        pytest.skip("the PostgreSQL case is test_reads_..._from_a_read_only_postgresql")
    file = tmp_path / "cg.db"
    with serving(f"sqlite:///{file}", **SETUPS["both"] | {"rate_limit": "4/0.001"}) as live:
        issued = credentials.issue(live.db, secure_url=STORE, application="default")
        with plain_client(live.base_url + "/3dCartWebAPI/v1", headers_for(issued)) as api:
            group_id = create_group(api)  # the shared bucket: 1 of 4
            with sqlite_unwritable(file):
                started = time.monotonic()
                statuses = [api.get(f"/CustomerGroups/{group_id}").status_code for _ in range(4)]
                assert time.monotonic() - started < PROMPT_SECONDS
                # Served, and still limited: by this process's copy of the bucket.
                assert statuses == [200, 200, 200, 429]
            # Writable again: what was let in meanwhile is in the shared bucket: it is full.
            deadline = time.monotonic() + 10
            while len(entries := journal(live)) < 5 and time.monotonic() < deadline:
                time.sleep(0.1)
            assert [e["status"] for e in entries][::-1] == [201, 200, 200, 200, 429]
            time.sleep(0.3)  # the limiter tries the shared bucket again every 0.1 s
            assert api.get(f"/CustomerGroups/{group_id}").status_code == 429
        assert 3.99 < bucket_level(live.db) <= 4.0  # less what drained since


def test_reads_with_rate_limit_and_sandbox_are_served_from_a_read_only_postgresql(
    empty_database_url: str,
) -> None:
    if not empty_database_url.startswith("postgresql"):
        pytest.skip("default_transaction_read_only is a PostgreSQL setting")
    db = Database(empty_database_url)
    try:
        issued = credentials.issue(db, secure_url=STORE, application="default")
    finally:
        db.dispose()
    read_only = sa.make_url(empty_database_url).update_query_dict(
        {"options": "-c default_transaction_read_only=on"}
    )
    settings = SETUPS["both"] | {"rate_limit": "3/0.001"}
    with (
        serving(read_only.render_as_string(hide_password=False), **settings) as live,
        plain_client(live.base_url + "/3dCartWebAPI/v1", headers_for(issued)) as api,
    ):
        started = time.monotonic()
        statuses = [api.get("/CustomerGroups/1").status_code for _ in range(4)]
        assert time.monotonic() - started < PROMPT_SECONDS
        assert statuses == [404, 404, 404, 429]  # no such group (not a 503); then the local bucket
        assert live.app.sandbox is not None and live.app.sandbox.journal_queued == 4


def test_fault_rules_under_a_held_write_lock_wait_briefly_then_do_without_the_count(
    database_url: str, tmp_path: Path
) -> None:
    """Firing a rule claims one of its applications (a write). While the lock stays taken, a
    rule limited to N requests does not fire (never more than N), an unlimited one fires
    uncounted; either way after a short wait that does not block the server."""
    if not database_url.startswith("sqlite"):
        pytest.skip("PostgreSQL has no database-wide write lock")
    file = tmp_path / "cg.db"
    with serving(f"sqlite:///{file}", **SETUPS["sandbox"]) as live:
        issued = credentials.issue(live.db, secure_url=STORE, application="default")
        faults = f"{live.base_url}/_cartgroups/faults"
        limited = httpx.post(faults, headers=CONTROL, json={"path": "*/1", "status": 503, "times": 1})
        unlimited = httpx.post(faults, headers=CONTROL, json={"path": "*/2", "status": 502})
        assert (limited.status_code, unlimited.status_code) == (201, 201)
        with plain_client(live.base_url + "/3dCartWebAPI/v1", headers_for(issued)) as api:
            blocker = sqlite3.connect(file, isolation_level=None)
            blocker.execute("BEGIN IMMEDIATE")
            try:
                started = time.monotonic()
                statuses = [
                    api.get("/CustomerGroups/1").status_code,
                    api.get("/CustomerGroups/2").status_code,
                ]
                elapsed = time.monotonic() - started
            finally:
                blocker.execute("ROLLBACK")
                blocker.close()
            assert statuses == [404, 502]
            assert elapsed < PROMPT_SECONDS
            rules = httpx.get(faults, headers=CONTROL).json()
            assert [(r["times_left"], r["applied"]) for r in rules] == [(1, 0), (None, 0)]
            # With the lock free, both fire and are counted.
            assert [api.get("/CustomerGroups/1").status_code, api.get("/CustomerGroups/2").status_code] == [
                503,
                502,
            ]
            assert [(r["times_left"], r["applied"]) for r in httpx.get(faults, headers=CONTROL).json()] == [
                (None, 1)
            ]
