"""``cartgroups admin``: operator accounts of the web console at /admin."""

from __future__ import annotations

import sys

import typer

from cartgroups.cli.common import (
    DATABASE_OPTION,
    FORMAT_OPTION,
    JSON_OPTION,
    OutputFormat,
    fail,
    one_line_errors,
    open_database,
    output_format,
    print_rows,
)
from cartgroups.errors import Invalid
from cartgroups.service.operators import Operators, check_password, check_username

admin_app = typer.Typer(help="Operator accounts of the admin console (/admin).", no_args_is_help=True)


PASSWORD_TRIES = 3


def _read_password(from_stdin: bool) -> str:
    """The new password: the first line of stdin, or typed twice at a prompt, which asks again
    (up to PASSWORD_TRIES times) when the two differ or the password is not acceptable."""
    if from_stdin:
        line = sys.stdin.readline()
        with one_line_errors():
            return check_password(line[:-1] if line.endswith("\n") else line)
    problem = ""
    for _ in range(PASSWORD_TRIES):
        first = str(typer.prompt("Password", hide_input=True))
        try:
            check_password(first)
        except Invalid as exc:
            problem = exc.message
        else:
            if first == str(typer.prompt("Repeat the password", hide_input=True)):
                return first
            problem = "The two passwords differ"
        typer.echo(f"{problem}; try again.", err=True)
    fail(f"{problem[0].lower()}{problem[1:]} ({PASSWORD_TRIES} tries); no operator was created")


@admin_app.command("create-user")
def create_user(
    username: str = typer.Argument(..., help="Sign-in name: letters, digits, . _ - @ (at most 64)."),
    password_stdin: bool = typer.Option(
        False, "--password-stdin", help="Read the password from the first line of standard input."
    ),
    database: str = DATABASE_OPTION,
) -> None:
    """Create an operator account; asks for the password twice (at least 10 characters), and
    again (up to 3 times) when the two differ or it is too short."""
    with one_line_errors():
        check_username(username)
    with open_database(database) as db:  # a missing database before any typing
        password = _read_password(password_stdin)
        Operators(db).create(username=username, password=password)
    typer.echo(f"Operator {username!r} created; sign in at /admin.")


@admin_app.command("list-users")
def list_users(
    database: str = DATABASE_OPTION, fmt: OutputFormat = FORMAT_OPTION, as_json: bool = JSON_OPTION
) -> None:
    """List operator accounts (never their password hashes)."""
    chosen = output_format(fmt, as_json)
    with open_database(database) as db:
        rows = Operators(db).list()
    print_rows([{"username": r.username, "created": r.created_at} for r in rows], chosen, "Operators")


@admin_app.command("delete-user")
def delete_user(
    username: str = typer.Argument(..., help="The operator to delete; their sessions end at once."),
    database: str = DATABASE_OPTION,
) -> None:
    """Delete an operator account and sign it out everywhere."""
    with open_database(database) as db:
        Operators(db).delete(username=username)
    typer.echo(f"Operator {username!r} deleted.")
