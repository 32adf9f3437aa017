"""``--log-format json``: one JSON object per line for every logger (access lines, the server's
own, uvicorn's, any library's), tracebacks as a field; and the loggers' names."""

from __future__ import annotations

import ast
import asyncio
import io
import json
import logging
import logging.config
import re
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from cartgroups.logs import ACCESS_LOGGER, AccessLog, logging_config
from tests.cli.procs import run, serving

ISO_UTC = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z")
SRC = Path(__file__).resolve().parents[1] / "src" / "cartgroups"
ACCESS_KEYS = [
    "time",
    "level",
    "logger",
    "method",
    "path",
    "status",
    "duration_ms",
    "store",
    "request_id",
    "client",
]


@pytest.fixture
def json_stream() -> Iterator[io.StringIO]:
    """The loggers set up as ``cartgroups serve --log-format json`` sets them up, into a string."""
    out = io.StringIO()
    config = logging_config("info", "json")
    config["handlers"]["stderr"]["stream"] = out
    root_handlers = logging.getLogger().handlers[:]
    logging.config.dictConfig(config)
    yield out
    logging.config.dictConfig(logging_config("warning"))
    logging.getLogger().handlers = root_handlers


def without_pytest_capture() -> None:
    """pytest hangs its capturing handlers on the "cartgroups" logger and the root for each test
    phase; drop them so that the loggers end at logging_config's handler, as in a server."""
    for logger in (logging.getLogger("cartgroups"), logging.getLogger()):
        logger.handlers = [h for h in logger.handlers if type(h) is logging.StreamHandler]


def parsed(stream: io.StringIO) -> list[dict[str, object]]:
    lines = stream.getvalue().splitlines()
    entries = [json.loads(line) for line in lines]
    assert all(isinstance(e, dict) for e in entries)
    for entry in entries:
        assert ISO_UTC.fullmatch(str(entry["time"])), entry
    return entries


def test_fast_json_access_lines_hold_the_fields(json_stream: io.StringIO) -> None:
    without_pytest_capture()
    access = AccessLog()

    async def run_lines() -> None:
        access.line("GET", "/3dCartWebAPI/v1/CustomerGroups/7", 200, 1.2345, "shop.com", "abc123", "10.0.0.9")
        access.line("POST", '/odd"path\\\u00e9', 415, 0.5, "-", "0123456789abcdef", "-")
        await asyncio.sleep(0.2)  # past FLUSH_SECONDS: the batch is written by the loop

    asyncio.run(run_lines())
    assert access._handler is not None and access._json  # the fast writer was used
    entries = parsed(json_stream)
    assert [list(e) for e in entries] == [ACCESS_KEYS, ACCESS_KEYS]
    assert entries[0] | {"time": ""} == {
        "time": "",
        "level": "INFO",
        "logger": "cartgroups.access",
        "method": "GET",
        "path": "/3dCartWebAPI/v1/CustomerGroups/7",
        "status": 200,
        "duration_ms": 1.234,
        "store": "shop.com",
        "request_id": "abc123",
        "client": "10.0.0.9",
    }
    assert entries[1]["path"] == '/odd"path\\\u00e9'


def test_a_lone_surrogate_is_still_one_json_line(json_stream: io.StringIO) -> None:
    without_pytest_capture()
    logging.getLogger("cartgroups.test").warning("bad text %s", "\udcff")
    access = AccessLog()

    async def run_lines() -> None:
        access.line("GET", "/\udcff", 404, 0.1, "-", "id", "-")

    asyncio.run(run_lines())
    access.flush()
    entries = parsed(json_stream)
    assert [e.get("message", e.get("path")) for e in entries] == ["bad text \udcff", "/\udcff"]


def test_fast_lines_match_what_logging_writes_in_json(json_stream: io.StringIO) -> None:
    without_pytest_capture()
    access = AccessLog()

    async def run_lines() -> None:
        access.line("GET", "/x", 404, 0.04, "-", "rid", "127.0.0.1")

    asyncio.run(run_lines())
    access.flush()
    fast = parsed(json_stream)[0]
    # The same line through logging (a handler of its own makes AccessLog leave the fast path).
    through_logging = io.StringIO()
    handler = logging.StreamHandler(through_logging)
    handler.setFormatter(logging.getLogger("cartgroups").handlers[0].formatter)
    logging.getLogger(ACCESS_LOGGER).addHandler(handler)
    try:
        slow_access = AccessLog()
        slow_access.line("GET", "/x", 404, 0.04, "-", "rid", "127.0.0.1")
        assert slow_access._handler is None
    finally:
        logging.getLogger(ACCESS_LOGGER).removeHandler(handler)
    slow = parsed(through_logging)[0]
    assert fast | {"time": ""} == slow | {"time": ""}


