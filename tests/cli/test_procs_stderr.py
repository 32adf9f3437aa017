"""A failing test's report shows what the servers it ran wrote to stderr (tests/cli/procs.py,
ServerStderr): run on generated tests in a separate pytest run, with child processes that stand in
for ``cartgroups serve``."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.conftest import ROOT

CONFTEST = """
from tests.cli.procs import ServerStderr


def pytest_configure(config):
    config.pluginmanager.register(ServerStderr(), "cartgroups-server-stderr")
"""

TESTS = """
import subprocess
import sys
import time

import pytest

from tests.cli.procs import Served

# Writes a line to stderr for each line it reads, until its stdin closes.
ECHO = "import sys\\nfor line in sys.stdin: print('said ' + line.strip(), file=sys.stderr, flush=True)"


def child(port):
    proc = subprocess.Popen(
        [sys.executable, "-c", ECHO],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    return Served(proc, port)


def say(served, word):
    served.proc.stdin.write(word + "\\n")
    served.proc.stdin.flush()
    served.wait_for(served.err, lambda line: line == "said " + word)


@pytest.fixture(scope="module")
def module_server():
    served = child(1001)
    say(served, "module-start")
    yield served
    served.proc.stdin.close()
    served.stop()


def test_fails_after_its_server_stopped():
    served = child(1002)
    say(served, "traceback-of-the-500")
    served.proc.stdin.close()
    served.stop()
    assert False


def test_passes(module_server):
    say(module_server, "during-a-passing-test")


def test_fails_with_a_running_module_server(module_server):
    say(module_server, "during-the-failing-test")
    assert False
"""


def test_a_failing_test_shows_the_stderr_of_its_servers_since_it_began(tmp_path: Path) -> None:
    (tmp_path / "conftest.py").write_text(CONFTEST)
    (tmp_path / "test_servers.py").write_text(TESTS)
    drop = {"PYTEST_DISABLE_PLUGIN_AUTOLOAD", "PYTEST_ADDOPTS", "PYTEST_PLUGINS"}
    env = {name: value for name, value in os.environ.items() if name not in drop}
    env["PYTHONPATH"] = str(ROOT)
    run = subprocess.run(
        [sys.executable, "-m", "pytest", str(tmp_path), "-p", "no:cacheprovider", "-p", "no:randomly"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    out = run.stdout
    assert "2 failed, 1 passed" in out, out
    assert "Captured stderr call: cartgroups serve on port 1002" in out, out
    assert "said traceback-of-the-500" in out
    assert "Captured stderr call: cartgroups serve on port 1001" in out
    assert "said during-the-failing-test" in out
    # Lines from before the failing test began (the module server's start, in an earlier test
    # that passed) are not shown.
    assert "said module-start" not in out
    assert "said during-a-passing-test" not in out
