"""Run the real ``cartgroups`` command in child processes. Every wait is bounded, and every
process a test starts is stopped (terminate, then kill) however the test ends.

When a test fails, the report shows what every ``cartgroups serve`` that ran during it wrote to
stderr (ServerStderr, registered by tests/conftest.py): a 500 or a crash in a server then shows
its traceback next to the assertion that noticed it."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Generator, Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from cartgroups.service import credentials
from cartgroups.storage.database import Database

PYTHON_M = [sys.executable, "-m", "cartgroups"]
CONSOLE_SCRIPT = [str(Path(sys.executable).with_name("cartgroups"))]
TIMEOUT = 60.0


def env_for(database_url: str | None, **extra: str) -> dict[str, str]:
    """The test's environment without any CARTGROUPS_* setting of its own, plus the given ones."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("CARTGROUPS_")}
    if database_url is not None:
        env["CARTGROUPS_DATABASE_URL"] = database_url
    env.update(extra)
    return env


def api_headers(database_url: str, secure_url: str = "shop.com") -> dict[str, str]:
    """The three 3dcart headers of new read/write credentials for a store of the database."""
    db = Database(database_url)
    try:
        issued = credentials.issue(db, secure_url=secure_url)
    finally:
        db.dispose()
    assert issued.private_key is not None
    return {"SecureURL": secure_url, "PrivateKey": issued.private_key, "Token": issued.token}


@dataclass
class Result:
    args: Sequence[str]
    code: int
    out: str
    err: str

    def ok(self) -> Result:
        assert self.code == 0, f"{self.args}: exit {self.code}\n{self.out}\n{self.err}"
        return self

    def one_line_error(self) -> str:
        """Assert the command failed the documented way and return its message."""
        assert self.code == 1, f"{self.args}: exit {self.code}\n{self.out}\n{self.err}"
        assert "Traceback" not in self.err and "Traceback" not in self.out
        lines = self.err.splitlines()
        assert len(lines) == 1, f"{self.args}: expected one line on stderr, got {self.err!r}"
        assert lines[0].startswith("error: "), lines[0]
        assert self.out == ""
        return lines[0]


def start(
    args: Sequence[str],
    *,
    database_url: str | None,
    cwd: Path,
    command: Sequence[str] = PYTHON_M,
    **env: str,
) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [*command, *args],
        cwd=cwd,
        env=env_for(database_url, **env),
        text=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
    )


def finish(proc: subprocess.Popen[str], timeout: float = TIMEOUT) -> Result:
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.communicate(timeout=10)
        raise
    assert isinstance(proc.args, list)
    return Result(proc.args, proc.returncode, out, err)


def run(
    args: Sequence[str],
    *,
    database_url: str | None,
    cwd: Path,
    command: Sequence[str] = PYTHON_M,
    **env: str,
) -> Result:
    return finish(start(args, database_url=database_url, cwd=cwd, command=command, **env))


