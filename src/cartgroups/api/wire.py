"""Bytes in and out, exactly as 3dcart's clients expect them.

Responses are compact JSON (orjson keeps insertion order and writes no spaces); decimals are
written with at least one fractional digit, the way Json.NET writes a .NET decimal, and U+0085,
U+2028 and U+2029 escaped, as Json.NET writes them (json_net.escaped). A whole list page comes
from the store already written, in the same bytes (Store.list_groups_json: SQLite's json_object
in C; PostgreSQL's store writes it from the rows; tests/api/test_list.py holds the writers to
each other).
Requests are read with Python's json module so that numbers with a fraction become
``Decimal`` and never pass through a binary float.
"""

from __future__ import annotations

import codecs
import json
from collections.abc import Iterable, Sequence
from decimal import Decimal, InvalidOperation
from typing import Any, cast

import orjson

from cartgroups.api import lenient_json
from cartgroups.customer_model import CUSTOMER_FIELDS, CUSTOMER_POSITION, Customer, customer_object
from cartgroups.errors import Invalid
from cartgroups.json_net import escaped
from cartgroups.model import FIELDS, POSITION, CustomerGroup, FieldSpec, decimal_text

_NAMES = tuple(f.wire for f in FIELDS)
# Each decimal property: its name and its place in the tuple (written as its digits, below).
_DECIMALS = tuple((f.wire, POSITION[f]) for f in FIELDS if f.kind == "decimal")
assert CustomerGroup._fields == tuple(f.column for f in FIELDS), "wire order is the tuple order"


def group_object(group: CustomerGroup) -> dict[str, Any]:
    obj: dict[str, Any] = dict(zip(_NAMES, group, strict=True))
    for name, at in _DECIMALS:  # written as its digits, with its scale
        obj[name] = orjson.Fragment(decimal_text(cast(Decimal, group[at])))
    return obj


def _some_fields(group: CustomerGroup, fields: Sequence[FieldSpec]) -> dict[str, Any]:
    obj: dict[str, Any] = {}
    for spec in fields:
        value = group[POSITION[spec]]
        obj[spec.wire] = orjson.Fragment(decimal_text(value)) if isinstance(value, Decimal) else value
    return obj


def groups_body(groups: Iterable[CustomerGroup], fields: Sequence[FieldSpec] = FIELDS) -> bytes:
    """A JSON array of groups, each with ``fields`` only (all of them by default), in wire order."""
    if fields is FIELDS:
        return escaped(orjson.dumps([group_object(g) for g in groups]))
    return escaped(orjson.dumps([_some_fields(g, fields) for g in groups]))


def customers_body(customers: Iterable[Customer], fields: Sequence[FieldSpec] = CUSTOMER_FIELDS) -> bytes:
    """A JSON array of customers (customer_model.customer_object: Password always ""), each with
    ``fields`` only (all of them by default), in wire order."""
    if fields is CUSTOMER_FIELDS:
        return escaped(orjson.dumps([customer_object(c) for c in customers]))
    return escaped(orjson.dumps([_some_customer_fields(c, fields) for c in customers]))


def _some_customer_fields(customer: Customer, fields: Sequence[FieldSpec]) -> dict[str, Any]:
    obj: dict[str, Any] = {}
    for spec in fields:
        value = customer[CUSTOMER_POSITION[spec]]
        obj[spec.wire] = orjson.Fragment(decimal_text(value)) if isinstance(value, Decimal) else value
    return obj


def record(key: str, value: str, status: int, message: str) -> dict[str, str]:
    return {"Key": key, "Value": _writable(value), "Status": str(status), "Message": _writable(message)}


