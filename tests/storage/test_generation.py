"""Issue #15, item 2: the database's generation, which tells every process that the data was
replaced wholesale (a restore), so that nothing it kept from before is used again."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from cartgroups.service import credentials
from cartgroups.storage import backup, migrate
from cartgroups.storage import credentials as cred_sql
from cartgroups.storage.commits import Commits
from cartgroups.storage.database import Database


@pytest.fixture
def db(fresh_db: Database) -> Database:
    return fresh_db


def _state(db: Database) -> object:
    with db.read() as conn:
        return cred_sql.credentials_state(conn)


def _generation(db: Database) -> int | None:
    with db.read() as conn:
        return cred_sql.generation(conn)


def test_a_new_database_has_a_generation_and_revocations_do_not_move_it(db: Database) -> None:
    generation = _generation(db)
    assert generation is not None and generation > 0
    issued = credentials.issue(db, secure_url="shop.example.com")
    before = _state(db)
    assert _state(db) == before  # reading it changes nothing
    credentials.revoke(db, token=issued.token)
    assert _state(db) != before
    assert _generation(db) == generation


def test_a_restore_moves_what_the_processes_poll(
    db: Database, fresh_database_url: str, tmp_path: Path
) -> None:
    """SQLite: storage/backup.py sets a new generation in the restoring transaction. PostgreSQL:
    pg_restore copies the generation as it was, but writes its row anew (xmin)."""
    credentials.issue(db, secure_url="shop.example.com")
    generation, state = _generation(db), _state(db)
    commits = Commits(db)
    before = commits.look()
    if db.dialect_name == "sqlite":
        live = Path(db.url.database or "")
        backup.backup(live, tmp_path / "copy.db")
        backup.restore(tmp_path / "copy.db", live)
        assert _generation(db) not in (generation, None)
        assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".")) == []
        assert sorted(p.name for p in live.parent.iterdir() if ".restore-" in p.name) == []
    else:
        dump = tmp_path / "dump"
        subprocess.run(["pg_dump", "-Fc", "-f", str(dump), "-d", fresh_database_url], check=True, timeout=60)
        subprocess.run(
            ["pg_restore", "--clean", "--if-exists", "-d", fresh_database_url, str(dump)],
            check=True,
            timeout=60,
        )
        assert _generation(db) == generation
    assert _state(db) != state
    assert (commits.look() != before) is commits.exact  # SQLite sees the commit; PostgreSQL polls
    assert migrate.current_revision(db) == migrate.head_revision()
