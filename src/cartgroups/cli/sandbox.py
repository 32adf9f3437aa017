"""``cartgroups sandbox ...``: the sandbox controls of a server run with ``cartgroups serve --sandbox``,
through cartgroups.client.sandbox. The token comes from --token or CARTGROUPS_SANDBOX_TOKEN (the
variable the server reads too) and is never printed."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from decimal import Decimal
from pathlib import Path
from typing import Any

import typer
from rich.table import Table

from cartgroups.cli.common import (
    FORMAT_OPTION,
    JSON_OPTION,
    OutputFormat,
    client_errors,
    fail,
    output_format,
    print_rows,
    print_table,
    shown,
)
from cartgroups.cli.groups_io import dumps
from cartgroups.client import CartgroupsAPIError
from cartgroups.client.sandbox import SandboxClient

sandbox_app = typer.Typer(
    help="Sandbox controls of a server run with `cartgroups serve --sandbox`.", no_args_is_help=True
)
faults_app = typer.Typer(help="Fault injection rules.", no_args_is_help=True)
sandbox_app.add_typer(faults_app, name="faults")

URL = typer.Option(
    "http://127.0.0.1:8000", "--url", envvar="CARTGROUPS_URL", help="Server base URL.", show_envvar=True
)
TOKEN = typer.Option(
    None,
    "--token",
    envvar="CARTGROUPS_SANDBOX_TOKEN",
    help="The server's sandbox token.",
    show_envvar=True,
)
STORE = typer.Option(
    ..., "--store", envvar="CARTGROUPS_SECURE_URL", help="The store's SecureURL.", show_envvar=True
)

SEED_FILE = typer.Argument(..., help="A JSON file: an array of 3dcart-shaped groups.")
OUTPUT = typer.Option(None, "--output", "-o", help="Write to this file (default: stdout).")


@contextmanager
def connect(url: str, token: str | None) -> Iterator[SandboxClient]:
    """A client for the controls, with every failure turned into one ``error:`` line."""
    if not token:
        fail("the sandbox token is missing: give --token or CARTGROUPS_SANDBOX_TOKEN")
    with client_errors(url, refused="the sandbox token"), SandboxClient(url, token, timeout=30.0) as client:
        try:
            yield client
        except CartgroupsAPIError as exc:
            if exc.status == 404 and "No resource matches the path /_cartgroups" in exc.message:
                fail(f"{url} has no sandbox controls: start it with `cartgroups serve --sandbox`")
            raise


def _print(obj: object) -> None:
    typer.echo(dumps(obj))


@sandbox_app.command("journal")
def journal(
    store: str = STORE,
    limit: int = typer.Option(None, "--limit", min=1, help="Newest entries to show (default: all kept)."),
    fmt: OutputFormat = FORMAT_OPTION,
    as_json: bool = JSON_OPTION,
    url: str = URL,
    token: str = TOKEN,
) -> None:
    """The store's last requests and answers, newest first (secrets redacted). The table shows
    a line per request; JSON and CSV also the headers and bodies."""
    chosen = output_format(fmt, as_json)
    with connect(url, token) as client:
        entries = client.journal(store, limit)
    if chosen is OutputFormat.json:
        _print(entries)
        return
    if chosen is OutputFormat.csv:
        print_rows(entries, chosen, "")
        return
    table = Table("time", "method", "path", "status", "ms", "fault", box=None)
    for entry in entries:
        query = f"?{entry['query']}" if entry["query"] else ""
        fault = "" if entry["fault_id"] is None else str(entry["fault_id"])
        cells = (
            entry["time"],
            entry["method"],
            f"{entry['path']}{query}",
            entry["status"],
            f"{float(entry['duration_ms']):.1f}",
            fault,
        )
        table.add_row(*map(shown, cells))  # a request's path is data, never markup
    print_table(table)


@sandbox_app.command("reset")
def reset(
    store: str = typer.Option(
        None, "--store", help="Reset only this store (default: every store, and every fault rule)."
    ),
    url: str = URL,
    token: str = TOKEN,
) -> None:
    """Empty a store (or all): no groups, ids from 1, no journal; credentials stay valid."""
    with connect(url, token) as client:
        _print(client.reset(store))


@sandbox_app.command("seed")
def seed(
    file: Path = SEED_FILE,
    store: str = STORE,
    url: str = URL,
    token: str = TOKEN,
) -> None:
    """Create the groups of a JSON file in a store: all of them, or none if any is invalid."""
    try:
        groups = json.loads(file.read_text(encoding="utf-8-sig"), parse_float=Decimal)
    except OSError as exc:
        fail(f"cannot read {file}: {exc.strerror}")
    except ValueError as exc:
        fail(f"{file} is not valid JSON: {exc}")
    if not isinstance(groups, list):
        fail(f"{file} must hold a JSON array of groups")
    with connect(url, token) as client:
        ids = client.seed(store, groups)
    typer.echo(f"created {len(ids)} group(s): ids {ids[0]}..{ids[-1]}" if ids else "created no groups")


@sandbox_app.command("export")
def export(
    store: str = STORE,
    output: Path = OUTPUT,
    url: str = URL,
    token: str = TOKEN,
) -> None:
    """The store's groups as a JSON array in 3dcart's wire format (input for `seed`)."""
    with connect(url, token) as client:
        groups = client.export(store)
    text = dumps(groups)
    if output is None:
        typer.echo(text)
    else:
        output.write_text(text + "\n", encoding="utf-8")


@sandbox_app.command("throttle")
def throttle(
    state: str = typer.Argument(None, help="on, off or default (no override); omit to show."),
    store: str = STORE,
    url: str = URL,
    token: str = TOKEN,
) -> None:
    """Show or set the store's 3dcart throttling (rate limit) override."""
    values = {"on": True, "off": False, "default": None}
    if state is not None and state.lower() not in values:
        fail(f"state must be on, off or default (got {state!r})")
    with connect(url, token) as client:
        current = client.throttle(store) if state is None else None
        value = current if state is None else client.set_throttle(store, values[state.lower()])
    typer.echo({True: "on", False: "off", None: "default"}[value])


