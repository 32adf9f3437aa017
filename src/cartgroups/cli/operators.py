"""``cartgroups admin``: operator accounts of the web console at /admin."""

from __future__ import annotations

import json
import sys

import typer

from cartgroups.cli.common import DATABASE_OPTION, JSON_OPTION, fail, one_line_errors, open_database
from cartgroups.service.operators import Operators, check_password, check_username

admin_app = typer.Typer(help="Operator accounts of the admin console (/admin).", no_args_is_help=True)


def _read_password(from_stdin: bool) -> str:
    if from_stdin:
        line = sys.stdin.readline()
        return line[:-1] if line.endswith("\n") else line
    first = typer.prompt("Password", hide_input=True)
    second = typer.prompt("Repeat the password", hide_input=True)
    if first != second:
        fail("the two passwords differ")
    return str(first)


@admin_app.command("create-user")
def create_user(
    username: str = typer.Argument(..., help="Sign-in name: letters, digits, . _ - @ (at most 64)."),
    password_stdin: bool = typer.Option(
        False, "--password-stdin", help="Read the password from the first line of standard input."
    ),
    database: str = DATABASE_OPTION,
) -> None:
    """Create an operator account; asks for the password twice (at least 10 characters)."""
    with one_line_errors():
        check_username(username)
        password = check_password(_read_password(password_stdin))
    with open_database(database) as db:
        Operators(db).create(username=username, password=password)
    typer.echo(f"Operator {username!r} created; sign in at /admin.")


@admin_app.command("list-users")
def list_users(database: str = DATABASE_OPTION, as_json: bool = JSON_OPTION) -> None:
    """List operator accounts (never their password hashes)."""
    with open_database(database) as db:
        rows = Operators(db).list()
    if as_json:
        shown = [{"username": r.username, "created": f"{r.created_at:%Y-%m-%d %H:%M:%S}"} for r in rows]
        typer.echo(json.dumps(shown, indent=2))
        return
    if not rows:
        typer.echo("No operators.")
    for row in rows:
        typer.echo(f"{row.username}  (created {row.created_at.strftime('%Y-%m-%d %H:%M:%S')})")


@admin_app.command("delete-user")
def delete_user(
    username: str = typer.Argument(..., help="The operator to delete; their sessions end at once."),
    database: str = DATABASE_OPTION,
) -> None:
    """Delete an operator account and sign it out everywhere."""
    with open_database(database) as db:
        Operators(db).delete(username=username)
    typer.echo(f"Operator {username!r} deleted.")
