"""A read asks the database whether anything changed once, not once for the credentials and again
for the read cache (storage/commits.py): on SQLite the second look cost a GET by id ~14 % of its
time on the server (py-spy), and the answer is the same."""

from __future__ import annotations

from collections.abc import Hashable

import httpx
import pytest

from cartgroups.storage.commits import Commits
from tests.api.support import item_path
from tests.conftest import LiveServer, create_group


def test_a_read_looks_for_changes_once(
    server: LiveServer, api: httpx.Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    create_group(api, Name="Looked at")
    assert api.get(item_path(1)).status_code == 200  # warm: credentials verified, answer kept
    store = server.app.store
    assert store is not None
    looks: list[Hashable] = []  # the store's looks (the request path's way of asking)
    asked: list[Hashable] = []  # SQLite's data version read (Commits.look)
    store_look, commits_look = type(store).look, Commits.look

    def counted(self: object) -> Hashable:
        looks.append(token := store_look(self))  # type: ignore[arg-type]
        return token

    def asked_commits(self: Commits) -> Hashable:
        asked.append(token := commits_look(self))
        return token

    monkeypatch.setattr(type(store), "look", counted)
    monkeypatch.setattr(Commits, "look", asked_commits)
    for _ in range(3):
        assert api.get(item_path(1)).status_code == 200
        assert api.get("/CustomerGroups", params={"countonly": "1"}).status_code == 200
    assert len(looks) == 6  # one a request, on PostgreSQL too (where it asks nothing)
    # SQLite reads its data version once for each; PostgreSQL has none to read.
    assert len(asked) == (6 if store.exact_changes else 0)
