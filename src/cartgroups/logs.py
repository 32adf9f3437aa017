"""Logging set-up shared by the server processes. Access lines carry method, path, status,
duration and store; no header values and no query strings are ever logged, so no secret is."""

from __future__ import annotations

import logging
from typing import Any


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
            "plain": {"()": Formatter, "fmt": "%(asctime)s %(levelname)s %(name)s: %(message)s"},
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
