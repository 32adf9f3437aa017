"""Drive one scenario with wrk and turn its output into a checked measurement."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from servers import Server, cpu_seconds, machine_cpu

HERE = Path(__file__).resolve().parent
LUA = HERE / "scenarios.lua"
INSTALL_HINT = "wrk is not installed; install it with:  apt-get install -y wrk"


def find_wrk() -> str | None:
    return shutil.which("wrk")


@dataclass
class Measurement:
    scenario: str
    label: str
    database: str
    workers: int
    connections: int
    threads: int
    duration_s: float
    requests: int = 0
    rps: float = 0.0
    p50_ms: float = 0.0
    p90_ms: float = 0.0
    p99_ms: float = 0.0
    mean_ms: float = 0.0
    max_ms: float = 0.0
    unexpected: int = 0
    socket_errors: dict[str, int] = field(default_factory=dict)
    first_unexpected: str = ""
    error: str | None = None
    # CPU seconds per wall second (2.0 = both cores of a 2-core machine) during the run
    cpu_server: float = 0.0
    cpu_db: float = 0.0  # PostgreSQL backends serving this server (0 on SQLite: it is in-process)
    cpu_wrk: float = 0.0
    cpu_other: float = 0.0
    # CPU time of the server (and its database backends) per request: unlike req/s, hardly
    # moved by other processes taking CPU away
    cpu_us_per_request: float = 0.0
    baseline_rps: float | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.error is None

    @property
    def cpu_ratio(self) -> float | None:
        """Baseline CPU per request / this scenario's CPU per request (1.0 = as cheap as the
        baseline)."""
        base = self.extra.get("baseline", {}).get("cpu_us_per_request")
        if not self.ok or not base or not self.cpu_us_per_request:
            return None
        return float(base) / self.cpu_us_per_request

    @property
    def ratio(self) -> float | None:
        if not self.ok or not self.baseline_rps:
            return None
        return self.rps / self.baseline_rps

    def as_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["ratio"] = self.ratio
        out["cpu_ratio"] = self.cpu_ratio
        return out


def run_wrk(
    wrk: str,
    server: Server,
    *,
    scenario: str,
    label: str,
    database: str,
    clients_file: Path,
    expected: int,
    duration: float,
    threads: int,
    connections: int,
    timeout_s: float = 10,
    db_pids: Callable[[], list[int]] | None = None,
) -> Measurement:
    """Run wrk for ``duration`` seconds; a run with any unexpected status or socket error is an
    error (``Measurement.error``), never a figure."""
    threads = max(1, min(threads, connections))
    m = Measurement(scenario, label, database, server.workers, connections, threads, duration)
    seconds = max(1, round(duration))
    argv = [
        wrk,
        f"-t{threads}",
        f"-c{connections}",
        f"-d{seconds}s",
        f"--timeout={timeout_s:g}s",
        "-s",
        str(LUA),
        server.url,
        "--",
        scenario,
        str(clients_file),
        str(expected),
    ]
    server_pids = server.all_pids()
    db_before = db_pids() if db_pids else []
    db_cpu0 = {pid: cpu_seconds([pid]) for pid in db_before}
    cpu0, (busy0, _) = cpu_seconds(server_pids), machine_cpu()
    wall0 = time.monotonic()
    with tempfile.TemporaryFile() as out:
        process = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        _, status, usage = os.wait4(process.pid, 0)
        process.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        text = out.read().decode(errors="replace")
    wall = time.monotonic() - wall0
    busy1 = machine_cpu()[0]
    m.cpu_server = (cpu_seconds(server_pids) - cpu0) / wall
    if db_pids:
        # backends that started during the run count from zero
        db_after = set(db_pids()) | set(db_before)
        m.cpu_db = sum(cpu_seconds([pid]) - db_cpu0.get(pid, 0.0) for pid in db_after) / wall
    m.cpu_wrk = (usage.ru_utime + usage.ru_stime) / wall
    m.cpu_other = max(0.0, (busy1 - busy0) / wall - m.cpu_server - m.cpu_db - m.cpu_wrk)
    line = next((ln for ln in text.splitlines() if ln.startswith("BENCH_RESULT ")), None)
    if process.returncode != 0 or line is None:
        m.error = f"wrk failed (exit {process.returncode}): {text.strip()[-500:]}"
        return m
    data = json.loads(line.removeprefix("BENCH_RESULT "))
    lat = data["latency_us"]
    m.requests = int(data["requests"])
    m.rps = m.requests / (data["duration_us"] / 1e6)
    if m.requests:
        m.cpu_us_per_request = 1e6 * (m.cpu_server + m.cpu_db) * wall / m.requests
    m.p50_ms, m.p90_ms, m.p99_ms = lat["p50"] / 1000, lat["p90"] / 1000, lat["p99"] / 1000
    m.mean_ms, m.max_ms = lat["mean"] / 1000, lat["max"] / 1000
    m.unexpected = int(data["bad"])
    m.first_unexpected = data["first_bad"]
    m.socket_errors = {k: int(v) for k, v in data["errors"].items() if k != "status" and v}
    if m.unexpected:
        m.error = (
            f"{m.unexpected} of {m.requests} responses had an unexpected status "
            f"(expected {expected}); first: {m.first_unexpected[:200]}"
        )
    elif m.socket_errors:
        m.error = f"socket errors: {m.socket_errors}"
    elif m.requests == 0:
        m.error = "no request completed"
    return m
