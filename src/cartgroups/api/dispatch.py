"""From an ASGI request on a 3dcart route to a reply: method check, authentication (before the
body is read), the reply's media type (Accept), content type, size limit and read deadline, JSON or
XML parsing, then the handler."""

from __future__ import annotations

import random
import re
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl

from cartgroups.api import errors, media, routes, wire, xml
from cartgroups.api.calls import Call, Write
from cartgroups.api.calls import Reply as ReadReply
from cartgroups.api.deadlines import Deadlines
from cartgroups.api.errors import MethodNotAllowed, PayloadTooLarge, RequestTimeout, UnsupportedMediaType
from cartgroups.api.media import JSON, Media
from cartgroups.api.redaction import without_passwords
from cartgroups.asgi import Receive, Scope
from cartgroups.errors import RateLimited
from cartgroups.service import idempotency
from cartgroups.service.credentials import Authenticator, Principal
from cartgroups.service.customer_groups import CustomerGroups
from cartgroups.service.customers import Customers
from cartgroups.service.idempotency import Idempotency
from cartgroups.service.rate_limit import RateLimiter
from cartgroups.service.reads import KeptReads
from cartgroups.service.writes import Plan, Transaction

Headers = list[tuple[bytes, bytes]]

JSON_TYPES = ("application/json", "text/json")
XML_TYPES = ("application/xml", "text/xml")
UNSUPPORTED_TYPE = (
    "Content-Type must be a valid XML or JSON content type: application/json, text/json, "
    "application/xml or text/xml (got {})"
)
CORS_ALLOW_HEADERS = (
    b"Content-Type, Accept, SecureURL, PrivateKey, Token, Authorization, "
    b"If-Match, If-None-Match, Idempotency-Key"
)
RATE_LIMITED = (
    "Too Many Requests. The API rate limit for this store and application has been exceeded; "
    "retry after {} second(s)."
)
_REPLAYED = [(b"idempotent-replayed", b"true"), (b"access-control-expose-headers", b"Idempotent-Replayed")]


@dataclass(slots=True)
class Services:
    """What a request may use. ``limiter`` is None when rate limiting is off (the default): then
    it costs one attribute check per request. It may be replaced at run time."""

    groups: CustomerGroups
    customers: Customers
    auth: Authenticator
    max_body_bytes: int
    idempotency: Idempotency
    reads: KeptReads
    limiter: RateLimiter | None = None
    body_deadlines: Deadlines = field(default_factory=lambda: Deadlines(30.0))  # for reading a body


@dataclass(slots=True)
class Reply:
    status: int
    body: bytes
    headers: Headers
    media: Media = JSON  # what wrote the body: its Content-Type is added on the way out


# The request headers the API reads; no other is decoded.
READ_HEADERS = (
    "accept",
    "secureurl",
    "privatekey",
    "token",
    "authorization",
    "content-type",
    "content-length",
    "idempotency-key",
    "if-match",
    "if-none-match",
    "access-control-request-headers",
)
_READ_NAMES = {name.encode("latin-1"): name for name in READ_HEADERS}


def request_headers(scope: Scope) -> dict[str, str]:
    """The headers of READ_HEADERS by lower-cased name (clients spell SecureURL four ways; ASGI
    servers pass names lower-cased, but not all of them have to); the last of repeats wins."""
    found = {}
    names = _READ_NAMES
    for name, value in scope["headers"]:
        key = names.get(name) or names.get(name.lower())
        if key is not None:
            found[key] = value.decode("latin-1")
    return found


_REQUEST_ID_VALUE = re.compile(rb"[!-~]{1,128}")  # visible ASCII: nothing to break a header or a log line


def request_id(scope: Scope) -> bytes:
    """The request's id, echoed as ``X-Request-ID`` and logged with its access line: the one the
    client sent (the last, if several) when it is 1 to 128 visible ASCII characters, otherwise
    a new one of 16 hex digits. (Not a secret: random.getrandbits is enough, and cheaper.)"""
    sent = None
    for name, value in scope["headers"]:
        if len(name) == 12 and name.lower() == b"x-request-id":
            sent = value
    if sent is not None and _REQUEST_ID_VALUE.fullmatch(sent):
        return bytes(sent)
    return b"%016x" % random.getrandbits(64)