FAULTS_FORMAT = typer.Option(
    OutputFormat.json, "--format", help="json (default), table, or csv (a header row, then one row per rule)."
)


@faults_app.command("list")
def faults_list(
    fmt: OutputFormat = FAULTS_FORMAT,
    url: str = URL,
    token: str = TOKEN,
) -> None:
    """The live fault rules, in the order they are tried."""
    with connect(url, token) as client:
        rules = client.faults()
    if fmt is OutputFormat.json:
        _print(rules)
    else:
        print_rows(rules, fmt, "Fault rules")


@faults_app.command("add")
def faults_add(
    status: int = typer.Option(
        None, "--status", help="Answer with this status (400-599) and an error record."
    ),
    method: str = typer.Option("*", "--method", help="HTTP method to match, or * for any."),
    path: str = typer.Option("*", "--path", help="Glob on the 3dcart path (case-insensitive)."),
    regex: bool = typer.Option(False, "--regex", help="--path is a regular expression (searched)."),
    store: str = typer.Option(None, "--store", help="Only requests whose SecureURL names this store."),
    message: str = typer.Option(None, "--message", help="The record's Message (default: per status)."),
    retry_after: int = typer.Option(None, "--retry-after", help="Send Retry-After: this many seconds."),
    latency_ms: int = typer.Option(0, "--latency-ms", help="Wait this long before answering."),
    probability: float = typer.Option(1.0, "--probability", help="Chance (0-1) a matching request is hit."),
    times: int = typer.Option(None, "--times", help="Expire after hitting this many requests."),
    url: str = URL,
    token: str = TOKEN,
) -> None:
    """Add a fault rule and print it (JSON, with its id)."""
    rule: dict[str, Any] = {
        "method": method,
        "path": path,
        "match": "regex" if regex else "glob",
        "store": store,
        "status": status,
        "message": message,
        "retry_after": retry_after,
        "latency_ms": latency_ms,
        "probability": probability,
        "times": times,
    }
    with connect(url, token) as client:
        _print(client.add_fault(**rule))


@faults_app.command("delete")
def faults_delete(
    fault_id: int = typer.Argument(..., help="The rule's id."), url: str = URL, token: str = TOKEN
) -> None:
    """Delete one fault rule."""
    with connect(url, token) as client:
        client.delete_fault(fault_id)
    typer.echo(f"deleted fault rule {fault_id}")


@faults_app.command("clear")
def faults_clear(url: str = URL, token: str = TOKEN) -> None:
    """Delete every fault rule."""
    with connect(url, token) as client:
        count = client.clear_faults()
    typer.echo(f"deleted {count} fault rule(s)")
