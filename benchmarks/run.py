"""cartgroups benchmark: throughput and latency of every CustomerGroups scenario, each compared
with a bare ASGI baseline measured in the same run (issue #3).

    .venv/bin/python benchmarks/run.py                 # the full run (~7 min on 2 cores)
    .venv/bin/python benchmarks/run.py --quick         # tiny sizes, 1 s per scenario (< 60 s)
    .venv/bin/python benchmarks/run.py --profile       # also profile GET by id with py-spy
    .venv/bin/python benchmarks/run.py --database sqlite --duration 5
    .venv/bin/python benchmarks/run.py --distance-only    # PostgreSQL at +0 vs +1 ms (issue #16)

Needs wrk (apt-get install -y wrk) and, for the chart and the profile, the packages in
benchmarks/requirements.txt. Installs nothing itself. Sends traffic to 127.0.0.1 only.
Writes benchmarks/results/<timestamp>.{json,md,png} and latest.{json,md,png}.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import importlib.util
import json
import os
import platform
import secrets
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))

import distance  # noqa: E402
import loadgen  # noqa: E402
import profiling  # noqa: E402
import reporting  # noqa: E402
import seeding  # noqa: E402
import servers  # noqa: E402
from loadgen import Measurement  # noqa: E402

DEFAULT_POSTGRES = "postgresql://postgres@127.0.0.1:5432/postgres"
SCENARIOS = ("get", "count", "list", "put", "post", "bulk", "mixed")
EXPECTED = {"post": 201}
DOCS = ROOT / "docs" / "performance.md"
DOCS_CHART = ROOT / "docs" / "performance.png"


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        description="Benchmark cartgroups against a bare ASGI baseline (see docs/performance.md).",
    )
    p.add_argument(
        "--quick",
        action="store_true",
        help="Tiny data, 1 s per scenario, SQLite only unless --database is given; "
        "for CI, to keep the script working (< 60 s).",
    )
    p.add_argument("--duration", type=float, help="Seconds per scenario (default 10; quick: 1).")
    p.add_argument("--stores", type=int, help="Regular stores (default 1000; quick: 20).")
    p.add_argument("--groups", type=int, help="Groups per regular store (default 20; quick: 5).")
    p.add_argument(
        "--wide-stores",
        type=int,
        help="Extra stores holding --wide-groups groups each, used by list limit=100 "
        "and bulk PUT (default 20; quick: 2).",
    )
    p.add_argument("--wide-groups", type=int, default=100, help="Groups per wide store (>= 100).")
    p.add_argument(
        "--clients",
        type=int,
        help="How many stores' credentials the load is spread over (default 1000; "
        "the same number in the small and the large database; quick: 20).",
    )
    p.add_argument(
        "--large-stores", type=int, help="Stores in the large database (default 100000; quick: 200)."
    )
    p.add_argument("--large-groups", type=int, help="Groups per store there (default 10).")
    p.add_argument("--no-large", action="store_true", help="Skip the large-database scenario.")
    p.add_argument(
        "--pg-delay-ms",
        type=float,
        default=1.0,
        help="Round trip (ms) the distant side of the PostgreSQL pair adds through its delay proxy; "
        "the near side goes through the same proxy at +0 (default 1).",
    )
    p.add_argument(
        "--no-distance",
        action="store_true",
        help="Skip the PostgreSQL-at-a-distance pair (run on each PostgreSQL database, except in --quick).",
    )
    p.add_argument(
        "--distance-only",
        action="store_true",
        help="Only the PostgreSQL-at-a-distance pair (GET by id, POST, PUT, mixed; "
        "--scenarios narrows it); needs PostgreSQL.",
    )
    p.add_argument(
        "--database",
        action="append",
        metavar="sqlite|postgresql://...",
        help="Database(s) to run the scenarios on; repeat for several. A PostgreSQL URL "
        "names a server and a database to connect to: the benchmark creates a fresh "
        "database beside it and drops it afterwards. Default: sqlite, plus "
        f"{DEFAULT_POSTGRES} when it answers (quick: sqlite only).",
    )
    p.add_argument(
        "--baseline-duration",
        type=float,
        help="Seconds of each baseline slice, measured right before and right after each scenario "
        "(default 5; quick: 1).",
    )
    p.add_argument(
        "--rounds",
        type=int,
        help="Rounds of the SQLite main scenarios, each on a fresh copy of the seeded database, "
        "and of the 1M-vs-22k pair (default 3; quick: 1). Each scenario reports its round with "
        "the median ratio to the baseline; the pair, the median of each round's difference (the "
        "two servers measured one after the other).",
    )
    p.add_argument("--workers", type=int, default=2, help="Worker processes for the main scenarios.")
    p.add_argument(
        "--scan-workers",
        default=None,
        help="Worker counts for the GET-by-id scan (default 1,2,4; quick: 1).",
    )
    p.add_argument(
        "--scenarios",
        default=",".join(SCENARIOS),
        help=f"Main scenarios to run, comma-separated (default all: {','.join(SCENARIOS)}); a subset "
        "is for working on one path, and --write-docs refuses it.",
    )
    p.add_argument("--threads", type=int, default=2, help="wrk threads.")
    p.add_argument("--connections", type=int, default=64, help="wrk connections (quick: 16).")
    p.add_argument(
        "--bulk-connections",
        type=int,
        help="wrk connections for bulk PUT, a latency figure (default: --workers, one "
        "request in flight per worker).",
    )
    p.add_argument(
        "--log-level",
        choices=["debug", "info", "warning", "error", "critical"],
        help="Passed to `cartgroups serve --log-level`; default: the server's own default "
        "(info: one access line per request, written to a file here).",
    )
    p.add_argument(
        "--profile",
        action="store_true",
        help="Also profile GET by id on one worker with py-spy (needs py-spy and ptrace).",
    )
    p.add_argument(
        "--profile-only",
        action="store_true",
        help="Only the py-spy profile (on the --database given, else SQLite).",
    )
    p.add_argument("--profile-seconds", type=float, default=10.0)
    p.add_argument(
        "--profile-scenario",
        default="get",
        choices=["get", "count", "list", "put", "post", "bulk", "mixed"],
        help="The scenario to profile (default get: GET by id, the hot path).",
    )
    p.add_argument(
        "--write-docs",
        action="store_true",
        help="Put the table (and the profile, if run) into docs/performance.md and the "
        "chart into docs/performance.png.",
    )
    p.add_argument("--no-chart", action="store_true", help="Skip the PNG chart.")
    p.add_argument("--results", type=Path, default=HERE / "results", help="Output folder.")
    p.add_argument("--keep", action="store_true", help="Keep the databases and server logs.")
    args = p.parse_args(argv)
    q = args.quick
    defaults = {
        "duration": 1.0 if q else 10.0,
        "baseline_duration": 1.0 if q else 5.0,
        "rounds": 1 if q else 3,
        "stores": 20 if q else 1000,
        "groups": 5 if q else 20,
        "wide_stores": 2 if q else 20,
        "clients": 20 if q else 1000,
        "large_stores": 200 if q else 100_000,
        "large_groups": 10,
        "scan_workers": "1" if q else "1,2,4",
    }
    for name, value in defaults.items():
        if getattr(args, name) is None:
            setattr(args, name, value)
    if q and args.connections == 64:
        args.connections = 16
    if args.bulk_connections is None:
        args.bulk_connections = args.workers
    args.scan = [int(w) for w in str(args.scan_workers).split(",") if w.strip()]
    args.scenarios = [name.strip() for name in args.scenarios.split(",") if name.strip()]
    unknown = sorted(set(args.scenarios) - set(SCENARIOS))
    if unknown or not args.scenarios:
        p.error(f"--scenarios takes names from {','.join(SCENARIOS)} (got {','.join(unknown) or 'none'})")
    if args.write_docs and set(args.scenarios) != set(SCENARIOS):
        p.error("--write-docs needs every scenario (drop --scenarios)")
    if args.rounds < 1:
        p.error("--rounds must be at least 1")
    if args.pg_delay_ms < 0:
        p.error("--pg-delay-ms cannot be negative")
    if args.distance_only and args.no_distance:
        p.error("--distance-only and --no-distance exclude each other")
    if args.distance_only and not set(args.scenarios) & set(distance.SCENARIOS):
        p.error(f"--distance-only runs {','.join(distance.SCENARIOS)}: --scenarios names none of them")
    if args.write_docs and args.distance_only:
        p.error("--write-docs needs the full run (drop --distance-only)")
    if args.wide_groups < 100:
        p.error("--wide-groups must be at least 100 (a bulk PUT and a list page hold 100 groups)")
    return args


# --------------------------------------------------------------------------- preflight


def preflight(args: argparse.Namespace) -> tuple[str, str]:
    problems = []
    wrk = loadgen.find_wrk()
    if wrk is None:
        problems.append(loadgen.INSTALL_HINT)
    cartgroups_bin = shutil.which("cartgroups", path=str(Path(sys.executable).parent)) or shutil.which(
        "cartgroups"
    )
    if cartgroups_bin is None:
        problems.append(
            "the cartgroups command is not installed in this environment (pip install -e . in the repository)"
        )
    for module in ("uvloop", "httptools"):
        if importlib.util.find_spec(module) is None:
            problems.append(
                f"{module} is missing: uvicorn would not run as `cartgroups serve` "
                "does in production (pip install 'uvicorn[standard]')"
            )
    if not args.no_chart and importlib.util.find_spec("matplotlib") is None:
        if args.quick:
            log("matplotlib is not installed: no chart (pip install -r benchmarks/requirements.txt)")
            args.no_chart = True
        else:
            problems.append(
                "matplotlib is not installed (for the chart): "
                "pip install -r benchmarks/requirements.txt, or pass --no-chart"
            )
    if (args.profile or args.profile_only) and py_spy() is None:
        problems.append("py-spy is not installed: pip install -r benchmarks/requirements.txt")
    if problems:
        for problem in problems:
            print(f"error: {problem}", file=sys.stderr)
        sys.exit(2)
    assert wrk is not None and cartgroups_bin is not None
    return wrk, cartgroups_bin


def py_spy() -> str | None:
    return shutil.which("py-spy", path=str(Path(sys.executable).parent)) or shutil.which("py-spy")


# --------------------------------------------------------------------------- databases


def postgres_reachable(url: str) -> str | None:
    """None when we can connect, else the reason."""
    import sqlalchemy as sa

    from cartgroups.storage import dialect

    try:
        engine = sa.create_engine(dialect.parse_url(url), connect_args={"connect_timeout": 3})
        with engine.connect() as conn:
            conn.execute(sa.text("SELECT 1"))
        engine.dispose()
    except Exception as exc:
        return str(exc).strip().splitlines()[0]
    return None


def copy_sqlite(url: str, target: Path) -> None:
    """A consistent copy of a SQLite database (the backup API: whatever its WAL holds too)."""
    source = sqlite3.connect(url.removeprefix("sqlite:///"))
    copy = sqlite3.connect(target)
    try:
        source.backup(copy)
    finally:
        copy.close()
        source.close()


@contextlib.contextmanager
def fresh_postgres(admin_url: str) -> Iterator[str]:
    """A new, empty database on the server of ``admin_url``; dropped afterwards."""
    import sqlalchemy as sa

    from cartgroups.storage import dialect

    name = f"cartgroups_bench_{secrets.token_hex(4)}"
    url = dialect.parse_url(admin_url)
    engine = sa.create_engine(url, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
            conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
        yield url.set(drivername="postgresql", database=name).render_as_string(hide_password=False)
    finally:
        with engine.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        engine.dispose()


@contextlib.contextmanager
def backend_pids(admin_url: str, bench_url: str) -> Iterator[Callable[[], list[int]]]:
    """A function listing the PostgreSQL backend processes connected to the benchmark database
    (their CPU is part of what the server costs)."""
    import sqlalchemy as sa
    from sqlalchemy.engine import make_url

    from cartgroups.storage import dialect

    name = make_url(bench_url).database
    engine = sa.create_engine(dialect.parse_url(admin_url), isolation_level="AUTOCOMMIT")
    query = sa.text("SELECT pid FROM pg_stat_activity WHERE datname = :name")

    def pids() -> list[int]:
        with engine.connect() as conn:
            return [int(pid) for (pid,) in conn.execute(query, {"name": name})]

    try:
        yield pids
    finally:
        engine.dispose()


# --------------------------------------------------------------------------- the run


class Run:
    def __init__(self, args: argparse.Namespace, wrk: str, cartgroups_bin: str, work: Path) -> None:
        self.args, self.wrk, self.bin, self.work = args, wrk, cartgroups_bin, work
        self.ms: list[Measurement] = []
        self.baseline_slices: list[Measurement] = []
        self.rss: list[dict[str, Any]] = []
        self.body_file = work / "get-by-id-body.bin"
        self.layout = seeding.Layout(
            args.stores, args.groups, args.wide_stores, args.wide_groups, args.clients
        )
        self.large_layout = seeding.Layout(args.large_stores, args.large_groups, 0, 100, args.clients)
        self.seeded: dict[str, seeding.Seeded] = {}
        self.baselines: dict[int, servers.Server] = {}
        self.stack = contextlib.ExitStack()
        self.db_pids: Callable[[], list[int]] | None = None  # PostgreSQL backends, when on it
        self.distance_ms: list[Measurement] = []  # the PostgreSQL-at-a-distance pair
        self.distance_info: dict[str, Any] = {}
        self._logs = 0
        self.last_run: Measurement | None = None  # the latest wrk run, of any server
        self._last_slice: tuple[tuple[int, int | None], Measurement] | None = None

    def new_log(self, what: str) -> Path:
        self._logs += 1
        return self.work / f"{self._logs:02d}-{what}.log"

    # -- pieces

    def seed(self, key: str, url: str, layout: seeding.Layout) -> seeding.Seeded:
        log(
            f"seeding {key}: {layout.stores:,} stores x {layout.groups} groups"
            + (f" + {layout.wide_stores} x {layout.wide_groups}" if layout.wide_stores else "")
            + f" = {layout.total_groups:,} groups"
        )
        seeded = seeding.seed(
            self.bin, url, layout, self.work / f"clients-{key}.tsv", self.new_log(f"upgrade-{key}")
        )
        log(f"  seeded in {seeded.seconds:.1f} s")
        self.seeded[key] = seeded
        return seeded

    def cartgroups(
        self, url: str, workers: int, what: str, settings: dict[str, str] | None = None
    ) -> contextlib.AbstractContextManager[servers.Server]:
        return servers.cartgroups_server(
            self.bin,
            url,
            workers=workers,
            log=self.new_log(f"cartgroups-{what}"),
            log_level=self.args.log_level,
            settings=settings,
        )

    def baseline_server(self, workers: int) -> servers.Server:
        """The bare ASGI app with this many workers; started once, kept (idle) until the end."""
        if workers not in self.baselines:
            log(f"starting the baseline (bare ASGI app) with {workers} worker(s)")
            server = self.stack.enter_context(
                servers.baseline_server(
                    self.body_file,
                    workers=workers,
                    log=self.new_log(f"baseline-{workers}w"),
                    log_level=self.args.log_level,
                )
            )
            self.baselines[workers] = server
            self.warm_up(server, self.seeded["sqlite"].clients_file)
        return self.baselines[workers]

    def wrk_run(
        self,
        server: servers.Server,
        scenario: str,
        label: str,
        database: str,
        clients: Path,
        *,
        duration: float | None = None,
        connections: int | None = None,
        note: str = "",
    ) -> Measurement:
        a = self.args
        m = loadgen.run_wrk(
            self.wrk,
            server,
            scenario=scenario,
            label=label,
            database=database,
            clients_file=clients,
            expected=EXPECTED.get(scenario, 200),
            duration=duration or a.duration,
            threads=a.threads,
            connections=connections or a.connections,
            db_pids=self.db_pids if database == "postgresql" else None,
        )
        if note:
            m.extra["note"] = note
        self.last_run = m
        return m

    def measure(
        self,
        server: servers.Server,
        scenario: str,
        label: str,
        database: str,
        clients: Path,
        *,
        connections: int | None = None,
        note: str = "",
    ) -> Measurement:
        """One scenario between two slices of the baseline at the same worker count and
        concurrency, one right before it and one right after: its ratio divides by their mean, so
        a drift of the machine's speed during the scenario counts on both sides of the ratio. A
        slice after one scenario is the slice before the next when nothing ran in between.
        Bulk PUT is a latency figure at its own low concurrency and gets no baseline."""
        if scenario == "bulk":
            m = self.wrk_run(server, scenario, label, database, clients, connections=connections, note=note)
            self.ms.append(m)
            self._log_measurement(m)
            return m
        key = (server.workers, connections)
        last = self._last_slice
        before = last[1] if last is not None and last[0] == key and self.last_run is last[1] else None
        if before is None:
            before = self._baseline_slice(server.workers, f"before {label}", clients, connections)
        m = self.wrk_run(server, scenario, label, database, clients, connections=connections, note=note)
        after = self._baseline_slice(server.workers, f"after {label}", clients, connections)
        self._last_slice = (key, after)
        failed = next((b for b in (before, after) if not b.ok), None)
        if failed is not None:
            if m.error is None:
                m.error = f"a baseline slice next to it failed: {failed.error}"
        else:
            m.baseline_rps = (before.rps + after.rps) / 2
            m.extra["baseline"] = {
                "rps": m.baseline_rps,
                "cpu_us_per_request": (before.cpu_us_per_request + after.cpu_us_per_request) / 2,
                "p50_ms": (before.p50_ms + after.p50_ms) / 2,
                "p99_ms": (before.p99_ms + after.p99_ms) / 2,
                "cpu_other": (before.cpu_other + after.cpu_other) / 2,
                "slices_rps": [before.rps, after.rps],
            }
        self.ms.append(m)
        self._log_measurement(m)
        return m

    def _baseline_slice(
        self, workers: int, label: str, clients: Path, connections: int | None
    ) -> Measurement:
        base = self.wrk_run(
            self.baseline_server(workers),
            "get",
            f"baseline-{workers}w ({label})",
            "-",
            clients,
            duration=self.args.baseline_duration,
            connections=connections,
        )
        base.scenario = "baseline"
        base.baseline_rps = base.rps
        self.baseline_slices.append(base)
        return base

    def _log_measurement(self, m: Measurement) -> None:
        if not m.ok:
            log(f"  {m.label:<28} ERROR: {m.error}")
            return
        slices = m.extra.get("baseline", {}).get("slices_rps")
        ratio = (
            f"{m.ratio:.2f} x baseline ({slices[0]:,.0f} before, {slices[1]:,.0f} after)"
            if slices
            else "no baseline"
        )
        log(
            f"  {m.label:<28} {m.rps:>8,.0f} req/s  p50 {m.p50_ms:6.2f} ms  p99 {m.p99_ms:7.2f} ms"
            f"  {ratio}  {m.cpu_us_per_request:,.0f} CPU us/req  other CPU {m.cpu_other:.2f}"
        )

    def warm_up(self, server: servers.Server, clients: Path) -> None:
        if self.args.quick:
            return
        m = self.wrk_run(server, "get", "warm-up", "-", clients, duration=1)
        if not m.ok:
            log(f"  warm-up: {m.error}")

    def record_rss(self, server: servers.Server, name: str) -> None:
        for pid in server.pids():
            peak = servers.peak_rss_mb(pid)
            if peak is not None:
                self.rss.append({"server": name, "pid": pid, "peak_rss_mb": peak})
        peaks = ", ".join(f"{r['peak_rss_mb']:.0f}" for r in self.rss if r["server"] == name)
        log(f"  peak RSS per worker ({name}): {peaks} MB")

    def fetch_sample(self, server: servers.Server, clients: Path) -> bytes:
        _kind, url, key, token, _ = clients.read_text().splitlines()[0].split("\t")
        request = urllib.request.Request(  # noqa: S310 - http://127.0.0.1
            f"{server.url}/3dCartWebAPI/v1/CustomerGroups/1",
            headers={"SecureURL": url, "PrivateKey": key, "Token": token, "Accept": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=10) as reply:  # noqa: S310 - http://127.0.0.1
            body: bytes = reply.read()
            status = reply.status
        groups = json.loads(body)
        if status != 200 or not (isinstance(groups, list) and groups[0].get("CustomerGroupID") == 1):
            raise RuntimeError(f"unexpected GET-by-id answer {status}: {body[:200]!r}")
        return body

    # -- phases

    def main_scenarios(self, key: str, url: str, rounds: int = 1) -> None:
        """Every main scenario, on one server. In rounds (SQLite), each round runs them on its
        own copy of the seeded database with its own server: a round's writes (POST alone adds
        ~100,000 groups) would otherwise make the next round's database several times the size
        asked for, and its writes dearer."""
        if rounds == 1:
            self._main_round(key, url, None)
            return
        first = len(self.ms)
        for number in range(1, rounds + 1):
            copy = self.work / f"{key}-round-{number}.db"
            copy_sqlite(url, copy)
            try:
                self._main_round(key, f"sqlite:///{copy}", (number, rounds))
            finally:
                for leftover in copy.parent.glob(copy.name + "*"):
                    leftover.unlink()
        self.ms[first:] = reporting.median_rounds(self.ms[first:])

    def _main_round(self, key: str, url: str, round_: tuple[int, int] | None) -> None:
        a = self.args
        clients = self.seeded[key].clients_file
        prefix = f"{key}-{a.workers}w"
        of = f", round {round_[0]} of {round_[1]} (a fresh copy of the seeded database)" if round_ else ""
        log(f"scenarios on {key}, {a.workers} workers{of}")
        with self.cartgroups(url, a.workers, f"{key}-main") as server:
            if not self.body_file.exists():
                self.body_file.write_bytes(self.fetch_sample(server, clients))
                log(
                    f"  GET-by-id body is {self.body_file.stat().st_size} bytes; the baseline "
                    "answers with the same bytes and headers"
                )
            self.warm_up(server, clients)
            for scenario in a.scenarios:
                bulk = scenario == "bulk"
                m = self.measure(
                    server,
                    scenario,
                    f"{prefix}:{scenario}",
                    key,
                    clients,
                    connections=a.bulk_connections if bulk else None,
                    note=f"{a.bulk_connections} connections" if bulk else "",
                )
                if round_ is not None:
                    m.extra["round"] = round_[0]
            self.record_rss(server, f"{prefix} (main scenarios{f', round {round_[0]}' if round_ else ''})")

    def uncached_reads(self, key: str, url: str) -> None:
        """The read scenarios again with the read cache off (CARTGROUPS_READ_CACHE=false): no
        write runs during the main read scenarios, so nearly every read there is answered from
        memory; these show what a read costs when the database has just changed."""
        a = self.args
        clients = self.seeded[key].clients_file
        reads = [s for s in ("get", "count", "list") if s in a.scenarios]
        if not reads:
            return
        log(f"read scenarios on {key} with the read cache off, {a.workers} workers")
        settings = {"CARTGROUPS_READ_CACHE": "false"}
        with self.cartgroups(url, a.workers, f"{key}-uncached", settings) as server:
            self.warm_up(server, clients)
            for scenario in reads:
                label = f"{key}-{a.workers}w-uncached:{scenario}"
                self.measure(server, scenario, label, key, clients, note="read cache off")

    def worker_scan(self) -> None:
        a = self.args
        clients = self.seeded["sqlite"].clients_file
        url = self.seeded["sqlite"].url
        for workers in a.scan:
            log(f"GET by id, sqlite, {workers} worker(s)")
            with self.cartgroups(url, workers, f"scan-{workers}w") as server:
                self.warm_up(server, clients)
                self.measure(
                    server, "get", f"scan-sqlite-{workers}w:get", "sqlite", clients, note="workers scan"
                )
                self.record_rss(server, f"scan-sqlite-{workers}w")

    def large(self, key: str, small_url: str, large_url: str, rounds: int = 1) -> None:
        """GET by id on the default database and on the large one, both servers up at once and
        measured one after the other in each round, so that a drift of the machine's speed
        touches both."""
        a = self.args
        prefix = f"{key}-{a.workers}w"
        small_n, large_n = self.layout.total_groups, self.large_layout.total_groups
        pairs = (
            (
                small_url,
                self.seeded[key].clients_file,
                "get-small-pair",
                f"{small_n:,} groups, paired, read cache off",
            ),
            (
                large_url,
                self.seeded[f"{key}-large"].clients_file,
                "get-large",
                f"{large_n:,} groups, read cache off",
            ),
        )
        # The read cache off: with it, both would answer from memory, whatever the data's size.
        uncached = {"CARTGROUPS_READ_CACHE": "false"}
        first = len(self.ms)
        with contextlib.ExitStack() as stack:
            started = []
            for url, clients, suffix, note in pairs:
                server = stack.enter_context(self.cartgroups(url, a.workers, f"{key}-{suffix}", uncached))
                self.warm_up(server, clients)
                started.append((server, clients, suffix, note))
            for number in range(1, rounds + 1):
                for server, clients, suffix, note in started:
                    log(f"GET by id on {key} with {note}" + (f", round {number}" if rounds > 1 else ""))
                    m = self.measure(server, "get", f"{prefix}:{suffix}", key, clients, note=note)
                    m.extra["round"] = number
            for server, _clients, _suffix, note in started:
                self.record_rss(server, f"{prefix} ({note})")
        pair = (f"{prefix}:get-small-pair", f"{prefix}:get-large")
        self.ms[first:] = reporting.median_rounds(self.ms[first:], pair=pair)

    def distance(self, admin_url: str, url: str) -> None:
        """The PostgreSQL-at-a-distance pair (issue #16): two servers of the same build on the same
        database, one through a delay proxy at +0 ms, one at +--pg-delay-ms round trip; each
        scenario measured on both, one right after the other, in --rounds rounds (which side goes
        first alternates). Reported: each side's req/s and p50, and far/near."""
        a = self.args
        scenarios = [s for s in distance.SCENARIOS if s in a.scenarios]
        if not scenarios:
            return
        clients = self.seeded["postgresql-distance"].clients_file
        target = distance.target_of(admin_url)
        log(f"PostgreSQL at a distance: +0 and +{a.pg_delay_ms:g} ms round trip, {a.workers} workers")
        with contextlib.ExitStack() as stack:
            sides = []
            rtt = {}
            for side, added in zip(distance.SIDES, (0.0, a.pg_delay_ms), strict=True):
                proxy = stack.enter_context(distance.proxy(target, added, self.new_log(f"proxy-{side}")))
                via = distance.through(url, proxy.port)
                rtt[side] = distance.round_trip_ms(via)
                server = stack.enter_context(self.cartgroups(via, a.workers, f"distance-{side}"))
                self.warm_up(server, clients)
                sides.append((side, proxy, server))
            log(f"  SELECT 1 round trip: {rtt['near']:.3f} ms near, {rtt['far']:.3f} ms far")
            for number in range(1, a.rounds + 1):
                order = sides if number % 2 else sides[::-1]
                for scenario in scenarios:
                    for side, proxy, server in order:
                        label = f"postgresql-{a.workers}w-{side}:{scenario}"
                        proxy_cpu0 = servers.cpu_seconds([proxy.pid])
                        m = self.wrk_run(server, scenario, label, "postgresql", clients)
                        # the proxy stands in for the network: its CPU is not the machine's noise
                        cpu_proxy = (servers.cpu_seconds([proxy.pid]) - proxy_cpu0) / m.duration_s
                        m.cpu_other = max(0.0, m.cpu_other - cpu_proxy)
                        m.extra |= {"side": side, "round": number, "rtt_added_ms": proxy.rtt_ms}
                        m.extra["cpu_proxy"] = cpu_proxy
                        self.distance_ms.append(m)
                        self._log_measurement(m)
            for side, _proxy, server in sides:
                self.record_rss(server, f"postgresql-{a.workers}w-{side} (distance pair)")
        self.distance_info = {
            "rtt_added_ms": a.pg_delay_ms,
            "measured_rtt_ms": rtt,
            "workers": a.workers,
            "connections": a.connections,
            "threads": a.threads,
            "duration": a.duration,
            "rounds": a.rounds,
            "groups": self.seeded["postgresql-distance"].layout.total_groups,
            "noise": distance.noise(self.distance_ms),
        }

    def _spy(self, server: servers.Server, scenario: str, clients: Path, name: str) -> dict[str, Any] | None:
        """Sample one single-worker server with py-spy while wrk drives ``scenario``."""
        a = self.args
        seconds = round(a.profile_seconds)
        raw = self.work / f"profile-{name}-raw.txt"
        self.warm_up(server, clients)
        expected = str(EXPECTED.get(scenario, 200))
        argv = [
            self.wrk,
            f"-t{a.threads}",
            f"-c{a.connections}",
            f"-d{seconds + 4}s",
            "-s",
            str(loadgen.LUA),
            server.url,
            "--",
            scenario,
            str(clients),
            expected,
        ]
        pid = server.process.pid
        load = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        try:
            time.sleep(1.5)
            cpu0, t0 = servers.cpu_seconds([pid]), time.monotonic()
            # Blocking mode (the default): each sample pauses the process for a moment, so that
            # every stack is consistent; --nonblocking gave ~10 % torn stacks.
            spy = subprocess.run(
                [
                    py_spy() or "py-spy",
                    "record",
                    "--pid",
                    str(pid),
                    "--duration",
                    str(seconds),
                    "--rate",
                    "250",
                    "--format",
                    "raw",
                    "--output",
                    str(raw),
                ],
                capture_output=True,
                text=True,
                check=False,
            )
            cpu_rate = (servers.cpu_seconds([pid]) - cpu0) / (time.monotonic() - t0)
        finally:
            out, _ = load.communicate(timeout=60)
        if spy.returncode != 0 or not raw.exists():
            log(f"  py-spy failed: {(spy.stderr or spy.stdout).strip()[-400:]}")
            return None
        line = next((ln for ln in out.decode().splitlines() if ln.startswith("BENCH_RESULT ")), "")
        load_result = json.loads(line.removeprefix("BENCH_RESULT ")) if line else {}
        if load_result.get("bad") or not load_result.get("requests"):
            log(f"  the profiled load failed: {load_result or out.decode()[-300:]}")
            return None
        rps = load_result["requests"] / (load_result["duration_us"] / 1e6)
        summary = profiling.summarise(raw.read_text())
        summary |= {"load": load_result, "rps": rps, "us_per_request": 1e6 * cpu_rate / rps}
        kept = a.results / f"profile-{name}-raw.txt"
        shutil.copy(raw, kept)
        log(
            f"  {name}: {summary['samples']:,} samples, ~{rps:,.0f} req/s, "
            f"{summary['us_per_request']:.0f} CPU us/request; raw stacks in {kept}"
        )
        for part, share in summary["self"][:8]:
            log(f"    {share:5.1f}%  {part}")
        return summary

    def profile(self, url: str, clients: Path) -> dict[str, Any] | None:
        scenario = self.args.profile_scenario
        log(f"profiling {scenario} on one worker with py-spy for {self.args.profile_seconds:.0f} s")
        with self.cartgroups(url, 1, "profile") as server:
            if not self.body_file.exists():
                self.body_file.write_bytes(self.fetch_sample(server, clients))
            summary = self._spy(server, scenario, clients, scenario)
        if summary is None:
            return None
        log("profiling the baseline the same way")
        summary["baseline"] = self._spy(self.baseline_server(1), "get", clients, "baseline")
        return summary

    # -- everything

    def execute(self, databases: list[str]) -> dict[str, Any] | None:
        with self.stack:
            return self._execute(databases)

    def _execute(self, databases: list[str]) -> dict[str, Any] | None:
        a = self.args
        if a.distance_only:
            for admin_url in (d for d in databases if d != "sqlite"):
                self._distance_on(admin_url)
            return None
        sqlite_url = f"sqlite:///{self.work / 'main.db'}"
        self.seed("sqlite", sqlite_url, self.layout)
        if a.profile_only:
            postgres = [d for d in databases if d != "sqlite"]
            if not postgres:
                return self.profile(sqlite_url, self.seeded["sqlite"].clients_file)
            with fresh_postgres(postgres[0]) as pg_url:  # --database: profile that one instead
                return self.profile(pg_url, self.seed("postgresql", pg_url, self.layout).clients_file)
        self.main_scenarios("sqlite", sqlite_url, a.rounds)
        self.uncached_reads("sqlite", sqlite_url)
        self.worker_scan()
        if not a.no_large:
            large_url = f"sqlite:///{self.work / 'large.db'}"
            self.seed("sqlite-large", large_url, self.large_layout)
            self.large("sqlite", sqlite_url, large_url, a.rounds)
        for admin_url in (d for d in databases if d != "sqlite"):
            with contextlib.ExitStack() as stack:
                pg_url = stack.enter_context(fresh_postgres(admin_url))
                self.db_pids = stack.enter_context(backend_pids(admin_url, pg_url))
                self.seed("postgresql", pg_url, self.layout)
                self.main_scenarios("postgresql", pg_url)
                if not a.no_large:
                    pg_large = stack.enter_context(fresh_postgres(admin_url))
                    self.seed("postgresql-large", pg_large, self.large_layout)
                    self.large("postgresql", pg_url, pg_large)
            if not (a.no_distance or a.quick):  # ~25 s more even when quick: --distance-only
                self._distance_on(admin_url)
        for workers, server in sorted(self.baselines.items()):
            self.record_rss(server, f"baseline-{workers}w")
        profile = None
        if a.profile:
            profile = self.profile(sqlite_url, self.seeded["sqlite"].clients_file)
        return profile

    def _distance_on(self, admin_url: str) -> None:
        """The pair on a fresh database of its own (the main scenarios' writes stay out of it)."""
        with contextlib.ExitStack() as stack:
            url = stack.enter_context(fresh_postgres(admin_url))
            self.db_pids = stack.enter_context(backend_pids(admin_url, url))
            self.seed("postgresql-distance", url, self.layout)
            self.distance(admin_url, url)


def choose_databases(args: argparse.Namespace) -> list[str]:
    chosen = _choose_databases(args)
    if args.distance_only and chosen == ["sqlite"]:
        print("error: --distance-only needs a PostgreSQL --database", file=sys.stderr)
        sys.exit(2)
    return chosen


def _choose_databases(args: argparse.Namespace) -> list[str]:
    if args.database:
        chosen = []
        for d in args.database:
            if d.lower() == "sqlite":
                continue
            reason = postgres_reachable(d)
            if reason:
                print(f"error: cannot use {d}: {reason}", file=sys.stderr)
                sys.exit(2)
            chosen.append(d)
        return ["sqlite", *chosen]
    if (args.quick or args.profile_only) and not args.distance_only:
        return ["sqlite"]
    reason = postgres_reachable(DEFAULT_POSTGRES)
    if reason and args.distance_only:
        print(f"error: --distance-only needs PostgreSQL; {DEFAULT_POSTGRES}: {reason}", file=sys.stderr)
        sys.exit(2)
    if reason:
        log(
            f"PostgreSQL at {DEFAULT_POSTGRES} does not answer ({reason}); SQLite only. "
            "Pass --database postgresql://... to include it."
        )
        return ["sqlite"]
    return ["sqlite", DEFAULT_POSTGRES]


def versions() -> dict[str, str]:
    from importlib.metadata import version

    out = {"python": platform.python_version()}
    for name in ("cartgroups", "uvicorn", "uvloop", "httptools", "sqlalchemy", "psycopg", "orjson"):
        with contextlib.suppress(Exception):
            out[name] = version(name)
    with contextlib.suppress(Exception):
        out["wrk"] = subprocess.run(
            ["wrk", "--version"], capture_output=True, text=True, check=False
        ).stdout.splitlines()[0]
    return out


def source_state() -> dict[str, Any]:
    """The commit under test, whether src/ differs from it, and a hash of src/'s contents."""

    def git(*argv: str) -> str:
        try:
            return subprocess.run(
                ["git", *argv], cwd=ROOT, capture_output=True, text=True, check=False
            ).stdout.rstrip("\n")
        except OSError:
            return ""

    digest = hashlib.sha256()
    for path in sorted((ROOT / "src").rglob("*.py")):
        digest.update(str(path.relative_to(ROOT)).encode() + b"\0" + path.read_bytes())
    return {
        "commit": git("rev-parse", "--short", "HEAD").strip(),
        "modified": [line[3:] for line in git("status", "--porcelain", "--", "src").splitlines()],
        "src_sha256": digest.hexdigest(),
    }


def machine() -> str:
    cpu = "unknown CPU"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    return f"{os.cpu_count()} cores ({cpu}), Linux {platform.release()}"


def loadavg() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def write_docs(markdown: str, profile_md: str | None, chart: Path | None, distance_md: str = "") -> None:
    text = DOCS.read_text() if DOCS.exists() else ""

    def put(text: str, name: str, body: str) -> str:
        start, end = f"<!-- {name}:start -->", f"<!-- {name}:end -->"
        if start in text and end in text:
            head, rest = text.split(start, 1)
            return head + start + "\n" + body + end + rest.split(end, 1)[1]
        return text + f"\n{start}\n{body}{end}\n"

    if markdown:
        text = put(text, "results", markdown)
    if profile_md:
        text = put(text, "profile", profile_md)
    if distance_md:
        text = put(text, "distance", distance_md)
    DOCS.write_text(text)
    if chart is not None and chart.exists():
        shutil.copy(chart, DOCS_CHART)
    log(f"updated {DOCS.relative_to(ROOT)}" + (f" and {DOCS_CHART.relative_to(ROOT)}" if chart else ""))


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    wrk, cartgroups_bin = preflight(args)
    databases = choose_databases(args)
    args.results.mkdir(parents=True, exist_ok=True)
    started = datetime.now(UTC)
    stamp = started.strftime("%Y%m%dT%H%M%SZ")
    command = "python benchmarks/run.py " + " ".join(sys.argv[1:] if argv is None else argv)
    work = Path(tempfile.mkdtemp(prefix="cartgroups-bench-"))
    load_before = loadavg()
    source_before = source_state()
    t0 = time.monotonic()
    log(f"work folder {work}; databases: {', '.join(databases)}")
    run = Run(args, wrk, cartgroups_bin, work)
    failure: str | None = None
    profile = None
    try:
        profile = run.execute(databases)
    except (RuntimeError, subprocess.CalledProcessError, OSError) as exc:
        failure = str(exc)
        log(f"run aborted: {failure}")
    except KeyboardInterrupt:
        failure = "interrupted"
        log("interrupted")
    finally:
        if args.keep:
            log(f"kept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
    elapsed = time.monotonic() - t0

    ms = run.ms
    slices = run.baseline_slices
    source_after = source_state()
    source_changed = source_after["src_sha256"] != source_before["src_sha256"]
    if source_changed:
        log("warning: src/ changed during the run, so its figures mix code versions; run it again")
    summaries = reporting.baseline_summary(slices)
    targets = reporting.check_targets(
        ms,
        run.rss,
        main_label=f"sqlite-{args.workers}w",
        large_groups=run.large_layout.total_groups,
        small_groups=run.layout.total_groups,
    )
    others = [m.cpu_other for m in [*ms, *slices, *run.distance_ms] if m.ok]
    main_base = [m.rps for m in slices if m.ok and m.workers == args.workers]
    report: dict[str, Any] = {
        "meta": {
            "started": started.isoformat(timespec="seconds"),
            "seconds": round(elapsed, 1),
            "machine": machine(),
            "versions": versions(),
            "command": command,
            "source": {**source_before, "changed_during_run": source_changed},
            "environment": {k: v for k, v in os.environ.items() if k.startswith("CARTGROUPS_")},
        },
        "settings": {
            "duration": args.duration,
            "baseline_duration": args.baseline_duration,
            "rounds": args.rounds,
            "threads": args.threads,
            "connections": args.connections,
            "bulk_connections": args.bulk_connections,
            "workers": args.workers,
            "stores": args.stores,
            "groups": args.groups,
            "wide_stores": args.wide_stores,
            "wide_groups": args.wide_groups,
            "clients": args.clients,
            "large_stores": args.large_stores,
            "large_groups": args.large_groups,
            "log_level": args.log_level or "server default (info)",
            "databases": databases,
            "quick": args.quick,
        },
        "seeding_seconds": {k: round(s.seconds, 2) for k, s in run.seeded.items()},
        "baseline": [m.as_dict() for m in summaries],
        "measurements": [m.as_dict() for m in ms],
        "baseline_slices": [m.as_dict() for m in slices],
        "targets": [t.as_dict() for t in targets],
        "rss": run.rss,
        "noise": {
            "loadavg_before": load_before,
            "loadavg_after": loadavg(),
            "other_cpu_mean": sum(others) / len(others) if others else 0.0,
            "other_cpu_max": max(others, default=0.0),
            "baseline_min": min(main_base, default=0.0),
            "baseline_max": max(main_base, default=0.0),
            "baseline_cv": reporting.cv(main_base),
        },
        "profile": profile,
        "failure": failure,
    }
    pair = distance.summarise(run.distance_ms)
    if run.distance_ms:
        report["distance"] = {
            **run.distance_info,
            "rows": [row.as_dict() for row in pair],
            "measurements": [m.as_dict() for m in run.distance_ms],
        }
    main_md = reporting.markdown(report, [*summaries, *ms], targets) if ms else ""
    md = main_md
    distance_md = distance.markdown(run.distance_info, pair) if pair else ""
    if distance_md:
        md += f"\n## PostgreSQL at a distance (issue #16)\n\n{distance_md}"
    profile_md = None
    if profile is not None:
        context = (
            f"py-spy, {args.profile_seconds:.0f} s at 250 Hz (blocking mode), one worker, SQLite with "
            f"{run.layout.total_groups:,} groups, under wrk {reporting.TITLES[args.profile_scenario]} "
            f"({args.connections} connections, ~{profile['rps']:,.0f} req/s while sampled, "
            f"{profile['us_per_request']:.0f} us of worker CPU per request). The bare ASGI "
            "baseline was profiled the same way."
        )
        profile_md = profiling.markdown(profile, context, profile.get("baseline"))
    paths = {ext: args.results / f"{stamp}.{ext}" for ext in ("json", "md", "png")}
    reporting.write_json(paths["json"], report)
    paths["md"].write_text(md + (("\n## Profile\n\n" + profile_md) if profile_md else ""))
    chart: Path | None = None
    if not args.no_chart and ms:
        reporting.chart(
            paths["png"], ms, f"cartgroups vs bare ASGI baseline - {machine()} - {started:%Y-%m-%d %H:%M} UTC"
        )
        chart = paths["png"] if paths["png"].exists() else None
    for ext, path in paths.items():
        if path.exists():
            shutil.copy(path, args.results / f"latest.{ext}")
    if ms:
        print()
        print(reporting.text_table([*summaries, *ms]))
        print()
        for t in targets:
            met = {True: "met", False: "NOT MET", None: "n/a"}[t.met]
            print(f"  {t.name:<38} {t.wanted:<22} {t.measured:<60} {met}")
        print()
    if pair:
        print(f"PostgreSQL at a distance: +0 vs +{args.pg_delay_ms:g} ms round trip")
        print(distance.text_table(pair))
        print()
    errors = [m for m in [*ms, *run.distance_ms] if not m.ok]
    for m in errors:
        print(f"error: {m.label}: {m.error}", file=sys.stderr)
    log(
        f"done in {elapsed:.0f} s; results in {args.results}/latest.{{json,md"
        + (",png" if chart else "")
        + "}"
    )
    if args.write_docs:
        if errors or failure is not None or source_changed:
            log("docs/performance.md left as it was: this run had errors or src/ changed under it")
        else:
            write_docs(main_md, profile_md, chart, distance_md)
    if failure is not None or errors:
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
