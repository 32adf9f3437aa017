"""JSON as the live 3dcart service reads it: Json.NET's JsonTextReader, which accepts more than JSON.

The extra syntax read here, each as JsonTextReader reads it (Newtonsoft.Json, JsonTextReader.cs):

- a trailing comma before ``}`` or ``]`` (``ParseObject``/``ParseValue`` take the closer after a comma);
- ``// line`` and ``/* block */`` comments wherever whitespace may be, except between a property
  name and its colon (``ParseProperty`` reads only whitespace there);
- strings in single quotes, with the same escapes as in double quotes; ``\\'`` is an escape in both;
- unquoted property names of letters, digits, ``_`` and ``$`` (``ValidIdentifierChar``: .NET's
  ``char.IsLetterOrDigit``, one UTF-16 unit at a time, so no character outside the BMP).

The rest of what JsonTextReader takes (hexadecimal and octal numbers, ``NaN``/``Infinity``,
``undefined``, ``new Date(...)``, empty array elements, Unicode spaces, raw control characters in
strings) is not read: a body with them is refused with a 400, as before.

Values come out exactly as ``json`` gives them to api/wire.py: ``int`` for an integer, whatever
``parse_float`` makes of a number with a fraction or an exponent, ``parse_constant`` called for
``NaN``/``Infinity``/``-Infinity``. Errors are ``json.JSONDecodeError`` (the message, line and
column) so that one place words them. Every step moves forward through the text and containers
are kept on an explicit stack, so the time is linear in the body and nothing recurses.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from json import JSONDecodeError

# The strict parser's depth is bounded by Python's recursion limit (1000 by default, less the
# frames already in use), so no document the strict parser accepts is refused here for its depth.
MAX_DEPTH = 1000


class TooDeep(ValueError):
    """More than MAX_DEPTH containers are open at once."""


_BLANKS = re.compile(r"[ \t\n\r]*")  # JSON's whitespace
_SKIPPED = frozenset(" \t\n\r/")  # what may start whitespace or a comment
_LINE_END = re.compile(r"[\r\n]")
_NUMBER = re.compile(r"(-?(?:0|[1-9][0-9]*))(\.[0-9]+)?([eE][-+]?[0-9]+)?")
_NAME = re.compile(r"[\w$]+")  # a superset of Json.NET's identifier characters, cut down below
_HEX4 = re.compile(r"[0-9a-fA-F]{4}")
_SIMPLE_STRING = re.compile(r'"[^"\\\x00-\x1f]*"|\'[^\'\\\x00-\x1f]*\'')
_CHUNK = {'"': re.compile(r'[^"\\\x00-\x1f]*'), "'": re.compile(r"[^'\\\x00-\x1f]*")}
_ESCAPES = {
    '"': '"',
    "'": "'",
    "\\": "\\",
    "/": "/",
    "b": "\b",
    "f": "\f",
    "n": "\n",
    "r": "\r",
    "t": "\t",
}
_LITERALS: tuple[tuple[str, object], ...] = (("true", True), ("false", False), ("null", None))
_CONSTANTS = ("NaN", "Infinity", "-Infinity")

Container = list[object] | dict[str, object]


def loads(
    text: str,
    *,
    parse_float: Callable[[str], object],
    parse_constant: Callable[[str], object],
) -> object:
    """The value of one document; JSONDecodeError (or TooDeep, or what the callbacks or int()
    raise for a number) when it is not one."""
    stack: list[Container] = []
    keys: list[str] = []  # the pending property name of each object on the stack
    pos = _skip(text, 0)
    while True:
        value: object
        opener = text[pos : pos + 1]
        if opener in ("{", "["):
            if len(stack) >= MAX_DEPTH:
                raise TooDeep(pos)
            closer = "}" if opener == "{" else "]"
            pos = _skip(text, pos + 1)
            if not text.startswith(closer, pos):
                if opener == "{":
                    stack.append({})
                    key, pos = _property_name(text, pos)
                    keys.append(key)
                else:
                    stack.append([])
                continue  # read the first value
            value = {} if opener == "{" else []
            pos += 1
        else:
            value, pos = _scalar(text, pos, parse_float, parse_constant)
        # A value has ended at pos: store it, then close every container that ends here.
        while True:
            if not stack:
                pos = _skip(text, pos)
                if pos != len(text):
                    raise JSONDecodeError("Extra data", text, pos)
                return value
            top = stack[-1]
            if isinstance(top, dict):
                top[keys.pop()] = value
                closer = "}"
            else:
                top.append(value)
                closer = "]"
            pos = _skip(text, pos)
            char = text[pos : pos + 1]
            if char == ",":
                pos = _skip(text, pos + 1)
                if not text.startswith(closer, pos):
                    if isinstance(top, dict):
                        key, pos = _property_name(text, pos)
                        keys.append(key)
                    break  # read the next value
                # a trailing comma: the container ends as if it were not there
            elif char != closer:
                raise JSONDecodeError("Expecting ',' delimiter", text, pos)
            value = stack.pop()
            pos += 1


def _skip(text: str, pos: int) -> int:
    """The position after the whitespace and comments at pos."""
    if text[pos : pos + 1] not in _SKIPPED:  # the common case: a token right here
        return pos
    while True:
        match = _BLANKS.match(text, pos)
        assert match is not None  # the pattern matches the empty string too
        pos = match.end()
        if text.startswith("//", pos):
            line_end = _LINE_END.search(text, pos)
            pos = len(text) if line_end is None else line_end.start()
        elif text.startswith("/*", pos):
            end = text.find("*/", pos + 2)
            if end < 0:
                raise JSONDecodeError("Unterminated comment starting at", text, pos)
            pos = end + 2
        else:
            return pos


def _property_name(text: str, pos: int) -> tuple[str, int]:
    """A property name and its colon at pos; returns the name and the position of its value."""
    if text[pos : pos + 1] in ('"', "'") and pos < len(text):
        name, pos = _string(text, pos)
    else:
        match = _NAME.match(text, pos)
        end = pos if match is None else _identifier_end(text, pos, match.end())
        if end == pos:
            raise JSONDecodeError("Expecting property name", text, pos)
        name, pos = text[pos:end], end
    blanks = _BLANKS.match(text, pos)
    assert blanks is not None
    pos = blanks.end()
    if not text.startswith(":", pos):
        raise JSONDecodeError("Expecting ':' delimiter", text, pos)
    return name, _skip(text, pos + 1)


def _identifier_end(text: str, start: int, end: int) -> int:
    r"""Where the run of Json.NET identifier characters from start ends (at most end): ``\w``
    also takes digits of other kinds than decimal (``²``) and characters outside the BMP."""
    for pos in range(start, end):
        char = text[pos]
        if not (char in "_$" or (char <= "\uffff" and (char.isalpha() or char.isdecimal()))):
            return pos
    return end


def _scalar(
    text: str,
    pos: int,
    parse_float: Callable[[str], object],
    parse_constant: Callable[[str], object],
) -> tuple[object, int]:
    char = text[pos : pos + 1]
    if char in ('"', "'") and char:
        return _string(text, pos)
    number = _NUMBER.match(text, pos)
    if number is not None:
        integer, fraction, exponent = number.groups()
        if fraction is None and exponent is None:
            return int(integer), number.end()
        return parse_float(number.group()), number.end()
    for word, value in _LITERALS:
        if text.startswith(word, pos):
            return value, pos + len(word)
    for word in _CONSTANTS:
        if text.startswith(word, pos):
            return parse_constant(word), pos + len(word)
    raise JSONDecodeError("Expecting value", text, pos)


def _string(text: str, start: int) -> tuple[str, int]:
    """The string whose opening quote is at start, and the position after its closing quote.
    Escapes are read as Python's json reads them (a lone surrogate is kept, for the validation
    to refuse), with ``\\'`` added."""
    simple = _SIMPLE_STRING.match(text, start)  # the common case: no escape
    if simple is not None:
        return simple.group()[1:-1], simple.end()
    quote = text[start]
    plain = _CHUNK[quote]
    parts: list[str] = []
    pos = start + 1
    while True:
        match = plain.match(text, pos)
        assert match is not None  # the pattern matches the empty string too
        if match.end() > pos:
            parts.append(match.group())
            pos = match.end()
        char = text[pos : pos + 1]
        if char == quote:
            return "".join(parts), pos + 1
        if char != "\\" or pos + 1 >= len(text):
            if char == "" or char == "\\":
                raise JSONDecodeError("Unterminated string starting at", text, start)
            raise JSONDecodeError("Invalid control character at", text, pos)
        escape = text[pos + 1]
        if escape != "u":
            replacement = _ESCAPES.get(escape)
            if replacement is None:
                raise JSONDecodeError("Invalid \\escape", text, pos)
            parts.append(replacement)
            pos += 2
            continue
        code = _code_unit(text, pos)
        pos += 6
        if 0xD800 <= code <= 0xDBFF and text.startswith("\\u", pos):
            low = _HEX4.match(text, pos + 2)
            if low is not None and 0xDC00 <= int(low.group(), 16) <= 0xDFFF:
                code = 0x10000 + ((code - 0xD800) << 10) + (int(low.group(), 16) - 0xDC00)
                pos += 6
        parts.append(chr(code))


def _code_unit(text: str, pos: int) -> int:
    """The value of the \\uXXXX escape at pos."""
    digits = _HEX4.match(text, pos + 2)
    if digits is None:
        raise JSONDecodeError("Invalid \\uXXXX escape", text, pos)
    return int(digits.group(), 16)
