"""CPU instructions per request, counted by callgrind: a figure that does not move with the
machine's load, for telling a 2 % change from noise (the wrk benchmark's ratios move by ±10 %
on a shared machine).

    .venv/bin/python benchmarks/instructions.py [--scenario post|put|get|count]
        [--requests 2000] [--src DIR]...

The cartgroups ASGI app is called in-process (no HTTP server, no socket) with the benchmark's
POST, PUT by id, GET by id or countonly=1 requests, 24 at a time, so that writes share a batch
as under load, on a SQLite database of 1,000 stores x 20 groups. Reads cycle through a fixed
set of READ_SET requests, as wrk's threads cycle through the ones they build at start, and the
warm-up asks each once: what is counted is a read answered from the read cache, as in the
benchmark's read scenarios. The driver runs under ``valgrind --tool=callgrind``
twice, with N and 3N requests after the same warm-up; (I(3N) - I(N)) / 2N is the instructions of
one request, from the ASGI call to the reply, with start-up and seeding cancelled out. Each
``--src`` (say, ``git archive <rev> src | tar -x -C /tmp/old``, then ``--src /tmp/old/src``)
is measured the same way, on its own copy of the code, for an A/B. Needs valgrind (Debian
package). Time spent waiting (fsync, locks) is not counted: this measures work, not latency.
"""

from __future__ import annotations

import argparse
import asyncio
import compileall
import os
import random
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))  # the benchmark's own modules, when run as a script

import seeding  # noqa: E402

PREFIX = "/3dCartWebAPI/v1/CustomerGroups"
CONCURRENT = 24  # requests in flight: about one batch each
WARM_UP = 500
READ_SET = 2048
EXPECTED = {"post": 201, "put": 200, "get": 200, "count": 200}


def _request(scenario: str, n: int, client: list[str]) -> tuple[dict[str, Any], bytes]:
    """The n-th request, as benchmarks/scenarios.lua builds it."""
    _kind, secure_url, private_key, token, groups = client
    query = b""
    if scenario == "post":
        body = (
            b'{"Name":"Benchmark group %d","Description":"created by the benchmark",'
            b'"MinimumOrder":12.50,"NonTaxable":false,"AllowRegistration":true,"PriceLevel":%d}'
            % (n, 1 + n % 10)
        )
        method, path = "POST", PREFIX
    elif scenario == "put":
        body = b'{"Description":"updated by the benchmark %d","PriceLevel":%d}' % (n, 1 + n % 10)
        method, path = "PUT", f"{PREFIX}/{1 + n % int(groups)}"
    elif scenario == "get":
        body, method, path = b"", "GET", f"{PREFIX}/{1 + n % int(groups)}"
    else:
        body, method, path, query = b"", "GET", PREFIX, b"countonly=1"
    headers = [
        (b"host", b"127.0.0.1"),
        (b"secureurl", secure_url.encode()),
        (b"privatekey", private_key.encode()),
        (b"token", token.encode()),
        (b"accept", b"application/json"),
    ]
    if body:
        headers += [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": query,
        "root_path": "",
        "headers": headers,
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 8000),
    }
    return scope, body


