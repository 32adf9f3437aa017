"""``cartgroups serve``: listen, prepare the database, print demo credentials on a new one, run uvicorn.

The socket is bound (and listening) before anything else, so that the banner shows the address
actually bound (the real port for ``--port 0``), a start whose port is taken fails before it
creates demo credentials it would never show, and a client that follows the banner at once is
queued until the app is up rather than refused.
"""

from __future__ import annotations

import errno
import gc
import logging
import os
import secrets
import shutil
import signal
import socket
import sys
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Any

import typer
import uvicorn
from uvicorn.config import STARTUP_FAILURE
from uvicorn.supervisors import Multiprocess

from cartgroups import __version__
from cartgroups.cli.common import DATABASE_OPTION, fail, load_settings, open_database
from cartgroups.config import DEFAULT_DATABASE_URL, Settings
from cartgroups.http_limits import connection_limits, raise_open_file_limit, uvicorn_options
from cartgroups.logs import logging_config, skip_unused_record_fields
from cartgroups.service import credentials
from cartgroups.service.credentials import Issued
from cartgroups.storage import operators as op_sql

if TYPE_CHECKING:
    from cartgroups.app import CartgroupsApp

# uvicorn options of every server process (the benchmark's baseline app runs with the same).
UVICORN_OPTIONS: dict[str, Any] = {
    "access_log": False,  # cartgroups writes its own line, with the store and no query string
    "server_header": False,
    # Off unless --proxy-headers (http_limits.uvicorn_options): then uvicorn's
    # ProxyHeadersMiddleware wraps the app; the baseline app never needs it.
    "proxy_headers": False,
    "timeout_graceful_shutdown": 30,
}


# The app factory uvicorn calls in each worker process.
APP = "cartgroups.cli.serve:served_app"

# Collections of the youngest generation happen after this many new container objects (Python's
# default is 700; with it, collections were ~9 % of a worker's CPU under write load, py-spy).
GC_YOUNG_THRESHOLD = 20_000


def served_app(settings: Settings | None = None) -> CartgroupsApp:
    """The app as ``cartgroups serve`` runs it: create_app's, which tunes the process it runs in
    once it has started (tune_worker_process), since a worker process does nothing else. An app
    made by create_app itself, embedded in another process (the pytest plugin, a test server),
    leaves that process as it found it."""
    from cartgroups.app import create_app  # not at import: the CLI's other commands do without it

    app = create_app(settings)
    app.after_start.append(tune_worker_process)
    return app


def tune_worker_process() -> None:
    """Process-wide tuning of a server's worker process, once its app is set up:

    - logging collects no field our formats never print (logs.skip_unused_record_fields);
    - what exists now (modules, SQLAlchemy's tables and compiled statements, ...) lives as long
      as the process, so it is frozen out of every later collection, and the youngest generation
      is collected less often. Garbage made by requests is still collected (reference counting
      frees nearly all of it at once; cycles wait for a collection)."""
    skip_unused_record_fields()
    gc.collect()
    gc.freeze()
    _young, middle, old = gc.get_threshold()
    gc.set_threshold(GC_YOUNG_THRESHOLD, middle, old)


BACKLOG = 2048  # uvicorn's default; its server listens again with the same


def _listen(host: str, port: int) -> socket.socket:
    """The server's listening socket, which uvicorn serves (every worker process shares it)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
        sock.listen(BACKLOG)
    except OSError as exc:
        sock.close()
        if exc.errno == errno.EADDRINUSE:
            fail(f"port {port} on {host} is already in use; choose another with --port")
        fail(f"cannot listen on {host}:{port}: {exc.strerror}")
    sock.set_inheritable(True)
    return sock


def _stopped_by_sigterm(_signum: int, _frame: FrameType | None) -> None:
    raise SystemExit(0)


def curl_command(base_url: str, issued: Issued) -> str:
    return (
        f"curl -H 'SecureURL: {issued.secure_url}' -H 'PrivateKey: {issued.private_key}' "
        f"-H 'Token: {issued.token}' {base_url}/3dCartWebAPI/v1/CustomerGroups"
    )


def own_command() -> str:
    """How to run this installation's ``cartgroups`` from the shell the server was started in:
    the bare name when the PATH finds this one, else the script's path (relative when it is
    under the current directory, as ``.venv/bin/cartgroups``)."""
    script = Path(sys.executable).with_name("cartgroups")
    found = shutil.which("cartgroups")
    if found is not None and Path(found).resolve() == script.resolve():
        return "cartgroups"
    if not script.exists():
        return f"{sys.executable} -m cartgroups"
    try:
        return str(script.relative_to(Path.cwd()))
    except ValueError:
        return str(script)


def _make_operator(settings: Settings) -> str:
    """The command that makes an operator in this server's database (never showing a password)."""
    command = f"`{own_command()} admin create-user NAME"
    url = settings.database_url
    if url == DEFAULT_DATABASE_URL:
        return command + "`"
    if url.startswith("sqlite:") or "://" not in url:
        return f"{command} --database {url}`"
    return f"{command}` (with this server's --database or CARTGROUPS_DATABASE_URL)"


