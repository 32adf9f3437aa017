"""What the audit log costs a write: the service's audited writes against the same writes without
an audit entry (the storage calls the service made before the audit log existed), in-process, on
SQLite and PostgreSQL. No HTTP: this isolates the database work that auditing adds.

    .venv/bin/python benchmarks/audit_cost.py [--rounds 3] [--count 1000] [--postgres URL] [--http]

Prints microseconds per write (best of the rounds) for create, PUT by id, delete, and a bulk PUT of
50 items (per request and per item). With --http it also times POSTs through a live server (one
process, loopback), alternating rounds with the audit insert switched off and on."""

from __future__ import annotations

import argparse
import secrets
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import psycopg
import sqlalchemy as sa

from cartgroups.app import create_app
from cartgroups.config import Settings
from cartgroups.service import credentials, validation
from cartgroups.service.credentials import Principal
from cartgroups.service.customer_groups import CustomerGroups
from cartgroups.storage import audit as audit_sql
from cartgroups.storage import customer_groups as store_sql
from cartgroups.storage import migrate
from cartgroups.storage.database import Database
from cartgroups.testing.server import start_in_thread, stop_in_thread

BULK = 50


class Plain:
    """The writes as the service did them before the audit log: no locking read, no entry."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def create(self, store_id: int, body: object) -> int:
        values = validation.group_values(body, creating=True)
        with self.db.write() as conn:
            return store_sql.insert_group(conn, store_id=store_id, values=values)

    def update(self, store_id: int, group_id: int, body: object) -> None:
        values = validation.group_values(body, creating=False)
        with self.db.write() as conn:
            store_sql.update_group(conn, store_id=store_id, group_id=group_id, values=values)

    def bulk(self, store_id: int, items: list[dict[str, object]]) -> None:
        planned = sorted(
            (int(str(i["CustomerGroupID"])), validation.group_values(i, creating=False)) for i in items
        )
        with self.db.write() as conn:
            for group_id, values in planned:
                store_sql.update_group(conn, store_id=store_id, group_id=group_id, values=values)

    def delete(self, store_id: int, group_id: int) -> None:
        with self.db.write() as conn:
            store_sql.delete_group(conn, store_id=store_id, group_id=group_id)


def _timed(action: Callable[[int], object], count: int) -> float:
    started = time.perf_counter()
    for n in range(count):
        action(n)
    return (time.perf_counter() - started) / count * 1e6


def _round(
    plain: Plain, audited: CustomerGroups, principal: Principal, count: int
) -> dict[str, tuple[float, float]]:
    store_id = principal.store_id
    p: list[int] = []
    a: list[int] = []
    figures = {}
    c0 = _timed(lambda n: p.append(plain.create(store_id, {"Name": f"p{n}"})), count)
    c1 = _timed(lambda n: a.append(audited.create(principal=principal, body={"Name": f"a{n}"})), count)
    figures["create"] = (c0, c1)
    body = {"Name": "changed", "PriceLevel": 2}
    u0 = _timed(lambda n: plain.update(store_id, p[n], body), count)
    u1 = _timed(lambda n: audited.update(principal=principal, group_id=a[n], body=body), count)
    figures["update (PUT by id)"] = (u0, u1)

    def items(source: list[int], n: int) -> list[dict[str, object]]:
        return [{"CustomerGroupID": g, "Description": f"r{n}"} for g in source[n * BULK : (n + 1) * BULK]]

    requests = max(1, count // BULK)  # with fewer groups than BULK, one shorter bulk request
    b0 = _timed(lambda n: plain.bulk(store_id, items(p, n)), requests)
    b1 = _timed(lambda n: audited.bulk_update(principal=principal, body=items(a, n)), requests)
    figures[f"bulk PUT of {BULK} (per request)"] = (b0, b1)
    figures[f"bulk PUT of {BULK} (per item)"] = (b0 / BULK, b1 / BULK)
    d0 = _timed(lambda n: plain.delete(store_id, p[n]), count)
    d1 = _timed(lambda n: audited.delete(principal=principal, group_id=a[n]), count)
    figures["delete"] = (d0, d1)
    return figures


def measure(url: str, count: int, rounds: int) -> dict[str, tuple[float, float]]:
    """{operation: (µs without audit, µs with audit)}, best of ``rounds``."""
    db = Database(url)
    migrate.upgrade(db)
    issued = credentials.issue(db, secure_url=f"bench-{secrets.token_hex(3)}.example.com")
    store_id = credentials.store_id_of(db, issued.secure_url)
    principal = Principal(
        store_id, issued.secure_url, True, True, token_id=issued.token_id, application="bench"
    )
    audited, plain = CustomerGroups(db, max_bulk_items=1000), Plain(db)
    best: dict[str, tuple[float, float]] = {}
    try:
        for _ in range(rounds):
            for name, (without, with_) in _round(plain, audited, principal, count).items():
                old = best.get(name, (float("inf"), float("inf")))
                best[name] = (min(old[0], without), min(old[1], with_))
    finally:
        db.dispose()
    return best


def measure_http(url: str, count: int, rounds: int) -> dict[str, tuple[float, float]]:
    """{"POST over HTTP": (µs without audit, µs with audit)}, best of ``rounds`` each."""
    app = create_app(Settings(database_url=url, log_level="warning"))
    server, thread = start_in_thread(app)
    port = server.servers[0].sockets[0].getsockname()[1]
    real = audit_sql.record
    best = [float("inf"), float("inf")]
    try:
        assert app.db is not None
        issued = credentials.issue(
            app.db,
            secure_url=f"http-{secrets.token_hex(3)}.example.com",
            application=f"http-{secrets.token_hex(3)}",
        )
        headers = {
            "SecureURL": issued.secure_url,
            "PrivateKey": issued.private_key or "",
            "Token": issued.token,
        }
        base = f"http://127.0.0.1:{port}/3dCartWebAPI/v1"
        with httpx.Client(base_url=base, headers=headers, timeout=30) as client:
            for _ in range(rounds):
                for slot, record in ((0, _no_audit), (1, real)):
                    audit_sql.record = record  # type: ignore[assignment]

                    def post(n: int) -> None:
                        assert client.post("/CustomerGroups", json={"Name": f"g{n}"}).status_code == 201

                    best[slot] = min(best[slot], _timed(post, count))
    finally:
        audit_sql.record = real  # type: ignore[assignment]
        stop_in_thread(server, thread)
    return {"POST over HTTP": (best[0], best[1])}


def _no_audit(*args: object, **kwargs: object) -> None:
    return None


def report(title: str, figures: dict[str, tuple[float, float]]) -> None:
    print(f"\n{title}")
    print("| operation | without audit (µs) | with audit (µs) | added (µs) |")
    print("|---|---:|---:|---:|")
    for name, (without, with_) in figures.items():
        print(f"| {name} | {without:.0f} | {with_:.0f} | {with_ - without:+.0f} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--postgres", default="postgresql://postgres@127.0.0.1:5432/test")
    parser.add_argument("--http", action="store_true", help="also time POSTs through a live server")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{Path(tmp) / 'bench.db'}"
        report("SQLite (WAL, synchronous=NORMAL)", measure(url, args.count, args.rounds))
        if args.http:
            report("SQLite, through HTTP", measure_http(url, args.count, args.rounds))
    name = f"cartgroups_audit_bench_{secrets.token_hex(3)}"
    with psycopg.connect(args.postgres, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        url = sa.make_url(args.postgres).set(database=name).render_as_string(hide_password=False)
        report("PostgreSQL (loopback)", measure(url, args.count, args.rounds))
        if args.http:
            report("PostgreSQL, through HTTP", measure_http(url, args.count, args.rounds))
    finally:
        with psycopg.connect(args.postgres, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


if __name__ == "__main__":
    main()
