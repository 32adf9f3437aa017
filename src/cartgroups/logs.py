"""Logging set-up shared by the server processes, in two formats: ``text`` (the default) and
``json`` (one JSON object per line). Access lines carry method, path, status, duration, store,
request id and client address; no other header value and no query string is ever logged, so no
secret is.

Loggers: ``cartgroups.access`` (one line per request), ``cartgroups`` and ``cartgroups.<part>``
(the server's own lines), ``uvicorn.error`` (uvicorn's start, stop and errors); anything else
(asyncio, SQLAlchemy, warnings) reaches the root logger, which logging_config routes the same way."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from typing import Any, Literal

import orjson

PLAIN_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
LogFormat = Literal["text", "json"]
LOG_FORMATS: tuple[LogFormat, ...] = ("text", "json")


def skip_unused_record_fields() -> None:
    """Don't collect what our formats never print (the logging HOWTO's "Optimization" section):
    the caller's source line (a stack walk), thread and process names. Roughly halves the cost
    of the one access line per request."""
    logging._srcfile = None
    logging.logThreads = False
    logging.logProcesses = False
    logging.logMultiprocessing = False


class Formatter(logging.Formatter):
    """The standard formatter, with the timestamp text built once per second rather than per
    line (time.strftime is most of a plain line's formatting cost)."""

    _second = -1
    _text = ""

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:
        second = int(record.created)
        if second != self._second or datefmt:
            self._text = super().formatTime(record, "%Y-%m-%d %H:%M:%S")
            self._second = second
        return f"{self._text},{int(record.msecs):03d}"


class IsoSeconds:
    """ISO 8601 UTC text of a time, to the millisecond (2026-12-04T21:03:05.123Z); the part up
    to the second is built once per second."""

    def __init__(self) -> None:
        self._second = -1
        self._text = ""

    def __call__(self, created: float) -> str:
        second = int(created)
        if second != self._second:
            self._text = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second))
            self._second = second
        return f"{self._text}.{int((created - second) * 1000):03d}Z"


def json_line(entry: dict[str, Any]) -> str:
    """One JSON object, no newline. orjson refuses lone surrogates (text decoded with
    surrogateescape can carry them); the standard library writes them as \\u escapes."""
    try:
        return orjson.dumps(entry).decode()
    except TypeError:  # orjson.JSONEncodeError is a TypeError
        return json.dumps(entry, separators=(",", ":"), default=str)


class JsonFormatter(logging.Formatter):
    """One JSON object per record: time (ISO 8601 UTC), level, logger, then either the access
    fields (records of AccessLog) or message, and a traceback as one ``exception`` field."""

    def __init__(self) -> None:
        super().__init__()
        self._iso = IsoSeconds()

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": self._iso(record.created),
            "level": record.levelname,
            "logger": record.name,
        }
        access = getattr(record, "access", None)
        if isinstance(access, dict):
            entry.update(access)
        else:
            entry["message"] = record.getMessage()
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        elif record.exc_text:
            entry["exception"] = record.exc_text
        if record.stack_info:
            entry["stack"] = self.formatStack(record.stack_info)
        return json_line(entry)


def logging_config(level: str, log_format: str = "text") -> dict[str, Any]:
    """A logging.config.dictConfig dict (uvicorn applies it in every worker process). Every
    line goes to stderr in ``log_format``: the server's, uvicorn's and any other library's."""
    upper = level.upper()
    formatter = {"()": JsonFormatter} if log_format == "json" else {"()": Formatter, "fmt": PLAIN_FORMAT}
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"main": formatter},
        "handlers": {
            "stderr": {"class": "logging.StreamHandler", "formatter": "main", "stream": "ext://sys.stderr"},
        },
        "loggers": {
            "cartgroups": {"handlers": ["stderr"], "level": upper, "propagate": False},
            "uvicorn": {"handlers": ["stderr"], "level": upper, "propagate": False},
            "uvicorn.access": {"handlers": [], "level": "CRITICAL", "propagate": False},
        },
        # asyncio's "Task exception was never retrieved", SQLAlchemy's and other libraries' lines
        "root": {"handlers": ["stderr"], "level": "WARNING"},
    }


ACCESS_LOGGER = "cartgroups.access"
FLUSH_SECONDS = 0.05
ACCESS_TEXT = "%s %s %d %.1fms store=%s request_id=%s client=%s"


def access_fields(
    method: str, path: str, status: int, ms: float, store: str, request_id: str, client: str
) -> dict[str, Any]:
    """The fields of a JSON access line after time, level and logger."""
    return {
        "method": method,
        "path": path,
        "status": status,
        "duration_ms": int(ms * 1000) / 1000,  # to the microsecond
        "store": store,
        "request_id": request_id,
        "client": client,
    }


