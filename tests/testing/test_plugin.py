"""The pytest plugin, used the way a user would: separate pytest runs on generated test files, with the
plugin found through its entry point. The examples in docs/testing.md are run here too."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

from tests.conftest import ROOT

USER_TESTS = """
import httpx


def test_create_and_read(cartgroups_server):
    with httpx.Client(base_url=cartgroups_server.api_url, headers=cartgroups_server.headers) as api:
        created = api.post("/CustomerGroups", json={"Name": "Wholesale"})
        assert created.status_code == 201
        assert created.json()[0]["Value"] == "1"
        assert api.get("/CustomerGroups/1").json()[0]["Name"] == "Wholesale"


def test_each_test_starts_empty(cartgroups_server):
    assert cartgroups_server.seed([{"Name": "A"}, {"Name": "B"}]) == [1, 2]


def test_second_store(cartgroups_server, cartgroups_session_server):
    assert cartgroups_server is cartgroups_session_server
    other = cartgroups_server.new_store()
    assert httpx.get(cartgroups_server.api_url + "/CustomerGroups", headers=other.headers).status_code == 404
"""


def doc_example(first_line: str) -> str:
    """The python block of docs/testing.md that starts with ``first_line``."""
    blocks = re.findall(r"```python\n(.*?)```", (ROOT / "docs/testing.md").read_text(), re.DOTALL)
    [block] = [block for block in blocks if block.startswith(first_line + "\n")]
    return str(block)


def _pytest(directory: Path) -> subprocess.CompletedProcess[str]:
    """A separate pytest run on ``directory``, as its own project, with installed plugins loaded."""
    drop = {"PYTEST_DISABLE_PLUGIN_AUTOLOAD", "PYTEST_ADDOPTS", "PYTEST_PLUGINS"}
    return subprocess.run(
        [sys.executable, "-m", "pytest", str(directory), "-q", "-p", "no:cacheprovider"],
        cwd=directory,
        env={name: value for name, value in os.environ.items() if name not in drop},
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_fixtures_and_the_docs_example_work_in_a_project_without_conftest(tmp_path: Path) -> None:
    (tmp_path / "test_user.py").write_text(USER_TESTS)
    (tmp_path / "test_customer_groups.py").write_text(doc_example("# test_customer_groups.py"))
    (tmp_path / "test_retries.py").write_text(doc_example("# test_retries.py"))
    result = _pytest(tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "10 passed" in result.stdout


SETTINGS_TESTS = """
import httpx


def test_bulk_limit_from_the_conftest(cartgroups_server):
    items = [{"CustomerGroupID": n} for n in range(1, 12)]
    url = cartgroups_server.api_url + "/CustomerGroups"
    response = httpx.put(url, json=items, headers=cartgroups_server.headers)
    assert response.status_code == 400
    assert "at most 10 items" in response.text
"""

MODULE_OVERRIDE = """
import pytest


@pytest.fixture(scope="session")
def cartgroups_settings():
    return {"max_bulk_items": 2}


def test_never_runs(cartgroups_server):
    pass
"""


def test_settings_from_a_conftest_and_a_clear_error_for_a_module_override(tmp_path: Path) -> None:
    (tmp_path / "conftest.py").write_text(doc_example("# conftest.py"))
    (tmp_path / "test_a_settings.py").write_text(SETTINGS_TESTS)
    (tmp_path / "test_b_override.py").write_text(MODULE_OVERRIDE)
    result = _pytest(tmp_path)
    assert "1 passed, 1 error" in result.stdout, result.stdout + result.stderr
    assert "cartgroups_settings is {'max_bulk_items': 2} here, but the session's cartgroups server" in (
        result.stdout
    )


def test_the_docs_context_manager_example_runs(tmp_path: Path) -> None:
    script = tmp_path / "check_client.py"
    script.write_text(doc_example("# check_client.py"))
    result = subprocess.run(
        [sys.executable, str(script)], cwd=tmp_path, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("the client works against http://127.0.0.1:")


def test_loading_the_plugin_imports_no_server_code() -> None:
    probe = "import sys, cartgroups.testing.plugin; print({'uvicorn', 'cartgroups.app'} & sys.modules.keys())"
    result = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=60, check=True
    )
    assert result.stdout.strip() == "set()"