def _banner(
    settings: Settings,
    bound: tuple[str, int],
    description: str,
    demo: Issued | None,
    made_token: bool,
    operators: int,
) -> None:
    """What a person starting the server needs first: where it listens (the address bound, a
    URL that works from this machine), the admin console and how to make its first operator,
    and the demo store's credentials on a new database."""
    host, port = bound[0], bound[1]
    wildcard = host in ("0.0.0.0", "::")  # noqa: S104 - only to print a usable URL
    shown_host = ("::1" if ":" in host else "127.0.0.1") if wildcard else host
    if ":" in shown_host:
        shown_host = f"[{shown_host}]"
    base = f"http://{shown_host}:{port}"
    typer.echo(f"cartgroups {__version__} on {description}")
    typer.echo(f"Serving {base} with {settings.workers} worker(s); API docs at {base}/docs")
    if wildcard:
        typer.echo(
            f"Listening on every interface ({host} port {port}): from other machines use this "
            f"one's address, such as http://{socket.gethostname()}:{port}"
        )
    if operators:
        typer.echo(f"Admin console at {base}/admin")
    else:
        typer.echo(f"Admin console at {base}/admin; make its first operator with {_make_operator(settings)}")
    if settings.proxy_headers:
        trusted = settings.forwarded_allow_ips
        if trusted == "*":
            trusted = "every peer (*; safe only if nothing but the proxy can reach this port)"
        typer.echo(f"Proxy headers (X-Forwarded-For, X-Forwarded-Proto) believed from {trusted}")
    cap = connection_limits(settings).max_connections
    if cap < settings.max_connections:
        typer.echo(f"The open-file limit allows {cap} connections per process (CARTGROUPS_MAX_CONNECTIONS)")
    if settings.rate_limit != "off":
        typer.echo(f"Rate limit per store and application: {settings.rate_limit}")
    if settings.price_level_1_to_10:
        typer.echo("PriceLevel: only 1 to 10 accepted (--price-level-1-to-10)")
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
    price_level_1_to_10: bool = typer.Option(
        None,
        "--price-level-1-to-10",
        help="Accept only PriceLevel 1 to 10, the store UI's levels (default: any 32-bit integer, "
        "as the live service; an absent one is 0).",
        show_default=False,
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
    proxy_headers: bool = typer.Option(
        None,
        "--proxy-headers/--no-proxy-headers",
        help="Behind a reverse proxy: take the scheme (https) and the client address from "
        "X-Forwarded-Proto and X-Forwarded-For, when the connection comes from --forwarded-allow-ips "
        "(default: off; the headers are ignored).",
        show_default=False,
    ),
    forwarded_allow_ips: str = typer.Option(
        None,
        "--forwarded-allow-ips",
        help="The proxies whose forwarded headers are believed: IP addresses and networks separated "
        "by commas (default 127.0.0.1,::1), or * for every peer.",
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
        price_level_1_to_10=price_level_1_to_10,
        sandbox=sandbox,
        sandbox_token=sandbox_token,
        proxy_headers=proxy_headers,
        forwarded_allow_ips=forwarded_allow_ips,
    )
    made_token = settings.sandbox and settings.sandbox_token is None
    if made_token:  # one token for every worker process, so it is made here, not in each app
        settings = settings.model_copy(update={"sandbox_token": secrets.token_urlsafe(24)})
    # The port first: a start that fails must not create demo credentials it never shows.
    sock = _listen(settings.host, settings.port)
    bound = sock.getsockname()
    settings = settings.model_copy(update={"port": bound[1]})  # the real one, for --port 0
    raise_open_file_limit()  # before the banner, which tells how many connections it allows
    with open_database(settings.database_url, create=True) as db:
        demo = credentials.issue_demo_if_empty(db)
        description = db.description
        with db.read() as conn:
            operators = len(op_sql.list_operators(conn))
    _banner(settings, bound, description, demo, made_token, operators)
    # Worker processes build their own app from the environment (create_app reads Settings()).
    for name, value in settings.model_dump().items():
        if value is not None:
            os.environ[f"CARTGROUPS_{name.upper()}"] = str(value)
    # On SIGTERM uvicorn stops accepting connections, lets in-flight requests finish (up to
    # timeout_graceful_shutdown), then raises the signal again with this handler back in place:
    # a stop that was asked for and went well exits 0, not "killed by SIGTERM".
    signal.signal(signal.SIGTERM, _stopped_by_sigterm)
    run(
        sock,
        APP,
        factory=True,
        host=settings.host,
        port=settings.port,
        workers=settings.workers,
        log_config=logging_config(settings.log_level, settings.log_format),
        log_level=settings.log_level,
        **(UVICORN_OPTIONS | uvicorn_options(settings)),
    )


def run(sock: socket.socket, app: str, **options: Any) -> None:
    """uvicorn.run(app, **options), serving the listening socket ``sock``."""
    config = uvicorn.Config(app, **options)  # applies the logging configuration
    host, port = sock.getsockname()[:2]
    shown = f"[{host}]" if ":" in host else host
    logging.getLogger("uvicorn.error").info(
        "Uvicorn running on http://%s:%d (Press CTRL+C to quit)", shown, port
    )
    server = uvicorn.Server(config)
    try:
        if config.workers > 1:
            Multiprocess(config, sockets=[sock]).run()
        else:
            server.run(sockets=[sock])
    except KeyboardInterrupt:
        pass
    if config.workers == 1 and not server.started:
        sys.exit(STARTUP_FAILURE)
