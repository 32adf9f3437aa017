"""``cartgroups credentials|stores|apps``, run as real commands against SQLite and PostgreSQL."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from cartgroups.service import credentials
from cartgroups.service.credentials import Issued, hash_secret
from cartgroups.storage import credentials as cred_sql
from cartgroups.storage.database import Database
from tests.cli.procs import run, run_all
from tests.conftest import LiveServer, db_state, reset_database

HEX32 = re.compile(r"[0-9a-f]{32}")


@pytest.fixture
def db(empty_database_url: str) -> Iterator[Database]:
    database = Database(empty_database_url)
    yield database
    database.dispose()


def client(live_server: LiveServer, secure_url: str, key: str, token: str) -> httpx.Client:
    headers = {"SecureURL": secure_url, "PrivateKey": key, "Token": token}
    return httpx.Client(base_url=live_server.base_url + "/3dCartWebAPI/v1", headers=headers, timeout=30)


def test_create_json_prints_one_object_and_the_credentials_work(
    empty_database_url: str, live_server: LiveServer, tmp_path: Path
) -> None:
    url = empty_database_url
    first = run(
        ["credentials", "create", "--store", "https://www.Shop.com/", "--json"],
        database_url=url,
        cwd=tmp_path,
    ).ok()
    assert first.err == ""
    assert first.out.endswith("\n") and first.out.count("\n") == 1, first.out
    issued = json.loads(first.out)
    assert isinstance(issued, dict) and list(issued) == ["SecureURL", "PrivateKey", "Token"]
    assert issued["SecureURL"] == "shop.com"
    assert HEX32.fullmatch(issued["PrivateKey"]) and HEX32.fullmatch(issued["Token"])

    # The same application again: a new token, and no key, because the key was shown once
    # and only its hash is kept. Once in plain lines, once as JSON.
    plain, again = run_all(
        [
            ["credentials", "create", "--store", "shop.com", "--scope", "read"],
            ["credentials", "create", "--store", "SHOP.com", "--scope", "write", "--json"],
        ],
        database_url=url,
        cwd=tmp_path,
    )
    existing_app = json.loads(again.ok().out)
    assert list(existing_app) == ["SecureURL", "PrivateKey", "Token"]
    assert existing_app["SecureURL"] == "shop.com" and existing_app["PrivateKey"] is None
    assert HEX32.fullmatch(existing_app["Token"])
    plain.ok()
    assert "(read)" in plain.out
    assert re.search(r"^  PrivateKey: \(unchanged", plain.out, re.M), plain.out
    found = re.search(r"^  Token:\s+([0-9a-f]{32})$", plain.out, re.M)
    assert found, plain.out
    read_token = found.group(1)
    assert read_token != issued["Token"]

    key = issued["PrivateKey"]
    # The store may be named as the user typed it; the server normalises it the same way.
    with client(live_server, "https://www.Shop.com/", key, issued["Token"]) as rw:
        created = rw.post("/CustomerGroups", json={"Name": "Wholesale"})
        assert created.status_code == 201, created.text
        assert rw.get("/CustomerGroups/1").status_code == 200
    with client(live_server, "shop.com", key, read_token) as ro:
        assert ro.get("/CustomerGroups/1").status_code == 200
        before = db_state(live_server.db)
        refused = ro.post("/CustomerGroups", json={"Name": "Retail"})
        assert refused.status_code == 401
        assert db_state(live_server.db) == before
    with client(live_server, "shop.com", key, existing_app["Token"]) as wo:
        assert wo.get("/CustomerGroups/1").status_code == 401
        assert wo.post("/CustomerGroups", json={"Name": "Retail"}).status_code == 201


def test_bad_store_or_scope_is_a_one_line_error_and_writes_nothing(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'cg.db'}"  # validation does not depend on the database
    reset_database(url)  # but the file must exist (item 2 of issue #19)
    results = run_all(
        [
            ["credentials", "create", "--store", "https://shop .com/", "--json"],
            ["credentials", "create", "--store", "shop.com", "--scope", "read,admin", "--json"],
            ["credentials", "create", "--store", "shop.com", "--app", "", "--json"],
        ],
        database_url=url,
        cwd=tmp_path,
    )
    messages = [result.one_line_error() for result in results]
    assert "shop .com" in messages[0]
    assert "scope" in messages[1] and "admin" in messages[1]
    assert "application" in messages[2]
    db = Database(url)
    try:
        with db.read() as conn:
            assert cred_sql.list_stores(conn) == []
            assert cred_sql.list_applications(conn) == []
    finally:
        db.dispose()


def test_lists_never_print_secrets(db: Database, empty_database_url: str, tmp_path: Path) -> None:
    issued = [
        credentials.issue(db, secure_url="https://www.Shop-A.com", application="pos"),
        credentials.issue(db, secure_url="shop-a.com", application="pos", scope="read"),
        credentials.issue(db, secure_url="shop-b.com", application="erp", scope="write"),
    ]
    credentials.revoke(db, token_id=issued[1].token_id)
    secrets_ = [s for i in issued for s in (i.token, i.private_key) if s]
    secrets_ += [hash_secret(s) for s in secrets_]
    commands = [
        ["credentials", "list"],
        ["credentials", "list", "--json"],
        ["stores", "list", "--json"],
        ["apps", "list", "--json"],
    ]
    results = run_all(commands, database_url=empty_database_url, cwd=tmp_path, COLUMNS="200")
    for result in results:
        result.ok()
        for secret in secrets_:
            assert secret not in result.out and secret not in result.err, result.args
    tokens_table, tokens, stores, apps = results

    listed = json.loads(tokens.out)
    assert [t["id"] for t in listed] == [i.token_id for i in issued]
    assert [t["token"] for t in listed] == [i.token[:8] for i in issued]  # as stored, no "…"
    assert [t["store"] for t in listed] == ["shop-a.com", "shop-a.com", "shop-b.com"]
    assert [t["scope"] for t in listed] == ["read,write", "read", "write"]
    assert [t["revoked"] is None for t in listed] == [True, False, True]
    assert [(s["store"], s["groups"]) for s in json.loads(stores.out)] == [
        ("shop-a.com", 0),
        ("shop-b.com", 0),
    ]
    assert [(a["application"], a["live tokens"]) for a in json.loads(apps.out)] == [("pos", 1), ("erp", 1)]
    for issued_token in issued:
        assert issued_token.token[:8] in tokens_table.out


def _issue(db: Database) -> tuple[Issued, str]:
    issued = credentials.issue(db, secure_url="shop.com", application="pos")
    return issued, issued.private_key or ""


def test_revoke_by_id_and_by_token(
    db: Database, empty_database_url: str, live_server: LiveServer, tmp_path: Path
) -> None:
    by_id, key = _issue(db)
    by_value = credentials.issue(db, secure_url="shop.com", application="pos")
    kept = credentials.issue(db, secure_url="shop.com", application="pos")
    revoked_id, revoked_value = run_all(
        [
            ["credentials", "revoke", str(by_id.token_id)],
            ["credentials", "revoke", "--token", by_value.token],
        ],
        database_url=empty_database_url,
        cwd=tmp_path,
    )
    assert revoked_id.ok().out == f"Revoked token {by_id.token_id}.\n"
    assert revoked_value.ok().out == f"Revoked token {by_value.token[:8]}….\n"
    assert by_value.token not in revoked_value.out
    for issued, status in ((by_id, 401), (by_value, 401), (kept, 404)):
        # The store has no groups: a live token gets the 404 error record, a revoked one 401.
        with client(live_server, "shop.com", key, issued.token) as api:
            assert api.get("/CustomerGroups").status_code == status

    assert revoked(db) == [True, True, False]


def revoked(db: Database) -> list[bool]:
    with db.read() as conn:
        return [t.revoked_at is not None for t in cred_sql.list_tokens(conn)]


def test_revoke_errors_are_one_line(db: Database, empty_database_url: str, tmp_path: Path) -> None:
    issued, _ = _issue(db)
    credentials.revoke(db, token_id=issued.token_id)
    live, _ = _issue(db)
    results = run_all(
        [
            ["credentials", "revoke", "999999"],
            ["credentials", "revoke", "--token", issued.token],  # already revoked
            ["credentials", "revoke", str(live.token_id), "--token", live.token],
        ],
        database_url=empty_database_url,
        cwd=tmp_path,
    )
    messages = [result.one_line_error() for result in results]
    assert "999999" in messages[0]
    assert "no such live token" in messages[1] and issued.token not in messages[1]
    assert "exactly one" in messages[2] and live.token not in messages[2]
    assert revoked(db) == [True, False]