def test_other_lines_carry_message_and_a_traceback_as_one_field(json_stream: io.StringIO) -> None:
    without_pytest_capture()
    try:
        raise ValueError("boom")
    except ValueError:
        logging.getLogger("uvicorn.error").exception("Exception in ASGI application")
    logging.getLogger("cartgroups.audit").warning("pruned %d entries", 3)
    logging.getLogger("asyncio").error("Task exception was never retrieved")  # reaches the root logger
    entries = parsed(json_stream)
    assert [(e["level"], e["logger"], e["message"]) for e in entries] == [
        ("ERROR", "uvicorn.error", "Exception in ASGI application"),
        ("WARNING", "cartgroups.audit", "pruned 3 entries"),
        ("ERROR", "asyncio", "Task exception was never retrieved"),
    ]
    traceback = str(entries[0]["exception"])
    assert traceback.startswith("Traceback (most recent call last):") and traceback.endswith(
        "ValueError: boom"
    )
    assert "exception" not in entries[1]


def test_every_logger_of_the_server_is_cartgroups_or_under_it() -> None:
    """Access lines and the server's own lines are never under uvicorn's loggers (``serve``
    may write uvicorn's own "Uvicorn running on" line in its stead, under uvicorn's name)."""
    names = []
    for path in SRC.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Call) and getattr(node.func, "attr", None) == "getLogger":
                (arg,) = node.args
                name = ACCESS_LOGGER if isinstance(arg, ast.Name) and arg.id == "ACCESS_LOGGER" else None
                if name is None:
                    assert isinstance(arg, ast.Constant), (path, node.lineno)
                    name = arg.value
                if not (name == "uvicorn.error" and path == SRC / "cli" / "serve.py"):
                    names.append(name)
    assert "cartgroups" in names and len(names) > 5
    assert all(n == "cartgroups" or n.startswith("cartgroups.") for n in names), names
    assert ACCESS_LOGGER == "cartgroups.access"


@pytest.mark.parametrize("log_format", ["text", "json"])
def test_the_serve_configuration_routes_every_logger_to_one_handler(log_format: str) -> None:
    config = logging_config("info", log_format)
    routed = {name: c["handlers"] for name, c in config["loggers"].items()}
    assert routed == {"cartgroups": ["stderr"], "uvicorn": ["stderr"], "uvicorn.access": []}
    assert config["root"]["handlers"] == ["stderr"]
    assert config["handlers"]["stderr"]["formatter"] == "main"


def test_an_unknown_log_format_is_one_line_error(tmp_path: Path) -> None:
    error = run(["serve", "--log-format", "xml"], database_url=None, cwd=tmp_path).one_line_error()
    assert "log_format" in error or "log-format" in error, error
    assert not (tmp_path / "cartgroups.db").exists()


@pytest.mark.slow
def test_serve_in_json_writes_only_json_lines(empty_database_url: str, tmp_path: Path) -> None:
    with serving(
        "--log-level", "debug", database_url=empty_database_url, cwd=tmp_path, CARTGROUPS_LOG_FORMAT="json"
    ) as served:
        response = httpx.get(
            served.base_url + "/3dCartWebAPI/v1/CustomerGroups",
            params={"PrivateKey": "s3cret-in-query"},
            headers={"X-Request-ID": "from-the-client", "Token": "s3cret-in-header"},
            timeout=30,
        )
        assert response.status_code == 401
        assert response.headers["x-request-id"] == "from-the-client"
        served.wait_for(served.err, lambda line: "from-the-client" in line)
    assert served.proc.returncode == 0
    entries = [json.loads(line) for line in served.err]  # every line, uvicorn's too
    assert all(ISO_UTC.fullmatch(e["time"]) and e["level"] and e["logger"] for e in entries)
    loggers = {e["logger"] for e in entries}
    assert {"uvicorn.error", "cartgroups.access"} <= loggers, loggers
    assert any(e.get("message", "").startswith("Uvicorn running on ") for e in entries)
    access = [
        e for e in entries if e["logger"] == "cartgroups.access" and e["request_id"] == "from-the-client"
    ]
    assert len(access) == 1
    assert list(access[0]) == ACCESS_KEYS
    assert access[0] | {"time": "", "duration_ms": 0} == {
        "time": "",
        "level": "INFO",
        "logger": "cartgroups.access",
        "method": "GET",
        "path": "/3dCartWebAPI/v1/CustomerGroups",
        "status": 401,
        "duration_ms": 0,
        "store": "-",
        "request_id": "from-the-client",
        "client": "127.0.0.1",
    }
    assert "s3cret" not in served.stderr
