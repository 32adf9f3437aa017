"""Random bodies and paths: whatever a client sends, the answer is never a 5xx and always the
3dcart record shape (a result or an error record)."""

from __future__ import annotations

import json
from urllib.parse import quote

import httpx
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from cartgroups.model import FIELDS
from tests.api.hostile import HOSTILE_NUMBERS, HOSTILE_TEXT, NON_TEXT_CHARSETS, RawNumber, to_json

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**80), max_value=2**80),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=20),
    st.sampled_from(["3", "12.50", "1e5", "NaN", "true", "", " ", "١٢", *HOSTILE_TEXT]),
    st.sampled_from(HOSTILE_NUMBERS).map(RawNumber),  # 1e1000000 and the like, written as they are
)
values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3),
    max_leaves=5,
)
names = st.sampled_from([f.wire for f in FIELDS] + [f.wire.lower() for f in FIELDS]) | st.text(max_size=10)
groups = st.dictionaries(names, values, max_size=12)
bodies = st.one_of(groups, st.lists(groups, max_size=4), values)

RECORD_KEYS = ["Key", "Value", "Status", "Message"]


def assert_record_shaped(response: httpx.Response) -> None:
    assert response.status_code < 500, response.text
    parsed = json.loads(response.content)
    assert isinstance(parsed, list) and parsed
    for record in parsed:
        assert list(record) == RECORD_KEYS, record
        assert record["Status"] == str(int(record["Status"]))


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(body=bodies, route=st.sampled_from(["post", "put", "bulk"]))
@example(body=[{"CustomerGroupID": "\ud800", "Name": "x"}], route="bulk")
@example(
    body=[{"CustomerGroupID": RawNumber("1e1000000"), "PriceLevel": RawNumber("-1e999999")}], route="bulk"
)
@example(
    body={"Name": "a\x00b", "MinimumOrder": RawNumber("0E+1000000"), "PriceLevel": RawNumber("1E-1000000")},
    route="put",
)
def test_no_body_gets_a_server_error(api: httpx.Client, body: object, route: str) -> None:
    raw = to_json(body).encode()
    response = _send(api, route, raw, {})
    assert_record_shaped(response)


def _send(api: httpx.Client, route: str, raw: bytes, headers: dict[str, str]) -> httpx.Response:
    # A bound (a huge exponent once held the server for a minute), not a timing claim.
    if route == "post":
        return api.post("/CustomerGroups", content=raw, headers=headers, timeout=5)
    if route == "put":
        return api.put("/CustomerGroups/1", content=raw, headers=headers, timeout=5)
    return api.put("/CustomerGroups", content=raw, headers=headers, timeout=5)


header_text = st.text(
    st.characters(min_codepoint=0x21, max_codepoint=0x7E, exclude_characters=';"\\'), max_size=12
)


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    body=bodies,
    route=st.sampled_from(["post", "put", "bulk"]),
    charset=st.sampled_from(NON_TEXT_CHARSETS) | header_text,
)
def test_no_charset_gets_a_server_error(api: httpx.Client, body: object, route: str, charset: str) -> None:
    """A charset that is not a text encoding is the 415 of an unknown one; any other is read."""
    headers = {"Content-Type": f"application/json; charset={charset}"}
    response = _send(api, route, to_json(body).encode(), headers)
    assert_record_shaped(response)
    if charset in NON_TEXT_CHARSETS:
        assert response.status_code == 415, response.text


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(segment=st.text(min_size=1, max_size=30), method=st.sampled_from(["GET", "PUT", "DELETE"]))
def test_no_item_path_gets_a_server_error(api: httpx.Client, segment: str, method: str) -> None:
    path = "/CustomerGroups/" + quote(segment, safe="")
    response = api.request(method, path, content=b"{}")
    assert response.status_code < 500, (path, response.text)
