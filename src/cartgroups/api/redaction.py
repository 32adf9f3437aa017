"""Passwords out of what is kept of a request: the sandbox's journal (api/sandbox.py) and the
Idempotency-Key's fingerprint (service/idempotency.py) hold a request body, and a Customer's
password is never kept in clear anywhere (D5). A JSON body is read as the API reads it
(lenient JSON included) and written again only when it held a password; an XML body has the
content of each Password element and attribute replaced; any other body that mentions a
password, or one that cannot be read, is withheld whole."""

from __future__ import annotations

import re
from decimal import Decimal

import orjson

from cartgroups.api import wire
from cartgroups.errors import Invalid

REDACTED = "[redacted]"
# A password is never journaled (docs/sandbox.md, "Request journal"): the value of a Password
# property or element is replaced, and a body that mentions a password but cannot be read whole.
PASSWORD = "password"  # noqa: S105
PASSWORD_WITHHELD = "[redacted: the body may hold a password and could not be read]"  # noqa: S105
_XML_ELEMENT = re.compile(r"(<(?:[\w.-]+:)?password\b[^>]*>)(.*?)(</(?:[\w.-]+:)?password\s*>)", re.I | re.S)
_XML_ATTRIBUTE = re.compile(r"(\bpassword\s*=\s*)([\"'])(?:(?!\2).)*\2", re.I | re.S)
_XML_OPEN = re.compile(r"<(?:[\w.-]+:)?password\b[^>]*(?<!/)>(?!\[redacted\])", re.I)


def _decoded(body: bytes, content_type: str | None) -> str:
    """A request body as text, in the charset its Content-Type names (UTF-8 otherwise): a
    UTF-16 body read as UTF-8 would keep its text readable between the replacement characters."""
    charset = "utf-8"
    for part in (content_type or "").split(";")[1:]:
        name, _, value = part.partition("=")
        if name.strip().lower() == "charset" and value.strip().strip('"'):
            charset = value.strip().strip('"')
    try:
        return body.decode(charset)
    except (LookupError, ValueError):
        return body.decode("utf-8", "replace")


def _redact_json(value: object) -> bool:
    """Replace, in place, every non-empty value of a property named Password (any case, at any
    depth) by REDACTED; whether there was one."""
    found = False
    if isinstance(value, dict):
        for key, item in value.items():
            if isinstance(key, str) and key.strip().casefold() == PASSWORD and item not in (None, ""):
                value[key] = REDACTED
                found = True
            else:
                found = _redact_json(item) or found
    elif isinstance(value, list):
        for item in value:
            found = _redact_json(item) or found
    return found


def _decimal_json(value: object) -> orjson.Fragment:
    if isinstance(value, Decimal):
        return orjson.Fragment(str(value))
    raise TypeError(type(value).__name__)


def redacted_request_body(body: bytes, content_type: str | None = None) -> str:
    """A request body for the journal with every password value replaced by REDACTED (a
    password is never stored in clear, D5). A JSON body is read as the API reads it (lenient
    JSON included) and written again only when it held a password; an XML body has the content
    of each Password element and attribute replaced; any other body that mentions a password,
    or one that cannot be read, is withheld whole (PASSWORD_WITHHELD)."""
    return _redacted(_decoded(body, content_type))


def without_passwords(body: bytes, content_type: str | None = None) -> bytes:
    """``body`` itself when it holds no password; else its redacted text (UTF-8): what an
    Idempotency-Key's fingerprint is taken of, so that the stored fingerprint, an unsalted
    hash, cannot be guessed back to a password."""
    text = _decoded(body, content_type)
    redacted = _redacted(text)
    return body if redacted is text else redacted.encode("utf-8", "surrogatepass")


def _redacted(text: str) -> str:
    folded = text.casefold()
    if PASSWORD not in folded and "\\" not in text:  # no JSON escape could spell it either
        return text
    start = text.lstrip("\ufeff \t\r\n")[:1]
    if start in ("{", "["):
        try:
            parsed = wire.decode_json(text.encode("utf-8", "surrogatepass"))
        except Invalid:
            return PASSWORD_WITHHELD if PASSWORD in folded or "\\u" in folded else text
        if not _redact_json(parsed):
            return text
        return orjson.dumps(parsed, default=_decimal_json).decode()
    if PASSWORD not in folded:
        return text
    if start == "<":
        text = _XML_ELEMENT.sub(lambda m: f"{m.group(1)}{REDACTED}{m.group(3)}", text)
        text = _XML_ATTRIBUTE.sub(lambda m: f"{m.group(1)}{m.group(2)}{REDACTED}{m.group(2)}", text)
        if _XML_OPEN.search(text) is None:  # an element left unclosed (a broken body)
            return text
    return PASSWORD_WITHHELD
