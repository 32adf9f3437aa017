"""Logging set-up shared by the server processes. Access lines carry method, path, status,
duration and store; no header values and no query strings are ever logged, so no secret is."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from typing import Any

PLAIN_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


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


def logging_config(level: str) -> dict[str, Any]:
    """A logging.config.dictConfig dict (uvicorn applies it in every worker process)."""
    upper = level.upper()
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {
            "plain": {"()": Formatter, "fmt": PLAIN_FORMAT},
        },
        "handlers": {
            "stderr": {"class": "logging.StreamHandler", "formatter": "plain", "stream": "ext://sys.stderr"},
        },
        "loggers": {
            "cartgroups": {"handlers": ["stderr"], "level": upper, "propagate": False},
            "uvicorn": {"handlers": ["stderr"], "level": upper, "propagate": False},
            "uvicorn.access": {"handlers": [], "level": "CRITICAL", "propagate": False},
        },
    }


ACCESS_LOGGER = "cartgroups.access"
FLUSH_SECONDS = 0.05


class AccessLog:
    """The one line per request (method, path, status, duration, store), at INFO on
    ``cartgroups.access``.

    Through ``logging`` a line cost ~25 µs, a sixth of a GET by id: a LogRecord, the formatter,
    the handler's lock and a write + flush per line. When the logger ends at the handler that
    ``logging_config`` sets up (what ``cartgroups serve`` runs with), the same bytes are
    formatted here with one f-string and written in batches, at most FLUSH_SECONDS late and on
    shutdown. Any other set-up (a user's own handlers, filters or format, pytest's caplog) gets
    ordinary log records. The level is checked per request (logging caches the answer); the
    set-up is looked at when the first line is written after the level allowed it."""

    def __init__(self) -> None:
        self.logger = logging.getLogger(ACCESS_LOGGER)
        self._handler: logging.StreamHandler[Any] | None = None
        self._looked = False  # whether _handler reflects the set-up since lines were enabled
        self._pending: list[str] = []
        self._second = -1
        self._stamp = ""

    @property
    def enabled(self) -> bool:
        if self.logger.isEnabledFor(logging.INFO):
            return True
        self._looked = False
        return False

    def line(self, method: str, path: str, status: int, ms: float, store: str) -> None:
        if not self._looked:
            self.flush()
            self._handler, self._looked = _plain_handler(self.logger), True
        handler = self._handler
        if handler is None:
            self.logger.info("%s %s %d %.1fms store=%s", method, path, status, ms, store)
            return
        now = time.time()
        second = int(now)
        if second != self._second:
            self._second, self._stamp = second, time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(now))
        millis = int((now - second) * 1000)
        if not self._pending:
            asyncio.get_running_loop().call_later(FLUSH_SECONDS, self.flush)
        prefix = f"{self._stamp},{millis:03d} INFO {ACCESS_LOGGER}"
        self._pending.append(f"{prefix}: {method} {path} {status} {ms:.1f}ms store={store}\n")

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


def _plain_handler(logger: logging.Logger) -> logging.StreamHandler[Any] | None:
    """The handler when the logger's records go only to logging_config's stderr handler,
    formatted with its format and nothing else (no filters, no other handlers)."""
    current: logging.Logger | None = logger
    handlers: list[logging.Handler] = []
    while current is not None:
        if current.filters or current.disabled:
            return None
        handlers.extend(current.handlers)
        if not current.propagate:
            break
        current = current.parent
    if len(handlers) != 1:
        return None
    handler = handlers[0]
    formatter = handler.formatter
    if (
        type(handler) is not logging.StreamHandler
        or handler.filters
        or handler.level > logging.INFO
        or type(formatter) is not Formatter
        or formatter._fmt != PLAIN_FORMAT
        or formatter.datefmt is not None
    ):
        return None
    return handler
