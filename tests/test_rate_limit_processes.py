"""``cartgroups serve --rate-limit``: two server processes on one database (SQLite file or
PostgreSQL) drain one bucket per store and application, so the limit holds across processes;
a bad value is a one-line error."""

from __future__ import annotations

from contextlib import ExitStack
from pathlib import Path

import httpx
import pytest

from cartgroups.service import credentials
from cartgroups.storage.database import Database
from tests.cli.procs import run, serving

pytestmark = pytest.mark.slow

API = "/3dCartWebAPI/v1"


def test_two_processes_share_one_bucket(empty_database_url: str, tmp_path: Path) -> None:
    db = Database(empty_database_url)
    try:
        issued = credentials.issue(db, secure_url="busy.example.com", application="load")
        other = credentials.issue(db, secure_url="calm.example.com", application="other")
    finally:
        db.dispose()
    with ExitStack() as stack:
        # Env var for one, flag for the other: both ways of setting it.
        one = stack.enter_context(
            serving(database_url=empty_database_url, cwd=tmp_path, CARTGROUPS_RATE_LIMIT="6/0.001")
        )
        two = stack.enter_context(
            serving("--rate-limit", "6/0.001", database_url=empty_database_url, cwd=tmp_path)
        )
        assert "Rate limit per store and application: 6/0.001" in two.stdout
        statuses = []
        for served, issued_ in ((one, issued), (two, issued)) * 4:
            assert issued_.private_key is not None
            headers = {
                "SecureURL": issued_.secure_url,
                "PrivateKey": issued_.private_key,
                "Token": issued_.token,
            }
            response = httpx.get(served.base_url + API + "/CustomerGroups/1", headers=headers, timeout=30)
            statuses.append(response.status_code)
            if response.status_code == 429:
                assert 1 <= int(response.headers["retry-after"]) <= 1000
        assert statuses == [404] * 6 + [429, 429]
        assert other.private_key is not None
        calm = {"SecureURL": other.secure_url, "PrivateKey": other.private_key, "Token": other.token}
        assert (
            httpx.get(two.base_url + API + "/CustomerGroups/1", headers=calm, timeout=30).status_code == 404
        )


def test_a_bad_rate_limit_is_a_one_line_error(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'cg.db'}"
    message = run(["serve", "--rate-limit", "fast"], database_url=url, cwd=tmp_path).one_line_error()
    assert message.startswith("error: invalid setting rate_limit (CARTGROUPS_RATE_LIMIT or its flag): ")
    assert (
        "rate limit must be off, 3dcart (50 requests draining 2 per second) or CAPACITY/PER_SECOND" in message
    )
