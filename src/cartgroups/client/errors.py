"""Exceptions raised by the SDK.

Every error answer of the API is one record ``[{"Key":"Error","Value":"","Status":"400","Message":"..."}]``;
the exception carries the HTTP status, that Message and that Value. Nothing here ever holds a
request header, so a logged or printed exception cannot leak the PrivateKey or Token.
"""

from __future__ import annotations


class ClientError(Exception):
    """Base of everything the SDK raises on purpose."""


class CartgroupsAPIError(ClientError):
    """The server answered with an error status (or a body the SDK could not read)."""

    def __init__(self, status: int, message: str, value: str = "") -> None:
        super().__init__(f"{status}: {message}")
        self.status = status
        self.message = message
        self.value = value


class BadRequest(CartgroupsAPIError):
    """400: invalid input, or an offset past the last record."""


class Unauthorized(CartgroupsAPIError):
    """401: missing, unknown or mismatched credentials, or a missing read/write scope."""


class NotFound(CartgroupsAPIError):
    """404: no such group (or, for a list, an empty collection — ``list()`` turns that into [])."""


class RateLimited(CartgroupsAPIError):
    """429 after the retries ran out. ``retry_after`` is the server's Retry-After in seconds."""

    def __init__(self, status: int, message: str, value: str = "", retry_after: float | None = None) -> None:
        super().__init__(status, message, value)
        self.retry_after = retry_after


class ServerError(CartgroupsAPIError):
    """5xx after the retries ran out (or at once, for a create that may not be repeated)."""


class CartgroupsConnectionError(ClientError):
    """The request got no answer: connection refused or reset, protocol error, or a timeout.
    The httpx exception is the ``__cause__``."""


class CartgroupsTimeout(CartgroupsConnectionError):
    """A connect, read, write or pool timeout."""


_BY_STATUS: dict[int, type[CartgroupsAPIError]] = {
    400: BadRequest,
    401: Unauthorized,
    404: NotFound,
    429: RateLimited,
}


def error_for(
    status: int, message: str, value: str = "", retry_after: float | None = None
) -> CartgroupsAPIError:
    """The typed exception for an error status."""
    if status == 429:
        return RateLimited(status, message, value, retry_after)
    cls = _BY_STATUS.get(status) or (ServerError if status >= 500 else CartgroupsAPIError)
    return cls(status, message, value)
