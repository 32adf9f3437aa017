"""A broken body's message does not depend on the Python version the server runs on.

Python's json words some errors differently from one version to the next (3.13 names a trailing
comma at the comma, 3.11 and 3.12 name what they expected after it). Since issue #17 a body the
strict parser refuses is read again by api/lenient_json.py (Json.NET's syntax: a trailing comma is
no error any more), and when that refuses it too its message is the answer: the wording and the
position are this project's own, whatever the strict parser said."""

from __future__ import annotations

import json

import pytest

from cartgroups.api import wire
from cartgroups.errors import Invalid

CASES = [
    ('{"Name":"x",,}', "Expecting property name", 1, 13),
    ("[1,2 , ,]", "Expecting value", 1, 8),
    ('{"Name":"x",\n  ,}', "Expecting property name", 2, 3),
    ('{"Name" "x"}', "Expecting ':' delimiter", 1, 9),
]


class _OtherWording:
    """A strict decoder that refuses everything in words of its own, as another version might."""

    def decode(self, text: str) -> object:
        raise json.JSONDecodeError("Illegal trailing comma before end of object", text, 0)


@pytest.mark.parametrize("strict", ["this python", "other wording"])
@pytest.mark.parametrize(("doc", "message", "line", "column"), CASES)
def test_the_message_is_the_lenient_readers_whatever_the_strict_parser_says(
    monkeypatch: pytest.MonkeyPatch, strict: str, doc: str, message: str, line: int, column: int
) -> None:
    if strict == "other wording":
        monkeypatch.setattr(wire, "_DECODER", _OtherWording())
    with pytest.raises(Invalid) as raised:
        wire.decode_json(doc.encode())
    assert (
        raised.value.message
        == f"The request body is not valid JSON: {message} (line {line}, column {column})"
    )


@pytest.mark.parametrize("doc", ['{"Name":"x",}', "[1,2 , ]", '{"Name":"x",\n  }'])
def test_one_trailing_comma_is_read(doc: str) -> None:
    assert wire.decode_json(doc.encode()) in ({"Name": "x"}, [1, 2])
