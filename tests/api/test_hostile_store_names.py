"""Issue #15 item 9 (part): a SecureURL longer than the stores table's column (255 characters).
Creating such a store is a clear 400 / one-line CLI error on both databases (PostgreSQL refused
the insert with a 500, SQLite stored it), and in the API's SecureURL header it is one more
credential that does not match: 401, as any other."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from cartgroups.errors import Invalid
from cartgroups.service import credentials
from cartgroups.service.credentials import Issued
from cartgroups.storage import credentials as cred_sql
from cartgroups.storage.database import Database
from tests.api.support import REJECTED, State, assert_error
from tests.cli.procs import run
from tests.conftest import LiveServer, plain_client, sandbox_state

LONGEST = "a" * 243 + ".example.com"  # 255 characters: the column's length
TOO_LONG = "b" * 244 + ".example.com"  # 256
TOO_LONG_MESSAGE = "a store address is at most 255 characters (this one has 256)"


def test_a_store_address_of_255_characters_is_taken_and_one_of_256_is_invalid(
    server: LiveServer, state: State
) -> None:
    assert len(LONGEST) == 255 and len(TOO_LONG) == 256
    issued = credentials.issue(server.db, secure_url=f"https://www.{LONGEST}/")
    assert issued.secure_url == LONGEST
    before = state()
    with pytest.raises(Invalid) as caught:
        credentials.issue(server.db, secure_url=f"https://www.{TOO_LONG}/")
    assert caught.value.message == TOO_LONG_MESSAGE
    assert caught.value.fields == {"store": TOO_LONG_MESSAGE}
    assert state() == before


@pytest.mark.parametrize("shown", [TOO_LONG, "c" * 300, "https://www." + "d" * 8_000])
def test_an_over_long_secureurl_header_is_401_like_any_other_mismatch(
    server: LiveServer, creds: Issued, state: State, shown: str
) -> None:
    before = state()
    headers = {"SecureURL": shown, "PrivateKey": creds.private_key or "", "Token": creds.token}
    with plain_client(server.base_url + "/3dCartWebAPI/v1", headers) as client:
        assert_error(client.get("/CustomerGroups"), 401, REJECTED)
        assert_error(client.post("/CustomerGroups", json={"Name": "x"}), 401, REJECTED)
    assert state() == before


def test_the_sandbox_refuses_to_create_an_over_long_store(sandbox: LiveServer, control: httpx.Client) -> None:
    before = sandbox_state(sandbox.db)
    response = control.post("/stores", json={"SecureURL": TOO_LONG})
    assert response.status_code == 400
    assert response.json()[0]["Message"] == TOO_LONG_MESSAGE
    assert sandbox_state(sandbox.db) == before


def test_credentials_create_with_an_over_long_store_is_a_one_line_error(
    empty_database_url: str, tmp_path: Path
) -> None:
    result = run(
        ["credentials", "create", "--store", "e" * 300, "--json"],
        database_url=empty_database_url,
        cwd=tmp_path,
    )
    assert result.one_line_error() == "error: a store address is at most 255 characters (this one has 300)"
    db = Database(empty_database_url)
    with db.read() as conn:
        written = (cred_sql.list_stores(conn), cred_sql.list_applications(conn))
    db.dispose()
    assert written == ([], [])  # nothing
