"""api/lenient_json.py: Json.NET's extra syntax, the same values as the strict parser, clear
errors with their position, and hostile sizes answered in one pass."""

from __future__ import annotations

import contextlib
import json
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cartgroups.api import lenient_json, wire
from cartgroups.errors import Invalid


def read(text: str) -> object:
    return lenient_json.loads(text, parse_float=wire._decimal, parse_constant=wire._reject_constant)


def same(a: object, b: object) -> bool:
    """Equal and of the same types all the way down (Decimal("1.0") is not Decimal("1.00"))."""
    if type(a) is not type(b):
        return False
    if isinstance(a, dict):
        assert isinstance(b, dict)
        return list(a) == list(b) and all(same(a[k], b[k]) for k in a)
    if isinstance(a, list):
        assert isinstance(b, list)
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, Decimal):
        return str(a) == str(b)
    return a == b


READ = [
    pytest.param('{"a":1,}', {"a": 1}, id="trailing-comma-object"),
    pytest.param("[1,2,]", [1, 2], id="trailing-comma-array"),
    pytest.param('[{"a":[1,],},]', [{"a": [1]}], id="trailing-comma-nested"),
    pytest.param("[1 , \n ]", [1], id="trailing-comma-blanks"),
    pytest.param('{"a":1,/* x */}', {"a": 1}, id="trailing-comma-then-comment"),
    pytest.param('// lead\n{"a":1}', {"a": 1}, id="line-comment-first"),
    pytest.param('{"a":1} // last', {"a": 1}, id="line-comment-at-end-of-text"),
    pytest.param('{"a":1}\r\n// x\r\n', {"a": 1}, id="line-comment-crlf"),
    pytest.param('{/*1*/"a" :/*2*/1/*3*/,/*4*/"b":2/*5*/}', None, id="block-comments-everywhere"),
    pytest.param('{"a":"//not /* a comment */",}', {"a": "//not /* a comment */"}, id="comment-in-string"),
    pytest.param("/* a\n multi-line\n comment */ [true]", [True], id="block-comment-lines"),
    pytest.param("[1/**/,2//x\n]", [1, 2], id="comment-after-number"),
    pytest.param("[true/**/,null//\n,false]", [True, None, False], id="comment-after-literal"),
    pytest.param("/***/[/* ** */]", [], id="stars-in-comment"),
    pytest.param("{'Name':'x'}", {"Name": "x"}, id="single-quotes"),
    pytest.param("['it\\'s', \"it\\'s\"]", ["it's", "it's"], id="escaped-single-quote-both-kinds"),
    pytest.param("['say \"hi\"']", ['say "hi"'], id="double-quote-in-single"),
    pytest.param("['\\n\\t\\\\\\/\\u00e9\\ud83d\\ude00']", ["\n\t\\/é\U0001f600"], id="escapes-in-single"),
    pytest.param("{Name:'x', _a:1, $b:2, a1:3, 1a:4}", None, id="unquoted-names"),
    pytest.param("{Name : 1}", {"Name": 1}, id="unquoted-name-blank-before-colon"),
    pytest.param(
        "{été:1, Ωmega:2, 名前:3, x٣:4}", {"été": 1, "Ωmega": 2, "名前": 3, "x٣": 4}, id="unicode-names"
    ),
    pytest.param(
        "{Name:'Wholesale',NonTaxable:1,MinimumOrder:1.50,}",
        {"Name": "Wholesale", "NonTaxable": 1, "MinimumOrder": Decimal("1.50")},
        id="all-together",
    ),
    pytest.param('{"a":1,"a":2,}', {"a": 2}, id="duplicate-last-wins"),
    pytest.param(
        "[1E2, -0, 0.10, 1e-7,]", [Decimal("1E2"), 0, Decimal("0.10"), Decimal("1e-7")], id="numbers"
    ),
]


@pytest.mark.parametrize(("text", "expected"), READ)
def test_json_nets_syntax_is_read(text: str, expected: object) -> None:
    if expected is None:  # the same document without the extra syntax
        expected = {"a": 1, "b": 2} if "/*" in text else {"Name": "x", "_a": 1, "$b": 2, "a1": 3, "1a": 4}
    assert same(read(text), expected)


@pytest.mark.parametrize(("text", "_"), READ)
def test_the_strict_parser_refuses_each_of_them(text: str, _: object) -> None:
    """So each case above is one the lenient reader is there for."""
    with pytest.raises(json.JSONDecodeError):
        wire._DECODER.decode(text)


