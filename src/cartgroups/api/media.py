"""How a reply's body is written: a media type and its writers.

JSON (api/wire.py) is the default and the fast path. A request picks another media type with its
Accept header (``negotiate``); every body of the reply, results and error records alike, is
then written by that media type's writers.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from cartgroups.api import wire
from cartgroups.model import FIELDS, CustomerGroup, FieldSpec

Header = tuple[bytes, bytes]
Records = Sequence[dict[str, str]]


@dataclass(frozen=True, slots=True)
class Media:
    name: str  # short, for keys of the read cache and logs: "json"
    content_type: Header
    # A list of groups with only ``fields`` (in wire order), e.g. a page or GET by id's one-element list.
    groups: Callable[[Sequence[CustomerGroup], Sequence[FieldSpec]], bytes]
    records: Callable[[Records], bytes]  # result and error records
    count: Callable[[int], bytes]  # countonly's {"TotalCount": N}


JSON = Media(
    "json",
    (b"content-type", b"application/json; charset=utf-8"),
    wire.groups_body,
    wire.records_body,
    wire.count_body,
)


def negotiate(accept: str | None) -> Media:
    """The media type of the reply to a request with this Accept header."""
    return JSON


__all__ = ["FIELDS", "JSON", "Media", "negotiate"]
