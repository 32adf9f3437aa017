"""The pytest plugin, registered through the ``pytest11`` entry point when cartgroups is installed.

Fixtures:

- ``cartgroups_server``: a TestServer with no groups in any store, for one test.
- ``cartgroups_session_server``: the one server behind it, started when a test first asks
  for either fixture and stopped at the end of the session; it is not reset between tests.
- ``cartgroups_settings``: the Settings fields the server starts with (none by default);
  override it in the conftest.py at the root of your tests, e.g. to return
  ``{"max_bulk_items": 10}`` (a different value seen by one test fails that test: there is
  only one server per session).

Nothing is autouse and the server's code is imported only when a test asks for a fixture, so
projects that have cartgroups installed but do not use these fixtures pay nothing.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from cartgroups.testing.server import TestServer


_STARTED_WITH = pytest.StashKey[dict[str, Any]]()

SETTINGS_DIFFER = (
    "cartgroups_settings is {wanted!r} here, but the session's cartgroups server started with "
    "{started!r}: there is one server per session, so override cartgroups_settings in the "
    "conftest.py at the root of your tests, not in a test module or a sub-directory"
)


@pytest.fixture(scope="session")
def cartgroups_settings() -> dict[str, Any]:
    """Settings fields for the test server (see cartgroups.config.Settings); none by default."""
    return {}


@pytest.fixture(scope="session")
def cartgroups_session_server(
    cartgroups_settings: dict[str, Any], pytestconfig: pytest.Config
) -> Iterator[TestServer]:
    """One cartgroups server for the whole session; state carries over from test to test."""
    from cartgroups.testing.server import check_settings, serve

    try:
        check_settings(cartgroups_settings)
    except TypeError as exc:
        pytest.fail(f"cartgroups_settings: {exc}", pytrace=False)
    pytestconfig.stash[_STARTED_WITH] = dict(cartgroups_settings)
    with serve(**cartgroups_settings) as server:
        yield server


@pytest.fixture
def cartgroups_server(
    cartgroups_session_server: TestServer, cartgroups_settings: dict[str, Any], pytestconfig: pytest.Config
) -> TestServer:
    """The session's server with every store emptied: ids start at 1, credentials stay valid;
    no fault rules, journal entries or throttling overrides are left from earlier tests."""
    started = pytestconfig.stash.get(_STARTED_WITH, cartgroups_settings)
    if cartgroups_settings != started:
        pytest.fail(SETTINGS_DIFFER.format(wanted=cartgroups_settings, started=started), pytrace=False)
    cartgroups_session_server.reset()
    return cartgroups_session_server
