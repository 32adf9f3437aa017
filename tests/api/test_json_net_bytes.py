"""Strings are written as Json.NET writes them: U+0085, U+2028 and U+2029 as ``\\u0085``,
``\\u2028``, ``\\u2029`` (which orjson and SQLite write raw), everything else as before, in every
body: GET by id, a list page from either writer, result and error records, the sandbox export."""

from __future__ import annotations

import json
from decimal import Decimal

import httpx
import orjson

from cartgroups.api import wire
from cartgroups.json_net import escaped
from cartgroups.model import CustomerGroup
from tests.api.support import (
    AWKWARD_TEXT,
    BAD_ITEM_ID,
    COLLECTION,
    JSON,
    State,
    array,
    assert_error,
    item_path,
    record,
    stored,
    stored_one,
)
from tests.conftest import STORE, create_group

# U+0085 NEXT LINE, U+2028 LINE SEPARATOR, U+2029 PARAGRAPH SEPARATOR, with their neighbours and
# the characters an HTML-minded writer would escape (Json.NET's default leaves them raw).
SEPARATORS = "a\u2028b\u2029c\u0085d \u2027\u202a\u0084\u0086 <>&'/"
SEPARATORS_JSON = "a\\u2028b\\u2029c\\u0085d \u2027\u202a\u0084\u0086 <>&'/".encode()

_SHORT = {"\b": "\\b", "\t": "\\t", "\n": "\\n", "\f": "\\f", "\r": "\\r", '"': '\\"', "\\": "\\\\"}
_ALWAYS = {"\u0085": "\\u0085", "\u2028": "\\u2028", "\u2029": "\\u2029"}


def json_net_string(text: str) -> bytes:
    """A JSON string the way Newtonsoft.Json's JavaScriptUtils.WriteEscapedJavaScriptString writes
    it with StringEscapeHandling.Default and '"' as the quote, character by character."""
    out = []
    for c in text:
        if c in _SHORT:
            out.append(_SHORT[c])
        elif c in _ALWAYS:
            out.append(_ALWAYS[c])
        elif c < " ":
            out.append(f"\\u{ord(c):04x}")  # MathUtils.IntToHex: lower-case
        else:
            out.append(c)
    return ('"' + "".join(out) + '"').encode()


def _every_character() -> str:
    """Every BMP character up to U+3000 (no surrogates there) and a few beyond."""
    return "".join(map(chr, range(0x3000))) + "\ufeff\uffff\U0001f600\U0010ffff"


def _group(text: str) -> CustomerGroup:
    return CustomerGroup(7, text, text[::-1], Decimal("1.50"), True, False, True, False, text, 3)


# ---------------------------------------------------------------- the writers, one by one


def test_every_character_is_written_as_json_net_writes_it() -> None:
    text = _every_character()
    assert escaped(orjson.dumps(text)) == json_net_string(text)
    for start in range(0, len(text), 97):  # short strings too, each with its neighbours
        piece = text[start : start + 97]
        assert escaped(orjson.dumps([piece])) == b"[" + json_net_string(piece) + b"]"


def test_groups_body_escapes_every_string_field_and_its_fields_form() -> None:
    s = json_net_string(SEPARATORS)
    r = json_net_string(SEPARATORS[::-1])
    assert wire.groups_body([_group(SEPARATORS)]) == (
        b'[{"CustomerGroupID":7,"Name":' + s + b',"Description":' + r + b',"MinimumOrder":1.50,'
        b'"NonTaxable":true,"AllowRegistration":false,"DisableRewardPoints":true,"AutoApprove":false,'
        b'"RegistrationMessage":' + s + b',"PriceLevel":3}]'
    )
    assert SEPARATORS_JSON in s
    fields = [f for f in wire.FIELDS if f.wire in ("Name", "MinimumOrder")]
    assert wire.groups_body([_group(SEPARATORS)], fields) == b'[{"Name":' + s + b',"MinimumOrder":1.50}]'


def test_records_are_escaped_and_a_lone_surrogate_still_becomes_u_fffd() -> None:
    records = [wire.record("Error", "\u2028\ud800", 400, "bad \u0085 value")]
    assert wire.records_body(records) == (
        b'[{"Key":"Error","Value":"\\u2028\xef\xbf\xbd","Status":"400","Message":"bad \\u0085 value"}]'
    )


def test_an_ascii_document_is_returned_as_it_is() -> None:
    document = b'[{"Name":"plain \\u2028 already escaped"}]'
    assert escaped(document) is document


