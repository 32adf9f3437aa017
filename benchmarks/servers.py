"""Start and stop the servers under test (cartgroups and the baseline) on 127.0.0.1, find their
worker processes, and read what they used (CPU time, peak RSS) from /proc."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

HOST = "127.0.0.1"
HERE = Path(__file__).resolve().parent
CLK_TCK = os.sysconf("SC_CLK_TCK")


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((HOST, 0))
        return int(probe.getsockname()[1])


@dataclass
class Server:
    name: str
    process: subprocess.Popen[bytes]
    port: int
    workers: int
    log: Path
    worker_pids: list[int] = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}"

    def pids(self) -> list[int]:
        """The processes that serve requests: uvicorn's worker children, or the main process
        itself when it runs a single worker."""
        return self.worker_pids or [self.process.pid]

    def all_pids(self) -> list[int]:
        return [self.process.pid, *self.worker_pids]


def _children(pid: int) -> list[int]:
    found: list[int] = []
    task_dir = Path(f"/proc/{pid}/task")
    with contextlib.suppress(OSError):
        for task in task_dir.iterdir():
            with contextlib.suppress(OSError):
                found += [int(c) for c in (task / "children").read_text().split()]
    return found


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def worker_children(pid: int) -> list[int]:
    """uvicorn's worker processes (multiprocessing spawn children), not the resource tracker."""
    return [c for c in _children(pid) if "spawn_main" in _cmdline(c)]


def _startup_lines(log: Path) -> int:
    try:
        return log.read_text(errors="replace").count("Application startup complete")
    except OSError:
        return 0


def _wait_ready(server: Server, timeout: float, log_level: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise RuntimeError(
                f"{server.name} exited with status {server.process.returncode} while starting; "
                f"its log ({server.log}):\n{tail(server.log)}"
            )
        try:
            with urllib.request.urlopen(f"{server.url}/healthz", timeout=2) as reply:  # noqa: S310
                up = reply.status == 200
        except OSError:
            up = False
        if up:
            if server.workers > 1:
                server.worker_pids = worker_children(server.process.pid)
            everyone = len(server.worker_pids) >= server.workers if server.workers > 1 else True
            started = log_level not in ("debug", "info") or _startup_lines(server.log) >= server.workers
            if everyone and started:
                return
        time.sleep(0.1)
    raise RuntimeError(f"{server.name} did not become ready in {timeout:.0f} s; log:\n{tail(server.log)}")


def tail(path: Path, lines: int = 20) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


@contextlib.contextmanager
def running(
    name: str,
    argv: list[str],
    *,
    port: int,
    workers: int,
    log: Path,
    log_level: str,
    env: dict[str, str] | None = None,
    timeout: float = 90,
) -> Iterator[Server]:
    with log.open("ab") as out:
        process = subprocess.Popen(
            argv,
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=env,
            start_new_session=True,
        )
    server = Server(name, process, port, workers, log)
    try:
        _wait_ready(server, timeout, log_level)
        yield server
    finally:
        stop(server)


def stop(server: Server) -> None:
    process = server.process
    if process.poll() is None:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=40)
        except subprocess.TimeoutExpired:
            # Our own server's process group (we started it in a new session).
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=10)


def cartgroups_server(
    cartgroups_bin: str,
    database_url: str,
    *,
    workers: int,
    log: Path,
    log_level: str | None,
    settings: dict[str, str] | None = None,
) -> contextlib.AbstractContextManager[Server]:
    """``settings``: extra CARTGROUPS_* environment variables for the server."""
    port = free_port()
    argv = [
        cartgroups_bin,
        "serve",
        "--host",
        HOST,
        "--port",
        str(port),
        "--workers",
        str(workers),
        "--database",
        database_url,
    ]
    if log_level is not None:
        argv += ["--log-level", log_level]
    return running(
        f"cartgroups ({workers} worker(s))",
        argv,
        port=port,
        workers=workers,
        log=log,
        log_level=log_level or "info",
        env={**os.environ, **settings} if settings else None,
    )


def baseline_server(
    body_file: Path,
    *,
    workers: int,
    log: Path,
    log_level: str | None,
) -> contextlib.AbstractContextManager[Server]:
    port = free_port()
    argv = [
        sys.executable,
        str(HERE / "baseline_app.py"),
        "--port",
        str(port),
        "--workers",
        str(workers),
        "--body-file",
        str(body_file),
        "--log-level",
        log_level or "info",
    ]
    return running(
        f"baseline ({workers} worker(s))",
        argv,
        port=port,
        workers=workers,
        log=log,
        log_level=log_level or "info",
    )


def cpu_seconds(pids: list[int]) -> float:
    """User + system CPU time of these processes so far (processes that are gone count 0)."""
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])  # utime, stime (fields 14 and 15)
    return total / CLK_TCK


def machine_cpu() -> tuple[float, float]:
    """(busy, total) CPU seconds of the whole machine since boot, from /proc/stat."""
    values = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = values[3] + values[4]  # idle + iowait
    total = sum(values[:8])  # user nice system idle iowait irq softirq steal
    return (total - idle) / CLK_TCK, total / CLK_TCK


def peak_rss_mb(pid: int) -> float | None:
    """VmHWM (the peak resident set size) of a process, in MiB."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None
