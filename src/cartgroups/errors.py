"""Domain errors. Raised anywhere below the API; turned into wire records in api/errors.py only."""

from __future__ import annotations

from collections.abc import Mapping


class CartgroupsError(Exception):
    """Base of every error a client may see. ``value`` goes into the record's ``Value`` field."""

    def __init__(self, message: str, *, value: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.value = value


class Invalid(CartgroupsError):
    """The request breaks a rule of the resource (400).

    ``fields`` maps a field's wire name to the message about it, when the problems are about
    fields (the admin console shows each next to its field; the API sends the joined message)."""

    def __init__(self, message: str, *, value: str = "", fields: Mapping[str, str] | None = None) -> None:
        super().__init__(message, value=value)
        self.fields: Mapping[str, str] = fields or {}


class NotFound(CartgroupsError):
    """The named thing does not exist in this store (404)."""


class Unauthorized(CartgroupsError):
    """Credentials are missing, wrong, revoked, or lack the scope (401)."""


class DatabaseUnavailable(CartgroupsError):
    """The database cannot be reached or is not writable right now (503)."""


class ConfigurationError(CartgroupsError):
    """A setting or command-line argument cannot be used (CLI only; never reaches a client)."""


class RateLimited(CartgroupsError):
    """The store and application have used up their rate limit (429); ``retry_after`` is the
    whole seconds until a request fits again."""

    def __init__(self, message: str, *, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class PreconditionFailed(CartgroupsError):
    """An If-Match condition does not hold: the group changed since the client read it (412)."""


class KeyReused(CartgroupsError):
    """An Idempotency-Key was sent again with a different request (422)."""
