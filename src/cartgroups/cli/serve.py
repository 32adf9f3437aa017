"""``cartgroups serve``: prepare the database, print demo credentials on a new one, run uvicorn."""

from __future__ import annotations

import errno
import os
import secrets
import signal
import socket
from types import FrameType
from typing import Any

import typer
import uvicorn

from cartgroups import __version__
from cartgroups.cli.common import DATABASE_OPTION, fail, load_settings, open_database
from cartgroups.config import Settings
from cartgroups.http_limits import connection_limits, raise_open_file_limit, uvicorn_options
from cartgroups.logs import logging_config
from cartgroups.service import credentials
from cartgroups.service.credentials import Issued

# uvicorn options of every server process (the benchmark's baseline app runs with the same).
UVICORN_OPTIONS: dict[str, Any] = {
    "access_log": False,  # cartgroups writes its own line, with the store and no query string
    "server_header": False,
    "proxy_headers": False,  # nothing here uses the client address; skips a middleware per request
    "timeout_graceful_shutdown": 30,
}


def _check_port(host: str, port: int) -> None:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                fail(f"port {port} on {host} is already in use; choose another with --port")
            fail(f"cannot listen on {host}:{port}: {exc.strerror}")


def _stopped_by_sigterm(_signum: int, _frame: FrameType | None) -> None:
    raise SystemExit(0)


def curl_command(base_url: str, issued: Issued) -> str:
    return (
        f"curl -H 'SecureURL: {issued.secure_url}' -H 'PrivateKey: {issued.private_key}' "
        f"-H 'Token: {issued.token}' {base_url}/3dCartWebAPI/v1/CustomerGroups"
    )


def _banner(settings: Settings, description: str, demo: Issued | None, made_token: bool) -> None:
    wildcard = settings.host in ("0.0.0.0", "::", "")  # noqa: S104 - only to print a usable URL
    shown_host = "127.0.0.1" if wildcard else settings.host
    if ":" in shown_host:
        shown_host = f"[{shown_host}]"
    base = f"http://{shown_host}:{settings.port}"
    typer.echo(f"cartgroups {__version__} on {description}")
    typer.echo(f"Serving {base} with {settings.workers} worker(s); API docs at {base}/docs")
    cap = connection_limits(settings).max_connections
    if cap < settings.max_connections:
        typer.echo(f"The open-file limit allows {cap} connections per process (CARTGROUPS_MAX_CONNECTIONS)")
    if settings.rate_limit != "off":
        typer.echo(f"Rate limit per store and application: {settings.rate_limit}")
    if settings.sandbox:
        typer.echo(f"Sandbox controls at {base}/_cartgroups/ (see docs/sandbox.md)")
        if made_token:
            typer.echo(f"  Sandbox token (made for this run): {settings.sandbox_token}")
        else:
            typer.echo("  Sandbox token: the one given by --sandbox-token or CARTGROUPS_SANDBOX_TOKEN")
    if demo is None:
        return
    typer.echo("")
    typer.echo("The database had no stores, so a demo store was created. Its credentials")
    typer.echo("(shown only now; issue more with `cartgroups credentials create`):")
    typer.echo(f"  SecureURL:  {demo.secure_url}")
    typer.echo(f"  PrivateKey: {demo.private_key}")
    typer.echo(f"  Token:      {demo.token}")
    typer.echo("")
    typer.echo("Try it:")
    typer.echo(f"  {curl_command(base, demo)}")
    typer.echo("")


def serve(
    host: str = typer.Option(None, "--host", help="Interface to bind (default 127.0.0.1)."),
    port: int = typer.Option(None, "--port", help="TCP port (default 8000)."),
    workers: int = typer.Option(None, "--workers", help="Server processes (default 1)."),
    database: str = DATABASE_OPTION,
    log_level: str = typer.Option(
        None, "--log-level", help="debug, info (one access line per request), warning or error."
    ),
    log_format: str = typer.Option(
        None,
        "--log-format",
        help="text (default) or json: one JSON object per line, for log collectors (docs/operations.md).",
    ),
    rate_limit: str = typer.Option(
        None,
        "--rate-limit",
        help="Requests per store and application: off (default), 3dcart (50 requests draining "
        "2 per second) or CAPACITY/PER_SECOND such as 100/5. Over it: 429 with Retry-After.",
    ),
    sandbox: bool = typer.Option(
        None,
        "--sandbox",
        help="Turn on the sandbox controls under /_cartgroups/ (for test servers; see docs/sandbox.md).",
        show_default=False,
    ),
    sandbox_token: str = typer.Option(
        None,
        "--sandbox-token",
        help="Admin token of the sandbox controls (at least 16 characters); "
        "made and printed at start when not given.",
    ),
) -> None:
    """Run the server. On an empty database, create a demo store and print its credentials."""
    settings = load_settings(
        host=host,
        port=port,
        workers=workers,
        database_url=database,
        log_level=log_level,
        log_format=log_format,
        rate_limit=rate_limit,
        sandbox=sandbox,
        sandbox_token=sandbox_token,
    )
    made_token = settings.sandbox and settings.sandbox_token is None
    if made_token:  # one token for every worker process, so it is made here, not in each app
        settings = settings.model_copy(update={"sandbox_token": secrets.token_urlsafe(24)})
    # The port first: a start that fails must not create demo credentials it never shows.
    _check_port(settings.host, settings.port)
    raise_open_file_limit()  # before the banner, which tells how many connections it allows
    with open_database(settings.database_url) as db:
        demo = credentials.issue_demo_if_empty(db)
        description = db.description
    _banner(settings, description, demo, made_token)
    # Worker processes build their own app from the environment (create_app reads Settings()).
    for name, value in settings.model_dump().items():
        if value is not None:
            os.environ[f"CARTGROUPS_{name.upper()}"] = str(value)
    # On SIGTERM uvicorn stops accepting connections, lets in-flight requests finish (up to
    # timeout_graceful_shutdown), then raises the signal again with this handler back in place:
    # a stop that was asked for and went well exits 0, not "killed by SIGTERM".
    signal.signal(signal.SIGTERM, _stopped_by_sigterm)
    uvicorn.run(
        "cartgroups.app:create_app",
        factory=True,
        host=settings.host,
        port=settings.port,
        workers=settings.workers,
        log_config=logging_config(settings.log_level, settings.log_format),
        log_level=settings.log_level,
        **UVICORN_OPTIONS,
        **uvicorn_options(settings),
    )
