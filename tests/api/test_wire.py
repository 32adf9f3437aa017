"""The wire: paths, versions, bytes, headers, CORS, 404/405/413/415, and every way a body breaks."""

from __future__ import annotations

import json

import httpx
import pytest

from tests.api.support import (
    COLLECTION,
    JSON,
    NOT_AN_OBJECT,
    State,
    array,
    assert_error,
    group_bytes,
    ids_of,
    item_path,
    record,
    stored,
    stored_one,
)
from tests.conftest import LiveServer, create_group, plain_client, result_body

MIB = 1024 * 1024
TOO_LARGE = "The request body is larger than the limit of 1048576 bytes"
NOT_JSON = "The request body is not valid JSON: "


def _root_client(server: LiveServer, api: httpx.Client) -> httpx.Client:
    """A client for the server root that carries the store's credentials."""
    return plain_client(server.base_url, dict(api.headers))


# ---------------------------------------------------------------- paths and versions


@pytest.mark.parametrize(
    "prefix",
    [
        "/3dCartWebAPI/v1/CustomerGroups",
        "/3dcartwebapi/v1/customergroups",
        "/3DCARTWEBAPI/V1/CUSTOMERGROUPS",
        "/3dCartWebAPI/v2/CustomerGroups",
        "/3dcartwebapi/V2/customerGroups",
    ],
)
def test_paths_match_case_insensitively_on_v1_and_v2(
    server: LiveServer, api: httpx.Client, prefix: str
) -> None:
    with _root_client(server, api) as client:
        assert client.post(prefix, json={"Name": "x"}).content == result_body(201, 1, "Created successfully")
        assert client.post(prefix + "/", json={"Name": "y"}).status_code == 201
        assert ids_of(client.get(prefix)) == [1, 2]
        assert ids_of(client.get(prefix + "/")) == [1, 2]
        assert client.get(prefix + "/1").content == b"[" + group_bytes(1, "x") + b"]"
        assert client.get(prefix + "/1/").content == b"[" + group_bytes(1, "x") + b"]"
        assert client.put(prefix + "/1/", json={"Name": "z"}).content == result_body(
            200, 1, "updated successfully"
        )
        assert client.put(prefix + "/", json=[{"CustomerGroupID": 2, "Name": "w"}]).content == array(
            record(2, 200, "updated successfully")
        )
        assert client.delete(prefix + "/2/").content == result_body(200, 2, "Deleted successfully")
        assert client.get(prefix + "?countonly=1").content == b'{"TotalCount":1}'


def test_v1_and_v2_answer_identical_bytes(server: LiveServer, api: httpx.Client) -> None:
    create_group(api, Name="a", MinimumOrder="1.50")
    create_group(api, Name="b")
    with _root_client(server, api) as client:
        for tail in ("", "?limit=1&offset=2", "?countonly=1", "/1", "/9", "/abc", "?offset=9"):
            v1 = client.get("/3dCartWebAPI/v1/CustomerGroups" + tail)
            v2 = client.get("/3dCartWebAPI/v2/CustomerGroups" + tail)
            assert (v1.status_code, v1.content) == (v2.status_code, v2.content), tail
        # a write through v2 is seen through v1
        assert client.put("/3dCartWebAPI/v2/CustomerGroups/2", json={"PriceLevel": 3}).is_success
    assert stored_one(api, 2)["PriceLevel"] == 3


@pytest.mark.parametrize(
    "path",
    [
        "/3dCartWebAPI/v1/Orders",
        "/3dCartWebAPI/v3/CustomerGroups",
        "/3dCartWebAPI/CustomerGroups",
        "/3dCartWebAPI/v1/CustomerGroups/1/extra",
        "/3dCartWebAPI/v1/CustomerGroupsX",
        "/CustomerGroups",
        "/nothing/here",
    ],
)
def test_unknown_routes_are_404_error_records(server: LiveServer, api: httpx.Client, path: str) -> None:
    with _root_client(server, api) as client:
        response = client.get(path)
    assert_error(response, 404, f"No resource matches the path {path}")
    assert response.headers["access-control-allow-origin"] == "*"
    _assert_no_cache(response)


