"""Two ``cartgroups serve`` processes on one database (SQLite file or PostgreSQL): they start at
once, hand out unique per-store ids under concurrent creates, and stop accepting a revoked token
within 1 second each."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from pathlib import Path

import httpx
import pytest

from cartgroups.service import credentials
from cartgroups.service.credentials import Issued, hash_secret
from cartgroups.storage import credentials as cred_sql
from cartgroups.storage.database import Database
from tests.cli.procs import Served, finish, serving, start
from tests.conftest import headers_for, reset_database

pytestmark = pytest.mark.slow

API = "/3dCartWebAPI/v1"
PROCESSES, THREADS, CREATES = 2, 4, 25


@pytest.fixture(scope="module")
def servers(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[list[Served]]:
    """Two server processes, started at the same moment on one database without stores."""
    reset_database(database_url)
    cwd = tmp_path_factory.mktemp("serve")
    with ExitStack() as stack:
        started = [
            stack.enter_context(serving(database_url=database_url, cwd=cwd, ready=False))
            for _ in range(PROCESSES)
        ]
        for served in started:
            served.wait_ready()
        yield started


@pytest.fixture
def db(servers: list[Served], database_url: str) -> Iterator[Database]:
    database = Database(database_url)
    yield database
    database.dispose()


def live(db: Database, issued: Issued) -> bool:
    with db.read() as conn:
        return cred_sql.find_grant(conn, token_hash=hash_secret(issued.token)) is not None


def test_only_one_of_two_processes_starting_at_once_prints_demo_credentials(
    servers: list[Served],
) -> None:
    for served in servers:
        served.wait_for(served.out, lambda line: line.startswith("Serving "))
    deadline = time.monotonic() + 10
    while not any("curl " in served.stdout for served in servers):
        assert time.monotonic() < deadline, [served.stdout for served in servers]
        time.sleep(0.02)
    assert [("Token:" in served.stdout) for served in servers].count(True) == 1


def test_concurrent_creates_on_two_processes_get_ids_1_to_n(servers: list[Served], db: Database) -> None:
    main = credentials.issue(db, secure_url="busy.example.com", application="load")
    other = credentials.issue(db, secure_url="other.example.com", application="load-b")
    barrier = threading.Barrier(PROCESSES * THREADS + PROCESSES)

    def create(base_url: str, issued: Issued, count: int) -> list[tuple[int, int]]:
        done = []
        with httpx.Client(base_url=base_url + API, headers=headers_for(issued), timeout=30) as api:
            barrier.wait(timeout=30)
            for n in range(count):
                response = api.post("/CustomerGroups", json={"Name": f"Group {n}"})
                done.append((response.status_code, int(response.json()[0]["Value"])))
        return done

    with ThreadPoolExecutor(PROCESSES * THREADS + PROCESSES) as pool:
        main_jobs = [
            pool.submit(create, served.base_url, main, CREATES) for served in servers for _ in range(THREADS)
        ]
        # Meanwhile a second store gets its own ids from 1, on both processes too.
        other_jobs = [pool.submit(create, served.base_url, other, 10) for served in servers]
        main_results = [item for job in main_jobs for item in job.result(timeout=120)]
        other_results = [item for job in other_jobs for item in job.result(timeout=120)]

    total = PROCESSES * THREADS * CREATES
    assert {status for status, _ in main_results} == {201}
    assert sorted(group_id for _, group_id in main_results) == list(range(1, total + 1))
    assert {status for status, _ in other_results} == {201}
    assert sorted(group_id for _, group_id in other_results) == list(range(1, 21))

    with httpx.Client(headers=headers_for(main), timeout=30) as api:
        listed = api.get(servers[0].base_url + API + "/CustomerGroups", params={"limit": 500})
        assert [g["CustomerGroupID"] for g in listed.json()] == list(range(1, total + 1))
        count = api.get(servers[1].base_url + API + "/CustomerGroups", params={"countonly": 1})
        assert count.json() == {"TotalCount": total}


def test_revoked_token_stops_working_on_every_process_within_one_second(
    servers: list[Served], db: Database, database_url: str, tmp_path: Path
) -> None:
    issued = credentials.issue(db, secure_url="revoke.example.com", application="revoke")
    with httpx.Client(headers=headers_for(issued), timeout=30) as api:
        created = api.post(servers[0].base_url + API + "/CustomerGroups", json={"Name": "A"})
        assert created.status_code == 201

    # Each process is asked again and again, so that it has the grant cached when the
    # token is revoked. Every answer is kept with the moment its request was sent.
    answers: list[list[tuple[float, int]]] = [[] for _ in servers]
    stop = threading.Event()

    def ask(served: Served, into: list[tuple[float, int]]) -> None:
        url = served.base_url + API + "/CustomerGroups/1"
        with httpx.Client(headers=headers_for(issued), timeout=10) as api:
            deadline = time.monotonic() + 60
            while not stop.is_set() and time.monotonic() < deadline:
                sent = time.monotonic()
                into.append((sent, api.get(url).status_code))
                time.sleep(0.005)

    askers = [
        threading.Thread(target=ask, args=(served, into), daemon=True)
        for served, into in zip(servers, answers, strict=True)
    ]
    for asker in askers:
        asker.start()
    try:
        deadline = time.monotonic() + 30
        while not all(sum(s == 200 for _, s in into) >= 5 for into in answers):
            assert time.monotonic() < deadline, answers
            time.sleep(0.01)
        before = time.monotonic()
        revoking = start(
            ["credentials", "revoke", str(issued.token_id)], database_url=database_url, cwd=tmp_path
        )
        try:
            # The clock starts when the revocation is committed (seen from here), not when
            # the command exits: its interpreter takes a while to shut down.
            while live(db, issued):
                assert time.monotonic() < before + 60, "the revocation was never committed"
                time.sleep(0.005)
            revoked = time.monotonic()
        finally:
            result = finish(revoking)
        result.ok()

        def settled(into: list[tuple[float, int]]) -> bool:
            return len(into) >= 3 and all(s == 401 for _, s in into[-3:])

        while time.monotonic() < revoked + 1.5 and not all(settled(i) for i in answers):
            time.sleep(0.01)
    finally:
        stop.set()
        for asker in askers:
            asker.join(timeout=15)

    for served, into in zip(servers, answers, strict=True):
        earlier = [status for sent, status in into if sent < before]
        assert earlier and set(earlier) == {200}, f"{served.base_url}: {earlier}"
        assert {status for _, status in into} <= {200, 401}
        first = next((i for i, (_, status) in enumerate(into) if status == 401), None)
        assert first is not None, f"{served.base_url} still accepts the revoked token"
        assert into[first][0] - revoked <= 1.0, f"{served.base_url}: 401 only after 1 s"
        assert {status for _, status in into[first:]} == {401}, served.base_url
