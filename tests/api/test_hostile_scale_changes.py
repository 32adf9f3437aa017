"""Issue #15 item 4, over HTTP: MinimumOrder changed in scale only (1.5 -> 1.50) changes the ETag,
so a PUT with the older tag is 412; and under concurrent GET -> PUT If-Match rounds of scale-only
changes no stale tag gets through and the audit log stays one chain (each entry's before is the
previous entry's after). Both databases."""

from __future__ import annotations

import itertools
import json
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import sqlalchemy as sa

from cartgroups.service.credentials import Issued
from cartgroups.storage import tables
from tests.api.support import IssueFn, State, assert_error, item_path
from tests.conftest import LiveServer, create_group, headers_for, plain_client

CHANGED = "The Customer Group has changed since it was read: If-Match does not match its current ETag"
SCALES = ("1.5", "1.50", "1.500")  # one amount, three representations


def _exact(text: str | bytes) -> Any:
    """JSON read with every number kept as its text, so 1.5 and 1.50 differ."""
    return json.loads(text, parse_float=str)


def test_put_with_the_tag_read_at_1_5_after_a_change_to_1_50_is_412(api: httpx.Client, state: State) -> None:
    create_group(api, MinimumOrder="1.5")
    stale = api.get(item_path(1)).headers["etag"]
    assert api.put(item_path(1), json={"MinimumOrder": "1.50"}).status_code == 200
    before = state()
    response = api.put(item_path(1), json={"Name": "Mine"}, headers={"If-Match": stale})
    assert_error(response, 412, CHANGED, "1")
    assert state() == before
    assert _exact(api.get(item_path(1)).content)[0]["MinimumOrder"] == "1.50"


def _history(server: LiveServer, store_id: int) -> list[tuple[int | None, str | None, str | None]]:
    """The store's audit entries (token, before, after), in the order they were written."""
    a = tables.audit_log
    with server.db.read() as conn:
        rows = conn.execute(
            sa.select(a.c.token_id, a.c.before_values, a.c.after_values)
            .where(a.c.store_id == store_id)
            .order_by(a.c.id)
        ).all()
    return [(row[0], row[1], row[2]) for row in rows]


def test_concurrent_scale_only_if_match_puts_keep_the_audit_chain(
    server: LiveServer, api: httpx.Client, creds: Issued, issue: IssueFn
) -> None:
    create_group(api, MinimumOrder="1.5")
    writers, rounds = 4, 40
    tokens = [issue(app=f"writer {n}") for n in range(writers)]
    barrier = threading.Barrier(writers)

    def rounds_of(n: int) -> list[tuple[int, bytes]]:
        """GET -> PUT If-Match with another scale of the same amount; (status, body read) each."""
        done: list[tuple[int, bytes]] = []
        with plain_client(server.base_url + "/3dCartWebAPI/v1", headers_for(tokens[n])) as client:
            barrier.wait(timeout=30)
            for i in range(rounds):
                got = client.get(item_path(1))
                assert got.status_code == 200, got.text
                current = _exact(got.content)[0]["MinimumOrder"]
                new = SCALES[(SCALES.index(current) + 1 + (n + i) % 2) % len(SCALES)]
                response = client.put(
                    item_path(1), json={"MinimumOrder": new}, headers={"If-Match": got.headers["etag"]}
                )
                assert response.status_code in (200, 412), response.text
                done.append((response.status_code, got.content))
        return done

    with ThreadPoolExecutor(writers) as pool:
        results = list(pool.map(rounds_of, range(writers)))

    history = _history(server, _store_id(server, creds))
    assert history[0][1] is None  # the create
    updates = history[1:]
    assert len(updates) == sum(status == 200 for done in results for status, _ in done)
    # One chain: every change starts from the group the previous one left.
    for (_, _, previous_after), (_, before, _) in itertools.pairwise(history):
        assert previous_after is not None and before is not None
        assert _exact(before) == _exact(previous_after)
    # No stale tag got through: each accepted PUT changed exactly the group its GET returned.
    for n, done in enumerate(results):
        mine = [before for token, before, _ in updates if token == tokens[n].token_id]
        read = [body for status, body in done if status == 200]
        assert len(mine) == len(read)
        for before, body in zip(mine, read, strict=True):
            assert before is not None and [_exact(before)] == _exact(body)
    assert [_exact(history[-1][2] or "")] == _exact(api.get(item_path(1)).content)


def _store_id(server: LiveServer, creds: Issued) -> int:
    s = tables.stores
    with server.db.read() as conn:
        return int(conn.execute(sa.select(s.c.id).where(s.c.secure_url == creds.secure_url)).scalar_one())