def test_unknown_routes_are_404_also_for_writes_and_write_nothing(
    server: LiveServer, api: httpx.Client, state: State
) -> None:
    path = "/3dCartWebAPI/v1/CustomerGroup"
    before = state()
    with _root_client(server, api) as client:
        assert_error(client.post(path, json={"Name": "x"}), 404, f"No resource matches the path {path}")
    assert state() == before


# ---------------------------------------------------------------- bytes and headers


def _whitespace_outside_strings(body: bytes) -> bool:
    in_string = escaped = False
    for byte in body:
        char = chr(byte)
        if in_string:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                in_string = False
        elif char == '"':
            in_string = True
        elif char in " \t\r\n":
            return True
    return False


def test_the_whitespace_scanner_itself() -> None:
    assert _whitespace_outside_strings(b'[{"a": 1}]')
    assert _whitespace_outside_strings(b'{"a":1}\n')
    assert not _whitespace_outside_strings(b'[{"a b":"c \\" d"}]')


def _assert_compact(response: httpx.Response) -> None:
    body = response.content
    assert not body.startswith(b"\xef\xbb\xbf")
    assert not _whitespace_outside_strings(body), body
    json.loads(body)  # and it is one JSON document
    assert response.headers["content-type"] == "application/json; charset=utf-8"
    assert response.headers["access-control-allow-origin"] == "*"
    assert response.headers["content-length"] == str(len(body))
    _assert_no_cache(response)


def _assert_no_cache(response: httpx.Response) -> None:
    """The three headers every recording of the live service carries, on every reply."""
    assert response.headers["cache-control"] == "no-cache"
    assert response.headers["pragma"] == "no-cache"
    assert response.headers["expires"] == "-1"


def test_every_kind_of_response_is_compact_json_with_cors(api: httpx.Client) -> None:
    responses = [
        api.post(COLLECTION, json={"Name": "x"}),
        api.get(COLLECTION),
        api.get(COLLECTION, params={"countonly": "1"}),
        api.get(item_path(1)),
        api.put(item_path(1), json={"Name": "y"}),
        api.put(COLLECTION, json=[{"CustomerGroupID": 1}, {"CustomerGroupID": 5}]),
        api.get(item_path(9)),
        api.get(COLLECTION, params={"limit": "0"}),
        api.delete(COLLECTION),
        api.post(COLLECTION, content=b"x", headers={"Content-Type": "text/plain"}),
        api.delete(item_path(1)),
    ]
    assert [r.status_code for r in responses] == [201, 200, 200, 200, 200, 206, 404, 400, 405, 415, 200]
    for response in responses:
        _assert_compact(response)


def test_json_is_served_without_an_accept_header(api: httpx.Client) -> None:
    create_group(api)
    for method, path in (("GET", item_path(1)), ("GET", item_path(2)), ("GET", COLLECTION)):
        request = api.build_request(method, path)
        del request.headers["Accept"]
        response = api.send(request)
        assert response.headers["content-type"] == "application/json; charset=utf-8"
    request = api.build_request("GET", item_path(1))
    del request.headers["Accept"]
    assert api.send(request).content == b"[" + group_bytes(1) + b"]"


@pytest.mark.parametrize("accept", ["application/json", "text/json", "*/*", "text/html"])
def test_json_is_served_whatever_the_accept_header(api: httpx.Client, accept: str) -> None:
    create_group(api)
    response = api.get(item_path(1), headers={"Accept": accept})
    assert response.content == b"[" + group_bytes(1) + b"]"
    assert response.headers["content-type"] == "application/json; charset=utf-8"


# ---------------------------------------------------------------- CORS preflight and 405


