"""How a reply's body is written: a media type and its writers.

JSON (api/wire.py) is the default and the fast path; XML (api/xml.py) is the other. A request
picks one with its Accept header (``negotiate``); every body of the reply, results and error
records alike, is then written by that media type's writers.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from functools import lru_cache
from typing import Protocol

from cartgroups.api import wire, xml
from cartgroups.customer_model import Customer
from cartgroups.model import CustomerGroup, FieldSpec

Header = tuple[bytes, bytes]
Records = Sequence[dict[str, str]]


class CustomersWriter(Protocol):
    def __call__(self, customers: Sequence[Customer], fields: Sequence[FieldSpec] = ..., /) -> bytes: ...


@dataclass(frozen=True, slots=True)
class Media:
    name: str  # short, for keys of the read cache and logs: "json"
    content_type: Header
    # A list of groups with only ``fields`` (in wire order), e.g. a page or GET by id's one-element list.
    groups: Callable[[Sequence[CustomerGroup], Sequence[FieldSpec]], bytes]
    # A list of customers with only ``fields`` (in wire order; every field when not given).
    customers: CustomersWriter
    records: Callable[[Records], bytes]  # result and error records
    count: Callable[[int], bytes]  # countonly's {"TotalCount": N}


JSON = Media(
    "json",
    (b"content-type", b"application/json; charset=utf-8"),
    wire.groups_body,
    wire.customers_body,
    wire.records_body,
    wire.count_body,
)


XML = Media(
    "xml",
    (b"content-type", b"application/xml; charset=utf-8"),
    xml.groups_body,
    xml.customers_body,
    xml.records_body,
    xml.count_body,
)
# The same bytes, labelled text/xml: Web API answers with the supported media type that matched.
TEXT_XML = replace(XML, content_type=(b"content-type", b"text/xml; charset=utf-8"))

# ASP.NET Web API's formatters in their configured order (JSON first, so it wins ties), each
# with its supported media types in order, and the Media written for each. text/json is answered
# with JSON labelled application/json, as every JSON reply of ours is (a decision: Web API would
# label it text/json; the bytes are the same).
_FORMATTERS: tuple[tuple[tuple[str, Media], ...], ...] = (
    (("application/json", JSON), ("text/json", JSON)),
    (("application/xml", XML), ("text/xml", TEXT_XML)),
)
_BY_TYPE = {name: media for formatter in _FORMATTERS for name, media in formatter}
# Accept values that need no parsing: the answer is JSON whatever the request's Content-Type.
_JSON_ACCEPTS = frozenset({"*/*", "application/json", "text/json", "application/json, text/plain, */*"})
_LITERAL, _SUBTYPE_RANGE, _ALL_RANGE = 0, 1, 2  # how an Accept value matched (Web API's ranking)


def negotiate(accept: str | None, content_type: str | None = None) -> Media:
    """The media type of the reply to a request with these Accept and Content-Type headers, as
    Web API's DefaultContentNegotiator decides it with the JSON and XML formatters:

    1. Each formatter takes the first Accept value, highest q first (of equal q, the more
       specific first; q=0 never matches), that covers one of its media types.
    2. Of those matches the highest q wins, a literal match before a ``type/*`` one before
       ``*/*``, and JSON before XML on equal terms.
    3. No Accept value matches (or there is no Accept): the request body's media type, if it is
       JSON or XML; otherwise JSON. Never 406.

    So ``*/*`` is JSON, and a browser's ``text/html,application/xhtml+xml,application/xml;
    q=0.9,*/*;q=0.8`` is XML (application/xml is named; JSON only falls under */*)."""
    if accept is None:
        if content_type is None:
            return JSON
    elif accept in _JSON_ACCEPTS:
        return JSON
    return _negotiated(accept or "", _body_type(content_type))


def _body_type(content_type: str | None) -> str | None:
    if content_type is None:
        return None
    media_type = content_type.partition(";")[0].strip().lower()
    return media_type if media_type in _BY_TYPE else None


@lru_cache(maxsize=512)
def _negotiated(accept: str, body_type: str | None) -> Media:
    ranges = _ranges(accept)
    best: list[tuple[float, Media] | None] = [None, None, None]  # by ranking
    for formatter in _FORMATTERS:
        match = _match(ranges, formatter)
        if match is not None:
            quality, ranking, media = match
            current = best[ranking]
            if current is None or quality > current[0]:
                best[ranking] = (quality, media)
    chosen: tuple[float, Media] | None = None
    for candidate in best:  # literal, then subtype range, then */*: a later one must be better
        if candidate is not None and (chosen is None or candidate[0] > chosen[0]):
            chosen = candidate
    if chosen is not None:
        return chosen[1]
    return JSON if body_type is None else _BY_TYPE[body_type]


def _match(
    ranges: list[tuple[float, str, str]], formatter: tuple[tuple[str, Media], ...]
) -> tuple[float, int, Media] | None:
    for quality, kind, subtype in ranges:
        for name, media in formatter:
            if kind == "*":
                return quality, _ALL_RANGE, media
            supported_kind, _, supported_subtype = name.partition("/")
            if kind == supported_kind and subtype == "*":
                return quality, _SUBTYPE_RANGE, media
            if kind == supported_kind and subtype == supported_subtype:
                return quality, _LITERAL, media
    return None


def _ranges(accept: str) -> list[tuple[float, str, str]]:
    """The Accept header's media ranges with q above 0: (q, type, subtype), highest q first and,
    of equal q, the more specific first. A value that does not parse is skipped (as .NET's
    typed headers skip it); parameters other than q are ignored."""
    found: list[tuple[float, int, str, str]] = []
    for value in accept.split(","):
        media_range, *params = value.split(";")
        kind, slash, subtype = media_range.strip().lower().partition("/")
        if not slash or not kind or not subtype or (kind == "*" and subtype != "*"):
            continue
        quality = _quality(params)
        if quality is None or quality == 0:
            continue
        found.append((quality, (kind == "*") + (subtype == "*"), kind, subtype))
    found.sort(key=lambda r: (-r[0], r[1]))  # stable: equal ones keep the client's order
    return [(quality, kind, subtype) for quality, _, kind, subtype in found]


def _quality(params: list[str]) -> float | None:
    for param in params:
        name, _, value = param.partition("=")
        if name.strip().lower() == "q":
            try:
                quality = float(value.strip())
            except ValueError:
                return None
            return quality if 0 <= quality <= 1 else None
    return 1.0
