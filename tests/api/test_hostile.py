"""Nasty inputs not covered elsewhere, each with its exact answer and "nothing changed".

Already proven elsewhere (not repeated here): broken JSON, invalid UTF-8, NaN/Infinity,
too-long numbers and 100 000-deep nesting (test_wire.py BROKEN), bodies over 1 MiB (test_wire),
an escaped NUL in a name (test_create), -0 stored as 0.0 (test_decimal), more than 1000 bulk
items (test_bulk). Random bodies and paths: test_fuzz.py; every operation from openapi.json:
test_schemathesis.py."""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Iterator

import httpx
import pytest

from cartgroups.config import Settings
from cartgroups.service.credentials import Issued
from cartgroups.testing.server import stop_in_thread
from tests.api.support import (
    COLLECTION,
    DECIMAL_RULE,
    JSON,
    LEVEL_RULE,
    REJECTED,
    State,
    assert_error,
    item_path,
    stored_one,
)
from tests.conftest import (
    LiveServer,
    create_group,
    db_state,
    error_body,
    headers_for,
    plain_client,
    start_server,
)

NOT_JSON = "The request body is not valid JSON: "
CONTROL = NOT_JSON + "Invalid control character at (line 1, column {})"

CORPUS = [
    pytest.param(b'{"Name":"a\x00b"}', CONTROL.format(11), id="raw-nul"),
    pytest.param(b'{"Name":"x","MinimumOrder":1e400}', DECIMAL_RULE, id="1e400"),
    pytest.param(b'{"Name":"x","MinimumOrder":-1e400}', "MinimumOrder must not be negative", id="-1e400"),
    pytest.param(b'{"Name":"x","MinimumOrder":1e-400}', DECIMAL_RULE, id="1e-400"),
    pytest.param(b'{"Name":"x","PriceLevel":1e400}', LEVEL_RULE, id="level-1e400"),
    pytest.param(b'{"Name":"x","MinimumOrder":' + b"9" * 4000 + b"}", DECIMAL_RULE, id="huge-integer"),
    pytest.param(b'{"Name":"x","PriceLevel":' + b"9" * 4000 + b"}", LEVEL_RULE, id="huge-level"),
    pytest.param(b'{"Name":"x","PriceLevel":-2147483649}', LEVEL_RULE, id="level-under-int32"),
    pytest.param(b'{"Name":"x","PriceLevel":2147483648}', LEVEL_RULE, id="level-over-int32"),
    pytest.param(
        b'{"Name":"x","NonTaxable":"\x00"}',
        NOT_JSON + "Invalid control character at (line 1, column 27)",
        id="nul-flag",
    ),
]


@pytest.mark.parametrize(("content", "message"), CORPUS)
def test_nasty_values_are_400_with_the_exact_message_and_write_nothing(
    api: httpx.Client, state: State, content: bytes, message: str
) -> None:
    create_group(api)
    before = state()
    assert_error(api.post(COLLECTION, content=content, headers=JSON), 400, message)
    assert_error(api.put(item_path(1), content=content, headers=JSON), 400, message)
    assert state() == before


def test_duplicate_keys_the_last_one_wins(api: httpx.Client) -> None:
    """As Json.NET reads them (and Python's json): no error, the later value counts."""
    content = b'{"Name":"first","Name":"second","PriceLevel":3,"PriceLevel":4}'
    assert api.post(COLLECTION, content=content, headers=JSON).status_code == 201
    group = stored_one(api, 1)
    assert (group["Name"], group["PriceLevel"]) == ("second", 4)


def test_a_10_mb_body_is_413_and_writes_nothing(api: httpx.Client, state: State) -> None:
    create_group(api)
    before = state()
    big = json.dumps([{"CustomerGroupID": 1, "Description": "x" * 10_000}] * 1000).encode()
    assert len(big) > 10_000_000
    message = "The request body is larger than the limit of 1048576 bytes"
    assert_error(api.put(COLLECTION, content=big, headers=JSON), 413, message)
    assert_error(api.post(COLLECTION, content=big, headers=JSON), 413, message)
    assert state() == before


def test_5000_bulk_items_are_refused_whole_naming_the_maximum(api: httpx.Client, state: State) -> None:
    create_group(api)
    before = state()
    items = [{"CustomerGroupID": 1, "Name": f"n{n}"} for n in range(5000)]
    response = api.put(COLLECTION, content=json.dumps(items).encode(), headers=JSON)
    assert_error(response, 400, "A bulk update takes at most 1000 items (got 5000)")
    assert state() == before


