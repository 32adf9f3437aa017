"""Four ``cartgroups serve`` processes on one database (SQLite file or PostgreSQL) and many
concurrent clients: unique ids, no torn writes, counts that match the rows, and no request that
fails because of contention (no 5xx, no 503 "busy" or deadlock error).

Bounded: 16 client threads and a few hundred requests per test."""

from __future__ import annotations

import random
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from decimal import Decimal
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from cartgroups.service import credentials
from cartgroups.service.credentials import Issued
from cartgroups.storage import tables
from cartgroups.storage.database import Database
from tests.cli.procs import Served, serving
from tests.conftest import headers_for, reset_database

pytestmark = pytest.mark.slow

API = "/3dCartWebAPI/v1"
PROCESSES, THREADS = 4, 16


@pytest.fixture(scope="module")
def servers(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[list[Served]]:
    reset_database(database_url)
    cwd = tmp_path_factory.mktemp("serve4")
    with ExitStack() as stack:
        started = [
            stack.enter_context(
                serving("--log-level", "warning", database_url=database_url, cwd=cwd, ready=False)
            )
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


def in_parallel(
    servers: list[Served], issued: Issued, work: Callable[[httpx.Client, int], list[Any]]
) -> list[Any]:
    """Run work(client, thread number) on THREADS threads at once, spread over the processes;
    the threads start together (a barrier) so that their requests really overlap."""
    barrier = threading.Barrier(THREADS)

    def run(n: int) -> list[Any]:
        base = servers[n % len(servers)].base_url + API
        with httpx.Client(base_url=base, headers=headers_for(issued), timeout=60) as client:
            barrier.wait(timeout=60)
            return work(client, n)

    with ThreadPoolExecutor(THREADS) as pool:
        jobs = [pool.submit(run, n) for n in range(THREADS)]
        return [item for job in jobs for item in job.result(timeout=180)]


def rows_of(db: Database, issued: Issued) -> list[Any]:
    with db.read() as conn:
        store_id = conn.execute(
            sa.select(tables.stores.c.id).where(tables.stores.c.secure_url == issued.secure_url)
        ).scalar_one()
        return list(
            conn.execute(
                sa.select(tables.customer_groups).where(tables.customer_groups.c.store_id == store_id)
            ).all()
        )


def test_concurrent_creates_in_one_store_get_unique_ids(servers: list[Served], db: Database) -> None:
    issued = credentials.issue(db, secure_url="creates.example.com", application="conc-create")
    per_thread = 10

    def create(client: httpx.Client, n: int) -> list[tuple[int, int]]:
        out = []
        for i in range(per_thread):
            response = client.post("/CustomerGroups", json={"Name": f"t{n}-{i}"})
            out.append((response.status_code, int(response.json()[0]["Value"])))
        return out

    results = in_parallel(servers, issued, create)
    total = THREADS * per_thread
    assert {status for status, _ in results} == {201}
    assert sorted(group_id for _, group_id in results) == list(range(1, total + 1))
    assert len(rows_of(db, issued)) == total


def body_for(k: int) -> dict[str, object]:
    """A write that changes several fields together, all derived from k: a torn write (fields
    of two different requests) cannot look like any single one."""
    return {
        "Name": f"writer {k}",
        "Description": f"written by request {k}",
        "MinimumOrder": f"{k}.25",
        "NonTaxable": k % 2 == 0,
        "RegistrationMessage": f"message {k}",
    }


def as_written(group: dict[str, Any]) -> int | None:
    """The k whose body this group equals, or None when it is a mix of several."""
    k = int(group["Name"].removeprefix("writer "))
    expected = body_for(k)
    same = (
        group["Description"] == expected["Description"]
        and Decimal(str(group["MinimumOrder"])) == Decimal(str(expected["MinimumOrder"]))
        and group["NonTaxable"] == expected["NonTaxable"]
        and group["RegistrationMessage"] == expected["RegistrationMessage"]
    )
    return k if same else None


def test_concurrent_puts_of_one_group_leave_exactly_one_of_the_writes(
    servers: list[Served], db: Database
) -> None:
    issued = credentials.issue(db, secure_url="puts.example.com", application="conc-put")
    with httpx.Client(base_url=servers[0].base_url + API, headers=headers_for(issued), timeout=60) as c:
        assert c.post("/CustomerGroups", json=body_for(0)).status_code == 201
    per_thread = 8

    def write_and_read(client: httpx.Client, n: int) -> list[tuple[str, int, int | None]]:
        out: list[tuple[str, int, int | None]] = []
        for i in range(per_thread):
            if n % 4 == 3:  # a quarter of the threads only read, while the others write
                response = client.get("/CustomerGroups/1")
                seen = as_written(response.json()[0]) if response.status_code == 200 else None
                out.append(("GET", response.status_code, seen))
            else:
                k = 1 + n * per_thread + i
                response = client.put("/CustomerGroups/1", json=body_for(k))
                out.append(("PUT", response.status_code, k))
        return out

    results = in_parallel(servers, issued, write_and_read)
    assert {status for _, status, _ in results} == {200}
    # Every read saw one whole write, never a mix.
    assert all(seen is not None for method, _, seen in results if method == "GET"), results
    written = {k for method, _, k in results if method == "PUT"}
    with httpx.Client(base_url=servers[1].base_url + API, headers=headers_for(issued), timeout=60) as c:
        final = c.get("/CustomerGroups/1").json()[0]
    assert as_written(final) in written
    assert len(rows_of(db, issued)) == 1


def test_concurrent_bulk_puts_and_deletes_keep_countonly_equal_to_the_rows(
    servers: list[Served], db: Database
) -> None:
    issued = credentials.issue(db, secure_url="bulk.example.com", application="conc-bulk")
    start = 60
    with httpx.Client(base_url=servers[0].base_url + API, headers=headers_for(issued), timeout=60) as c:
        for i in range(start):
            assert c.post("/CustomerGroups", json={"Name": f"g{i}"}).status_code == 201

    def churn(client: httpx.Client, n: int) -> list[tuple[str, int]]:
        rng = random.Random(n)
        out: list[tuple[str, int]] = []
        for i in range(8):
            action = (n + i) % 4
            if action == 0:
                ids = rng.sample(range(1, start + 1), 12)  # ascending or not: both must work
                body = [{"CustomerGroupID": gid, "Name": f"bulk {n}.{i}"} for gid in ids]
                out.append(("bulk", client.put("/CustomerGroups", json=body).status_code))
            elif action == 1:
                gid = rng.randint(1, start)
                out.append(("delete", client.delete(f"/CustomerGroups/{gid}").status_code))
            elif action == 2:
                out.append(("create", client.post("/CustomerGroups", json={"Name": "new"}).status_code))
            else:
                count = client.get("/CustomerGroups", params={"countonly": 1})
                out.append(("count", count.status_code))
        return out

    results = in_parallel(servers, issued, churn)
    allowed = {"bulk": {200, 206, 404}, "delete": {200, 404}, "create": {201}, "count": {200}}
    for action, status in results:
        assert status in allowed[action], (action, status)
    rows = rows_of(db, issued)
    for served in servers:
        with httpx.Client(base_url=served.base_url + API, headers=headers_for(issued), timeout=60) as c:
            assert c.get("/CustomerGroups", params={"countonly": 1}).json() == {"TotalCount": len(rows)}
            listed = c.get("/CustomerGroups", params={"limit": 500}).json()
            assert sorted(g["CustomerGroupID"] for g in listed) == sorted(r.group_id for r in rows)
    deleted = sum(1 for action, status in results if action == "delete" and status == 200)
    created = sum(1 for action, _ in results if action == "create")
    assert len(rows) == start - deleted + created


def test_a_write_on_any_process_is_what_the_next_read_on_every_process_answers(
    servers: list[Served], db: Database
) -> None:
    """Each process keeps read answers until the database changes (storage/read_cache.py): every
    process reads a group, its count and a page first (so each has them in memory), then one
    process, or a write outside the servers, changes them; the very next reads, on every
    process, answer the change, with a new ETag."""
    issued = credentials.issue(db, secure_url="reads.example.com", application="conc-reads")
    clients = [
        httpx.Client(base_url=s.base_url + API, headers=headers_for(issued), timeout=60) for s in servers
    ]
    try:
        assert clients[0].post("/CustomerGroups", json={"Name": "read me"}).status_code == 201

        def everyone_reads() -> list[tuple[str, str, int, list[str]]]:
            out = []
            for client in clients:
                group = client.get("/CustomerGroups/1")
                count = client.get("/CustomerGroups", params={"countonly": 1}).json()["TotalCount"]
                page = [g["Name"] for g in client.get("/CustomerGroups", params={"limit": 10}).json()]
                out.append((group.json()[0]["Name"], group.headers["ETag"], count, page))
            return out

        for round_ in range(12):
            before = everyone_reads()
            assert len({etag for _, etag, _, _ in before}) == 1
            name = f"round {round_}"
            if round_ % 3 == 2:  # outside every server: the CLI, a script on the database
                with db.write() as conn:
                    conn.execute(
                        tables.customer_groups.update()
                        .where(tables.customer_groups.c.group_id == 1)
                        .where(tables.customer_groups.c.store_id == rows_of(db, issued)[0].store_id)
                        .values(name=name)
                    )
            else:
                writer = clients[round_ % len(clients)]
                assert writer.put("/CustomerGroups/1", json={"Name": name}).status_code == 200
            if round_ % 2:
                assert clients[-1].post("/CustomerGroups", json={"Name": f"new {round_}"}).status_code == 201
            after = everyone_reads()
            groups = len(rows_of(db, issued))
            for got_name, etag, count, page in after:
                assert got_name == name
                assert etag != before[0][1]
                assert count == groups
                assert page[0] == name and len(page) == min(groups, 10)
    finally:
        for client in clients:
            client.close()
