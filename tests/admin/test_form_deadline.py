"""Console forms are read under the API's body deadline (issue #15, item 8), on both databases:
a form whose body stalls, signed in or not, is answered 408 within the deadline
(CARTGROUPS_BODY_TIMEOUT_SECONDS) and its connection closed, and nothing is written."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator

import pytest
import sqlalchemy as sa

from cartgroups.admin.web import SECURITY_HEADERS, SESSION_COOKIE
from cartgroups.config import Settings
from cartgroups.service import credentials
from cartgroups.storage import tables
from cartgroups.testing.server import stop_in_thread
from tests.admin.support import Browser, text_of
from tests.conftest import STORE, LiveServer, db_state, start_server

DEADLINE = 1.5
FORM = "application/x-www-form-urlencoded"
ANSWERED_WITHIN = 15  # seconds: the deadline and then some, far short of "never"


@pytest.fixture
def slow_server(server: LiveServer) -> Iterator[LiveServer]:
    """A second server on the (emptied) session database, with a short body deadline."""
    url = server.db.engine.url.render_as_string(hide_password=False)
    live, thread = start_server(Settings(database_url=url, body_timeout_seconds=DEADLINE))
    yield live
    stop_in_thread(live.server, thread)


def _stalled_post(live: LiveServer, path: str, cookie: str = "") -> tuple[bytes, float]:
    """POST a form whose headers arrive in full and whose body stops part-way; the answer (read
    to the end: the server must close the connection) and how long it took."""
    port = int(live.base_url.rsplit(":", 1)[1])
    started = time.monotonic()
    with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
        head = (
            f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Type: {FORM}\r\n"
            f"Content-Length: 200\r\n{f'Cookie: {cookie}' + chr(13) + chr(10) if cookie else ''}\r\n"
        )
        sock.sendall(head.encode() + b"csrf_token=abc&username=al")  # ... and nothing more
        chunks = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks), time.monotonic() - started


def _assert_cut(answer: bytes, elapsed: float) -> None:
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 408 "), answer[:300]
    assert elapsed < ANSWERED_WITHIN
    lines = [line.decode("latin-1").lower() for line in head.split(b"\r\n")[1:]]
    headers = dict(line.split(": ", 1) for line in lines)
    assert headers["connection"] == "close"
    for name, value in SECURITY_HEADERS.items():
        assert headers[name] == value.lower()
    assert f"The form did not arrive within {DEADLINE:g} seconds." in text_of(body.decode())


def _brake_rows(live: LiveServer) -> list[object]:
    with live.db.read() as conn:
        return list(conn.execute(sa.select(tables.sign_in_failures)).all())


def test_a_stalled_sign_in_form_is_cut_with_408(slow_server: LiveServer, operator: int) -> None:
    answer, elapsed = _stalled_post(slow_server, "/admin/sign-in")
    _assert_cut(answer, elapsed)
    assert _brake_rows(slow_server) == []  # no attempt counted


def test_a_stalled_form_of_a_signed_in_operator_is_cut_with_408(
    slow_server: LiveServer, operator: int
) -> None:
    credentials.issue(slow_server.db, secure_url=STORE)
    store_id = credentials.store_id_of(slow_server.db, STORE)
    browser = Browser(slow_server.base_url)
    try:
        assert browser.sign_in().status_code == 303
        session = browser.client.cookies[SESSION_COOKIE]
    finally:
        browser.close()
    before = db_state(slow_server.db)
    answer, elapsed = _stalled_post(
        slow_server, f"/admin/stores/{store_id}/groups/new", cookie=f"{SESSION_COOKIE}={session}"
    )
    _assert_cut(answer, elapsed)
    assert db_state(slow_server.db) == before
