"""Issue #19 item 2: a command never creates the SQLite file it is pointed at. Run from another
directory or with a mistyped path, it refuses and says which file and URL it looked at, instead of
making an empty database there (and, say, printing credentials the running server never sees).
Only ``serve`` and ``db upgrade`` create a new database."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import typer.main
from typer.testing import CliRunner

from cartgroups.cli import app
from tests.cli.procs import run

CREATORS = {"serve", "db upgrade"}

# The arguments each command needs to get as far as the database (besides --database).
ARGS: dict[str, list[str]] = {
    "db status": [],
    "db backup": ["backup.db"],
    "db restore": ["backup.db", "--yes"],
    "credentials create": ["--store", "shop.example.com"],
    "credentials list": [],
    "credentials revoke": ["1"],
    "stores list": [],
    "apps list": [],
    "audit list": ["--store", "shop.example.com"],
    **{
        f"customers {name}": ["--store", "shop.example.com", *args]
        for name, args in {
            "list": [],
            "get": ["1"],
            "create": ["--email", "a@example.com"],
            "update": ["1", "--city", "x"],
            "delete": ["1"],
            "export": [],
            "import": ["customers.csv"],
        }.items()
    },
    "audit prune": ["--days", "30"],
    "admin create-user": ["alice", "--password-stdin"],
    "admin list-users": [],
    "admin delete-user": ["alice"],
}


def _commands(group: Any, prefix: str = "") -> dict[str, Any]:
    """Every leaf command under ``group`` by its path (typer carries its own copy of click, so
    groups are told by their ``commands``)."""
    found: dict[str, Any] = {}
    for name, command in group.commands.items():
        path = f"{prefix}{name}"
        if hasattr(command, "commands"):
            found.update(_commands(command, path + " "))
        else:
            found[path] = command
    return found


def _database_commands() -> set[str]:
    return {
        path
        for path, command in _commands(typer.main.get_command(app)).items()
        if any("--database" in param.opts for param in command.params)
    }


def test_every_database_command_but_serve_and_upgrade_is_listed_here() -> None:
    # A new command with --database must be added to ARGS (and so refuse a missing file) or to
    # CREATORS on purpose.
    assert _database_commands() == set(ARGS) | CREATORS


@pytest.mark.parametrize("command", sorted(ARGS))
def test_a_missing_sqlite_file_is_refused_and_not_created(
    command: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("CARTGROUPS_DATABASE_URL", "CARTGROUPS_AUDIT_RETENTION_DAYS"):
        monkeypatch.delenv(name, raising=False)
    missing = tmp_path / "typo" / ".." / "cartgrups.db"
    url = f"sqlite:///{missing}"
    (tmp_path / "typo").mkdir()
    before = sorted(p.name for p in tmp_path.rglob("*"))
    result = CliRunner().invoke(
        app, [*command.split(), *ARGS[command], "--database", url], input="a long enough secret\n"
    )
    assert result.exit_code == 1, result.output
    assert result.stdout == ""
    assert result.stderr == (
        f"error: there is no database at {tmp_path / 'cartgrups.db'} (URL {url}, from --database); "
        "give the server's database with --database URL or CARTGROUPS_DATABASE_URL "
        "(`cartgroups serve` and `cartgroups db upgrade` create a new one)\n"
    )
    assert sorted(p.name for p in tmp_path.rglob("*")) == before  # no file, no -wal or -shm


def test_from_another_directory_the_default_file_is_refused(tmp_path: Path) -> None:
    # The newcomer's case: `cd elsewhere && cartgroups credentials create --store ...`.
    result = run(["credentials", "create", "--store", "shop.example.com"], database_url=None, cwd=tmp_path)
    assert result.one_line_error() == (
        f"error: there is no database at {tmp_path.resolve() / 'cartgroups.db'} "
        f"(URL sqlite:///./cartgroups.db, the default, in the current directory {tmp_path.resolve()}); "
        "give the server's database with --database URL or CARTGROUPS_DATABASE_URL "
        "(`cartgroups serve` and `cartgroups db upgrade` create a new one)"
    )
    assert list(tmp_path.iterdir()) == []


def test_the_environment_variable_is_named_as_the_source(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'nope.db'}"
    result = run(["stores", "list"], database_url=url, cwd=tmp_path)
    assert f"(URL {url}, from CARTGROUPS_DATABASE_URL)" in result.one_line_error()
    assert list(tmp_path.iterdir()) == []


def test_db_upgrade_still_creates_a_new_database_which_the_others_then_use(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'new.db'}"
    runner = CliRunner()
    assert runner.invoke(app, ["db", "upgrade", "--database", url]).exit_code == 0
    listed = runner.invoke(app, ["stores", "list", "--database", url])
    assert (listed.exit_code, listed.stdout) == (0, "No stores.\n")
