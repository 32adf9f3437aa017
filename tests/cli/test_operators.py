"""``cartgroups admin create-user|list-users|delete-user`` on SQLite and PostgreSQL."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from cartgroups.cli import app
from cartgroups.service import operators as ops
from cartgroups.storage import operators as op_sql
from cartgroups.storage.database import Database

PASSWORD = "a long enough secret"


def _invoke(url: str, args: list[str], stdin: str = "") -> tuple[int, str, str]:
    result = CliRunner().invoke(app, [*args, "--database", url], input=stdin)
    return result.exit_code, result.stdout, result.stderr


def _operators(url: str) -> list[op_sql.OperatorRow]:
    db = Database(url)
    try:
        return ops.Operators(db).list()
    finally:
        db.dispose()


def test_create_user_from_stdin_then_list_and_delete(empty_database_url: str) -> None:
    url = empty_database_url
    code, out, err = _invoke(url, ["admin", "create-user", "alice", "--password-stdin"], PASSWORD + "\n")
    assert (code, err) == (0, ""), err
    assert out == "Operator 'alice' created; sign in at /admin.\n"
    [alice] = _operators(url)
    assert alice.username == "alice" and alice.password_hash.startswith("scrypt$32768$8$1$")
    assert ops.verify_password(PASSWORD, alice.password_hash)
    assert PASSWORD not in out

    code, out, _ = _invoke(url, ["admin", "list-users", "--json"])
    assert code == 0 and [row["username"] for row in json.loads(out)] == ["alice"]
    assert "scrypt" not in out

    code, out, _ = _invoke(url, ["admin", "delete-user", "alice"])
    assert (code, out) == (0, "Operator 'alice' deleted.\n")
    assert _operators(url) == []
    assert _invoke(url, ["admin", "list-users"])[1] == "No operators.\n"


def test_create_user_prompts_twice(empty_database_url: str) -> None:
    code, out, _ = _invoke(empty_database_url, ["admin", "create-user", "bob"], f"{PASSWORD}\n{PASSWORD}\n")
    assert code == 0, out
    assert "Password:" in out and "Repeat the password:" in out and PASSWORD not in out
    assert [o.username for o in _operators(empty_database_url)] == ["bob"]


def test_create_user_rejects_bad_input_and_changes_nothing(empty_database_url: str) -> None:
    url = empty_database_url
    cases = [
        (
            ["admin", "create-user", "bob"],
            f"{PASSWORD}\nsomething else\n" * 3,
            "The two passwords differ; try again.\n" * 3
            + "error: the two passwords differ (3 tries); no operator was created",
        ),
        (["admin", "create-user", "bob", "--password-stdin"], "short\n", f"error: {ops.BAD_PASSWORD}"),
        (
            ["admin", "create-user", "bad name", "--password-stdin"],
            PASSWORD + "\n",
            f"error: {ops.BAD_USERNAME}",
        ),
    ]
    for args, stdin, message in cases:
        code, _, err = _invoke(url, args, stdin)
        assert (code, err.strip()) == (1, message), args
    assert _operators(url) == []
    assert _invoke(url, ["admin", "create-user", "bob", "--password-stdin"], PASSWORD)[0] == 0
    code, _, err = _invoke(url, ["admin", "create-user", "bob", "--password-stdin"], PASSWORD)
    assert (code, err.strip()) == (1, "error: an operator named 'bob' exists already")
    code, _, err = _invoke(url, ["admin", "delete-user", "nobody"])
    assert (code, err.strip()) == (1, "error: no operator named 'nobody'")
    assert [o.username for o in _operators(url)] == ["bob"]
