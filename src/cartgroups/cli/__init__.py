"""The ``cartgroups`` command. Every subcommand reads CARTGROUPS_DATABASE_URL (or --database)."""

from __future__ import annotations

import typer

from cartgroups import __version__
from cartgroups.cli import admin, audit, customers, groups, operators, sandbox, serve

app = typer.Typer(
    name="cartgroups",
    help="A self-hosted server for the 3dcart CustomerGroups REST API.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=True,
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"cartgroups {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Print the version and exit."
    ),
) -> None:
    """A self-hosted server for the 3dcart CustomerGroups REST API."""


app.command(name="serve")(serve.serve)
app.add_typer(admin.db_app, name="db")
app.add_typer(admin.credentials_app, name="credentials")
app.add_typer(admin.stores_app, name="stores")
app.add_typer(admin.apps_app, name="apps")
app.add_typer(groups.groups_app, name="groups")
app.add_typer(customers.customers_app, name="customers")
app.add_typer(audit.audit_app, name="audit")
app.add_typer(sandbox.sandbox_app, name="sandbox")
app.add_typer(operators.admin_app, name="admin")


def main() -> None:
    app(prog_name="cartgroups")
