"""Reading CustomerGroup input the way the live service (ASP.NET Web API + Json.NET) reads it.

Property names match case-insensitively, unknown properties are ignored, ``null`` counts as
absent, and a numeric string is accepted for a number. Everything else that breaks a rule is
reported, all problems of one object in one message, each naming the field and the rule.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from decimal import Context, Decimal

from cartgroups.errors import Invalid
from cartgroups.model import (
    DECIMAL_MAX,
    DECIMAL_MAX_PLACES,
    EDITABLE,
    ID,
    PRICE_LEVEL,
    STORE_PRICE_LEVELS,
    FieldSpec,
)

_INTEGER_DIGITS = 30  # the most digits an integer field is read with, as text or as a number
_INT_TEXT = re.compile(rf"[+-]?[0-9]{{1,{_INTEGER_DIGITS}}}")
_DECIMAL_TEXT = re.compile(r"[+-]?(?:[0-9]{1,40}(?:\.[0-9]{0,40})?|\.[0-9]{1,40})(?:[eE][+-]?[0-9]{1,4})?")
_PATH_ID = re.compile(r"[0-9]{1,10}")


def fold(obj: Mapping[str, object]) -> dict[str, object]:
    """Property names case-folded; of two spellings of one name, the later wins (as in Json.NET)."""
    return {key.lower(): value for key, value in obj.items()}


def as_integer(value: object) -> int | None:
    """An integer from a JSON integer, an integral number (3.0) or an integer string ("3")."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, Decimal):
        # int() of 1e1000000 takes a minute, so a value with more integer digits than an integer
        # string may have is refused before it: adjusted() (its leading digit's exponent) is O(1).
        if not value.is_finite() or value.adjusted() >= _INTEGER_DIGITS:
            return None
        return int(value) if value == value.to_integral_value() else None
    if isinstance(value, str) and _INT_TEXT.fullmatch(value):
        return int(value)
    return None


def _as_decimal(value: object) -> Decimal | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return Decimal(value)
    if isinstance(value, Decimal):
        return value if value.is_finite() else None
    if isinstance(value, str) and _DECIMAL_TEXT.fullmatch(value):
        return Decimal(value)
    return None


BOOLEAN_RULE = "must be true or false, or a number (0 is false)"


def _as_boolean(value: object) -> bool | None:
    """A flag as Json.NET reads one: true/false, the strings "true"/"false" in any case, or a
    number, which JsonReader.ReadAsBoolean turns into a flag with Convert.ToBoolean: 0 is false,
    any other number true, a number with a fraction too (Json.NET reads 0.5 as the double 0.5,
    which is true; 0.0 is false)."""
    if isinstance(value, bool):
        return value
    if isinstance(value, int | Decimal):
        return value != 0
    if isinstance(value, str) and value.lower() in ("true", "false"):
        return value.lower() == "true"
    return None


def is_clean_text(value: str) -> bool:
    """Storable in both databases: valid Unicode (no lone surrogates) and no NUL character."""
    if "\x00" in value:
        return False
    if value.isascii():  # the common case, without encoding it
        return True
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _check(spec: FieldSpec, value: object) -> tuple[object, str | None]:
    """The stored form of one field's value, or the message saying which rule it breaks."""
    name = spec.wire
    if spec.kind == "string":
        if not isinstance(value, str):
            return None, f"{name} must be a string"
        if not is_clean_text(value):
            return None, f"{name} must be valid Unicode text without NUL characters"
        if spec.required and not value.strip():
            return None, f"{name} must not be empty"
        if spec.max_length is not None and len(value) > spec.max_length:
            return None, f"{name} must be at most {spec.max_length} characters (got {len(value)})"
        return value, None
    if spec.kind == "boolean":
        flag = _as_boolean(value)
        return (flag, None) if flag is not None else (None, f"{name} {BOOLEAN_RULE}")
    if spec.kind == "integer":
        number = as_integer(value)
        if number is None or not (spec.minimum or 0) <= number <= (spec.maximum or 0):
            return None, f"{name} must be an integer from {spec.minimum} to {spec.maximum}"
        return number, None
    amount = _as_decimal(value)
    if amount is None:
        return None, f"{name} must be a number"
    if amount < 0:
        return None, f"{name} must not be negative"
    exponent = amount.as_tuple().exponent
    assert isinstance(exponent, int)  # finite, checked above
    if amount > DECIMAL_MAX or -exponent > DECIMAL_MAX_PLACES:
        return None, (
            f"{name} must be at most {DECIMAL_MAX} with at most {DECIMAL_MAX_PLACES} decimal places"
        )
    if exponent > 0:  # 1.5E+3, or a zero such as 0E+999999999999999999, which overflows
        amount = amount.quantize(_ONE, context=_WIDE)  # PostgreSQL's numeric; cheap: at most 29 digits
    return amount.copy_abs(), None  # exact (abs() would round to 28 digits); turns -0 into 0


_ONE = Decimal(1)
_WIDE = Context(prec=len(str(DECIMAL_MAX)))  # quantize() refuses results longer than its precision