@pytest.mark.parametrize(
    ("path", "methods"),
    [
        ("/3dCartWebAPI/v1/CustomerGroups", "POST, GET, PUT, OPTIONS"),
        ("/3dCartWebAPI/v2/customergroups/", "POST, GET, PUT, OPTIONS"),
        ("/3dCartWebAPI/v1/CustomerGroups/7", "GET, PUT, DELETE, OPTIONS"),
    ],
)
def test_a_preflight_is_answered_204_without_credentials(raw: httpx.Client, path: str, methods: str) -> None:
    response = raw.options(
        path,
        headers={
            "Origin": "https://app.example.net",
            "Access-Control-Request-Method": "PUT",
            "Access-Control-Request-Headers": "content-type,secureurl,privatekey,token",
        },
    )
    assert response.status_code == 204
    assert response.content == b""
    assert response.headers["access-control-allow-origin"] == "*"
    _assert_no_cache(response)
    assert response.headers["access-control-allow-methods"] == methods
    assert response.headers["access-control-allow-headers"].lower() == (
        "content-type,secureurl,privatekey,token"
    )


def test_a_preflight_without_requested_headers_allows_the_3dcart_headers(raw: httpx.Client) -> None:
    response = raw.options("/3dCartWebAPI/v1/CustomerGroups", headers={"Origin": "https://x.example"})
    assert response.status_code == 204
    allowed = {h.strip().lower() for h in response.headers["access-control-allow-headers"].split(",")}
    assert {"content-type", "accept", "secureurl", "privatekey", "token", "authorization"} <= allowed


@pytest.mark.parametrize(
    ("method", "path", "allow"),
    [
        ("DELETE", COLLECTION, "POST, GET, PUT, OPTIONS"),
        ("PATCH", COLLECTION, "POST, GET, PUT, OPTIONS"),
        ("PATCH", item_path(1), "GET, PUT, DELETE, OPTIONS"),
        ("POST", item_path(1), "GET, PUT, DELETE, OPTIONS"),
        ("POST", item_path(99), "GET, PUT, DELETE, OPTIONS"),
    ],
)
def test_a_wrong_method_is_405_with_allow_and_writes_nothing(
    api: httpx.Client, state: State, method: str, path: str, allow: str
) -> None:
    create_group(api)
    before = state()
    response = api.request(method, path, json={"Name": "x"})
    assert_error(
        response, 405, f"The requested resource does not support http method '{method}'; allowed: {allow}"
    )
    assert response.headers["allow"] == allow
    assert response.headers["access-control-allow-origin"] == "*"
    assert state() == before


# ---------------------------------------------------------------- content type and size


@pytest.mark.parametrize(
    ("content_type", "shown"),
    [
        ("text/plain", "text/plain"),
        ("text/plain; charset=utf-8", "text/plain"),
        ("application/x-www-form-urlencoded", "application/x-www-form-urlencoded"),
        ("application/atom+xml", "application/atom+xml"),
        ("multipart/form-data; boundary=x", "multipart/form-data"),
    ],
)
def test_a_body_that_is_neither_json_nor_xml_is_415_and_writes_nothing(
    api: httpx.Client, state: State, content_type: str, shown: str
) -> None:
    create_group(api)
    before = state()
    for method, path, body in (
        ("POST", COLLECTION, b'{"Name":"x"}'),
        ("PUT", item_path(1), b'{"Name":"x"}'),
        ("PUT", COLLECTION, b'[{"CustomerGroupID":1,"Name":"x"}]'),
    ):
        response = api.request(method, path, content=body, headers={"Content-Type": content_type})
        assert_error(
            response,
            415,
            "Content-Type must be a valid XML or JSON content type: application/json, text/json, "
            f"application/xml or text/xml (got {shown})",
        )
    assert state() == before


def test_an_unknown_charset_is_415(api: httpx.Client, state: State) -> None:
    before = state()
    response = api.post(
        COLLECTION, content=b'{"Name":"x"}', headers={"Content-Type": "application/json; charset=klingon"}
    )
    assert_error(response, 415, "Unsupported charset 'klingon'; send UTF-8")
    assert state() == before


@pytest.mark.parametrize(
    "content_type",
    [
        "application/json",
        "application/json; charset=utf-8",
        "Application/JSON; Charset=UTF-8",
        'application/json; charset="utf-8"',
        "text/json",
        "application/vnd.api+json",
    ],
)
def test_json_content_types_are_accepted(api: httpx.Client, content_type: str) -> None:
    response = api.post(COLLECTION, content=b'{"Name":"x"}', headers={"Content-Type": content_type})
    assert response.content == result_body(201, 1, "Created successfully")