REFUSED = [
    # Json.NET refuses these too.
    ("{,}", "Expecting property name", 1, 2),
    ("[,]", "Expecting value", 1, 2),
    ("[1,,]", "Expecting value", 1, 4),
    ('{"a":1,,}', "Expecting property name", 1, 8),
    ('{"a":}', "Expecting value", 1, 6),
    ('{"a" /* c */ :1}', "Expecting ':' delimiter", 1, 6),  # ParseProperty reads only blanks there
    ("{a/**/:1}", "Expecting ':' delimiter", 1, 3),
    ("{a-b:1}", "Expecting ':' delimiter", 1, 3),
    ("{²:1}", "Expecting property name", 1, 2),  # a digit, but not a decimal one
    ("{\U0001f600:1}", "Expecting property name", 1, 2),  # outside the BMP: no .NET letter
    ("[1 2]", "Expecting ',' delimiter", 1, 4),
    ('{"a":1\n "b":2}', "Expecting ',' delimiter", 2, 2),
    ("[1] [2]", "Extra data", 1, 5),
    ("[1] /", "Extra data", 1, 5),
    ("[1 / 2]", "Expecting ',' delimiter", 1, 4),
    ("[1, /* open", "Unterminated comment starting at", 1, 5),
    ("/*/", "Unterminated comment starting at", 1, 1),
    ("// only a comment", "Expecting value", 1, 18),
    ("['x]", "Unterminated string starting at", 1, 2),
    ("['x\"]", "Unterminated string starting at", 1, 2),
    ("['x\\", "Unterminated string starting at", 1, 2),
    ("['a\nb']", "Invalid control character at", 1, 4),
    ("['a\\qb']", "Invalid \\escape", 1, 4),
    ("['\\u12G4']", "Invalid \\uXXXX escape", 1, 3),
    ("[tru]", "Expecting value", 1, 2),
    ("[undefined]", "Expecting value", 1, 2),
    ("[0x1F]", "Expecting ',' delimiter", 1, 3),
    ("[+1]", "Expecting value", 1, 2),
    ("[.5]", "Expecting value", 1, 2),
    ("{a:1,\n\n  b:}", "Expecting value", 3, 5),
]


@pytest.mark.parametrize(("text", "message", "line", "column"), REFUSED)
def test_what_json_net_refuses_too_is_an_error_with_its_position(
    text: str, message: str, line: int, column: int
) -> None:
    with pytest.raises(json.JSONDecodeError) as raised:
        read(text)
    assert (raised.value.msg, raised.value.lineno, raised.value.colno) == (message, line, column)


@pytest.mark.parametrize("word", ["NaN", "Infinity", "-Infinity"])
def test_constants_are_refused_as_not_a_number(word: str) -> None:
    with pytest.raises(Invalid) as raised:
        wire.decode_json(f"{{'MinimumOrder':{word},}}".encode())
    assert raised.value.message == f"The request body is not valid JSON: {word} is not a number"


@pytest.mark.parametrize(
    "number", ["1" + "0" * 5000, "1e99999999999999999999", "1." + "0" * 5000 + "1e99999999999999999999"]
)
def test_a_number_too_long_is_refused_as_the_strict_parser_refuses_it(number: str) -> None:
    with pytest.raises(Invalid) as raised:
        wire.decode_json(f"{{'PriceLevel':{number},}}".encode())
    assert raised.value.message == "The request body is not valid JSON: a number in it is too long"


def test_nesting_is_bounded() -> None:
    deep = "[" * lenient_json.MAX_DEPTH + "1," + "]" * lenient_json.MAX_DEPTH
    value = read(deep)
    for _ in range(lenient_json.MAX_DEPTH):
        assert isinstance(value, list) and len(value) == 1
        value = value[0]
    assert value == 1
    with pytest.raises(lenient_json.TooDeep):
        read("[" + deep + "]")
    with pytest.raises(Invalid) as raised:
        wire.decode_json(
            ("{a:" * (lenient_json.MAX_DEPTH + 1) + "1" + "}" * (lenient_json.MAX_DEPTH + 1)).encode()
        )
    assert raised.value.message == "The request body is not valid JSON: it is nested too deeply"


