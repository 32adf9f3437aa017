"""What a connection may cost the server: limits that uvicorn's HTTP protocol does not set.

uvicorn's httptools protocol waits for a request head for ever (its keep-alive timeout starts
only after a first response), keeps every connection it accepts, and lets httptools gather a
header of any size in memory. So idle and slowloris connections piled up until the process ran
out of file descriptors and stopped serving, silently, and one 200 MB header grew a worker by
286 MB (issue #15, item 7). LimitedHttpToolsProtocol, which `cartgroups serve` and the
in-process test servers run (protocol_factory), adds:

- a head deadline: a connection closes unless its first request head (request line and
  headers) is complete within ``head_timeout`` of its opening, and any later head within
  ``head_timeout`` of its first bytes (idle time between requests is uvicorn's keep-alive
  timeout, which any byte received ends);
- a cap on the head's size, counted as bytes arrive: a larger head gets 431 and the connection
  closes, its remaining bytes read and dropped, never buffered;
- a cap on open connections per process: a connection past it gets 503 once its head is in
  (within a short deadline) and is closed; the first one logs a warning, then at most one a
  minute, with the count;

and raise_open_file_limit() lifts the process's soft limit of open files to its hard limit (the
connection cap is lowered to what that limit allows, connection_limits()).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import resource
import time
from asyncio import TimerHandle
from dataclasses import dataclass
from typing import Any

import httptools
from uvicorn.config import Config
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
from uvicorn.server import ServerState

from cartgroups.config import Settings

log = logging.getLogger("cartgroups.connections")

# Open files a process keeps for things other than client connections (database connections,
# logs, the listening socket, the interpreter's own).
RESERVED_FILES = 64
# How long a connection past the cap has to send its head and be told 503.
OVER_LIMIT_HEAD_SECONDS = 1.0
# How long a refused head's connection stays open, its bytes dropped, after the answer: closing
# with unread bytes would send a reset that can destroy the answer before the client reads it.
LINGER_SECONDS = 1.0
LOG_EVERY_SECONDS = 60.0


def _error_record(status: int, message: str) -> bytes:
    return f'[{{"Key":"Error","Value":"","Status":"{status}","Message":"{message}"}}]'.encode()


def _head_too_large(limit: int) -> bytes:
    """The whole 431 answer, written straight to the connection."""
    body = _error_record(431, f"The request line and headers are larger than the limit of {limit} bytes")
    return (
        b"HTTP/1.1 431 Request Header Fields Too Large\r\n"
        b"content-type: application/json; charset=utf-8\r\n"
        b"content-length: " + str(len(body)).encode() + b"\r\nconnection: close\r\n\r\n" + body
    )


TOO_MANY_CONNECTIONS = "The server has too many open connections; try again shortly"


@dataclass(frozen=True)
class ConnectionLimits:
    head_timeout: float  # seconds
    max_head_bytes: int
    max_connections: int


class RefusalLog:
    """Logs the first connection refused for the cap, then at most one line a minute."""

    def __init__(self) -> None:
        self.refused = 0
        self.logged_at: float | None = None

    def note(self, open_connections: int, cap: int) -> None:
        self.refused += 1
        now = time.monotonic()
        if self.logged_at is not None and now - self.logged_at < LOG_EVERY_SECONDS:
            return
        log.warning(
            "connection limit reached: %d connections open in this process (CARTGROUPS_MAX_CONNECTIONS "
            "allows %d); new connections are answered 503 until some close (%d refused since the "
            "last message)",
            open_connections - 1,
            cap,
            self.refused,
        )
        self.logged_at, self.refused = now, 0


class LimitedHttpToolsProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with the limits above (the module's docstring)."""

    def __init__(
        self,
        config: Config,
        server_state: ServerState,
        app_state: dict[str, Any],
        _loop: asyncio.AbstractEventLoop | None = None,
        *,
        limits: ConnectionLimits,
        refusals: RefusalLog,
    ) -> None:
        super().__init__(config, server_state, app_state, _loop)
        self.limits = limits
        self.refusals = refusals
        # The head deadline runs from a connection's opening until its first head is in, and
        # from the end of a chunk that leaves a head unfinished until that head is in. (Between
        # requests uvicorn's keep-alive timeout closes an idle connection; a head sent in one
        # piece, the usual case, costs no timer.)
        self.head_timer: TimerHandle | None = None
        self.in_head = False  # the parser has begun a request and not finished its head
        self.head_bytes = 0  # received since the head began, in the chunks before this one
        self.chunk_bytes = 0  # of the chunk being parsed
        # A request ended in the chunk being parsed: the chunk began with that request's body,
        # and only an unknown part of it (at most the chunk) is the next head's.
        self.ended_in_chunk = False
        self.refused = False  # answered 431; what arrives now is dropped

    # A connection's life ------------------------------------------------------------------

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        head_timeout = self.limits.head_timeout
        if len(self.connections) > self.limits.max_connections:
            self.refusals.note(len(self.connections), self.limits.max_connections)
            self.app = _too_many_connections  # answers this connection's request, then closes it
            head_timeout = min(head_timeout, OVER_LIMIT_HEAD_SECONDS)
        self._await_head(head_timeout)

    def connection_lost(self, exc: Exception | None) -> None:
        self._head_arrived()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        """uvicorn's, counting the bytes of a head and refusing a head over the cap."""
        if self.refused:
            return
        self._unset_keepalive_if_required()
        self.chunk_bytes = len(data)
        self.ended_in_chunk = False
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserCallbackError as error:
            if not isinstance(error.__context__, _HeadTooLarge):
                self._bad_request()
                return
            self._refuse_head()
            return
        except httptools.HttpParserError:
            self._bad_request()
            return
        except httptools.HttpParserUpgrade:
            if self._should_upgrade():
                self.handle_websocket_upgrade()
            else:
                self._unsupported_upgrade_warning()
            return
        if self.in_head:  # a head is still coming
            # Counted from the next chunk on when this one also held the end of the request
            # before (its body answered early, unread): a head gets at most one read's worth
            # (asyncio reads at most 256 KiB) beyond the cap before it is counted.
            if not self.ended_in_chunk:
                self.head_bytes += len(data)
            if self.head_bytes > self.limits.max_head_bytes:
                self._refuse_head()
            elif self.head_timer is None:
                self._await_head(self.limits.head_timeout)

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self.in_head = True
        self.head_bytes = 0

    def on_message_complete(self) -> None:
        self.ended_in_chunk = True
        super().on_message_complete()

    def on_headers_complete(self) -> None:
        self.in_head = False
        self._head_arrived()
        limit = self.limits.max_head_bytes
        if self.head_bytes + self.chunk_bytes > limit and self._head_size() > limit:
            raise _HeadTooLarge()  # stops the parser; data_received answers 431
        super().on_headers_complete()

    # The head deadline -------------------------------------------------------------------

    def _await_head(self, seconds: float) -> None:
        self.head_timer = self.loop.call_later(seconds, self._head_late)

    def _head_arrived(self) -> None:
        if self.head_timer is not None:
            self.head_timer.cancel()
            self.head_timer = None

    def _head_late(self) -> None:
        self.head_timer = None
        cycle = self.cycle
        if cycle is not None and not cycle.response_complete:
            # A pipelined head behind a request still being answered: its time starts then.
            self._await_head(self.limits.head_timeout)
        elif not self.transport.is_closing():
            self.transport.close()

    # Refusals -----------------------------------------------------------------------------

    def _head_size(self) -> int:
        """The size of the parsed head: request line and header lines with their line ends."""
        size = len(self.url) + 16  # method, version, spaces and CRLFs
        for name, value in self.headers:
            size += len(name) + len(value) + 4
        return size

    def _refuse_head(self) -> None:
        self._head_arrived()
        self.refused = True
        self.transport.write(_head_too_large(self.limits.max_head_bytes))
        if self.transport.can_write_eof():
            self.transport.write_eof()
        self.loop.call_later(LINGER_SECONDS, self.transport.close)

    def _bad_request(self) -> None:
        message = "Invalid HTTP request received."
        self.logger.warning(message)
        self.send_400_response(message)


