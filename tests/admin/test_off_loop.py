"""The console's synchronous services run off the event loop (cartgroups/offloop.py), on both
databases: on PostgreSQL each of their calls is a round trip, and seconds while the database
does not answer, which on the loop would hold up every request of the process. Shown here for
the store lookup every store page starts with, and the session lookup every signed-in page
starts with."""

from __future__ import annotations

import threading
from typing import cast

import pytest
from starlette.applications import Starlette

from cartgroups.admin.web import Console
from cartgroups.service import credentials
from cartgroups.service.credentials import Issued
from cartgroups.service.operators import Session
from cartgroups.service.stores import StoreRow
from tests.admin.support import Browser
from tests.conftest import STORE, LiveServer

SYNC_THREAD = "cartgroups-sync"  # offloop.py's thread_name_prefix


def _console(server: LiveServer) -> Console:
    found: Console = cast(Starlette, server.app.admin).state.console
    return found


def test_a_store_page_looks_the_store_and_the_session_up_off_the_loop(
    browser: Browser, server: LiveServer, creds: Issued, monkeypatch: pytest.MonkeyPatch
) -> None:
    console = _console(server)
    real_get, real_session = console.stores.get, console.operators.session
    threads: dict[str, list[str]] = {"get": [], "session": []}

    def get(store_id: int) -> StoreRow | None:
        threads["get"].append(threading.current_thread().name)
        return real_get(store_id)

    def session(session_id: str) -> Session | None:
        threads["session"].append(threading.current_thread().name)
        return real_session(session_id)

    monkeypatch.setattr(console.stores, "get", get)
    monkeypatch.setattr(console.operators, "session", session)
    store_id = credentials.store_id_of(server.db, STORE)

    page = browser.get(f"/admin/stores/{store_id}/groups")

    assert page.status_code == 200, page.text
    assert STORE in page.text  # the page was built on what the patched lookup found
    assert threads["get"] and threads["session"]
    for name in threads["get"] + threads["session"]:
        assert name.startswith(SYNC_THREAD), name
