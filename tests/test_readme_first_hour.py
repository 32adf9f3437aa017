"""Issue #19 items 2 and 6: the README's own examples, followed in order, work together, and it
says where the command is and which database it uses."""

from __future__ import annotations

import re
from pathlib import Path

import httpx
from typer.testing import CliRunner

from cartgroups.cli import app
from cartgroups.client import Client
from cartgroups.testing import serve
from tests.conftest import ROOT

README = (ROOT / "README.md").read_text()


def test_the_readme_says_where_the_command_is_and_which_database_it_uses() -> None:
    text = " ".join(README.split())
    assert "the command is `.venv/bin/cartgroups`" in text
    assert "source .venv/bin/activate" in text
    assert "Every command uses `./cartgroups.db` of the **current directory** unless `--database`" in text
    assert "only `serve` and `cartgroups db upgrade` create a database" in text


def test_the_first_request_the_sdk_example_and_the_import_example_work_in_turn(tmp_path: Path) -> None:
    [posted] = re.findall(r"-d '(\{\"Name\".*?\})'", README)  # "A first request"
    [sdk_name] = re.findall(r'api\.create\(name="([^"]+)"', README)  # the SDK example
    with serve() as server:
        response = httpx.post(
            server.api_url + "/CustomerGroups",
            content=posted,
            headers={**server.headers, "Content-Type": "application/json"},
        )
        assert response.status_code == 201
        creds = server.credentials
        with Client(server.base_url, creds.secure_url, creds.private_key, creds.token) as api:
            api.create(name=sdk_name)
        env = {
            "CARTGROUPS_URL": server.base_url,
            "CARTGROUPS_SECURE_URL": server.credentials.secure_url,
            "CARTGROUPS_PRIVATE_KEY": server.credentials.private_key,
            "CARTGROUPS_TOKEN": server.credentials.token,
        }
        runner = CliRunner()
        csv_file = str(tmp_path / "groups.csv")
        steps = [
            ["groups", "export", "--format", "csv", "--output", csv_file],
            ["groups", "import", csv_file, "--dry-run"],
            ["groups", "import", csv_file],
        ]
        results = [runner.invoke(app, step, env=env) for step in steps]
    assert [r.exit_code for r in results] == [0, 0, 0], [r.stderr for r in results]
    assert results[2].stdout == "Created 0, updated 0, unchanged 2, failed 0.\n"
