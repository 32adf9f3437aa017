"""A read asks the database whether anything changed once, not once for the credentials and again
for the read cache (storage/commits.py): on SQLite the second look cost a GET by id ~14 % of its
time on the server (py-spy), and the answer is the same."""

from __future__ import annotations

from collections.abc import Hashable

import httpx
import pytest

from cartgroups.storage.commits import Commits
from tests.api.support import item_path
from tests.conftest import create_group


def test_a_read_looks_for_changes_once(api: httpx.Client, monkeypatch: pytest.MonkeyPatch) -> None:
    create_group(api, Name="Looked at")
    assert api.get(item_path(1)).status_code == 200  # warm: credentials verified, answer kept
    looks: list[Hashable] = []
    look = Commits.look

    def counted(self: Commits) -> Hashable:
        looks.append(token := look(self))
        return token

    monkeypatch.setattr(Commits, "look", counted)
    for _ in range(3):
        assert api.get(item_path(1)).status_code == 200
        assert api.get("/CustomerGroups", params={"countonly": "1"}).status_code == 200
    assert len(looks) == 6  # one a request, on PostgreSQL too (where it asks nothing)
