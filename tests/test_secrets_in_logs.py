"""A full session with every secret in play, then a grep of everything written: credentials
issued with the CLI, ``cartgroups serve --log-level debug`` (the most verbose) in both log formats,
requests with good and bad credentials, secrets sent where they do not belong (query string, body,
path), errors of every kind, a revoke, a list, a stop. No private key, token, wrong secret a client
sent, sandbox token, or database password appears in any server output or in the other
commands' output."""

from __future__ import annotations

import json
import secrets
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa

from cartgroups.service import credentials
from cartgroups.storage.database import Database
from tests.cli.procs import access_lines, run_all, serving

pytestmark = pytest.mark.slow

API = "/3dCartWebAPI/v1"


@pytest.mark.parametrize("log_format", ["text", "json"])
def test_no_secret_reaches_any_log_or_output(
    empty_database_url: str, tmp_path: Path, log_format: str
) -> None:
    url = sa.make_url(empty_database_url)
    db_password = ""
    if url.get_backend_name() == "postgresql":
        # The test server trusts loopback connections, so a password in the URL is accepted
        # and ignored: enough to prove it is never printed.
        db_password = "dbpw" + secrets.token_hex(8)
        url = url.set(password=db_password)
    database_url = url.render_as_string(hide_password=False)

    # One token through the CLI (as an operator would), two more straight from the service.
    created = run_all(
        [["credentials", "create", "--store", "a.example.com", "--app", "app-a", "--json"]],
        database_url=database_url,
        cwd=tmp_path,
    )[0].ok()
    issued = [json.loads(created.out)]
    db = Database(database_url)
    try:
        for store, app, scope in (
            ("b.example.com", "app-b", "read,write"),
            ("a.example.com", "app-ro", "read"),
        ):
            more = credentials.issue(db, secure_url=store, application=app, scope=scope)
            assert more.private_key is not None
            issued.append({"SecureURL": more.secure_url, "PrivateKey": more.private_key, "Token": more.token})
    finally:
        db.dispose()
    a, b, read_only = issued
    wrong_key, wrong_token = secrets.token_hex(16), secrets.token_hex(16)
    sandbox_token, wrong_sandbox_token = secrets.token_urlsafe(24), secrets.token_urlsafe(24)
    sent_secrets = [wrong_key, wrong_token, sandbox_token, wrong_sandbox_token]

    with serving(
        "--log-level",
        "debug",
        "--log-format",
        log_format,
        "--sandbox",
        "--sandbox-token",
        sandbox_token,
        database_url=database_url,
        cwd=tmp_path,
    ) as served:
        controls = served.base_url + "/_cartgroups"
        for token, status in ((sandbox_token, 200), (wrong_sandbox_token, 401)):
            answer = httpx.get(controls + "/stores", headers={"Authorization": f"Bearer {token}"}, timeout=30)
            assert answer.status_code == status
        base = served.base_url + API
        with httpx.Client(base_url=base, headers=a, timeout=30) as good:
            assert good.get("/CustomerGroups").status_code == 404
            assert good.post("/CustomerGroups", json={"Name": "first"}).status_code == 201
            assert good.get("/CustomerGroups/1", params={"token": a["Token"]}).status_code == 200
            assert good.get(
                "/CustomerGroups", params={"countonly": 1, "PrivateKey": a["PrivateKey"]}
            ).is_success
            assert good.put("/CustomerGroups/1", json={"Name": a["Token"]}).status_code == 200
            assert good.put("/CustomerGroups", json=[{"CustomerGroupID": a["Token"]}]).status_code == 400
            assert (
                good.post("/CustomerGroups", json={"Name": "x", "PriceLevel": a["Token"]}).status_code == 400
            )
            assert good.post("/CustomerGroups", content=b"{" + a["Token"].encode()).status_code == 400
            assert good.post("/CustomerGroups", content=b"x" * 2_000_000).status_code == 413
            assert good.request("PATCH", "/CustomerGroups/1").status_code == 405
            assert good.delete("/CustomerGroups/1").status_code == 200
        bearer = {
            "SecureURL": b["SecureURL"],
            "PrivateKey": b["PrivateKey"],
            "Authorization": f"Bearer {b['Token']}",
        }
        with httpx.Client(base_url=base, headers=bearer, timeout=30) as other:
            assert other.post("/CustomerGroups", json={"Name": "b"}).status_code == 201
        with httpx.Client(base_url=base, headers=read_only, timeout=30) as reader:
            assert reader.post("/CustomerGroups", json={"Name": "no"}).status_code == 401
        for headers in (
            {**a, "PrivateKey": wrong_key},
            {**a, "Token": wrong_token},
            {**b, "Token": a["Token"]},
            {
                "SecureURL": a["SecureURL"],
                "PrivateKey": a["PrivateKey"],
                "Authorization": f"Bearer {wrong_token}",
            },
        ):
            assert httpx.get(base + "/CustomerGroups", headers=headers, timeout=30).status_code == 401
        listed, revoked = run_all(
            [["credentials", "list"], ["credentials", "revoke", "--token", b["Token"]]],
            database_url=database_url,
            cwd=tmp_path,
        )
        listed.ok(), revoked.ok()
        assert httpx.get(base + "/CustomerGroups", headers=b, timeout=30).status_code == 401
        journal = httpx.get(
            f"{controls}/stores/{a['SecureURL']}/journal",
            headers={"Authorization": f"Bearer {sandbox_token}"},
            timeout=30,
        )
        assert journal.status_code == 200 and "[redacted]" in journal.text
        for secret in (a["PrivateKey"], a["Token"]):  # the journal redacts headers, not bodies
            assert secret not in json.dumps([e["request_headers"] for e in journal.json()])
    assert served.proc.returncode == 0

    # The session was logged (so the grep below looks at something) ...
    if log_format == "json":  # every line is one JSON object, uvicorn's too
        logged = [e for e in map(json.loads, served.err) if e["logger"] == "cartgroups.access"]
    else:
        logged = access_lines(served)
    assert len(logged) >= 18, served.stderr
    # ... and no secret is anywhere in it, whole or in part (past the 8-character prefix that
    # `credentials list` shows to tell tokens apart).
    everything = "\n".join([served.stdout, served.stderr, listed.out, listed.err, revoked.out, revoked.err])
    all_secrets = [s for creds in issued for s in (creds["PrivateKey"], creds["Token"])] + sent_secrets
    if db_password:
        all_secrets.append(db_password)
    for secret in all_secrets:
        assert secret not in everything
        assert secret[8:] not in everything