class _HeadTooLarge(Exception):
    """Raised from a parser callback to stop parsing a head over the cap."""


_BUSY_BODY = _error_record(503, TOO_MANY_CONNECTIONS)
_BUSY_HEADERS = [
    (b"content-type", b"application/json; charset=utf-8"),
    (b"content-length", str(len(_BUSY_BODY)).encode()),
    (b"retry-after", b"1"),
    (b"connection", b"close"),
]


async def _too_many_connections(scope: Any, receive: Any, send: Any) -> None:
    """The answer to every request on a connection past the cap (uvicorn then closes it)."""
    await send({"type": "http.response.start", "status": 503, "headers": _BUSY_HEADERS})
    await send({"type": "http.response.body", "body": _BUSY_BODY})


def protocol_factory(limits: ConnectionLimits) -> Any:
    """What to give uvicorn as ``http``: a LimitedHttpToolsProtocol maker with these limits, each
    process (or server) logging its own refusals. Picklable, for uvicorn's worker processes."""
    return functools.partial(LimitedHttpToolsProtocol, limits=limits, refusals=RefusalLog())


def connection_limits(settings: Settings) -> ConnectionLimits:
    """The settings' limits, the connection cap lowered to what this process's open-file limit
    allows, so that it always keeps files for its database connections and its logs."""
    cap = settings.max_connections
    soft, _hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != resource.RLIM_INFINITY:
        cap = max(1, min(cap, soft - RESERVED_FILES))
    return ConnectionLimits(settings.header_timeout_seconds, settings.max_header_bytes, cap)


def uvicorn_options(settings: Settings) -> dict[str, Any]:
    """The uvicorn options of a cartgroups server (`cartgroups serve` and the test servers).

    With ``proxy_headers``, uvicorn's Config.load wraps the app in its ProxyHeadersMiddleware
    whatever ``http`` protocol runs it: from a peer in ``forwarded_allow_ips`` (and only from
    one) it takes the scheme from X-Forwarded-Proto and the client address from X-Forwarded-For
    (the last address not itself a trusted proxy)."""
    return {
        "http": protocol_factory(connection_limits(settings)),
        "timeout_keep_alive": settings.keep_alive_seconds,
        "proxy_headers": settings.proxy_headers,
        "forwarded_allow_ips": settings.forwarded_allow_ips,
    }


def raise_open_file_limit() -> None:
    """Lift this process's soft limit of open files to its hard limit; worker processes inherit
    it. (1,024 is a common default: 1,100 idle connections stopped a server.)"""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != hard:
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