MIB = 1 << 20
HOSTILE = [
    pytest.param("[" * MIB, lenient_json.TooDeep, id="brackets"),
    pytest.param("{a:" * (MIB // 3), lenient_json.TooDeep, id="objects"),
    pytest.param("/*" * (MIB // 2), json.JSONDecodeError, id="comment-openers"),
    pytest.param("/*" + " " * MIB, json.JSONDecodeError, id="unterminated-comment"),
    pytest.param("//" * (MIB // 2), json.JSONDecodeError, id="line-comments"),
    pytest.param("'" * MIB, json.JSONDecodeError, id="single-quotes"),
    pytest.param('"' * MIB, json.JSONDecodeError, id="double-quotes"),
    pytest.param("'" + "\\'" * (MIB // 2), json.JSONDecodeError, id="escaped-quotes"),
    pytest.param("[" + "1," * (MIB // 2), json.JSONDecodeError, id="unclosed-long-array"),
    pytest.param("{" + "a:0," * (MIB // 4), json.JSONDecodeError, id="unclosed-long-object"),
]


@pytest.mark.parametrize(("text", "error"), HOSTILE)
def test_a_mebibyte_of_hostile_text_is_answered(text: str, error: type[Exception]) -> None:
    """One pass, no recursion: these answer (a quadratic or recursive reader would hang or
    overflow the stack); the test asserts the answer, not a time."""
    with pytest.raises(error):
        read(text)


def test_a_mebibyte_of_lenient_values_is_read() -> None:
    values = read("[" + "'x',//\n" * (MIB // 8) + "]")
    assert values == ["x"] * (MIB // 8)


# ---------------------------------------------------------------- the same values as strict JSON

_SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**30), max_value=10**30),
    st.decimals(allow_nan=False, allow_infinity=False),
    st.text(),
)
_VALUES = st.recursive(
    _SCALARS,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6), inner, max_size=4),
    max_leaves=20,
)


def _dump(value: object, *, ascii_only: bool, spaced: bool) -> str:
    """Strict JSON text of value; a Decimal is written as its own digits (str), as a client would."""
    if isinstance(value, Decimal):
        return str(value)
    comma, colon = (" , ", " : ") if spaced else (",", ":")
    if isinstance(value, list):
        return "[" + comma.join(_dump(v, ascii_only=ascii_only, spaced=spaced) for v in value) + "]"
    if isinstance(value, dict):
        return (
            "{"
            + comma.join(
                json.dumps(k, ensure_ascii=ascii_only)
                + colon
                + _dump(v, ascii_only=ascii_only, spaced=spaced)
                for k, v in value.items()
            )
            + "}"
        )
    return json.dumps(value, ensure_ascii=ascii_only)


@settings(max_examples=300, deadline=None)
@given(_VALUES, st.booleans(), st.booleans())
def test_every_document_the_strict_parser_reads_is_read_identically(
    value: object, ascii_only: bool, spaced: bool
) -> None:
    text = _dump(value, ascii_only=ascii_only, spaced=spaced)
    assert same(read(text), wire._DECODER.decode(text))


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet=st.sampled_from("[]{}\",:'/*\\ \n0123456789.-eEtruflsnaINfy"), max_size=40))
def test_on_any_text_it_reads_what_the_strict_parser_reads_or_raises_a_value_error(text: str) -> None:
    """Never another exception (an IndexError, an assertion), and never a different value."""
    try:
        strict = wire._DECODER.decode(text)
    except ValueError:
        with contextlib.suppress(ValueError):
            read(text)
        return
    assert same(read(text), strict)


@settings(max_examples=200, deadline=None)
@given(st.data())
def test_json_nets_syntax_gives_the_same_value_as_the_strict_document(data: st.DataObject) -> None:
    """Each value written with Json.NET's syntax at random (comments for blanks, trailing commas,
    single quotes, unquoted names) reads as the strict text of the same value does."""
    value = data.draw(_VALUES)

    def blank() -> str:
        return data.draw(st.sampled_from(["", " ", "\n", "/* c */", "// c\n", " /**/ // x\r\n"]))

    def space() -> str:  # between a name and its colon Json.NET reads no comment
        return data.draw(st.sampled_from(["", " ", "\r\n\t"]))

    def text_of(string: str) -> str:
        if data.draw(st.booleans()):
            return json.dumps(string)
        inner = json.dumps(string)[1:-1].replace('\\"', '"').replace("'", "\\'")
        return "'" + inner + "'"

    def name_of(key: str) -> str:
        if key and all(c.isascii() and (c.isalnum() or c in "_$") for c in key) and data.draw(st.booleans()):
            return key
        return text_of(key)

    def write(v: object) -> str:
        if isinstance(v, str):
            return text_of(v)
        if isinstance(v, list | dict):
            items = (
                [write(x) for x in v]
                if isinstance(v, list)
                else [name_of(k) + space() + ":" + blank() + write(x) for k, x in v.items()]
            )
            trailing = bool(items) and data.draw(st.booleans())
            body = ",".join(blank() + item + blank() for item in items) + ("," + blank() if trailing else "")
            return f"[{body}]" if isinstance(v, list) else f"{{{body}}}"
        return _dump(v, ascii_only=False, spaced=False)

    lenient = blank() + write(value) + blank()
    assert same(read(lenient), wire._DECODER.decode(_dump(value, ascii_only=False, spaced=False)))