_LOWEST_LEVEL, _HIGHEST_LEVEL = STORE_PRICE_LEVELS
STORE_PRICE_LEVEL_RULE = f"{PRICE_LEVEL.wire} must be an integer from {_LOWEST_LEVEL} to {_HIGHEST_LEVEL}"


def group_values(obj: object, *, creating: bool, price_level_1_to_10: bool = False) -> dict[str, object]:
    """Column values from one CustomerGroup JSON object.

    On create, absent fields take their defaults and Name is required; on update only the
    fields present are returned (a partial update). Raises Invalid naming every problem.

    PriceLevel is any 32-bit integer, 0 when absent on create (what the official C# client sends
    unset). With ``price_level_1_to_10`` (the server setting of that name) only the store UI's
    levels 1 to 10 are accepted, and an absent one on create is 1 (the retail price)."""
    given, values, problems = object_values(obj, EDITABLE, entity="CustomerGroup", creating=creating)
    if price_level_1_to_10:
        _store_price_level(given, values, problems)
    if problems:
        raise Invalid("; ".join(problems.values()), fields=problems)
    return values


def object_values(
    obj: object, fields: Sequence[FieldSpec], *, entity: str, creating: bool
) -> tuple[dict[str, object], dict[str, object], dict[str, str]]:
    """Column values from one JSON object of ``entity`` whose writable properties are ``fields``:
    (the object with its property names case-folded, the values, the problems by property, in
    field order). On create, absent properties take their defaults and a required one is a
    problem; on update only the properties present have values (a partial update). A property
    sent as null counts as absent. Raises Invalid when ``obj`` is not an object."""
    if not isinstance(obj, dict):
        raise Invalid(f"The request body must be a JSON object (a {entity})")
    given = fold(obj)
    values: dict[str, object] = {}
    problems: dict[str, str] = {}  # wire name -> message, in field order
    for spec in fields:
        raw = given.get(spec.key)
        if raw is None:
            if creating:
                if spec.required:
                    problems[spec.wire] = f"{spec.wire} is required"
                values[spec.column] = spec.default
            continue
        value, problem = _check(spec, raw)
        if problem:
            problems[spec.wire] = problem
        else:
            values[spec.column] = value
    return given, values, problems


def create_defaults(*, price_level_1_to_10: bool = False) -> dict[str, object]:
    """The column values a create takes for the fields it is not given (Name's is None: required)."""
    values = {spec.column: spec.default for spec in EDITABLE}
    if price_level_1_to_10:
        values[PRICE_LEVEL.column] = _LOWEST_LEVEL
    return values


def _store_price_level(
    given: Mapping[str, object], values: dict[str, object], problems: dict[str, str]
) -> None:
    """The setting price_level_1_to_10: a PriceLevel given must be one of the store UI's levels,
    and an absent one on create is the lowest (PriceLevel is the last field: problems keep their order)."""
    if given.get(PRICE_LEVEL.key) is None:
        if PRICE_LEVEL.column in values:  # creating: the default
            values[PRICE_LEVEL.column] = _LOWEST_LEVEL
        return
    level = values.get(PRICE_LEVEL.column)
    if PRICE_LEVEL.wire in problems or (
        isinstance(level, int) and not _LOWEST_LEVEL <= level <= _HIGHEST_LEVEL
    ):
        problems[PRICE_LEVEL.wire] = STORE_PRICE_LEVEL_RULE


def bulk_item_id(item: Mapping[str, object], id_field: FieldSpec = ID) -> int:
    """The id (``id_field``, the CustomerGroupID by default) an item of a bulk update names
    (item already case-folded)."""
    raw = item.get(id_field.key)
    if raw is None:
        raise Invalid(f"{id_field.wire} is required")
    item_id = as_integer(raw)
    if not _is_id(item_id, id_field):
        raise Invalid(f"{id_field.wire} must be {_id_rule(id_field)}")
    assert item_id is not None
    return item_id


def ascii_whole(raw: str, digits: int) -> int | None:
    """A whole number written in at most ``digits`` ASCII digits, else None. str.isdigit() alone
    also passes "²" (which int() refuses) and 5,000 digits (past int()'s limit): both were 500s."""
    return int(raw) if raw.isascii() and raw.isdigit() and len(raw) <= digits else None


def path_id(raw: str, id_field: FieldSpec = ID) -> int:
    """The id in a URL such as /CustomerGroups/12 (``id_field``: the resource's id property)."""
    if raw.isascii() and raw.isdigit() and len(raw) <= 10:  # the common case, without a regex
        number = int(raw)
        if _is_id(number, id_field):
            return number
    item_id = as_integer(raw) if _PATH_ID.fullmatch(raw) else None
    if not _is_id(item_id, id_field):
        raise Invalid(f"{id_field.wire} in the URL must be {_id_rule(id_field)}", value=raw)
    assert item_id is not None
    return item_id


def _id_rule(id_field: FieldSpec) -> str:
    return f"an integer from {id_field.minimum} to {id_field.maximum}"


def _is_id(value: int | None, id_field: FieldSpec) -> bool:
    return value is not None and (id_field.minimum or 1) <= value <= (id_field.maximum or 0)