def test_a_body_without_content_type_is_read_as_json(api: httpx.Client) -> None:
    request = api.build_request("POST", COLLECTION, content=b'{"Name":"x"}')
    assert "content-type" not in request.headers
    assert api.send(request).status_code == 201


def test_a_windows_1252_body_is_decoded(api: httpx.Client) -> None:
    # .NET's Encoding.Default, as in the seed's C# sample
    body = '{"Name":"Café €","Description":"naïve \u2013 ok"}'.encode("windows-1252")
    assert b"\xe9" in body and b"\x80" in body
    response = api.post(
        COLLECTION, content=body, headers={"Content-Type": "application/json; charset=windows-1252"}
    )
    assert response.status_code == 201
    assert stored(api, 1) == b"[" + group_bytes(1, "Café €", description="naïve \u2013 ok") + b"]"


def test_a_latin1_and_a_utf16_body_are_decoded(api: httpx.Client) -> None:
    latin = '{"Name":"Größe"}'.encode("latin-1")
    assert api.post(
        COLLECTION, content=latin, headers={"Content-Type": "application/json; charset=iso-8859-1"}
    ).is_success
    utf16 = '{"Name":"日本"}'.encode("utf-16")
    assert api.post(
        COLLECTION, content=utf16, headers={"Content-Type": "application/json; charset=utf-16"}
    ).is_success
    assert stored_one(api, 1)["Name"] == "Größe"
    assert stored_one(api, 2)["Name"] == "日本"


def test_a_utf8_byte_order_mark_is_skipped(api: httpx.Client) -> None:
    response = api.post(COLLECTION, content=b'\xef\xbb\xbf{"Name":"bom"}', headers=JSON)
    assert response.status_code == 201
    assert stored_one(api, 1)["Name"] == "bom"


def test_a_body_of_exactly_the_limit_is_accepted(api: httpx.Client) -> None:
    head = b'{"Name":"big"'
    body = head + b" " * (MIB - len(head) - 1) + b"}"
    assert len(body) == MIB
    assert api.post(COLLECTION, content=body, headers=JSON).content == result_body(
        201, 1, "Created successfully"
    )


@pytest.mark.parametrize("method", ["POST", "PUT-one", "PUT-bulk"])
def test_a_body_over_1_mib_is_413_and_writes_nothing(api: httpx.Client, state: State, method: str) -> None:
    create_group(api)
    before = state()
    verb, path = {
        "POST": ("POST", COLLECTION),
        "PUT-one": ("PUT", item_path(1)),
        "PUT-bulk": ("PUT", COLLECTION),
    }[method]
    head = b'[{"CustomerGroupID":1,"Name":"x"}' if method == "PUT-bulk" else b'{"Name":"x"'
    body = head + b" " * (MIB + 1 - len(head) - 1) + (b"]" if method == "PUT-bulk" else b"}")
    assert len(body) == MIB + 1
    assert_error(api.request(verb, path, content=body, headers=JSON), 413, TOO_LARGE)
    assert state() == before


def test_a_chunked_body_over_1_mib_is_413(api: httpx.Client, state: State) -> None:
    before = state()

    def chunks() -> object:
        yield b'{"Name":"x","Description":"'
        for _ in range(17):
            yield b"d" * 65536
        yield b'"}'

    request = api.build_request("POST", COLLECTION, content=chunks(), headers=JSON)  # type: ignore[arg-type]
    assert "content-length" not in request.headers
    assert_error(api.send(request), 413, TOO_LARGE)
    assert state() == before


def test_a_chunked_body_under_the_limit_is_accepted(api: httpx.Client) -> None:
    def chunks() -> object:
        yield b'{"Name":'
        yield b'"chunked"}'

    request = api.build_request("POST", COLLECTION, content=chunks(), headers=JSON)  # type: ignore[arg-type]
    assert api.send(request).status_code == 201
    assert stored_one(api, 1)["Name"] == "chunked"


# ---------------------------------------------------------------- broken bodies


