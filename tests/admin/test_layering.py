"""The console reaches the database only through the service layer (docs/admin.md, issue #16):
no module of cartgroups.admin imports cartgroups.storage, so what differs between SQLite and
PostgreSQL stays in storage/ and every change goes through the rules the API and CLI use. The
rows the console shows (StoreRow, TokenRow) are handed down by service.stores. The checker
itself is tested in tests/api/test_layering.py."""

from __future__ import annotations

from tests.imports import imports_of, modules_of


def test_no_admin_module_imports_storage() -> None:
    names = {path.name for path in modules_of("cartgroups.admin")}
    assert names >= {"__init__.py", "auth.py", "credentials.py", "groups.py", "sandbox.py", "web.py"}
    assert imports_of("cartgroups.admin", "cartgroups.storage") == {}
