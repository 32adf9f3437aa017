"""The CustomerGroup resource: its fields in wire order, with the rules each one follows.

This table is the single description of the object. The service validates input
with it, the API writes JSON in its order, storage names its columns from it,
and the OpenAPI document derives its schemas from it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Literal, NamedTuple

Kind = Literal["id", "string", "decimal", "boolean", "integer"]

# The live service is ASP.NET; MinimumOrder is a .NET decimal, so that is its range.
DECIMAL_MAX = Decimal("79228162514264337593543950335")
DECIMAL_MAX_PLACES = 28
# PriceLevel is a .NET int (the live help pages declare no narrower range); the store's UI levels.
INT32_MIN, INT32_MAX = -(2**31), 2**31 - 1
STORE_PRICE_LEVELS = (1, 10)


@dataclass(frozen=True, slots=True)
class FieldSpec:
    wire: str  # name on the wire, e.g. "MinimumOrder"
    column: str  # column and attribute name, e.g. "minimum_order"
    kind: Kind
    description: str
    default: object = None
    max_length: int | None = None
    minimum: int | None = None
    maximum: int | None = None
    example: object = None
    required: bool = False  # a create must give it, and a string must not be blank
    # The case-folded property name used to match input (Json.NET matches case-insensitively);
    # made once, since every property of every request body is looked up by it.
    key: str = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "key", self.wire.lower())


ID = FieldSpec(
    "CustomerGroupID",
    "group_id",
    "id",
    "Assigned by the server: per store, from 1, ascending, never reused. Ignored in a POST body.",
    minimum=1,
    maximum=INT32_MAX,
    example=1,
)
NAME = FieldSpec(
    "Name",
    "name",
    "string",
    "Name of the group. Required on create; 1 to 150 characters.",
    max_length=150,
    example="Wholesale",
    required=True,
)
PRICE_LEVEL = FieldSpec(
    "PriceLevel",
    "price_level",
    "integer",
    "Price level the group buys at: any 32-bit integer, stored as given; default 0 (what the "
    "official C# client sends when it is unset). The store's UI uses 1 to 10 (1 is the retail "
    "price); a server may be set to accept only those.",
    default=0,
    minimum=INT32_MIN,
    maximum=INT32_MAX,
    example=2,
)
EDITABLE: tuple[FieldSpec, ...] = (
    NAME,
    FieldSpec(
        "Description",
        "description",
        "string",
        "Free text; at most 65535 characters.",
        default="",
        max_length=65535,
        example="Resellers with a tax id",
    ),
    FieldSpec(
        "MinimumOrder",
        "minimum_order",
        "decimal",
        "Smallest order total the group may place, as an exact decimal; at least 0.",
        default=Decimal("0"),
        minimum=0,
        example=250.0,
    ),
    FieldSpec(
        "NonTaxable",
        "non_taxable",
        "boolean",
        "Orders of the group are tax exempt.",
        default=False,
        example=True,
    ),
    FieldSpec(
        "AllowRegistration",
        "allow_registration",
        "boolean",
        "Shoppers may register themselves into the group.",
        default=False,
        example=True,
    ),
    FieldSpec(
        "DisableRewardPoints",
        "disable_reward_points",
        "boolean",
        "Members earn no reward points.",
        default=False,
        example=False,
    ),
    FieldSpec(
        "AutoApprove",
        "auto_approve",
        "boolean",
        "Self-registrations are approved without review.",
        default=False,
        example=False,
    ),
    FieldSpec(
        "RegistrationMessage",
        "registration_message",
        "string",
        "Shown to shoppers who register; at most 65535 characters.",
        default="",
        max_length=65535,
        example="Welcome! Your account will be reviewed.",
    ),
    PRICE_LEVEL,
)
FIELDS: tuple[FieldSpec, ...] = (ID, *EDITABLE)
# Where each field's value stands in a CustomerGroup (the tuple is in wire order), for writers
# of only some of the fields ($select).
POSITION: dict[FieldSpec, int] = {spec: i for i, spec in enumerate(FIELDS)}


class CustomerGroup(NamedTuple):
    """One stored group, attributes in wire order. A NamedTuple rather than a frozen dataclass:
    a list page builds up to 500 of them per request, and a tuple is several times cheaper."""

    group_id: int
    name: str
    description: str
    minimum_order: Decimal
    non_taxable: bool
    allow_registration: bool
    disable_reward_points: bool
    auto_approve: bool
    registration_message: str
    price_level: int


_AT_COLUMN = {spec.column: i for i, spec in enumerate(FIELDS)}


def with_values(group: CustomerGroup, values: Mapping[str, object]) -> CustomerGroup:
    """The group as an update of these column values (service/validation.group_values) leaves it."""
    changed = list(group)
    for column, value in values.items():
        changed[_AT_COLUMN[column]] = value
    return CustomerGroup._make(changed)


def decimal_text(value: Decimal) -> str:
    """Fixed-point text with at least one fractional digit: 1.0, 1.50, 34158822.957761675 (the way
    Json.NET writes a .NET decimal; used on the wire and in the audit log)."""
    text = str(value)
    if "E" in text:  # str() switches to exponents for very large or small values
        text = format(value, "f")
    return text if "." in text else text + ".0"
