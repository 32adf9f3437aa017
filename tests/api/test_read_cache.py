"""The read cache (storage/read_cache.py) as the API uses it: every answer a handler keeps is kept
under the resource it belongs to."""

from __future__ import annotations

import httpx
import pytest

from cartgroups.api.customer_groups import RESOURCE
from tests.conftest import LiveServer, create_group


def test_the_api_keeps_its_answers_under_its_resource(server: LiveServer, api: httpx.Client) -> None:
    """Whatever a CustomerGroups handler keeps is kept under "CustomerGroups": a GET by id, a
    page, a count."""
    create_group(api)
    assert server.app.services is not None
    reads = server.app.services.reads
    if not reads.enabled:
        pytest.skip("nothing is kept on PostgreSQL")
    for path in ("/CustomerGroups/1", "/CustomerGroups", "/CustomerGroups?countonly=1"):
        assert api.get(path).status_code == 200
    kept = list(reads._entries)
    assert len(kept) == 3 and {resource for resource, _key in kept} == {"CustomerGroups"} == {RESOURCE}
