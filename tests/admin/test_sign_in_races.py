"""The sign-in brake against parallel sign-ins on the live console (issue #15, item 3), on both
databases: of many wrong passwords sent at once, no more are checked than the brake allows,
and the right password sent right after them is refused with the brake's message."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import cast

import httpx
import pytest
from starlette.applications import Starlette

from cartgroups.admin.web import Console
from cartgroups.service import operators as ops
from tests.admin.support import PASSWORD, USERNAME, Browser, text_of
from tests.conftest import LiveServer

PARALLEL = 40
T0 = 1_900_000_000.0
WRONG = "wrong password!"
BRAKE = "Too many failed sign-ins. Try again in 2 seconds."


class CountingVerifier:
    """The real password check, counted, and made slow enough (as scrypt at full cost is) for
    the parallel sign-ins to overlap."""

    def __init__(self) -> None:
        self.calls = 0
        self._lock = threading.Lock()

    def __call__(self, password: str, stored: str) -> bool:
        with self._lock:
            self.calls += 1
        time.sleep(0.05)
        return ops.verify_password(password, stored)


def _console(server: LiveServer) -> Console:
    found: Console = cast(Starlette, server.app.admin).state.console
    return found


@pytest.fixture
def verifier(server: LiveServer, monkeypatch: pytest.MonkeyPatch) -> CountingVerifier:
    """Counts the checks of the live server's console; its clock stands still, so that no lock
    runs out while the test runs."""
    counting = CountingVerifier()
    monkeypatch.setattr(_console(server).operators, "verifier", counting)
    monkeypatch.setattr(_console(server).operators, "clock", lambda: T0)
    return counting


@pytest.fixture
def crowd(server: LiveServer) -> Iterator[list[Browser]]:
    browsers = [Browser(server.base_url) for _ in range(PARALLEL)]
    for browser in browsers:
        browser.get("/admin/sign-in")  # its form cookie and token
    yield browsers
    for browser in browsers:
        browser.close()


def _all_at_once(crowd: list[Browser], username: str = USERNAME) -> list[httpx.Response]:
    start = threading.Barrier(len(crowd))

    def post(browser: Browser) -> httpx.Response:
        start.wait()
        return browser.post("/admin/sign-in", {"username": username, "password": WRONG})

    with ThreadPoolExecutor(len(crowd)) as pool:
        return list(pool.map(post, crowd))


def _sessions(server: LiveServer) -> int:
    with server.db.read() as conn:
        return len(conn.execute(ops.op_sql.sa.select(ops.op_sql.operator_sessions)).all())


def test_parallel_wrong_passwords_are_checked_no_more_than_the_brake_allows(
    server: LiveServer, operator: int, verifier: CountingVerifier, crowd: list[Browser]
) -> None:
    free = ops.FREE_FAILURES["user"]
    responses = _all_at_once(crowd)
    assert verifier.calls == free + 1
    statuses = sorted(response.status_code for response in responses)
    assert statuses == [401] * free + [429] * (PARALLEL - free)
    for response in responses:
        if response.status_code == 429:
            assert BRAKE in text_of(response.text)
            assert response.headers["retry-after"] == "2"
    row = _console(server).operators.failures(subject="user:alice")
    assert row is not None and row.failures == free + 1


def test_the_right_password_right_after_parallel_failures_is_refused(
    server: LiveServer, operator: int, verifier: CountingVerifier, crowd: list[Browser]
) -> None:
    _all_at_once(crowd)
    checked = verifier.calls
    right = Browser(server.base_url)
    try:
        response = right.sign_in(USERNAME, PASSWORD)
    finally:
        right.close()
    assert response.status_code == 429
    assert BRAKE in text_of(response.text)
    assert "cartgroups_admin=" not in response.headers.get("set-cookie", "")
    assert verifier.calls == checked  # refused without a look at the password
    assert _sessions(server) == 0
