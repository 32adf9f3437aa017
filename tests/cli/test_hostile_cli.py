"""Issue #15 item 11: tenant data in the CLI's output. Rich must print a group named ``[/bold]`` as
it is (never read it as markup or emoji codes), control characters never reach the terminal, and
a CSV export guards against formula injection (on by default) while import round-trips exactly.
SQLite and PostgreSQL, in-process with typer's CliRunner."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import httpx
from hypothesis import given
from hypothesis import strategies as st
from typer.testing import CliRunner

from cartgroups.cli import app
from cartgroups.cli.groups_io import guard, unguard
from cartgroups.service.credentials import Issued
from cartgroups.storage import credentials as cred_sql
from tests.cli.test_groups import Cli
from tests.conftest import SANDBOX_TOKEN, STORE, LiveServer

MARKUP = ["[/bold]", "[red]x[/red]", "[link=http://evil.example]y[/link]", ":smile: :thumbs_up:"]
ESCAPE = "a\x1b[2J\x1b]0;owned\x07b\x9bc"  # clear screen, set the title, a C1 CSI
ESCAPE_SHOWN = "a\\x1b[2J\\x1b]0;owned\\x07b\\x9bc"


def _cli(server: LiveServer, creds: Issued) -> Cli:
    cli = Cli(server, creds)
    cli.env["COLUMNS"] = "250"
    return cli


def _create(cli: Cli, *names: str) -> list[int]:
    with cli.client() as client:
        return [client.create(name=name) for name in names]


def test_groups_list_and_get_print_markup_and_escapes_as_data(server: LiveServer, creds: Issued) -> None:
    cli = _cli(server, creds)
    ids = _create(cli, *MARKUP, ESCAPE)
    out, err = cli("list")
    for name in MARKUP:
        assert name in out
    assert ESCAPE_SHOWN in out
    assert "\x1b" not in out + err and "\x9b" not in out + err and "\x07" not in out + err
    out, _ = cli("get", str(ids[-1]))
    assert f"Name:                {ESCAPE_SHOWN}\n" in out and "\x1b" not in out
    out, _ = cli("get", str(ids[0]))
    assert "Name:                [/bold]\n" in out
    listed = json.loads(cli("list", "--json")[0])  # --json stays exact
    assert [g["Name"] for g in listed] == [*MARKUP, ESCAPE]


def test_audit_list_prints_markup_in_names_as_data(
    server: LiveServer, creds: Issued, database_url: str
) -> None:
    cli = _cli(server, creds)
    (group_id,) = _create(cli, "[/bold]")
    with cli.client() as client:
        client.update(group_id, name="[red]x[/red] :smile:")
    result = CliRunner().invoke(
        app,
        ["audit", "list", "--store", STORE],
        env={"CARTGROUPS_DATABASE_URL": database_url, "COLUMNS": "250"},
    )
    assert result.exit_code == 0, (result.stdout, result.stderr)
    assert 'Name: "[/bold]" -> "[red]x[/red] :smile:"' in result.stdout
    assert 'Name="[/bold]"' in result.stdout


def test_stores_list_prints_whatever_the_database_holds_as_data(
    server: LiveServer, database_url: str
) -> None:
    # Not a name `credentials create` accepts: a row however it got there (an older version, SQL).
    with server.db.write() as conn:
        cred_sql.insert_store(conn, secure_url="[/bold]\x1b[2J")
    result = CliRunner().invoke(
        app, ["stores", "list"], env={"CARTGROUPS_DATABASE_URL": database_url, "COLUMNS": "250"}
    )
    assert result.exit_code == 0, (result.stdout, result.stderr)
    assert "[/bold]\\x1b[2J" in result.stdout and "\x1b" not in result.stdout


def test_sandbox_journal_prints_a_path_with_markup_as_data(
    sandbox: LiveServer, sandbox_api: httpx.Client
) -> None:
    sandbox_api.get("/CustomerGroups?limit=[/bold]")  # a 400, journaled with its query as sent
    env = {"CARTGROUPS_URL": sandbox.base_url, "CARTGROUPS_SANDBOX_TOKEN": SANDBOX_TOKEN}
    result = CliRunner().invoke(app, ["sandbox", "journal", "--store", STORE], env=env)
    assert result.exit_code == 0, (result.stdout, result.stderr)
    assert "/3dCartWebAPI/v1/CustomerGroups?limit=[/bold]" in result.stdout


# --- the CSV formula guard -----------------------------------------------------------------------

# Name as stored -> its CSV cell with the guard on (off: the Name itself).
GUARDED = {
    '=HYPERLINK("http://evil.example","click")': '\'=HYPERLINK("http://evil.example","click")',
    "+1": "'+1",
    "-x": "'-x",
    "@SUM(A1)": "'@SUM(A1)",
    "\tTab": "'\tTab",
    "\rCR": "'\rCR",
    "'=quoted": "''=quoted",  # a Name that really starts with '= gets one more '
    "''+two": "'''+two",
    "'quoted": "'quoted",  # a leading ' before anything else is data, left alone
    "plain": "plain",
    "a=b": "a=b",
}


def _names(cli: Cli) -> list[str]:
    with cli.client() as client:
        return [g.name for g in client.iter_all()]


def _csv_names(text: str) -> list[str]:
    return [row["Name"] for row in csv.DictReader(io.StringIO(text, newline=""))]


def _empty(cli: Cli) -> None:
    with cli.client() as client:
        for group in list(client.iter_all()):
            client.delete(group.group_id)


def test_csv_export_guards_formulas_and_import_round_trips(
    server: LiveServer, creds: Issued, tmp_path: Path
) -> None:
    cli = _cli(server, creds)
    _create(cli, *GUARDED)
    with cli.client() as client:
        client.update(1, description="=1+1", registration_message="@cmd")
    guarded = tmp_path / "guarded.csv"
    cli("export", "--output", str(guarded))
    text = guarded.read_bytes().decode("utf-8")
    assert _csv_names(text) == list(GUARDED.values())
    first = next(csv.DictReader(io.StringIO(text, newline="")))
    assert (first["Description"], first["RegistrationMessage"]) == ("'=1+1", "'@cmd")
    assert [r["MinimumOrder"] for r in csv.DictReader(io.StringIO(text, newline=""))] == ["0.0"] * len(
        GUARDED
    )
    raw, _ = cli("export", "--no-formula-guard")
    assert _csv_names(raw) == list(GUARDED)
    as_json, _ = cli("export", "--format", "json")  # JSON is not a spreadsheet's: never changed
    assert [g["Name"] for g in json.loads(as_json)] == list(GUARDED)

    _empty(cli)
    out, _ = cli("import", str(guarded))
    assert f"Created {len(GUARDED)}, updated 0, unchanged 0, failed 0." in out
    assert _names(cli) == list(GUARDED)
    with cli.client() as client:
        restored = next(g for g in client.iter_all() if g.name == next(iter(GUARDED)))
    assert (restored.description, restored.registration_message) == ("=1+1", "@cmd")
    out, _ = cli("import", str(guarded))  # matched by the Names as they are: nothing to do
    assert f"Created 0, updated 0, unchanged {len(GUARDED)}, failed 0." in out

    _empty(cli)
    cli("import", str(guarded), "--no-formula-guard")  # every cell as it is
    assert _names(cli) == list(GUARDED.values())


@given(st.text(alphabet=st.sampled_from("'=+-@\t\rax"), max_size=6))
def test_guard_is_undone_exactly_and_leaves_no_formula(text: str) -> None:
    cell = guard(text)
    assert unguard(cell) == text
    assert not cell.startswith(("=", "+", "-", "@", "\t", "\r"))