def drive(database_url: str, clients_file: Path, scenario: str, requests: int) -> None:
    """Call the app with WARM_UP and then ``requests`` requests; fail on any unexpected status."""
    import uvloop

    from cartgroups.cli.serve import served_app
    from cartgroups.config import Settings
    from cartgroups.service import audit

    # As a `cartgroups serve` worker runs it: tuned once started (the garbage collector settled).
    app = served_app(Settings(database_url=database_url, log_level="warning"))
    app.start()
    # The server indexes new audit entries by store once a second, on a thread: under callgrind
    # (~50 times slower) that would be every few requests, at a moment that moves from run to
    # run. Stopped here; the driver indexes after each run instead, in one go, as a busy server
    # does every second, so that the figure includes it and is the same on every run.
    assert app.indexer is not None and app.db is not None
    app.indexer.stop()
    db = app.db
    clients = [line.split("\t") for line in clients_file.read_text().splitlines()]
    chooser = random.Random(7)  # the same requests in every run
    expected = EXPECTED[scenario]
    reads = scenario in ("get", "count")
    read_set = [_request(scenario, n, chooser.choice(clients)) for n in range(READ_SET)] if reads else []
    statuses: list[int] = []

    async def one(scope: dict[str, Any], body: bytes) -> None:
        delivered = False

        async def receive() -> dict[str, Any]:
            nonlocal delivered
            if delivered:
                await asyncio.Event().wait()  # the client never leaves
            delivered = True
            return {"type": "http.request", "body": body, "more_body": False}

        async def send(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                statuses.append(message["status"])

        await app(scope, receive, send)

    async def run(count: int) -> None:
        if reads:
            built = [read_set[n % READ_SET] for n in range(count)]
        else:
            built = [_request(scenario, n, chooser.choice(clients)) for n in range(count)]
        for start in range(0, count, CONCURRENT):
            await asyncio.gather(*(one(scope, body) for scope, body in built[start : start + CONCURRENT]))

    async def main() -> None:
        await run(READ_SET if reads else WARM_UP)
        audit.index_new_entries(db)
        await run(requests)
        audit.index_new_entries(db)

    try:
        uvloop.run(main())
    finally:
        app.stop()
    unexpected = [s for s in statuses if s != expected]
    if unexpected or len(statuses) != (READ_SET if reads else WARM_UP) + requests:
        raise SystemExit(f"unexpected answers: {len(unexpected)} of {len(statuses)} (first {unexpected[:3]})")


def _seed(work: Path) -> tuple[str, Path]:
    """The benchmark's main SQLite database (1,000 stores x 20 groups) and its clients file."""
    url = f"sqlite:///{work / 'main.db'}"
    cartgroups_bin = shutil.which("cartgroups", path=str(Path(sys.executable).parent)) or "cartgroups"
    layout = seeding.Layout(stores=1000, groups=20, wide_stores=0, wide_groups=100, clients=1000)
    clients = work / "clients.tsv"
    seeding.seed(cartgroups_bin, url, layout, clients, work / "seed.log")
    return url, clients


def _count(src: Path | None, work: Path, scenario: str, requests: int) -> int:
    """Instructions of one run of the driver under callgrind, on a fresh copy of the database."""
    run = work / f"run-{os.getpid()}.db"
    shutil.copy(work / "main.db", run)
    env = {**os.environ, "PYTHONHASHSEED": "0"}  # the same dict and set layouts every run
    if src is not None:
        env["PYTHONPATH"] = str(src)
    argv = [
        "valgrind",
        "--tool=callgrind",
        "--callgrind-out-file=/dev/null",
        sys.executable,
        __file__,
        "--drive",
        f"sqlite:///{run}",
        str(work / "clients.tsv"),
        scenario,
        str(requests),
    ]
    done = subprocess.run(argv, env=env, capture_output=True, text=True, check=False)
    found = re.search(r"Collected : (\d+)", done.stderr)
    if done.returncode != 0 or found is None:
        raise SystemExit(f"the callgrind run failed:\n{done.stderr[-2000:]}")
    return int(found.group(1))


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--drive":
        url, clients, scenario, requests = sys.argv[2:6]
        drive(url, Path(clients), scenario, int(requests))
        return
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--scenario", choices=sorted(EXPECTED), default="post")
    p.add_argument("--requests", type=int, default=2000, help="N: runs of N and 3N requests are compared")
    p.add_argument("--src", type=Path, action="append", default=[], help="another copy of src to measure")
    args = p.parse_args()
    if shutil.which("valgrind") is None:
        raise SystemExit("valgrind is not installed: apt-get install -y valgrind")
    with tempfile.TemporaryDirectory(prefix="cartgroups-instructions-") as tmp:
        work = Path(tmp)
        _seed(work)
        for src in [None, *args.src]:
            if src is not None:  # compiled now, not inside one of the two counted runs
                compileall.compile_dir(src, quiet=1)
            small = _count(src, work, args.scenario, args.requests)
            large = _count(src, work, args.scenario, 3 * args.requests)
            per_request = (large - small) / (2 * args.requests)
            print(f"{args.scenario} [{src or 'this checkout'}]: {per_request:,.0f} instructions a request")


if __name__ == "__main__":
    main()
