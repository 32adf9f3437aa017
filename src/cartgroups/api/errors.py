"""The one place where errors become HTTP statuses and ``[{Key,Value,Status,Message}]`` records."""

from __future__ import annotations

import logging

from cartgroups.api import wire
from cartgroups.api.media import JSON, Media
from cartgroups.errors import (
    CartgroupsError,
    DatabaseUnavailable,
    Invalid,
    KeyReused,
    NotFound,
    PreconditionFailed,
    RateLimited,
    Unauthorized,
)

log = logging.getLogger("cartgroups.error")


class MethodNotAllowed(CartgroupsError):
    def __init__(self, method: str, allowed: tuple[str, ...]) -> None:
        super().__init__(
            f"The requested resource does not support http method '{method}'; allowed: {', '.join(allowed)}"
        )
        self.allowed = allowed


class PayloadTooLarge(CartgroupsError):
    def __init__(self, limit: int) -> None:
        super().__init__(f"The request body is larger than the limit of {limit} bytes")


class RequestTimeout(CartgroupsError):
    def __init__(self, seconds: float) -> None:
        super().__init__(f"The request body did not arrive within {seconds:g} seconds")


class UnsupportedMediaType(CartgroupsError):
    pass


class RouteNotFound(CartgroupsError):
    def __init__(self, path: str) -> None:
        super().__init__(f"No resource matches the path {path}")


_STATUS: dict[type[BaseException], int] = {
    Invalid: 400,
    Unauthorized: 401,
    NotFound: 404,
    RouteNotFound: 404,
    MethodNotAllowed: 405,
    RequestTimeout: 408,
    PreconditionFailed: 412,
    PayloadTooLarge: 413,
    UnsupportedMediaType: 415,
    KeyReused: 422,
    RateLimited: 429,
    DatabaseUnavailable: 503,
}

INTERNAL = "An internal error occurred; it has been logged"


def status_of(exc: BaseException) -> int | None:
    """The status of the nearest class in ``exc``'s method resolution order that has one: a
    subclass of Invalid is a 400 like Invalid. None for an error of no known kind (a 500)."""
    kind = type(exc)
    status = _STATUS.get(kind)  # the exact class: one look for the errors raised every day
    if status is None:
        status = next((_STATUS[c] for c in kind.__mro__ if c in _STATUS), None)
    return status


def error_body(status: int, message: str, value: str = "", media: Media = JSON) -> bytes:
    return media.records([wire.record("Error", value, status, message)])


def render(exc: BaseException, media: Media = JSON) -> tuple[int, bytes, list[tuple[bytes, bytes]]]:
    """Status, body (written by ``media``) and extra headers for any exception raised while
    handling a request."""
    status = status_of(exc)
    if status is not None and isinstance(exc, CartgroupsError):  # only those classes have one
        headers: list[tuple[bytes, bytes]] = []
        if isinstance(exc, MethodNotAllowed):
            headers.append((b"allow", ", ".join(exc.allowed).encode()))
        if isinstance(exc, RateLimited):
            headers.append((b"retry-after", str(exc.retry_after).encode()))
            headers.append((b"access-control-expose-headers", b"Retry-After"))
        if isinstance(exc, RequestTimeout):  # the rest of the body may still come: don't read it
            headers.append((b"connection", b"close"))
        if isinstance(exc, DatabaseUnavailable):
            headers.append((b"retry-after", b"1"))
            log.warning("database unavailable: %s", exc.__cause__)
        return status, error_body(status, exc.message, exc.value, media), headers
    log.error("unhandled error", exc_info=exc)
    return 500, error_body(500, INTERNAL, "", media), []
