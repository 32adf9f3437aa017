"""Issue #19 item 6, the CLI's part: machine-readable lists (ISO times, no display ellipses,
--format json|csv), tables that keep every character in a pipe, export's progress bar, and shell
completion."""

from __future__ import annotations

import csv
import io
import json
import re
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from typer.testing import CliRunner

from cartgroups.cli import app
from cartgroups.service import credentials
from cartgroups.storage.database import Database
from tests.cli.test_groups import Cli as GroupsCli
from tests.cli.test_sandbox import Cli as SandboxCli
from tests.conftest import LiveServer, plain_client

ISO = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z")
LONG_STORE = "a-store-with-a-long-name-" + "x" * 150 + ".example.com"
LONG_APP = "an-application-whose-name-is-longer-than-a-terminal-is-wide-" + "y" * 40


@pytest.fixture
def db(empty_database_url: str) -> Iterator[Database]:
    database = Database(empty_database_url)
    yield database
    database.dispose()


def cli(url: str, *args: str, code: int = 0) -> str:
    result = CliRunner().invoke(app, [*args, "--database", url], env={"COLUMNS": "80"})
    assert result.exit_code == code, (args, result.stdout, result.stderr)
    return result.stdout if code == 0 else result.stderr


def test_credentials_list_json_has_iso_times_and_the_prefix_as_stored(
    db: Database, empty_database_url: str
) -> None:
    issued = credentials.issue(db, secure_url="shop.example.com", application="pos")
    credentials.revoke(db, token_id=issued.token_id)
    [token] = json.loads(cli(empty_database_url, "credentials", "list", "--json"))
    assert token["token"] == issued.token[:8]  # no "…"
    assert ISO.fullmatch(token["created"]) and ISO.fullmatch(token["revoked"]), token
    created = datetime.fromisoformat(token["created"])
    assert abs(created - datetime.now(UTC)) < timedelta(minutes=5)
    assert "…" not in cli(empty_database_url, "credentials", "list", "--format", "csv")


def test_every_admin_list_speaks_json_and_csv(db: Database, empty_database_url: str) -> None:
    credentials.issue(db, secure_url="shop.example.com", application="pos")
    url = empty_database_url
    for command in (["stores", "list"], ["apps", "list"], ["credentials", "list"], ["admin", "list-users"]):
        as_json = json.loads(cli(url, *command, "--json"))
        assert json.loads(cli(url, *command, "--format", "json")) == as_json
        rows = list(csv.DictReader(io.StringIO(cli(url, *command, "--format", "csv"), newline="")))
        assert len(rows) == len(as_json), command
        for row, obj in zip(rows, as_json, strict=True):
            assert list(row) == list(obj)
            assert row.get("created") == obj.get("created")
    assert cli(url, "stores", "list", "--json", "--format", "csv", code=1) == (
        "error: --json and --format csv contradict each other; give one\n"
    )


def test_tables_in_a_pipe_keep_every_character_on_one_line(db: Database, empty_database_url: str) -> None:
    issued = credentials.issue(db, secure_url=LONG_STORE, application=LONG_APP)
    out = cli(empty_database_url, "credentials", "list")  # CliRunner's stdout is no terminal
    [row] = [line for line in out.splitlines() if LONG_STORE in line]
    assert LONG_APP in row and f"{issued.token[:8]}…" in row
    assert out.count("…") == 1  # only the token's, which stands for the secret's rest
    for command in (["stores", "list"], ["apps", "list"]):
        out = cli(empty_database_url, *command)
        assert any(LONG_STORE in line or LONG_APP in line for line in out.splitlines()), out
        assert "…" not in out


def test_groups_list_formats_and_a_wide_table(
    server: LiveServer, api: httpx.Client, creds: credentials.Issued
) -> None:
    long_name = "A customer group with a name far wider than eighty columns " + "z" * 60
    api.post("/CustomerGroups", json={"Name": long_name, "MinimumOrder": "12.50"})
    api.post("/CustomerGroups", json={"Name": "=cmd", "MinimumOrder": "1.50"})
    groups = GroupsCli(server, creds)
    table, _ = groups("list")
    assert any(long_name in line for line in table.splitlines()) and "…" not in table
    listed = list(csv.DictReader(io.StringIO(groups("list", "--format", "csv")[0], newline="")))
    assert [(g["Name"], g["MinimumOrder"]) for g in listed] == [
        (long_name, "12.50"),
        ("'=cmd", "1.50"),
    ]  # formula guard
    assert json.loads(groups("list", "--format", "json")[0]) == json.loads(groups("list", "--json")[0])


def test_groups_export_shows_progress_like_import(
    server: LiveServer, api: httpx.Client, creds: credentials.Issued
) -> None:
    few = GroupsCli(server, creds)("export", "--format", "json")
    assert few == ("[]\n", "")  # no bar below 200 rows, as for import
    body = [{"Name": f"G{i}"} for i in range(250)]
    for item in body:
        assert api.post("/CustomerGroups", json=item).status_code == 201
    out, err = GroupsCli(server, creds)("export", "--format", "json")
    assert len(json.loads(out)) == 250
    assert "Exporting" in err and "250/250" in err and "100%" in err  # on stderr, never in the data


def test_sandbox_lists_as_tables_and_csv(sandbox: LiveServer, sandbox_creds: credentials.Issued) -> None:
    cli_ = SandboxCli(sandbox.base_url)
    cli_("faults", "add", "--status", "503", "--path", "*/CustomerGroups/" + "p" * 120)
    table, _ = cli_("faults", "list", "--format", "table")
    assert "p" * 120 in table and "…" not in table
    [rule] = csv.DictReader(io.StringIO(cli_("faults", "list", "--format", "csv")[0], newline=""))
    assert rule["status"] == "503"
    assert json.loads(cli_("faults", "list")[0])[0]["status"] == 503  # JSON stays the default
    with plain_client(sandbox.base_url + "/3dCartWebAPI/v1") as raw:
        raw.get("/CustomerGroups", headers={"SecureURL": sandbox_creds.secure_url})
    [entry] = csv.DictReader(
        io.StringIO(cli_("journal", "--store", sandbox_creds.secure_url, "--format", "csv")[0], newline="")
    )
    assert entry["status"] == "401" and json.loads(entry["request_headers"])["secureurl"]


def test_shell_completion_is_offered_and_completes_commands() -> None:
    env = {"COLUMNS": "100", "NO_COLOR": "1", "TERM": "dumb"}
    help_text = subprocess.run(
        [sys.executable, "-m", "cartgroups", "--help"], capture_output=True, text=True, env=env, timeout=60
    ).stdout
    assert "--install-completion" in help_text and "--show-completion" in help_text
    completed = subprocess.run(
        [sys.executable, "-m", "cartgroups"],
        capture_output=True,
        text=True,
        timeout=60,
        env={
            **env,
            "_CARTGROUPS_COMPLETE": "complete_bash",
            "COMP_WORDS": "cartgroups cred",
            "COMP_CWORD": "1",
        },
    )
    assert completed.stdout.split() == ["credentials"]