def _token(headers: dict[str, str]) -> str | None:
    token = headers.get("token")
    if token:
        return token
    scheme, _, value = headers.get("authorization", "").partition(" ")
    return value.strip() or None if scheme.lower() == "bearer" else None


def _preflight(allowed: tuple[str, ...], headers: dict[str, str]) -> Reply:
    requested = headers.get("access-control-request-headers")
    return Reply(
        204,
        b"",
        [
            (b"access-control-allow-methods", ", ".join(allowed).encode()),
            (
                b"access-control-allow-headers",
                requested.encode("latin-1") if requested else CORS_ALLOW_HEADERS,
            ),
            (b"access-control-max-age", b"86400"),
        ],
    )


# On every reply of the 3dcart routes, errors and the sandbox's injected faults included: CORS for
# browsers, the no-cache headers that every recording of the live service carries, and Vary:
# Accept, since the body is JSON or XML by the Accept header (api/media.py) and a cache must not
# answer one with the other.
ROUTE_HEADERS = (
    (b"access-control-allow-origin", b"*"),
    (b"cache-control", b"no-cache"),
    (b"pragma", b"no-cache"),
    (b"expires", b"-1"),
    (b"vary", b"Accept"),
)


def with_route_headers(reply: Reply) -> Reply:
    """``reply`` with ROUTE_HEADERS and, when it has a body, the Content-Type of its media type."""
    if reply.body:
        reply.headers = [reply.media.content_type, *ROUTE_HEADERS, *reply.headers]
    else:
        reply.headers = [*ROUTE_HEADERS, *reply.headers]
    return reply


def error_reply(exc: BaseException, headers: dict[str, str]) -> Reply:
    """The reply to a request that raised ``exc``: its error record (api/errors.py) in the media
    type the request's headers choose, with the route headers."""
    media = reply_media(headers)
    status, body, extra = errors.render(exc, media)
    return with_route_headers(Reply(status, body, extra, media))


def reply_media(headers: dict[str, str]) -> Media:
    """The media type the reply is written in (api/media.py: Accept, else the body's type)."""
    return media.negotiate(headers.get("accept"), headers.get("content-type"))


def _body_format(headers: dict[str, str]) -> tuple[str, bool]:
    """The body's charset from Content-Type, and whether the body is XML; no Content-Type is
    taken as JSON in UTF-8."""
    raw = headers.get("content-type")
    if raw is None:
        return "utf-8", False
    media_type, *params = (part.strip() for part in raw.split(";"))
    media_type = media_type.lower()
    is_xml = media_type in XML_TYPES
    if not is_xml and media_type not in JSON_TYPES and not media_type.endswith("+json"):
        raise UnsupportedMediaType(UNSUPPORTED_TYPE.format(media_type or "nothing"))
    for param in params:
        name, _, value = param.partition("=")
        if name.strip().lower() == "charset":
            charset = wire.known_charset(value.strip().strip('"'))
            if charset is None:
                raise UnsupportedMediaType(f"Unsupported charset {value.strip()!r}; send UTF-8")
            return charset, is_xml
    return "utf-8", is_xml


async def read_body(receive: Receive, headers: dict[str, str], limit: int, deadlines: Deadlines) -> bytes:
    declared = headers.get("content-length", "")
    if declared.isascii() and declared.isdigit() and (len(declared) > 18 or int(declared) > limit):
        raise PayloadTooLarge(limit)
    try:
        return await deadlines.run(_receive_body(receive, limit))
    except TimeoutError:
        raise RequestTimeout(deadlines.seconds) from None


async def _receive_body(receive: Receive, limit: int) -> bytes:
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] != "http.request":  # the client went away
            raise PayloadTooLarge(limit) if size > limit else ConnectionAbortedError()
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise PayloadTooLarge(limit)
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)