BROKEN = [
    pytest.param(b"{", NOT_JSON + "Expecting property name (line 1, column 2)", id="open"),
    # One trailing comma and single quotes are Json.NET's syntax (tests/api/test_lenient_bodies.py);
    # two commas and an unclosed quote are not.
    pytest.param(
        b'{"Name":"x",,}', NOT_JSON + "Expecting property name (line 1, column 13)", id="two-commas"
    ),
    pytest.param(
        b"{'Name':'x}",
        NOT_JSON + "Unterminated string starting at (line 1, column 9)",
        id="single-quote-open",
    ),
    pytest.param(b'{"Name":"x"} {}', NOT_JSON + "Extra data (line 1, column 14)", id="extra-data"),
    pytest.param(
        b'{"Name":"x"\n,"PriceLevel":}', NOT_JSON + "Expecting value (line 2, column 15)", id="missing-value"
    ),
    pytest.param(b'{"Name":"x","MinimumOrder":NaN}', NOT_JSON + "NaN is not a number", id="nan"),
    pytest.param(
        b'{"Name":"x","MinimumOrder":Infinity}', NOT_JSON + "Infinity is not a number", id="infinity"
    ),
    pytest.param(
        b'{"Name":"x","MinimumOrder":-Infinity}', NOT_JSON + "-Infinity is not a number", id="minus-infinity"
    ),
    pytest.param(
        b'{"Name":"x","PriceLevel":1' + b"0" * 5000 + b"}",
        NOT_JSON + "a number in it is too long",
        id="huge-number",
    ),
    pytest.param(
        b'{"Name":"x","Foo":' + b"[" * 100_000 + b"]" * 100_000 + b"}",
        NOT_JSON + "it is nested too deeply",
        id="deep-nesting",
    ),
    pytest.param(b'{"Name":"caf\xe9"}', "The request body is not valid utf-8 text", id="invalid-utf8"),
    pytest.param(b'{"Name":"\xff\xfe"}', "The request body is not valid utf-8 text", id="invalid-utf8-ff"),
    pytest.param(b"", "The request body is empty; send a JSON document", id="empty"),
    pytest.param(b"  \r\n\t ", "The request body is empty; send a JSON document", id="whitespace"),
    pytest.param(b'{"Name":"x"', NOT_JSON + "Expecting ',' delimiter (line 1, column 12)", id="unclosed"),
]


@pytest.mark.parametrize(("content", "message"), BROKEN)
def test_a_broken_body_is_400_and_writes_nothing(
    api: httpx.Client, state: State, content: bytes, message: str
) -> None:
    create_group(api)
    before = state()
    assert_error(api.post(COLLECTION, content=content, headers=JSON), 400, message)
    assert_error(api.put(item_path(1), content=content, headers=JSON), 400, message)
    assert_error(api.put(COLLECTION, content=content, headers=JSON), 400, message)
    assert state() == before


def test_a_deeply_nested_bulk_body_is_400(api: httpx.Client, state: State) -> None:
    before = state()
    content = b"[" * 50_000 + b"]" * 50_000
    assert_error(
        api.put(COLLECTION, content=content, headers=JSON), 400, NOT_JSON + "it is nested too deeply"
    )
    assert state() == before


def test_an_array_on_put_by_id_is_400(api: httpx.Client, state: State) -> None:
    create_group(api)
    before = state()
    assert_error(api.put(item_path(1), json=[]), 400, NOT_AN_OBJECT)
    assert_error(api.put(item_path(1), json=[{"Name": "x"}]), 400, NOT_AN_OBJECT)
    assert state() == before


def test_the_server_keeps_working_after_broken_requests(api: httpx.Client) -> None:
    for content in (b"{", b"[" * 100_000, b"\xff", b'{"Name":"x","MinimumOrder":NaN}'):
        assert api.post(COLLECTION, content=content, headers=JSON).status_code == 400
    assert create_group(api) == 1


def test_extra_browser_headers_are_ignored(server: LiveServer, api: httpx.Client) -> None:
    headers = {**dict(api.headers), "X-Requested-With": "XMLHttpRequest", "Origin": "https://x.example"}
    with plain_client(server.base_url + "/3dCartWebAPI/v1", headers) as browser:
        response = browser.post(COLLECTION, json={"Name": "x"})
    assert response.content == result_body(201, 1, "Created successfully")
    assert response.headers["access-control-allow-origin"] == "*"
