"""``cartgroups sandbox ...`` against the live sandbox server (SQLite and PostgreSQL), in-process."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

from cartgroups.cli import app
from cartgroups.service.credentials import Issued
from tests.conftest import SANDBOX_TOKEN, STORE, LiveServer, sandbox_state


class Cli:
    def __init__(self, base_url: str) -> None:
        self.env = {"CARTGROUPS_URL": base_url, "CARTGROUPS_SANDBOX_TOKEN": SANDBOX_TOKEN}
        self.runner = CliRunner()

    def __call__(self, *args: str, code: int = 0, **env: str) -> tuple[str, str]:
        result = self.runner.invoke(app, ["sandbox", *args], env={**self.env, **env})
        assert result.exit_code == code, (args, result.exit_code, result.stdout, result.stderr)
        assert "Traceback" not in result.stderr
        return result.stdout, result.stderr


@pytest.fixture
def cli(sandbox: LiveServer, sandbox_creds: Issued) -> Cli:
    return Cli(sandbox.base_url)


def test_seed_export_journal_throttle_reset(cli: Cli, sandbox_api: httpx.Client, tmp_path: Path) -> None:
    seed = tmp_path / "groups.json"
    seed.write_text('[{"Name": "Retail", "MinimumOrder": 12.50}, {"Name": "Wholesale"}]')
    out, _ = cli("seed", str(seed), "--store", STORE)
    assert out == "created 2 group(s): ids 1..2\n"
    exported = tmp_path / "out.json"
    cli("export", "--store", STORE, "-o", str(exported))
    assert [g["Name"] for g in json.loads(exported.read_text())] == ["Retail", "Wholesale"]
    assert '"MinimumOrder": 12.50' in exported.read_text()

    sandbox_api.get("/CustomerGroups", params={"limit": 1})
    out, _ = cli("journal", "--store", STORE)
    assert "/3dCartWebAPI/v1/CustomerGroups?limit=1" in out and "200" in out
    out, _ = cli("journal", "--store", STORE, "--json", "--limit", "1")
    [entry] = json.loads(out)
    assert entry["request_headers"]["token"] == "[redacted]"
    assert SANDBOX_TOKEN not in out

    assert cli("throttle", "--store", STORE)[0] == "default\n"
    assert cli("throttle", "on", "--store", STORE)[0] == "on\n"
    assert cli("throttle", "--store", STORE)[0] == "on\n"
    assert cli("throttle", "OFF", "--store", STORE)[0] == "off\n"

    out, _ = cli("reset", "--store", STORE)
    assert json.loads(out) == {"reset": STORE}
    out, _ = cli("reset")
    assert json.loads(out) == {"reset": "all", "stores": 1}


def test_fault_commands(cli: Cli, sandbox_api: httpx.Client) -> None:
    out, _ = cli("faults", "add", "--status", "503", "--method", "GET", "--times", "1", "--retry-after", "2")
    rule = json.loads(out)
    assert (rule["status"], rule["times_left"], rule["retry_after"]) == (503, 1, 2)
    assert json.loads(cli("faults", "list")[0]) == [rule]
    response = sandbox_api.get("/CustomerGroups")
    assert response.status_code == 503 and response.headers["retry-after"] == "2"
    assert json.loads(cli("faults", "list")[0]) == []
    out, _ = cli("faults", "add", "--path", r"/CustomerGroups/\d+", "--regex", "--latency-ms", "5")
    second = json.loads(out)
    assert second["match"] == "regex"
    assert cli("faults", "delete", str(second["id"]))[0] == f"deleted fault rule {second['id']}\n"
    cli("faults", "add", "--status", "500")
    assert cli("faults", "clear")[0] == "deleted 1 fault rule(s)\n"


def test_errors_are_one_line(cli: Cli, sandbox: LiveServer, tmp_path: Path, raw_server_url: str) -> None:
    before = sandbox_state(sandbox.db)
    _, err = cli("faults", "add", "--status", "700", code=1)
    assert err == (f"error: {sandbox.base_url} answered 400: status must be a whole number from 400 to 599\n")
    _, err = cli("faults", "list", code=1, CARTGROUPS_SANDBOX_TOKEN="not-the-token-at-all")
    assert (
        err == f"error: {sandbox.base_url} refused the sandbox token (401): The sandbox token is not valid\n"
    )
    _, err = cli("faults", "list", code=1, CARTGROUPS_SANDBOX_TOKEN="")
    assert err == "error: the sandbox token is missing: give --token or CARTGROUPS_SANDBOX_TOKEN\n"
    _, err = cli("export", "--store", "nobody.example.com", code=1)
    assert err == f"error: {sandbox.base_url} answered 404: There is no store 'nobody.example.com'\n"
    bad = tmp_path / "bad.json"
    bad.write_text('{"Name": "one"}')
    _, err = cli("seed", str(bad), "--store", STORE, code=1)
    assert err == f"error: {bad} must hold a JSON array of groups\n"
    bad.write_text('[{"Name": ""}]')
    _, err = cli("seed", str(bad), "--store", STORE, code=1)
    assert err == f"error: {sandbox.base_url} answered 400: Name must not be empty\n"
    bad.write_text('[{"Name": "ok"}, {"Name": ""}, {}]')
    _, err = cli("seed", str(bad), "--store", STORE, code=1)
    assert err == (
        f"error: {sandbox.base_url} answered 400: "
        "groups[1]: Name must not be empty; groups[2]: Name is required\n"
    )
    _, err = cli("throttle", "maybe", "--store", STORE, code=1)
    assert err == "error: state must be on, off or default (got 'maybe')\n"
    _, err = cli("faults", "list", code=1, CARTGROUPS_URL=raw_server_url)
    assert (
        err
        == f"error: {raw_server_url} has no sandbox controls: start it with `cartgroups serve --sandbox`\n"
    )
    assert sandbox_state(sandbox.db) == before


@pytest.fixture
def raw_server_url(live_server: LiveServer) -> str:
    """The session's server without the sandbox (its state is not touched)."""
    return live_server.base_url
