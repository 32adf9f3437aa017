"""The Customers benchmark (issue #18): GET /Customers/{id}, a page of a 10,000-member group's
members (limit 100), a list filtered by e-mail and POST /Customers, each compared with the bare
ASGI baseline measured right before and right after it, at two store sizes (by default 1,000 and
100,000 customers) to show that the cost does not grow with the store.

    .venv/bin/python benchmarks/customers.py                       # SQLite, 1k and 100k, ~4 min
    .venv/bin/python benchmarks/customers.py --database postgresql://postgres@127.0.0.1:5432/postgres
    .venv/bin/python benchmarks/customers.py --quick               # 1 s per scenario, small stores

Each size gets a fresh database: `cartgroups db upgrade`, then one store whose customers are
written straight into the tables (SQLite executemany, PostgreSQL COPY): customer i has the e-mail
c<i>@bench.example; one customer in every (size / members) is in group 1, so its members are
spread over the whole store. The read scenarios run with the read cache on (the default) and again
with it off (every answer from the database). POST runs last, since it grows the store.

Needs wrk. Sends traffic to 127.0.0.1 only. Writes benchmarks/results/customers-<time>.{json,md}
and customers-latest.{json,md}.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import shutil
import sys
import tempfile
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))

import loadgen  # noqa: E402
import seeding  # noqa: E402
import servers  # noqa: E402
from loadgen import Measurement  # noqa: E402
from run import fresh_postgres  # noqa: E402

from cartgroups.customer_model import STORED, TEXT_FILTERS, filter_key  # noqa: E402
from cartgroups.service.credentials import hash_secret, new_secret  # noqa: E402
from cartgroups.storage import dialect  # noqa: E402
from cartgroups.storage.tables import CUSTOMER_KEYS, applications, customer_groups, customers, stores, tokens  # noqa: E402

READS = ("cget", "members", "email")
SCENARIOS = (*READS, "cpost")
EXPECTED = {"cpost": 201}
TITLES = {
    "cget": "GET /Customers/{id}",
    "members": "GET /CustomerGroups/1/Customers?limit=100",
    "email": "GET /Customers?email=...",
    "cpost": "POST /Customers",
}
# The issue's aims on SQLite with 2 workers, as ratios to the baseline.
TARGETS = {"cget": 0.35, "members": 0.10, "cpost": 0.15}
GROUPS = 10
STORE = "customers.bench.example"


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument(
        "--database", default="sqlite", help="sqlite (default) or a PostgreSQL URL to make databases on"
    )
    p.add_argument("--sizes", default="1000,100000", help="Customers in the store, comma-separated")
    p.add_argument("--members", type=int, default=10_000, help="Members of group 1 (at most the size)")
    p.add_argument("--duration", type=float, default=5.0, help="Seconds per scenario")
    p.add_argument("--baseline-duration", type=float, default=3.0, help="Seconds of each baseline slice")
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--connections", type=int, default=64)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--no-uncached", action="store_true", help="Skip the reads with the read cache off")
    p.add_argument("--quick", action="store_true", help="1 s per scenario, stores of 200 and 2,000")
    p.add_argument("--results", type=Path, default=HERE / "results")
    args = p.parse_args()
    if args.quick:
        args.duration, args.baseline_duration, args.sizes, args.members = 1.0, 1.0, "200,2000", 100
    args.sizes = [int(s) for s in args.sizes.split(",") if s.strip()]
    return args


def _customer_rows(size: int, members: int) -> Iterator[tuple[Any, ...]]:
    every = max(1, size // max(1, members))
    now = time.time()
    for i in range(1, size + 1):
        values: dict[str, Any] = {f.column: None for f in STORED}
        values.update(
            email=f"c{i}@bench.example",
            billing_first_name=f"First{i % 500}",
            billing_last_name=f"Last{i}",
            billing_address1=f"{i} Main Street",
            billing_city="Boston",
            billing_state="MA",
            billing_zip_code="02101",
            billing_country="US",
            billing_phone_number=f"555-{i:07d}",
            shipping_address_type=0,
            customer_group_id=1 if i % every == 0 and i // every <= members else 0,
            enabled=True,
            mail_list=i % 3 == 0,
            non_taxable=False,
            disable_billing_same_as_shipping=False,
            reset_password=False,
        )
        keys = {CUSTOMER_KEYS[name]: filter_key(values[field.column]) for name, field in TEXT_FILTERS.items()}
        yield (1, i, *(values[f.column] for f in STORED), None, "0.0", now, *keys.values())


_CUSTOMER_COLUMNS = [
    "store_id",
    "customer_id",
    *(f.column for f in STORED),
    "password_hash",
    "total_store_credit",
    "updated_at",
    *CUSTOMER_KEYS.values(),
]


def seed(cartgroups_bin: str, url: str, size: int, members: int, clients: Path, log_file: Path) -> None:
    """A fresh database with one store of ``size`` customers; the clients file for wrk."""
    seeding.upgrade_schema(cartgroups_bin, url, log_file)
    private_key, token = new_secret(), new_secret()
    engine = dialect.create_engine(dialect.parse_url(url))
    group_values = dict(seeding.GROUP_VALUES)
    sqlite = engine.dialect.name == "sqlite"
    if sqlite:
        group_values["minimum_order"] = format(group_values["minimum_order"], "f")
    group_rest = tuple(
        group_values[c.name] for c in customer_groups.columns if c.name not in ("store_id", "group_id")
    )
    try:
        raw = engine.raw_connection()
        dbapi = raw.dbapi_connection
        assert dbapi is not None
        cur = dbapi.cursor()
        mark = "?" if sqlite else "%s"

        def insert(table: str, names: list[str], rows: Any) -> None:
            sql = f"INSERT INTO {table} ({', '.join(names)}) VALUES ({', '.join(mark for _ in names)})"
            cur.executemany(sql, list(rows) if not sqlite else rows)

        insert(
            applications.name,
            ["id", "name", "private_key_hash"],
            [(1, seeding.APPLICATION, hash_secret(private_key))],
        )
        insert(
            stores.name, ["id", "secure_url", "last_group_id", "last_customer_id"], [(1, STORE, GROUPS, size)]
        )
        insert(
            tokens.name,
            ["id", "store_id", "application_id", "token_hash", "token_prefix", "can_read", "can_write"],
            [(1, 1, 1, hash_secret(token), token[:8], True, True)],
        )
        group_names = [c.name for c in customer_groups.columns]
        insert(customer_groups.name, group_names, [(1, g, *group_rest) for g in range(1, GROUPS + 1)])
        rows = _customer_rows(size, members)
        if sqlite:
            insert(customers.name, _CUSTOMER_COLUMNS, rows)
        else:
            with cur.copy(f"COPY {customers.name} ({', '.join(_CUSTOMER_COLUMNS)}) FROM STDIN") as copy:
                for row in rows:
                    copy.write_row(row)
            for table in ("stores", "applications", "tokens"):
                cur.execute(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), 1)")
        dbapi.commit()
        if not sqlite:
            dbapi.autocommit = True
            cur.execute("ANALYZE")
        cur.close()
        raw.close()
    finally:
        engine.dispose()
    with clients.open("w") as out:
        out.write(f"regular\t{STORE}\t{private_key}\t{token}\t{GROUPS}\n")
        out.write(f"customers\t{STORE}\t{private_key}\t{token}\t{size}\n")


def _wrk(
    wrk: str,
    server: servers.Server,
    scenario: str,
    label: str,
    clients: Path,
    a: argparse.Namespace,
    seconds: float,
) -> Measurement:
    return loadgen.run_wrk(
        wrk,
        server,
        scenario=scenario,
        label=label,
        database="-",
        clients_file=clients,
        expected=EXPECTED.get(scenario, 200),
        duration=seconds,
        threads=a.threads,
        connections=a.connections,
    )


def measure(
    wrk: str,
    cg: servers.Server,
    base: servers.Server,
    scenario: str,
    label: str,
    clients: Path,
    a: argparse.Namespace,
) -> Measurement:
    """The scenario between two baseline slices; its ratio divides by their mean."""
    before = _wrk(wrk, base, "get", f"baseline before {label}", clients, a, a.baseline_duration)
    m = _wrk(wrk, cg, scenario, label, clients, a, a.duration)
    after = _wrk(wrk, base, "get", f"baseline after {label}", clients, a, a.baseline_duration)
    if before.ok and after.ok:
        m.baseline_rps = (before.rps + after.rps) / 2
        m.extra["baseline"] = {"slices_rps": [before.rps, after.rps]}
    elif m.error is None:
        m.error = f"a baseline slice failed: {(before.error or after.error)}"
    if m.ok:
        ratio = f"{m.ratio:.2f} x baseline" if m.ratio is not None else "no baseline"
        log(f"  {label:<34} {m.rps:>8,.0f} req/s  p50 {m.p50_ms:6.2f} ms  p99 {m.p99_ms:7.2f} ms  {ratio}")
    else:
        log(f"  {label:<34} ERROR: {m.error}")
    return m


def main() -> int:
    a = parse_args()
    wrk = loadgen.find_wrk()
    if wrk is None:
        log("wrk not found: apt-get install -y wrk")
        return 2
    cartgroups_bin = shutil.which("cartgroups", path=str(Path(sys.executable).parent)) or "cartgroups"
    database = "postgresql" if a.database.startswith("postgresql") else "sqlite"
    results: list[dict[str, Any]] = []
    with (
        tempfile.TemporaryDirectory(prefix="cartgroups-customers-bench-") as tmp,
        contextlib.ExitStack() as stack,
    ):
        work = Path(tmp)
        body = work / "body.bin"
        body.write_bytes(b'[{"CustomerID":1}]')
        base = stack.enter_context(
            servers.baseline_server(body, workers=a.workers, log=work / "baseline.log", log_level="warning")
        )
        for size in a.sizes:
            members = min(a.members, size)
            if database == "sqlite":
                url = f"sqlite:///{work / f'customers-{size}.db'}"
            else:
                url = stack.enter_context(fresh_postgres(a.database))
            clients = work / f"clients-{size}.tsv"
            log(f"seeding {database}: one store of {size:,} customers, {members:,} in group 1")
            started = time.perf_counter()
            seed(cartgroups_bin, url, size, members, clients, work / f"upgrade-{size}.log")
            log(f"  seeded in {time.perf_counter() - started:.1f} s")
            runs: list[tuple[str, dict[str, str] | None, tuple[str, ...]]] = [("cache on", None, SCENARIOS)]
            if not a.no_uncached:
                runs.insert(1, ("cache off", {"CARTGROUPS_READ_CACHE": "false"}, READS))
            for note, settings, scenarios in runs:
                with servers.cartgroups_server(
                    cartgroups_bin,
                    url,
                    workers=a.workers,
                    log=work / f"cg-{size}-{note}.log",
                    log_level="warning",
                    settings=settings,
                ) as cg:
                    _wrk(wrk, cg, "cget", "warm-up", clients, a, 1)
                    for scenario in scenarios:
                        label = f"{database}-{size}:{scenario}" + (" (cache off)" if settings else "")
                        m = measure(wrk, cg, base, scenario, label, clients, a)
                        results.append({"size": size, "cache": note, **m.as_dict()})
    report = {
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "database": database,
        "workers": a.workers,
        "connections": a.connections,
        "duration": a.duration,
        "sizes": a.sizes,
        "members": a.members,
        "results": results,
    }
    text = markdown(report)
    print(text)
    a.results.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S")
    for name in (f"customers-{stamp}", "customers-latest"):
        (a.results / f"{name}.json").write_text(json.dumps(report, indent=2) + "\n")
        (a.results / f"{name}.md").write_text(text)
    return 0 if all(r.get("error") is None for r in results) else 1


def markdown(report: dict[str, Any]) -> str:
    """The table: each scenario at each size, its ratio, and how the largest size compares with
    the smallest (req/s; 1.00 is flat)."""
    rows = report["results"]
    lines = [
        f"Customers benchmark, {report['database']}, {report['workers']} workers, "
        f"{report['connections']} connections, {report['duration']:g} s per scenario ({report['when']}).",
        "",
        "| scenario | read cache | customers | req/s | p50 ms | p99 ms | x baseline | aim |",
        "|---|---|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        ratio = r.get("ratio")
        aim = (
            TARGETS.get(r["scenario"])
            if r["cache"] == "cache on" and report["database"] == "sqlite"
            else None
        )
        lines.append(
            f"| {TITLES[r['scenario']]} | {r['cache']} | {r['size']:,} | "
            + (
                f"{r['rps']:,.0f} | {r['p50_ms']:.2f} | {r['p99_ms']:.2f} | "
                if r.get("error") is None
                else "error | | | "
            )
            + (f"{ratio:.2f} | " if ratio is not None else "- | ")
            + (f"≥ {aim:.2f} |" if aim is not None else "|")
        )
    sizes = report["sizes"]
    if len(sizes) >= 2:
        small, large = min(sizes), max(sizes)
        lines += [
            "",
            f"Flatness: the ratio to the baseline at {large:,} customers ÷ that at {small:,} "
            "(1.00 = no cost of size; the baseline slices take out the machine's drift).",
            "",
        ]
        lines += ["| scenario | read cache | ratio |", "|---|---|---:|"]
        for r in rows:
            if r["size"] != large or r.get("error") is not None:
                continue
            twin = next(
                (
                    s
                    for s in rows
                    if s["size"] == small and s["scenario"] == r["scenario"] and s["cache"] == r["cache"]
                ),
                None,
            )
            if twin and twin.get("ratio") and r.get("ratio"):
                lines.append(f"| {TITLES[r['scenario']]} | {r['cache']} | {r['ratio'] / twin['ratio']:.2f} |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    raise SystemExit(main())
