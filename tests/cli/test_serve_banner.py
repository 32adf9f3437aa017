"""The banner of ``cartgroups serve`` (issue #19, item 6): printed once the socket is bound, it
shows the address actually bound (the real port for --port 0; a usable URL for 0.0.0.0), the
admin console, and, while there is no operator, the command that makes one, which works as
printed."""

from __future__ import annotations

import re
import shlex
import subprocess
import time
from contextlib import suppress
from pathlib import Path

import httpx

from tests.cli.procs import Served, env_for, serving

SERVING = re.compile(r"Serving (http://127\.0\.0\.1:(\d+)) with (\d+) worker\(s\)")
MAKE_OPERATOR = re.compile(r"Admin console at (\S+); make its first operator with `([^`]+)`(.*)$")


def started(served: Served) -> str:
    """The base URL the banner gives, once the server answers there."""
    line = served.wait_for(served.out, lambda line: SERVING.match(line) is not None, timeout=30)
    found = SERVING.match(line)
    assert found is not None
    base, port = found.group(1), int(found.group(2))
    assert port != 0
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        assert served.proc.poll() is None, served.stderr
        with suppress(httpx.HTTPError):
            if httpx.get(f"{base}/healthz", timeout=2).status_code == 200:
                return base
        time.sleep(0.05)
    raise AssertionError(f"nothing answers at {base}:\n{served.stderr}")


def test_port_0_shows_the_real_port_and_how_to_make_the_first_operator(
    empty_database_url: str, tmp_path: Path
) -> None:
    with serving("--port", "0", database_url=empty_database_url, cwd=tmp_path, ready=False) as served:
        base = started(served)
        line = served.wait_for(served.out, lambda line: MAKE_OPERATOR.match(line) is not None)
        found = MAKE_OPERATOR.match(line)
        assert found is not None
        assert found.group(1) == f"{base}/admin"
        assert httpx.get(f"{base}/admin/sign-in", timeout=30).status_code == 200
        assert f"Uvicorn running on {base} (Press CTRL+C to quit)" in served.stderr
        command, note = found.group(2), found.group(3)
    # The command works as printed, from the directory the server was started in, without the
    # server's CARTGROUPS_DATABASE_URL (a SQLite file is named with --database).
    words = shlex.split(command)
    assert words[-2:] == ["create-user", "NAME"] or words[-4:-2] == ["create-user", "NAME"], command
    if empty_database_url.startswith("sqlite"):
        assert words[-2:] == ["--database", empty_database_url]
        assert note == ""
    else:  # a PostgreSQL URL may hold a password: the banner does not print it
        assert empty_database_url not in served.stdout
        assert note == " (with this server's --database or CARTGROUPS_DATABASE_URL)"
        words += ["--database", empty_database_url]
    words[words.index("NAME")] = "carol"
    made = subprocess.run(
        [*words, "--password-stdin"],
        input="a long enough password\n",
        cwd=tmp_path,
        env=env_for(None),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert made.returncode == 0, made.stderr
    # With an operator, the banner only says where the console is.
    with serving("--port", "0", database_url=empty_database_url, cwd=tmp_path, ready=False) as again:
        base = started(again)
        again.wait_for(again.out, lambda line: line == f"Admin console at {base}/admin")
    assert "create-user" not in again.stdout


def test_every_interface_is_said_and_a_usable_url_shown_for_all_workers(
    empty_database_url: str, tmp_path: Path
) -> None:
    args = ("--host", "0.0.0.0", "--port", "0", "--workers", "2")
    with serving(*args, database_url=empty_database_url, cwd=tmp_path, ready=False) as served:
        base = started(served)
        port = base.rsplit(":", 1)[1]
        every = f"Listening on every interface (0.0.0.0 port {port}): from other machines use"
        served.wait_for(served.out, lambda line: line.startswith(every))
        assert SERVING.search(served.stdout).group(3) == "2"  # type: ignore[union-attr]

        def workers() -> set[str]:
            return set(re.findall(r"Started server process \[(\d+)\]", served.stderr))

        served.wait_for(served.err, lambda _: len(workers()) == 2, timeout=30)
        for _ in range(10):
            assert httpx.get(f"{base}/healthz", timeout=30).status_code == 200
