"""OData ``$select`` and ``$orderby`` on the GETs, as 3dcart's REST API documents them (its docs
source, ``_start.md``, "OData"): applied to the result set already built. A list request reads
its page (limit, offset, ascending id) as without them; ``$orderby`` then sorts that page and
``$select`` keeps only the properties it names. GET by id is a one-element list, shaped alike.

- ``$select=Name,CustomerGroupID``: property names separated by commas, matched
  case-insensitively, blanks around a name ignored. The properties are written in wire order
  (as Json.NET and XmlSerializer write a .NET object), not in the order asked. ``*`` means every
  property; a name given twice counts once.
- ``$orderby=Name desc,PriceLevel``: ``Property [asc|desc]`` items separated by commas; asc
  is the default; the direction is matched case-insensitively. Several keys sort by the first,
  then the next among equals; groups equal in every key keep their id order (a stable sort).
- An empty value is the same as none (like an empty ``limit``). An empty item (``Name,``), an
  unknown property, an unknown direction, more than ``Property direction`` in an item, or a
  property twice in ``$orderby`` (ASP.NET OData's own rule and message) is a 400.

Strings sort roughly as .NET's default culture-aware comparison does: letters without regard
to accents, then case (``a`` before ``B``), then accents (``resume`` before ``résumé``), then
lower case before upper (``a`` before ``A``). Decimals sort by value, booleans false before true.

A request without ``$select`` and ``$orderby`` costs one lookup of each (``parse`` answers None):
its bytes come from the fast path and its read cache entry as before.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from operator import itemgetter
from typing import Any

from cartgroups.errors import Invalid
from cartgroups.model import FIELDS, CustomerGroup, FieldSpec

SELECT, ORDER_BY = "$select", "$orderby"  # as dispatch._query keys them: lower-cased
_POSITION = {spec.key: i for i, spec in enumerate(FIELDS)}
_KNOWN = ", ".join(spec.wire for spec in FIELDS)
_ALL = tuple(range(len(FIELDS)))
_DIRECTIONS = {"asc": False, "desc": True}
_ECHO = 60  # at most this many characters of the client's text are echoed in a message


@dataclass(frozen=True, slots=True)
class Shape:
    """What ``$select`` and ``$orderby`` ask of a result: hashable, and equal for requests that
    ask the same (``name`` and ``NAME``), so it can be part of a read cache key."""

    select: tuple[int, ...] = _ALL  # positions in FIELDS, ascending (wire order)
    order: tuple[tuple[int, bool], ...] = ()  # (position in FIELDS, descending), most significant first

    @property
    def fields(self) -> Sequence[FieldSpec]:
        """The selected fields in wire order; FIELDS itself when all are (the writers' fast case)."""
        if self.select == _ALL:
            return FIELDS
        return tuple(FIELDS[i] for i in self.select)

    def sort(self, groups: list[CustomerGroup]) -> list[CustomerGroup]:
        """The groups in ``$orderby``'s order: a stable sort per key, least significant first."""
        for position, descending in reversed(self.order):
            groups = sorted(groups, key=_SORT_KEYS[position], reverse=descending)
        return groups


WHOLE = Shape()  # every property, in id order: what a request without either option asks


def parse(query: Mapping[str, str]) -> Shape | None:
    """The shape asked by a request's query (names lower-cased), or None when it asks none."""
    select, order_by = query.get(SELECT), query.get(ORDER_BY)
    if not select and not order_by:
        return None
    return Shape(
        select=_select(select) if select else _ALL,
        order=_order(order_by) if order_by else (),
    )


def _echo(text: str) -> str:
    return repr(text if len(text) <= _ECHO else text[:_ECHO] + "...")


def _position(name: str, parameter: str) -> int:
    position = _POSITION.get(name.lower())
    if position is None:
        raise Invalid(f"{parameter}: {_echo(name)} is not a property of CustomerGroup (properties: {_KNOWN})")
    return position


def _items(value: str, parameter: str, shape: str) -> list[str]:
    items = [item.strip() for item in value.split(",")]
    if "" in items:
        raise Invalid(f"{parameter} has an empty item; give {shape} separated by commas")
    return items


def _select(value: str) -> tuple[int, ...]:
    names = _items(value, SELECT, "property names")
    if "*" in names:
        return _ALL
    return tuple(sorted({_position(name, SELECT) for name in names}))


def _order(value: str) -> tuple[tuple[int, bool], ...]:
    keys: list[tuple[int, bool]] = []
    seen: set[int] = set()
    for item in _items(value, ORDER_BY, "'Property [asc|desc]' items"):
        name, *rest = item.split()
        if len(rest) > 1:
            raise Invalid(f"{ORDER_BY}: {_echo(item)} is not 'Property [asc|desc]'")
        position = _position(name, ORDER_BY)
        descending = _DIRECTIONS.get(rest[0].lower()) if rest else False
        if descending is None:
            raise Invalid(f"{ORDER_BY}: {_echo(rest[0])} after {name} is not a direction; use asc or desc")
        if position in seen:
            raise Invalid(
                f"Duplicate property named '{FIELDS[position].wire}' is not supported in '$orderby'."
            )
        seen.add(position)
        keys.append((position, descending))
    return tuple(keys)


def text_key(text: str) -> tuple[str, str, str]:
    """A sort key approximating .NET's culture-aware string comparison (see the module's doc)."""
    folded = text.casefold()
    if folded.isascii():
        bare = folded
    else:
        decomposed = unicodedata.normalize("NFKD", folded)
        bare = "".join(c for c in decomposed if not unicodedata.combining(c))
    return bare, folded, text.swapcase()  # swapcase: lower case first in the last resort


def _sort_key(spec: FieldSpec, position: int) -> Callable[[CustomerGroup], Any]:
    value = itemgetter(position)
    if spec.kind == "string":
        return lambda group: text_key(value(group))
    return value  # int, Decimal (by value) and bool (False < True) compare as they should


_SORT_KEYS = [_sort_key(spec, i) for i, spec in enumerate(FIELDS)]