def test_only_the_three_characters_change() -> None:
    """Neighbours share leading bytes (U+2027 is E2 80 A7, U+20AC is E2 82 AC, U+0084 is C2 84)."""
    text = "\u2027\u202a\u20ac\u0084\u0086\u00c2\u0085\u00e2\u2028"
    assert escaped(text.encode()) == "\u2027\u202a\u20ac\u0084\u0086\u00c2\\u0085\u00e2\\u2028".encode()
    assert json.loads(escaped(json.dumps(text, ensure_ascii=False).encode())) == text


# ---------------------------------------------------------------- through the API, both databases


def _expected(group_id: int, text: bytes) -> bytes:
    return (
        b'{"CustomerGroupID":%d,"Name":"%s","Description":"","MinimumOrder":0.0,"NonTaxable":false,'
        b'"AllowRegistration":false,"DisableRewardPoints":false,"AutoApprove":false,'
        b'"RegistrationMessage":"%s","PriceLevel":3}' % (group_id, text, text)
    )


def test_get_by_id_writes_the_separators_escaped(api: httpx.Client) -> None:
    create_group(api, Name=SEPARATORS, RegistrationMessage=SEPARATORS, PriceLevel=3)
    body = stored(api, 1)
    assert body == array(_expected(1, SEPARATORS_JSON))
    assert stored(api, 1) == body  # the kept answer is the same bytes


def test_a_list_page_writes_the_separators_escaped(api: httpx.Client) -> None:
    """The store writes the page (Store.list_groups_json), api/wire the group by id: both escape
    the same three characters."""
    create_group(api, Name="plain", RegistrationMessage="plain", PriceLevel=3)
    create_group(api, Name=SEPARATORS, RegistrationMessage=SEPARATORS, PriceLevel=3)
    expected = array(_expected(1, b"plain"), _expected(2, SEPARATORS_JSON))
    for _ in range(2):  # written, then kept
        response = api.get(COLLECTION)
        assert response.status_code == 200
        assert response.content == expected
    only_two = api.get(COLLECTION, params={"offset": "2"}).content
    assert only_two == array(_expected(2, SEPARATORS_JSON))


def test_an_error_record_echoing_the_characters_escapes_them(api: httpx.Client, state: State) -> None:
    create_group(api, Name="kept")
    before = state()
    sent = b'[{"CustomerGroupID":"1\\u2028\\u2029\\u0085","Name":"x"}]'
    response = api.put(COLLECTION, content=sent, headers=JSON)
    assert response.status_code == 400
    assert response.content == array(record("1\\u2028\\u2029\\u0085", 400, BAD_ITEM_ID))
    assert response.json()[0]["Value"] == "1\u2028\u2029\u0085"
    assert state() == before


def test_an_unknown_route_echoes_the_path_escaped(api: httpx.Client) -> None:
    path = item_path("1") + "/x\u2028y"
    response = api.get(path)
    written = f"/3dCartWebAPI/v1{item_path('1')}/x\\u2028y"  # as the record carries it
    assert_error(response, 404, f"No resource matches the path {written}")
    assert response.json()[0]["Message"].endswith("/x\u2028y")


def test_what_a_client_reads_back_is_what_it_sent(api: httpx.Client) -> None:
    texts = [*AWKWARD_TEXT, SEPARATORS, _every_character()[1:151]]  # NUL is refused
    for n, text in enumerate(texts, start=1):
        sent = {"Name": text[:150], "Description": text, "RegistrationMessage": text[::-1]}
        assert create_group(api, **sent) == n
        assert {k: stored_one(api, n)[k] for k in sent} == sent
        raw = stored(api, n)
        assert not any(c in raw.decode() for c in "\u0085\u2028\u2029"), raw
    page = api.get(COLLECTION, params={"limit": 100})
    assert [(g["Name"], g["Description"]) for g in page.json()] == [(t[:150], t) for t in texts]
    # What was read, sent back unchanged, changes nothing.
    group = stored_one(api, len(texts))
    before = stored(api, len(texts))
    assert api.put(item_path(len(texts)), json=group).status_code == 200
    assert stored(api, len(texts)) == before


def test_the_sandbox_export_is_escaped(control: httpx.Client, sandbox_api: httpx.Client) -> None:
    create_group(sandbox_api, Name=SEPARATORS, RegistrationMessage=SEPARATORS, PriceLevel=3)
    exported = control.get(f"/stores/{STORE}/export")
    assert exported.status_code == 200
    assert exported.content == array(_expected(1, SEPARATORS_JSON))
