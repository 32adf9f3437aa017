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

The rules above are the CustomerGroups routes' (the GROUPS table). The Customers routes (GET
/Customers, GET /Customers/{id}, GET /CustomerGroups/{id}/Customers) read the same options over
the Customer's 36 fields (the CUSTOMERS table), with customers.md's D9: they never cause an
error. So there, what the group routes refuse is ignored instead: an empty item, an unknown
property, an item that is not ``Property [asc|desc]`` and a property's second ``$orderby`` item
are skipped, and a ``$select`` that names no property is none (every property). A null string
sorts before every string (as .NET's comparer puts null first). "Password" is "" whatever is
selected (customer_model: it is never read back).

A request without ``$select`` and ``$orderby`` costs one lookup of each (``parse`` answers None):
its bytes come from the fast path and its read cache entry as before.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from operator import itemgetter
from typing import Any, TypeVar, cast

from cartgroups.customer_model import CUSTOMER_FIELDS
from cartgroups.errors import Invalid
from cartgroups.model import FIELDS, FieldSpec

T = TypeVar("T")

SELECT, ORDER_BY = "$select", "$orderby"  # as dispatch._query keys them: lower-cased
_DIRECTIONS = {"asc": False, "desc": True}
_ECHO = 60  # at most this many characters of the client's text are echoed in a message


class Table:
    """The fields of one resource's object that $select and $orderby name: in wire order, with
    their sort keys. ``strict``: what cannot be read is a 400 (CustomerGroups), or is ignored
    (Customers, D9). Compared and hashed by identity (each table is one module constant)."""

    __slots__ = ("all", "entity", "fields", "known", "positions", "sort_keys", "strict")

    def __init__(self, entity: str, fields: Sequence[FieldSpec], *, strict: bool) -> None:
        self.entity = entity
        self.fields = fields
        self.strict = strict
        self.positions = {spec.key: i for i, spec in enumerate(fields)}
        self.known = ", ".join(spec.wire for spec in fields)
        self.all = tuple(range(len(fields)))
        # Strings of a lenient table may be null (Customer's unset fields, D4).
        self.sort_keys = [_sort_key(spec, i, nullable=not strict) for i, spec in enumerate(fields)]

    def whole(self) -> Shape:
        """Every property, in id order: what a request without either option asks."""
        return Shape(select=self.all, table=self)

    def __repr__(self) -> str:
        return f"Table({self.entity})"


def _sort_key(spec: FieldSpec, position: int, *, nullable: bool) -> Callable[[Any], Any]:
    value = itemgetter(position)
    if spec.kind == "string":
        if nullable:
            return lambda item: _NULL_FIRST if (text := value(item)) is None else (True, text_key(text))
        return lambda item: text_key(value(item))
    return value  # int, Decimal (by value) and bool (False < True) compare as they should


_NULL_FIRST = (False, ("", "", ""))

GROUPS = Table("CustomerGroup", FIELDS, strict=True)
CUSTOMERS = Table("Customer", CUSTOMER_FIELDS, strict=False)
_ALL = GROUPS.all


@dataclass(frozen=True, slots=True)
class Shape:
    """What ``$select`` and ``$orderby`` ask of a result: hashable, and equal for requests that
    ask the same (``name`` and ``NAME``), so it can be part of a read cache key."""

    select: tuple[int, ...] = _ALL  # positions in the table's fields, ascending (wire order)
    order: tuple[tuple[int, bool], ...] = ()  # (position, descending), most significant first
    table: Table = GROUPS

    @property
    def fields(self) -> Sequence[FieldSpec]:
        """The selected fields in wire order; the table's own (FIELDS itself for groups) when all
        are (the writers' fast case)."""
        if self.select == self.table.all:
            return self.table.fields
        return tuple(self.table.fields[i] for i in self.select)

    def sort(self, items: list[T]) -> list[T]:
        """The items in ``$orderby``'s order: a stable sort per key, least significant first."""
        for position, descending in reversed(self.order):
            items = sorted(items, key=self.table.sort_keys[position], reverse=descending)
        return items


WHOLE = GROUPS.whole()  # every property, in id order: what a request without either option asks


def parse(query: Mapping[str, str], table: Table = GROUPS) -> Shape | None:
    """The shape asked by a request's query (names lower-cased), or None when it asks none (or,
    in a lenient table, nothing it can read)."""
    select, order_by = query.get(SELECT), query.get(ORDER_BY)
    if not select and not order_by:
        return None
    shape = Shape(
        select=_select(select, table) if select else table.all,
        order=_order(order_by, table) if order_by else (),
        table=table,
    )
    if not table.strict and shape.select == table.all and not shape.order:
        return None
    return shape


def _echo(text: str) -> str:
    return repr(text if len(text) <= _ECHO else text[:_ECHO] + "...")


def _position(name: str, parameter: str, table: Table) -> int | None:
    position = table.positions.get(name.lower())
    if position is None and table.strict:
        raise Invalid(
            f"{parameter}: {_echo(name)} is not a property of {table.entity} (properties: {table.known})"
        )
    return position


def _items(value: str, parameter: str, shape: str, table: Table) -> list[str]:
    items = [item.strip() for item in value.split(",")]
    if "" in items:
        if table.strict:
            raise Invalid(f"{parameter} has an empty item; give {shape} separated by commas")
        items = [item for item in items if item]
    return items


def _select(value: str, table: Table) -> tuple[int, ...]:
    names = _items(value, SELECT, "property names", table)
    if "*" in names:
        return table.all
    positions = {_position(name, SELECT, table) for name in names}
    positions.discard(None)
    return tuple(sorted(cast(set[int], positions))) or table.all  # (lenient) none known: all


def _order(value: str, table: Table) -> tuple[tuple[int, bool], ...]:
    keys: list[tuple[int, bool]] = []
    seen: set[int] = set()
    for item in _items(value, ORDER_BY, "'Property [asc|desc]' items", table):
        name, *rest = item.split()
        if len(rest) > 1:
            if table.strict:
                raise Invalid(f"{ORDER_BY}: {_echo(item)} is not 'Property [asc|desc]'")
            continue
        position = _position(name, ORDER_BY, table)
        descending = _DIRECTIONS.get(rest[0].lower()) if rest else False
        if descending is None and table.strict:
            raise Invalid(f"{ORDER_BY}: {_echo(rest[0])} after {name} is not a direction; use asc or desc")
        if position in seen and table.strict:
            wire = table.fields[position].wire
            raise Invalid(f"Duplicate property named '{wire}' is not supported in '$orderby'.")
        if position is None or descending is None or position in seen:
            continue  # (lenient) what cannot be read is left out
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