def run_all(
    commands: Sequence[Sequence[str]], *, database_url: str | None, cwd: Path, **env: str
) -> list[Result]:
    """Run several commands at once (each start costs about a second of interpreter start-up)."""
    procs = [start(args, database_url=database_url, cwd=cwd, **env) for args in commands]
    try:
        return [finish(proc) for proc in procs]
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait(timeout=10)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class Served:
    """A running ``cartgroups serve``; its output is collected line by line as it comes."""

    def __init__(self, proc: subprocess.Popen[str], port: int) -> None:
        self.proc = proc
        self.port = port
        self.base_url = f"http://127.0.0.1:{port}"
        self.out: list[str] = []
        self.err: list[str] = []
        SERVERS.append(self)
        self._readers = [
            threading.Thread(target=self._pump, args=(proc.stdout, self.out), daemon=True),
            threading.Thread(target=self._pump, args=(proc.stderr, self.err), daemon=True),
        ]
        for reader in self._readers:
            reader.start()

    @staticmethod
    def _pump(stream: object, into: list[str]) -> None:
        assert hasattr(stream, "readline")
        for line in iter(stream.readline, ""):
            into.append(line.rstrip("\n"))

    @property
    def stdout(self) -> str:
        return "\n".join(self.out)

    @property
    def stderr(self) -> str:
        return "\n".join(self.err)

    def wait_ready(self, timeout: float = 30) -> Served:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                self.stop()
                raise AssertionError(f"serve exited with {self.proc.returncode}:\n{self.stderr}")
            with suppress(httpx.HTTPError):
                if httpx.get(self.base_url + "/healthz", timeout=2).status_code == 200:
                    return self
            time.sleep(0.05)
        raise AssertionError(f"serve did not answer within {timeout}s:\n{self.stderr}")

    def wait_for(self, lines: list[str], found: Callable[[str], bool], timeout: float = 10) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for line in list(lines):
                if found(line):
                    return line
            time.sleep(0.02)
        raise AssertionError(f"expected output did not appear:\n{self.stdout}\n{self.stderr}")

    def stop(self, timeout: float = 15) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                # Worker processes share the session started for this one.
                with suppress(ProcessLookupError):
                    os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=10)
        for reader in self._readers:
            reader.join(timeout=5)


@contextmanager
def serving(
    *args: str,
    database_url: str | None,
    cwd: Path,
    port: int | None = None,
    ready: bool = True,
    **env: str,
) -> Iterator[Served]:
    """``cartgroups serve`` on ``port`` (default: a free one, tried again if someone else takes
    it first), stopped when the block ends."""
    for attempt in range(3):
        chosen = port or free_port()
        proc = subprocess.Popen(
            [*PYTHON_M, "serve", "--port", str(chosen), *args],
            cwd=cwd,
            env=env_for(database_url, **env),
            text=True,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
        served = Served(proc, chosen)
        try:
            if ready:
                served.wait_ready()
        except AssertionError:
            lost_race = port is None and "already in use" in served.stderr and attempt < 2
            served.stop()
            if lost_race:
                continue
            raise
        break
    try:
        yield served
    finally:
        served.stop()


# Every Served that is running or ran during the current test; ServerStderr forgets the stopped
# ones once a test's report is made.
SERVERS: list[Served] = []
SHOWN_LINES = 400  # of each server's stderr in a failing test's report: the last ones


class ServerStderr:
    """A pytest plugin: a failing test's report gets a section per server with the stderr lines
    that server wrote during the test (from its start, or from the test's start for a server that
    was already running, say a module's)."""

    _since = pytest.StashKey[dict[Served, int]]()

    @pytest.hookimpl(tryfirst=True)
    def pytest_runtest_setup(self, item: pytest.Item) -> None:
        item.stash[self._since] = {served: len(served.err) for served in SERVERS}

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_makereport(
        self, item: pytest.Item, call: pytest.CallInfo[None]
    ) -> Generator[None, pytest.TestReport, pytest.TestReport]:
        report = yield
        if report.failed:
            since = item.stash.get(self._since, {})
            for served in SERVERS:
                lines = served.err[since.get(served, 0) :]
                if not lines:
                    continue
                cut = len(lines) - SHOWN_LINES
                shown = "\n".join(lines[-SHOWN_LINES:])
                if cut > 0:
                    shown = f"[{cut} earlier lines left out]\n{shown}"
                report.sections.append(
                    (f"Captured stderr {report.when}: cartgroups serve on port {served.port}", shown)
                )
        if report.when == "teardown":
            SERVERS[:] = [served for served in SERVERS if served.proc.poll() is None]
        return report


ACCESS = re.compile(
    r"cartgroups\.access: (?P<method>\S+) (?P<path>\S+) (?P<status>\d{3}) "
    r"(?P<ms>[0-9.]+)ms store=(?P<store>\S+) request_id=(?P<request_id>\S+) client=(?P<client>\S+)$"
)


def access_lines(served: Served) -> list[re.Match[str]]:
    return [m for line in served.err if (m := ACCESS.search(line))]
