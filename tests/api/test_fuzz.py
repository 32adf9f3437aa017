"""Random bodies and paths: whatever a client sends, the answer is never a 5xx and always the
3dcart record shape (a result or an error record)."""

from __future__ import annotations

import json
from urllib.parse import quote

import httpx
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from cartgroups.model import FIELDS

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**80), max_value=2**80),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=20),
    st.sampled_from(["3", "12.50", "1e5", "NaN", "true", "\ud800", "\x00", "", " ", "١٢"]),
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
def test_no_body_gets_a_server_error(api: httpx.Client, body: object, route: str) -> None:
    raw = json.dumps(body).encode()
    if route == "post":
        response = api.post("/CustomerGroups", content=raw)
    elif route == "put":
        response = api.put("/CustomerGroups/1", content=raw)
    else:
        response = api.put("/CustomerGroups", content=raw)
    assert_record_shaped(response)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(segment=st.text(min_size=1, max_size=30), method=st.sampled_from(["GET", "PUT", "DELETE"]))
def test_no_item_path_gets_a_server_error(api: httpx.Client, segment: str, method: str) -> None:
    path = "/CustomerGroups/" + quote(segment, safe="")
    response = api.request(method, path, content=b"{}")
    assert response.status_code < 500, (path, response.text)
