"""``cartgroups db backup|restore``: SQLite files only, every refusal one ``error:`` line.
In-process with typer's CliRunner, plus one real command."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from typer.testing import CliRunner

from cartgroups.cli import app
from cartgroups.service import credentials
from cartgroups.storage import migrate
from cartgroups.storage.database import Database
from tests.cli.procs import Result, run
from tests.conftest import PG_URL

PG_ADVICE = (
    "error: backup and restore work on SQLite files only; for PostgreSQL use pg_dump -Fc and pg_restore "
    "(see docs/operations.md, 'Backup and restore')"
)


def cli(database_url: str, *args: str) -> Result:
    result = CliRunner().invoke(app, [*args, "--database", database_url])
    return Result(args, result.exit_code, result.stdout, result.stderr)


@pytest.fixture
def live(tmp_path: Path) -> str:
    url = f"sqlite:///{tmp_path / 'live.db'}"
    db = Database(url)
    try:
        migrate.upgrade(db)
        credentials.issue(db, secure_url="first.example.com")
    finally:
        db.dispose()
    return url


def _stores(url: str) -> list[str]:
    with sqlite3.connect(url.removeprefix("sqlite:///")) as conn:
        return [row[0] for row in conn.execute("SELECT secure_url FROM stores ORDER BY id")]


def test_backup_then_restore_with_confirmation(live: str, tmp_path: Path) -> None:
    copy = tmp_path / "copy.db"
    out = cli(live, "db", "backup", str(copy)).ok().out
    head = migrate.head_revision()
    assert out.startswith(f"Backed up {tmp_path / 'live.db'} to {copy} (")
    assert out.endswith(f": 1 store(s), 0 group(s), schema revision {head}).\n")

    db = Database(live)
    try:
        credentials.issue(db, secure_url="second.example.com")
    finally:
        db.dispose()
    assert _stores(live) == ["first.example.com", "second.example.com"]

    unconfirmed = cli(live, "db", "restore", str(copy)).one_line_error()
    assert unconfirmed == (
        f"error: restoring replaces every store, token, group and audit entry in {tmp_path / 'live.db'} "
        f"with those of {copy}; run again with --yes to do it"
    )
    assert _stores(live) == ["first.example.com", "second.example.com"]

    restored = cli(live, "db", "restore", str(copy), "--yes").ok().out
    assert (
        restored
        == f"Restored {copy} into {tmp_path / 'live.db'}: 1 store(s), 0 group(s), schema revision {head}.\n"
    )
    assert _stores(live) == ["first.example.com"]


def test_refusals_are_one_line(live: str, tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("not a database")
    newer = tmp_path / "newer.db"
    cli(live, "db", "backup", str(newer)).ok()
    with sqlite3.connect(newer) as conn:
        conn.execute("UPDATE alembic_version SET version_num = 'ffff9999'")
    cases = {
        f"error: {tmp_path / 'notes.txt'} is not a SQLite database": (
            "db",
            "restore",
            str(tmp_path / "notes.txt"),
        ),
        f"error: there is no file {tmp_path / 'gone.db'}": (
            "db",
            "restore",
            str(tmp_path / "gone.db"),
            "--yes",
        ),
        f"error: {newer} has schema revision ffff9999, which this version of cartgroups does not know "
        "(made by a newer version?); restore it with that version": ("db", "restore", str(newer), "--yes"),
        f"error: {newer} already exists; give a new file name": ("db", "backup", str(newer)),
    }
    assert [cli(live, *args).one_line_error() for args in cases.values()] == list(cases)
    missing = f"sqlite:///{tmp_path / 'missing.db'}"
    assert cli(missing, "db", "backup", str(tmp_path / "x.db")).one_line_error() == (
        f"error: there is no database at {tmp_path / 'missing.db'} (URL {missing}, from --database); "
        "give the server's database with --database URL or CARTGROUPS_DATABASE_URL "
        "(`cartgroups serve` and `cartgroups db upgrade` create a new one)"
    )
    assert _stores(live) == ["first.example.com"]


def test_postgresql_is_pointed_at_pg_dump(tmp_path: Path) -> None:
    for args in (
        ("db", "backup", str(tmp_path / "x.db")),
        ("db", "restore", str(tmp_path / "x.db"), "--yes"),
    ):
        assert cli(PG_URL, *args).one_line_error() == PG_ADVICE
    assert not (tmp_path / "x.db").exists()


def test_the_real_command(live: str, tmp_path: Path) -> None:
    result = run(["db", "backup", "copy.db"], database_url=live, cwd=tmp_path).ok()
    assert result.out.startswith(f"Backed up {tmp_path / 'live.db'} to copy.db (")
    with sqlite3.connect(tmp_path / "copy.db") as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