class AccessLog:
    """The one line per request (method, path, status, duration, store, request id, client
    address), at INFO on ``cartgroups.access``.

    Through ``logging`` a line cost ~25 µs, a sixth of a GET by id: a LogRecord, the formatter,
    the handler's lock and a write + flush per line. When the logger ends at the handler that
    ``logging_config`` sets up (what ``cartgroups serve`` runs with), the same bytes are
    formatted here (one f-string, or one orjson.dumps in the json format) and written in
    batches, at most FLUSH_SECONDS late and on shutdown. Any other set-up (a user's own
    handlers, filters or format, pytest's caplog) gets ordinary log records, which carry the
    fields as ``record.access`` too. The level is checked per request (logging caches the
    answer); the set-up is looked at when the first line is written after the level allowed it."""

    def __init__(self) -> None:
        self.logger = logging.getLogger(ACCESS_LOGGER)
        self._handler: logging.StreamHandler[Any] | None = None
        self._json = False  # the handler's format
        self._looked = False  # whether _handler reflects the set-up since lines were enabled
        self._pending: list[str] = []
        self._second = -1
        self._stamp = ""  # the text format's time to the second
        self._iso_stamp = ""  # the json format's

    @property
    def enabled(self) -> bool:
        if self.logger.isEnabledFor(logging.INFO):
            return True
        self._looked = False
        return False

    def line(
        self,
        method: str,
        path: str,
        status: int,
        ms: float,
        store: str,
        request_id: str = "-",
        client: str = "-",
    ) -> None:
        if not self._looked:
            self.flush()
            self._handler, self._json = _fast_handler(self.logger)
            self._looked = True
        handler = self._handler
        if handler is None:
            fields = access_fields(method, path, status, ms, store, request_id, client)
            self.logger.info(
                ACCESS_TEXT, method, path, status, ms, store, request_id, client, extra={"access": fields}
            )
            return
        now = time.time()
        if not self._pending:
            asyncio.get_running_loop().call_later(FLUSH_SECONDS, self.flush)
        second = int(now)
        if second != self._second:
            self._second, self._stamp = second, time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(now))
            self._iso_stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(now))
        millis = int((now - second) * 1000)
        if self._json:  # the fields of access_fields, inline: this is per request
            entry = {
                "time": f"{self._iso_stamp}.{millis:03d}Z",
                "level": "INFO",
                "logger": ACCESS_LOGGER,
                "method": method,
                "path": path,
                "status": status,
                "duration_ms": int(ms * 1000) / 1000,
                "store": store,
                "request_id": request_id,
                "client": client,
            }
            try:
                self._pending.append(orjson.dumps(entry, option=orjson.OPT_APPEND_NEWLINE).decode())
            except TypeError:  # a lone surrogate
                self._pending.append(json_line(entry) + "\n")
            return
        prefix = f"{self._stamp},{millis:03d} INFO {ACCESS_LOGGER}: {method} {path} {status}"
        self._pending.append(f"{prefix} {ms:.1f}ms store={store} request_id={request_id} client={client}\n")

    def flush(self) -> None:
        handler, pending = self._handler, self._pending
        if handler is None or not pending:
            return
        self._pending = []
        with handler.lock or contextlib.nullcontext():
            try:
                handler.stream.write("".join(pending))
                handler.flush()
            except Exception:  # as logging does: a broken log stream never fails a request
                handler.handleError(logging.makeLogRecord({"msg": "access log write failed"}))


def _fast_handler(logger: logging.Logger) -> tuple[logging.StreamHandler[Any] | None, bool]:
    """(the handler, whether it writes JSON) when the logger's records go only to
    logging_config's stderr handler, formatted with one of its formats and nothing else (no
    filters, no other handlers); (None, False) otherwise."""
    current: logging.Logger | None = logger
    handlers: list[logging.Handler] = []
    while current is not None:
        if current.filters or current.disabled:
            return None, False
        handlers.extend(current.handlers)
        if not current.propagate:
            break
        current = current.parent
    if len(handlers) != 1:
        return None, False
    handler = handlers[0]
    if type(handler) is not logging.StreamHandler or handler.filters or handler.level > logging.INFO:
        return None, False
    formatter = handler.formatter
    if type(formatter) is JsonFormatter:
        return handler, True
    if type(formatter) is Formatter and formatter._fmt == PLAIN_FORMAT and formatter.datefmt is None:
        return handler, False
    return None, False
