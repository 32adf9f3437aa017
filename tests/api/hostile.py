"""Hostile values (issue #15), shared by the hostile-input tests and the property tests so that
their kind stays covered: numbers with huge exponents (``int(Decimal("1e1000000"))`` runs for a
minute), charsets that are not text encodings, NUL and lone surrogates in strings."""

from __future__ import annotations

import json

# Valid JSON numbers that Python reads as Decimal; the text is sent as it is.
HUGE_EXPONENTS = ("1e1000000", "-1e999999", "0E+1000000", "1E-1000000")
# Beyond what Decimal can hold at all (an exponent over 10**18): Decimal() raises on them.
BEYOND_DECIMAL = ("1e99999999999999999999", "-1E-99999999999999999999")
HOSTILE_NUMBERS = HUGE_EXPONENTS + BEYOND_DECIMAL

# Codec names Python's codecs.lookup() knows that are not charsets: binary transforms
# (bytes to bytes), and text codecs that are no encoding of text in a body.
NON_TEXT_CHARSETS = (
    "rot13",
    "base64",
    "hex",
    "zlib",
    "bz2",
    "uu",
    "quopri",
    "punycode",
    "undefined",
    "idna",
    "unicode_escape",
    "raw_unicode_escape",
)

HOSTILE_TEXT = ("a\x00b", "\x00", "\ud800", "x\udfffy")


class RawNumber(str):
    """A JSON number written exactly as this text (json.dumps cannot write 1e1000000)."""


def to_json(value: object) -> str:
    """json.dumps, except that a RawNumber is written as its text."""
    if isinstance(value, RawNumber):
        return str(value)
    if isinstance(value, dict):
        return "{" + ",".join(f"{json.dumps(key)}:{to_json(item)}" for key, item in value.items()) + "}"
    if isinstance(value, list):
        return "[" + ",".join(to_json(item) for item in value) + "]"
    return json.dumps(value)