@pytest.mark.parametrize("size", [8 * 1024, 60 * 1024])
def test_very_long_header_values_get_a_normal_answer(
    api: httpx.Client, creds: Issued, state: State, size: int
) -> None:
    """Long values within the head's cap (CARTGROUPS_MAX_HEADER_BYTES, 64 KiB) reach the app,
    which answers them as any other value, never a 5xx; over it, tests/test_connection_limits.py."""
    create_group(api)
    before = state()
    long = "a" * size
    assert api.get(item_path(1), headers={"X-Padding": long}).status_code == 200
    for name in ("Token", "PrivateKey", "SecureURL", "Authorization"):
        value = f"Bearer {long}" if name == "Authorization" else long
        headers = {name: value}
        if name == "Authorization":
            headers["Token"] = ""
        response = api.put(item_path(1), json={"Name": "changed"}, headers=headers)
        assert_error(response, 401, REJECTED)
    response = api.post(COLLECTION, content=b"{}", headers={"Content-Type": "application/" + long})
    assert response.status_code == 415
    assert state() == before


# ---------------------------------------------------------------- slow clients

DEADLINE = 2.0


@pytest.fixture
def slow_server(server: LiveServer) -> Iterator[LiveServer]:
    """A second server on the (emptied) session database, with a short body deadline."""
    url = server.db.engine.url.render_as_string(hide_password=False)
    live, thread = start_server(Settings(database_url=url, body_timeout_seconds=DEADLINE))
    yield live
    stop_in_thread(live.server, thread)


def _open_post(live: LiveServer, issued: Issued, length: int) -> socket.socket:
    """A POST whose headers are sent in full and whose body is still to come."""
    port = int(live.base_url.rsplit(":", 1)[1])
    sock = socket.create_connection(("127.0.0.1", port), timeout=30)
    assert issued.private_key is not None
    head = (
        f"POST /3dCartWebAPI/v1/CustomerGroups HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        f"Content-Type: application/json\r\nContent-Length: {length}\r\n"
        f"SecureURL: {issued.secure_url}\r\nPrivateKey: {issued.private_key}\r\n"
        f"Token: {issued.token}\r\n\r\n"
    )
    sock.sendall(head.encode())
    return sock


def _read_all(sock: socket.socket) -> bytes:
    chunks = []
    while chunk := sock.recv(65536):
        chunks.append(chunk)
    return b"".join(chunks)


def _read_response(sock: socket.socket) -> bytes:
    """One HTTP response, read up to the end of its Content-Length (the connection stays open:
    a client that half-closes its socket is taken by uvicorn to have left, and may get no answer)."""
    data = b""
    while b"\r\n\r\n" not in data and (chunk := sock.recv(65536)):
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    length = next(
        int(line.split(b":", 1)[1])
        for line in head.split(b"\r\n")
        if line.lower().startswith(b"content-length:")
    )
    while len(body) < length and (chunk := sock.recv(65536)):
        body += chunk
    return head + b"\r\n\r\n" + body


def test_a_body_sent_a_byte_at_a_time_is_read_and_does_not_block_others(
    slow_server: LiveServer, creds: Issued
) -> None:
    body = b'{"Name":"slow"}'
    with (
        _open_post(slow_server, creds, len(body)) as sock,
        plain_client(slow_server.base_url + "/3dCartWebAPI/v1", headers_for(creds)) as other,
    ):
        for n, byte in enumerate(body):
            sock.sendall(bytes([byte]))
            if n % 5 == 0:  # meanwhile the server answers others
                assert other.get(COLLECTION, params={"countonly": 1}).status_code == 200
            time.sleep(0.01)
        answer = _read_response(sock)
        assert answer.startswith(b"HTTP/1.1 201 "), answer
        assert stored_one(other, 1)["Name"] == "slow"


def test_a_body_slower_than_the_deadline_is_cut_with_408(slow_server: LiveServer, creds: Issued) -> None:
    before = db_state(slow_server.db)
    with _open_post(slow_server, creds, 100) as sock:
        sock.sendall(b'{"Name":')  # ... and nothing more
        with plain_client(slow_server.base_url + "/3dCartWebAPI/v1", headers_for(creds)) as other:
            # The stalled request holds nothing up: others are served while it waits.
            for _ in range(5):
                assert other.post(COLLECTION, json={"Name": "other"}).status_code == 201
        answer = _read_all(sock)  # the server closes the connection after its answer
    head, _, content = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 408 "), answer
    assert b"connection: close" in head.lower()
    assert content == error_body(408, f"The request body did not arrive within {DEADLINE:g} seconds")
    after = db_state(slow_server.db)
    assert len(after) == len(before) + 5  # the five others; the stalled one wrote nothing
