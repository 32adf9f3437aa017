"""benchmarks/instructions.py keeps working: its driver (what callgrind counts) seeds the
benchmark's database and answers every request of each scenario with the expected status.
Valgrind itself is not run here (minutes); the driver is what could break as the code changes."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "benchmarks"))  # as the benchmark scripts run

import instructions  # noqa: E402


@pytest.mark.parametrize("scenario", ["post", "put", "get", "count"])
def test_the_driver_answers_every_request_as_expected(tmp_path: Path, scenario: str) -> None:
    url, clients = instructions._seed(tmp_path)
    argv = [sys.executable, str(ROOT / "benchmarks" / "instructions.py"), "--drive", url, str(clients)]
    done = subprocess.run([*argv, scenario, "48"], capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr[-2000:]


def test_the_driver_fails_on_an_unexpected_status(tmp_path: Path) -> None:
    url, clients = instructions._seed(tmp_path)
    clients.write_text(clients.read_text().replace("\t", "\tx", 1))  # one store's SecureURL is wrong
    lines = clients.read_text().splitlines()
    clients.write_text("\n".join(lines[:1]) + "\n")  # and it is the only one: every answer is 401
    argv = [sys.executable, str(ROOT / "benchmarks" / "instructions.py"), "--drive", url, str(clients)]
    done = subprocess.run([*argv, "post", "24"], capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode != 0
    assert "unexpected answers" in done.stderr
