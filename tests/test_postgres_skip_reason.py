"""Issue #19 item 6: without PostgreSQL the suite says why once, not once per skipped test."""

from __future__ import annotations

import os
import subprocess
import sys

from tests.conftest import ROOT


def test_an_unreachable_postgresql_is_one_skip_line_with_the_count() -> None:
    closed = "postgresql://postgres@127.0.0.1:1/test"  # nothing listens on port 1
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CARTGROUPS_", "PYTEST_"))}
    env["CARTGROUPS_TEST_POSTGRES_URL"] = closed
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-ra",
            "-p",
            "no:cacheprovider",
            "tests/cli/test_operators.py",
            "tests/cli/test_db.py",
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    skipped = [line for line in result.stdout.splitlines() if line.startswith("SKIPPED")]
    assert len(skipped) == 1, result.stdout
    assert skipped[0].startswith("SKIPPED [4] tests/conftest.py:")
    assert f"PostgreSQL not reachable at {closed}: connection failed" in skipped[0]
    assert "4 passed, 4 skipped" in result.stdout
