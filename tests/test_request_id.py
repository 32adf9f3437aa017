"""X-Request-ID: a sent id is kept when it is 1 to 128 visible ASCII characters, anything else is
replaced by a new one, and the id is echoed on every route and written with the access line."""

from __future__ import annotations

import logging
import re
import time

import httpx
import pytest

from cartgroups.api.dispatch import request_id
from cartgroups.logs import ACCESS_LOGGER
from tests.conftest import LiveServer, create_group, plain_client

NEW_ID = re.compile(r"[0-9a-f]{16}")
API = "/3dCartWebAPI/v1"


def scope_with(*headers: tuple[bytes, bytes]) -> dict[str, object]:
    return {"headers": [(b"host", b"x"), *headers]}


@pytest.mark.parametrize(
    "sent", [b"abc", b"0" * 128, b"req-42_7.x:y/z+=", b"!~", b"a|b{c}\"'"], ids=lambda b: b[:12].decode()
)
def test_a_sent_id_of_visible_ascii_is_kept(sent: bytes) -> None:
    assert request_id(scope_with((b"x-request-id", sent))) == sent


@pytest.mark.parametrize(
    "sent",
    [b"", b"0" * 129, b"has space", b"tab\there", b"caf\xc3\xa9", b"new\nline", b"del\x7f", b"nul\x00"],
    ids=["empty", "129 chars", "space", "tab", "non-ascii", "newline", "del", "nul"],
)
def test_a_bad_sent_id_is_replaced_by_a_new_one(sent: bytes) -> None:
    made = request_id(scope_with((b"x-request-id", sent)))
    assert NEW_ID.fullmatch(made.decode()), made


def test_without_one_each_request_gets_a_new_id() -> None:
    made = {request_id(scope_with()) for _ in range(100)}
    assert len(made) == 100
    assert all(NEW_ID.fullmatch(m.decode()) for m in made)


def test_the_name_is_case_insensitive_and_the_last_one_wins() -> None:
    assert request_id(scope_with((b"X-Request-Id", b"first"), (b"x-request-id", b"second"))) == b"second"


@pytest.fixture
def access_records(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    caplog.set_level(logging.INFO, logger=ACCESS_LOGGER)  # the running server honours it
    return caplog


def access_of(caplog: pytest.LogCaptureFixture, request_id: str) -> dict[str, object]:
    """The access fields of the line with this request id (the server thread writes it just
    after the answer went out: wait for it, bounded)."""
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        for record in list(caplog.records):
            fields = getattr(record, "access", None)
            if (
                record.name == ACCESS_LOGGER
                and isinstance(fields, dict)
                and fields["request_id"] == request_id
            ):
                assert record.getMessage().endswith(f" request_id={request_id} client=127.0.0.1")
                return fields
        time.sleep(0.02)
    raise AssertionError(f"no access line with request id {request_id}: {caplog.text}")


ROUTES = [
    ("GET", f"{API}/CustomerGroups/{{id}}", 200),  # a 3dcart route
    ("GET", f"{API}/CustomerGroups/{{missing}}", 404),
    ("OPTIONS", f"{API}/CustomerGroups", 204),  # a preflight: no body, no Content-Length
    ("PATCH", f"{API}/CustomerGroups/{{id}}", 405),
    ("GET", "/no/such/path", 404),
    ("GET", "/healthz", 200),
    ("GET", "/admin/stores", 303),  # the console (sign-in first)
]


@pytest.mark.parametrize(("method", "path", "status"), ROUTES)
def test_every_route_echoes_a_sent_id_and_logs_it(
    api: httpx.Client,
    server: LiveServer,
    access_records: pytest.LogCaptureFixture,
    method: str,
    path: str,
    status: int,
) -> None:
    group = create_group(api)
    path = path.format(id=group, missing=group + 1)
    sent = f"trace-{method}-{status}-{time.monotonic_ns()}"
    with plain_client(server.base_url, dict(api.headers)) as client:
        response = client.request(method, path, headers={"X-Request-ID": sent})
    assert response.status_code == status
    assert response.headers["x-request-id"] == sent
    assert response.headers.get_list("x-request-id") == [sent]
    fields = access_of(access_records, sent)
    assert (fields["method"], fields["path"], fields["status"]) == (method, path, status)


@pytest.mark.parametrize(("method", "path", "status"), ROUTES)
def test_every_route_makes_an_id_when_none_or_a_bad_one_is_sent(
    api: httpx.Client,
    server: LiveServer,
    access_records: pytest.LogCaptureFixture,
    method: str,
    path: str,
    status: int,
) -> None:
    group = create_group(api)
    path = path.format(id=group, missing=group + 1)
    with plain_client(server.base_url, dict(api.headers)) as client:
        plain = client.request(method, path)
        bad = client.request(method, path, headers={"X-Request-ID": "x" * 129})
    made = [plain.headers["x-request-id"], bad.headers["x-request-id"]]
    assert [plain.status_code, bad.status_code] == [status, status]
    assert all(NEW_ID.fullmatch(m) for m in made) and made[0] != made[1], made
    for one in made:
        assert access_of(access_records, one)["status"] == status


def test_the_id_is_logged_with_the_store(api: httpx.Client, access_records: pytest.LogCaptureFixture) -> None:
    group = create_group(api)
    response = api.get(f"/CustomerGroups/{group}", headers={"X-Request-ID": "with-store"})
    assert response.status_code == 200
    fields = access_of(access_records, "with-store")
    assert fields["store"] == api.headers["SecureURL"]
