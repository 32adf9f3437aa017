"""A broken body's message does not depend on the Python version the server runs on: Python
3.13's json names a trailing comma at the comma, 3.11 and 3.12 name what they expected after
it; the answer keeps the older wording (api/wire.py)."""

from __future__ import annotations

import json

import pytest

from cartgroups.api import wire
from cartgroups.errors import Invalid

CASES = [
    ('{"Name":"x",}', "Expecting property name enclosed in double quotes", 1, 13),
    ("[1,2 , ]", "Expecting value", 1, 8),
    ('{"Name":"x",\n  }', "Expecting property name enclosed in double quotes", 2, 3),
]


@pytest.mark.parametrize(("doc", "message", "line", "column"), CASES)
def test_this_python_names_a_trailing_comma_as_311_does(
    doc: str, message: str, line: int, column: int
) -> None:
    with pytest.raises(Invalid) as raised:
        wire.decode_json(doc.encode())
    assert (
        raised.value.message
        == f"The request body is not valid JSON: {message} (line {line}, column {column})"
    )


@pytest.mark.parametrize(("doc", "message", "line", "column"), CASES)
def test_python_313s_wording_is_turned_into_311s(doc: str, message: str, line: int, column: int) -> None:
    kind = "object" if doc.startswith("{") else "array"
    as_313 = json.JSONDecodeError(f"Illegal trailing comma before end of {kind}", doc, doc.rindex(","))
    said = wire._as_before_313(as_313)
    assert (said.msg, said.lineno, said.colno) == (message, line, column)
