"""The API reaches the database only through the service layer (README, Architecture; issue
#16): no module of cartgroups.api imports cartgroups.storage. What a handler needs of storage
(the read cache's interface, the write batch and its outcomes, the sandbox's rows, /healthz's
look at the database) is handed down by a service module."""

from __future__ import annotations

import ast

from tests.imports import imported, imports_of, modules_of, within


def test_the_checker_sees_every_form_of_import() -> None:
    source = (
        "import cartgroups.storage.tables\n"
        "from cartgroups import storage\n"
        "from cartgroups.storage.read_cache import ReadCache\n"
        "from cartgroups.storaged import x\n"
        "def f():\n    from cartgroups.storage import database\n"
    )
    found = [name for name in imported(ast.parse(source)) if within(name, "cartgroups.storage")]
    assert found == [
        "cartgroups.storage.tables",
        "cartgroups.storage",
        "cartgroups.storage.read_cache",
        "cartgroups.storage.read_cache.ReadCache",
        "cartgroups.storage",
        "cartgroups.storage.database",
    ]


def test_no_api_module_imports_storage() -> None:
    names = {path.name for path in modules_of("cartgroups.api")}
    assert names >= {"customer_groups.py", "dispatch.py", "sandbox.py", "system.py"}
    assert imports_of("cartgroups.api", "cartgroups.storage") == {}
