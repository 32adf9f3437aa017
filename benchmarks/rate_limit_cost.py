"""What the rate limiter costs per request: microseconds per RateLimiter.check(), on a SQLite
file and on PostgreSQL, sequential, on one thread (what one request pays, not throughput).

Measured, each ``--count`` times after a warm-up:
- ``off``: the hot path's only work when rate limiting is off (``services.limiter is None``);
- ``admitted``: check() that lets the request through (the UPSERT ... RETURNING, and on SQLite
  its BEGIN IMMEDIATE/COMMIT), one bucket;
- ``admitted, 500 buckets``: the same, round-robin over 500 store/application buckets;
- ``refused``: check() on a full bucket (429 path);
- ``GET by id (reference)``: the database read of a GET by id, for scale.

    .venv/bin/python benchmarks/rate_limit_cost.py                # both databases
    .venv/bin/python benchmarks/rate_limit_cost.py --only sqlite --count 2000

PostgreSQL: a scratch database is created on the server at --postgres (default
$CARTGROUPS_TEST_POSTGRES_URL or postgresql://postgres@127.0.0.1:5432/test) and dropped after.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import secrets
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg
import sqlalchemy as sa

from cartgroups.api.dispatch import Services
from cartgroups.service import credentials
from cartgroups.service.credentials import Authenticator, Principal
from cartgroups.service.customer_groups import CustomerGroups
from cartgroups.service.idempotency import Idempotency
from cartgroups.service.rate_limit import Rate, RateLimiter
from cartgroups.storage import migrate
from cartgroups.storage.database import Database
from cartgroups.storage.read_cache import ReadCache
from cartgroups.storage.store import Store, open_store

PG_ADMIN = os.environ.get("CARTGROUPS_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")


@contextmanager
def sqlite_url() -> Iterator[str]:
    with tempfile.TemporaryDirectory() as tmp:
        yield f"sqlite:///{Path(tmp) / 'bench.db'}"


@contextmanager
def postgres_url(admin: str) -> Iterator[str]:
    name = f"cartgroups_bench_{secrets.token_hex(4)}"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield sa.make_url(admin).set(database=name).render_as_string(hide_password=False)
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def principals(db: Database, store: Store, loop: asyncio.AbstractEventLoop, count: int) -> list[Principal]:
    auth = Authenticator(store, cache_seconds=0)
    found = []
    for n in range(count):
        issued = credentials.issue(db, secure_url=f"store{n}.bench.test", application=f"app-{n}")
        assert issued.private_key is not None
        verify = auth.verify(
            secure_url=issued.secure_url, private_key=issued.private_key, token=issued.token, write=False
        )
        found.append(loop.run_until_complete(verify))
    return found


def timed(step: Callable[[int], object], count: int, warmup: int) -> list[float]:
    """Microseconds of each of ``count`` calls, after ``warmup`` unmeasured ones."""
    for n in range(warmup):
        step(n)
    out = []
    clock = time.perf_counter_ns
    for n in range(count):
        started = clock()
        step(n)
        out.append((clock() - started) / 1000)
    return out


def row(name: str, samples: list[float]) -> str:
    ordered = sorted(samples)
    p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]
    return f"| {name} | {statistics.median(samples):.1f} | {statistics.fmean(samples):.1f} | {p99:.1f} |"


def measure(label: str, url: str, count: int, warmup: int) -> list[str]:
    db = Database(url)
    loop = asyncio.new_event_loop()
    try:
        migrate.upgrade(db)
        store = open_store(db)
        loop.run_until_complete(store.open())
        callers = principals(db, store, loop, 500)
        one = callers[0]
        groups = CustomerGroups(store, max_bulk_items=1000)
        group_id = loop.run_until_complete(groups.create(principal=one, body={"Name": "Reference"}))
        services = Services(
            groups,
            Authenticator(store, cache_seconds=0),
            1 << 20,
            Idempotency(store),
            ReadCache(store),
        )
        # Each check is awaited on the loop, as the server does (run_until_complete: the same
        # overhead as the reference read below).
        roomy = RateLimiter(store, Rate(1_000_000, 1_000_000.0))
        full = RateLimiter(store, Rate(1, 0.000001))
        loop.run_until_complete(full.check(callers[1]))

        def off(_: int) -> object:
            return services.limiter is not None

        results = [
            row(f"{label}: off (one attribute check)", timed(off, count, warmup)),
            row(
                f"{label}: admitted, one bucket",
                timed(lambda _: loop.run_until_complete(roomy.check(one)), count, warmup),
            ),
            row(
                f"{label}: admitted, 500 buckets",
                timed(lambda n: loop.run_until_complete(roomy.check(callers[n % 500])), count, warmup),
            ),
            row(
                f"{label}: refused (429)",
                timed(lambda _: loop.run_until_complete(full.check(callers[1])), count, warmup),
            ),
            row(
                f"{label}: GET by id's read (reference)",
                timed(
                    lambda _: loop.run_until_complete(groups.get(store_id=one.store_id, group_id=group_id)),
                    count,
                    warmup,
                ),
            ),
        ]
        loop.run_until_complete(store.close())
        return results
    finally:
        loop.close()
        db.dispose()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=3000, help="measured calls per row (max 100000)")
    parser.add_argument("--warmup", type=int, default=300)
    parser.add_argument("--only", choices=["sqlite", "postgresql"])
    parser.add_argument("--postgres", default=PG_ADMIN, help="PostgreSQL server for a scratch database")
    args = parser.parse_args()
    count = max(1, min(args.count, 100_000))
    lines = ["| what | median µs | mean µs | p99 µs |", "|---|---|---|---|"]
    if args.only in (None, "sqlite"):
        with sqlite_url() as url:
            lines += measure("SQLite", url, count, args.warmup)
    if args.only in (None, "postgresql"):
        with postgres_url(args.postgres) as url:
            lines += measure("PostgreSQL", url, count, args.warmup)
    print(f"{count} sequential calls per row, one thread, after {args.warmup} warm-up calls")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