async def handle(services: Services, scope: Scope, receive: Receive, found: routes.Match) -> Reply:
    method = scope["method"]
    headers = request_headers(scope)
    reply_in = reply_media(headers)
    op = routes.operation(found.resource, found.route, method)
    if op is None:
        allowed = routes.ALLOWED[(found.resource, found.route)]
        if method == "OPTIONS":
            return _preflight(allowed, headers)
        raise MethodNotAllowed(method, allowed)
    # Taken before the credentials are verified (a restore or a revocation committed by now is
    # seen) and, for a read, used again by the read cache. It is a token only on SQLite, whose
    # store never suspends: nothing else runs on the loop in between.
    changes = services.auth.look()
    principal = await services.auth.verify(
        secure_url=headers.get("secureurl"),
        private_key=headers.get("privatekey"),
        token=_token(headers),
        write=op.writes,
        changes=changes,
    )
    scope["cartgroups.store"] = principal.secure_url  # for the access log, whatever the reply
    limiter = services.limiter
    if limiter is not None:
        wait = await limiter.check(principal)
        if wait is not None:
            raise RateLimited(RATE_LIMITED.format(wait), retry_after=wait)
    call = Call(
        services.groups,
        services.customers,
        principal,
        found.path_id,
        _query(scope),
        headers=headers,
        reads=services.reads,
        media=reply_in,
    )
    if not op.writes:
        call.changes = changes
        answer = await op.handler(call)
        assert not isinstance(answer, Write), "a read handler answers at once"
        status, body = answer
        return Reply(status, body, call.reply_headers, call.media)
    if op.has_body:
        charset, is_xml = _body_format(headers)
        raw = await read_body(receive, headers, services.max_body_bytes, services.body_deadlines)
        if is_xml:  # a bulk update takes an <ArrayOf{entity}>, the others an <{entity}>
            many = found.path_id is None and method == "PUT"
            entity = found.resource.entity
            max_items = (services.customers if entity == xml.CUSTOMER else services.groups).max_bulk_items
            call.body = xml.decode_xml(raw, charset, many=many, max_items=max_items, entity=entity)
        else:
            call.body = wire.decode_json(raw, charset)
    key = headers.get("idempotency-key") if op.keyed else None
    checked = None if key is None else idempotency.checked_key(key)
    write = _write(await op.handler(call))  # checked and prepared here, before the transaction
    if checked is None:
        # In a write transaction of the store's (on SQLite, the process's next group commit).
        result = await services.groups.run(write.apply)
        status, body = write.answer(result)
        return Reply(status, body, call.reply_headers, call.media)
    # A password is never kept in clear (D5), not even under a hash that could be guessed back.
    digest = idempotency.fingerprint(
        method, without_passwords(raw, headers.get("content-type")), call.media.name
    )
    status, body, replayed = await services.groups.run(
        _keyed(services.idempotency, principal, checked, digest, write)
    )
    return Reply(status, body, _REPLAYED if replayed else call.reply_headers, call.media)


def _keyed(
    keys: Idempotency, principal: Principal, key: str, digest: str, write: Write[Any]
) -> Plan[tuple[int, bytes, bool]]:
    """The plan of a write with an Idempotency-Key: the key taken, the write made and its reply
    stored in one transaction, or the stored reply of the key's first use."""

    async def answered(tx: Transaction) -> tuple[int, bytes]:
        return write.answer(await write.apply(tx))

    async def plan(tx: Transaction) -> tuple[int, bytes, bool]:
        return await keys.run(tx, principal, key=key, fingerprint=digest, work=answered)

    return plan


def _write(outcome: ReadReply | Write[Any]) -> Write[Any]:
    assert isinstance(outcome, Write), "a write handler returns a Write"
    return outcome


def _query(scope: Scope) -> dict[str, str]:
    raw = scope.get("query_string", b"")
    if not raw:
        return {}
    pairs = parse_qsl(raw.decode("latin-1"), keep_blank_values=True)
    return {name.lower(): value for name, value in pairs}
