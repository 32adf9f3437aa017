"""Run a real cartgroups server inside your tests.

    with cartgroups.testing.serve() as server:
        httpx.get(server.api_url + "/CustomerGroups", headers=server.headers)

Under pytest, the ``cartgroups_server`` fixture (registered automatically when cartgroups is
installed) gives the same object, emptied before each test. See docs/testing.md.

The names are loaded on first use, so that pytest, which imports the plugin in every project
where cartgroups is installed, does not pay for the server's imports unless a test asks for it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from cartgroups.testing.server import Seeded, SeedError, StoreCredentials, TestServer, serve

__all__ = ["SeedError", "Seeded", "StoreCredentials", "TestServer", "serve"]


def __getattr__(name: str) -> object:
    if name in __all__:
        from cartgroups.testing import server

        return getattr(server, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
