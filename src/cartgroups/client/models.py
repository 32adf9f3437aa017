"""The SDK's typed view of the wire objects: ``CustomerGroup``, ``PartialCustomerGroup`` (what a
read with ``select=`` returns) and one bulk ``ItemResult``.

Attribute names are the snake_case column names of the field table in ``cartgroups.model``
(``group_id``, ``minimum_order``, ...); wire names and their order come from the same table.
MinimumOrder is a ``Decimal`` end to end: responses are parsed with ``parse_float=Decimal`` and
requests write the decimal's own digits, so no value ever passes through a binary float.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from cartgroups.model import FIELDS, FieldSpec

ID_WIRE = FIELDS[0].wire  # "CustomerGroupID"
_BY_ATTRIBUTE: dict[str, FieldSpec] = {f.column: f for f in FIELDS}
_BY_KEY: dict[str, FieldSpec] = {f.key: f for f in FIELDS}


@dataclass(frozen=True, slots=True, kw_only=True)
class CustomerGroup:
    """One customer group. Every field but ``name`` has the server's default; ``group_id`` is 0
    until the server assigns one (it ignores the id of a group you create). ``price_level`` is
    0, as the official C# client sends it unset: a server set to accept only 1 to 10
    (price_level_1_to_10) refuses that, so give a level when you create through such a one."""

    group_id: int = 0
    name: str
    description: str = ""
    minimum_order: Decimal = Decimal("0")
    non_taxable: bool = False
    allow_registration: bool = False
    disable_reward_points: bool = False
    auto_approve: bool = False
    registration_message: str = ""
    price_level: int = 0

    def __post_init__(self) -> None:
        object.__setattr__(self, "minimum_order", to_decimal(self.minimum_order))

    @classmethod
    def from_wire(cls, obj: object) -> CustomerGroup:
        """A group from one decoded JSON object. Names match case-insensitively (as Json.NET reads
        them), unknown properties are ignored and absent ones take their defaults."""
        values = _wire_values(obj)
        values.setdefault("name", "")
        return cls(**values)

    def to_wire(self, *, include_id: bool = True) -> dict[str, Any]:
        """The JSON object in wire order; ``minimum_order`` stays a ``Decimal`` (see ``dumps``)."""
        obj = {f.wire: getattr(self, f.column) for f in FIELDS}
        if not include_id:
            del obj[ID_WIRE]
        return obj


@dataclass(frozen=True, slots=True, kw_only=True)
class PartialCustomerGroup:
    """A customer group read with ``select=``: the selected fields hold their values and every
    other one is None. The server never sends null for a field, so None always means "not
    selected" and never "empty" (that is ``""``, ``0`` or ``False``)."""

    group_id: int | None = None
    name: str | None = None
    description: str | None = None
    minimum_order: Decimal | None = None
    non_taxable: bool | None = None
    allow_registration: bool | None = None
    disable_reward_points: bool | None = None
    auto_approve: bool | None = None
    registration_message: str | None = None
    price_level: int | None = None

    @classmethod
    def from_wire(cls, obj: object) -> PartialCustomerGroup:
        """The fields present in one decoded JSON object, read as ``CustomerGroup.from_wire``
        reads them; the absent ones are None."""
        return cls(**_wire_values(obj))

    @property
    def selected(self) -> tuple[str, ...]:
        """The names of the fields it holds, in wire order."""
        return tuple(f.column for f in FIELDS if getattr(self, f.column) is not None)


@dataclass(frozen=True, slots=True)
class ItemResult:
    """What the server did with one item of a bulk update, in request order.

    ``status`` is 200 (updated), 404 (unknown id) or 400 (invalid item, ``message`` says why);
    ``value`` is the id as the server echoed it (a string, possibly empty for a missing id)."""

    status: int
    value: str
    message: str
    key: str = ID_WIRE

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300

    @property
    def group_id(self) -> int | None:
        return int(self.value) if self.value.isdigit() else None

    @property
    def customer_id(self) -> int | None:
        """The id of a customers bulk update's item (the same ``value``)."""
        return self.group_id


def to_decimal(value: object) -> Decimal:
    """An exact Decimal from a Decimal, int or numeric string; a float goes through its shortest
    repr (``1.1`` -> ``Decimal("1.1")``), never through its binary expansion."""
    if isinstance(value, bool):
        raise TypeError("minimum_order must be a number, not a bool")
    if isinstance(value, Decimal):
        result = value
    elif isinstance(value, int | str):
        try:
            result = Decimal(value)
        except InvalidOperation:
            raise ValueError(f"minimum_order is not a number: {value!r}") from None
    elif isinstance(value, float):
        result = Decimal(repr(value))
    else:
        raise TypeError(f"minimum_order must be a Decimal, int or str, not {type(value).__name__}")
    if not result.is_finite():
        raise ValueError("minimum_order must be finite")
    return result


def wire_fields(fields: Mapping[str, object], *, allow_id: bool) -> dict[str, Any]:
    """Wire-named values from snake_case keyword fields (a partial group). Unknown names are a
    TypeError, so a typo never turns into a silently ignored property."""
    out: dict[str, Any] = {}
    for attribute, value in fields.items():
        spec = _BY_ATTRIBUTE.get(attribute)
        if spec is None or (spec.kind == "id" and not allow_id):
            known = ", ".join(f.column for f in FIELDS if allow_id or f.kind != "id")
            raise TypeError(f"unknown CustomerGroup field {attribute!r} (known: {known})")
        out[spec.wire] = to_decimal(value) if spec.kind == "decimal" else value
    return out


def wire_name(name: str) -> str:
    """The wire name of a field named by its attribute (``minimum_order``) or its wire name in
    any case (``MinimumOrder``, ``minimumorder``); an unknown name is a ValueError."""
    spec = _BY_ATTRIBUTE.get(name) or _BY_KEY.get(name.lower())
    if spec is None:
        known = ", ".join(f.column for f in FIELDS)
        raise ValueError(f"unknown CustomerGroup field {name!r} (known: {known}, or their wire names)")
    return spec.wire


def _wire_values(obj: object) -> dict[str, Any]:
    return wire_values(obj, _BY_KEY, "CustomerGroup")


def wire_values(obj: object, by_key: Mapping[str, FieldSpec], entity: str) -> dict[str, Any]:
    """The known, non-null properties of one decoded JSON object of ``entity`` (its fields by
    case-folded name: ``by_key``), by attribute name; unknown properties are ignored."""
    if not isinstance(obj, Mapping):
        raise ValueError(f"expected a {entity} JSON object, got {type(obj).__name__}")
    values: dict[str, Any] = {}
    for key, raw in obj.items():
        spec = by_key.get(str(key).lower())
        if spec is not None and raw is not None:
            values[spec.column] = _from_json(spec, raw)
    return values


def _from_json(spec: FieldSpec, raw: object) -> object:
    if spec.kind == "decimal":
        return to_decimal(raw)
    if spec.kind in ("id", "integer"):
        if isinstance(raw, Decimal):
            return int(raw)
        return int(raw) if isinstance(raw, int | str) else raw
    if spec.kind == "boolean" and isinstance(raw, str):
        return raw.lower() == "true"
    return raw
