"""Docs that run: the README's commands exist and are what CI runs; CLI help in docs/cli.md is real."""

from __future__ import annotations

import os
import re
import subprocess
import sys

import pytest

from tests.conftest import ROOT

COMMANDS = [
    "",
    "serve",
    "db upgrade",
    "db status",
    "db backup",
    "db restore",
    "credentials create",
    "credentials list",
    "credentials revoke",
    "stores list",
    "apps list",
    "groups list",
    "groups get",
    "groups create",
    "groups update",
    "groups delete",
    "groups export",
    "groups import",
    "customers",
    "customers list",
    "customers get",
    "customers create",
    "customers update",
    "customers delete",
    "customers export",
    "customers import",
    "audit list",
    "audit prune",
    "sandbox journal",
    "sandbox reset",
    "sandbox seed",
    "sandbox export",
    "sandbox throttle",
    "sandbox faults list",
    "sandbox faults add",
    "sandbox faults delete",
    "sandbox faults clear",
    "admin create-user",
    "admin list-users",
    "admin delete-user",
]


@pytest.mark.parametrize("command", COMMANDS)
def test_cli_reference_matches_the_real_help(command: str) -> None:
    env = {**os.environ, "COLUMNS": "100", "NO_COLOR": "1", "TERM": "dumb"}
    result = subprocess.run(
        [sys.executable, "-m", "cartgroups", *command.split(), "--help"],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=True,
    )
    help_text = "\n".join(line.rstrip() for line in result.stdout.splitlines())
    assert help_text.strip() in (ROOT / "docs/cli.md").read_text(), (
        f"docs/cli.md is stale for `cartgroups {command} --help`: run scripts/cli-docs"
    )


def test_readme_gives_the_two_commands_and_ci_runs_the_test_one() -> None:
    readme = (ROOT / "README.md").read_text()
    assert "./scripts/serve" in readme and "./scripts/test" in readme
    ci = (ROOT / ".ci/run").read_text()
    assert re.search(r"^scripts/test$", ci, re.MULTILINE)
    for script in ("scripts/serve", "scripts/test", "scripts/bootstrap", ".ci/run"):
        assert os.access(ROOT / script, os.X_OK), f"{script} is not executable"


def test_readme_links_resolve() -> None:
    readme = (ROOT / "README.md").read_text()
    for target in re.findall(r"\]\(([^)#:]+)\)", readme):
        assert (ROOT / target).exists(), f"README links to missing {target}"