def _writable(text: str) -> str:
    """Client text echoed in a record, made writable as UTF-8: JSON can carry a lone surrogate
    ("\\ud800"), which no UTF-8 encoder accepts; it becomes U+FFFD."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return text.encode("utf-16", "surrogatepass").decode("utf-16", "replace")
    return text


def records_body(records: Sequence[dict[str, str]]) -> bytes:
    return escaped(orjson.dumps(records))


def count_body(total: int) -> bytes:
    return orjson.dumps({"TotalCount": total})  # ASCII: nothing to escape


class _NotANumber(ValueError):
    pass


class _TooLong(ValueError):
    pass


def _reject_constant(name: str) -> object:
    raise _NotANumber(name)


def _decimal(text: str) -> Decimal:
    """A number with a fraction or an exponent, exactly. Decimal holds exponents up to 10**18;
    past that it raises InvalidOperation (no ValueError), reported like an overlong integer."""
    try:
        return Decimal(text)
    except InvalidOperation:
        raise _TooLong(text) from None


# Made once: json.loads with options builds a new decoder on every call (~2 us of a write).
_DECODER = json.JSONDecoder(parse_float=_decimal, parse_constant=_reject_constant)


# The lenient reader is Python, ~20 times slower than the strict parser in C: 0.2 s of a worker
# for a megabyte. Bodies written in Json.NET's relaxed syntax are written by hand or by templates,
# and small; a large body that is not strict JSON is refused instead of read at that cost.
LENIENT_MAX_CHARS = 256 * 1024
LENIENT_LIMITED = (
    "Json.NET's relaxed syntax (comments, trailing commas, single quotes, unquoted names) is read "
    f"only in bodies of up to {LENIENT_MAX_CHARS // 1024} KiB; send a larger one as strict JSON"
)


def decode_json(body: bytes, charset: str = "utf-8") -> object:
    """Parse a request body; every way it can be broken is an Invalid with a clear message.

    Strict JSON is read by Python's json (in C, the fast path). A body it refuses for its syntax
    is read again the way the live service reads it, by Json.NET's rules (api/lenient_json.py:
    comments, trailing commas, single quotes, unquoted names); when that refuses it too, its
    message is the answer, since that is the grammar the body is held to."""
    try:
        text = body.decode(charset)
    except ValueError:  # UnicodeDecodeError, or the UnicodeError some text codecs raise
        raise Invalid(f"The request body is not valid {charset} text") from None
    text = text.removeprefix("\ufeff")
    if not text.strip():
        raise Invalid("The request body is empty; send a JSON document")
    try:
        return _DECODER.decode(text)
    except json.JSONDecodeError as exc:  # not strict JSON; perhaps Json.NET's
        if len(text) > LENIENT_MAX_CHARS:
            raise Invalid(f"{_not_json(exc).message}; {LENIENT_LIMITED}") from None
    except (ValueError, RecursionError) as exc:  # refused by the lenient reader as well
        raise _not_json(exc) from None
    try:
        return lenient_json.loads(text, parse_float=_decimal, parse_constant=_reject_constant)
    except ValueError as exc:
        raise _not_json(exc) from None


def _not_json(exc: Exception) -> Invalid:
    if isinstance(exc, json.JSONDecodeError):
        detail = f"{exc.msg} (line {exc.lineno}, column {exc.colno})"
    elif isinstance(exc, _NotANumber):
        detail = f"{exc} is not a number"
    elif isinstance(exc, (RecursionError, lenient_json.TooDeep)):
        detail = "it is nested too deeply"
    else:  # an integer with more digits than Python will read, or _TooLong
        detail = "a number in it is too long"
    return Invalid(f"The request body is not valid JSON: {detail}")


# Codecs of Python's that turn bytes into text without being a charset of text: a body in one
# of them is no more text than in rot13 ("undefined" even raises on every decode).
_NOT_CHARSETS = frozenset({"undefined", "idna", "punycode", "unicode-escape", "raw-unicode-escape"})


def known_charset(name: str) -> str | None:
    """The codec for a Content-Type charset (e.g. windows-1252 from .NET's Encoding.Default).
    Only encodings of text are charsets: codecs.lookup() also finds bytes-to-bytes transforms
    (base64, zlib, rot13 ...), which bytes.decode() refuses with a LookupError."""
    try:
        codec = codecs.lookup(name)
    except (LookupError, ValueError):  # ValueError: a NUL in the name
        return None
    if not getattr(codec, "_is_text_encoding", True) or codec.name in _NOT_CHARSETS:
        return None
    return codec.name
