"""Fault injection and the request journal of the sandbox (SQLite and PostgreSQL).

Latency is asserted through a recording sleep put in place of asyncio.sleep, never wall time;
probabilities through a replaced random source."""

from __future__ import annotations

import asyncio
import json
import threading

import httpx
import pytest
import sqlalchemy as sa

from cartgroups.service import credentials
from cartgroups.service.credentials import Issued
from cartgroups.storage import tables
from tests.conftest import (
    SANDBOX_TOKEN,
    STORE,
    LiveServer,
    create_group,
    error_body,
    headers_for,
    plain_client,
    sandbox_state,
)

GROUPS = "/CustomerGroups"


def _fault(control: httpx.Client, **rule: object) -> dict[str, object]:
    response = control.post("/faults", json=rule)
    assert response.status_code == 201, response.text
    created: dict[str, object] = response.json()
    return created


@pytest.fixture
def slept(sandbox: LiveServer) -> list[float]:
    """Every injected wait, in seconds, instead of sleeping."""
    waits: list[float] = []

    async def fake_sleep(seconds: float) -> None:
        waits.append(seconds)

    assert sandbox.app.sandbox_layer is not None
    sandbox.app.sandbox_layer.sleep = fake_sleep
    return waits


def test_a_rule_answers_with_its_status_and_default_record(
    control: httpx.Client, sandbox_api: httpx.Client
) -> None:
    rule = _fault(control, method="get", path="*/customergroups/*", status=503, retry_after=7)
    assert rule == {
        "id": rule["id"],
        "method": "GET",
        "path": "*/customergroups/*",
        "match": "glob",
        "store": None,
        "status": 503,
        "message": "The service is unavailable.",
        "retry_after": 7,
        "latency_ms": 0,
        "probability": 1.0,
        "times_left": None,
        "applied": 0,
    }
    create_group(sandbox_api)  # POST /CustomerGroups: another method, another path
    for _ in range(2):
        response = sandbox_api.get("/customergroups/1")
        assert response.status_code == 503
        assert response.content == error_body(503, "The service is unavailable.")
        assert response.headers["retry-after"] == "7"
        assert response.headers["content-type"] == "application/json; charset=utf-8"
        # It stands in for the live service's error: the headers of every reply of the routes.
        assert response.headers["access-control-allow-origin"] == "*"
        assert response.headers["cache-control"] == "no-cache"
        assert response.headers["pragma"] == "no-cache"
        assert response.headers["expires"] == "-1"
        assert response.headers["vary"] == "Accept"
    assert sandbox_api.get(GROUPS).status_code == 200  # the collection does not match */1
    assert control.get("/faults").json()[0]["applied"] == 2


def test_custom_message_regex_and_store_filter(
    sandbox: LiveServer, control: httpx.Client, sandbox_api: httpx.Client
) -> None:
    other = credentials.issue(sandbox.db, secure_url="other.example.com", application="other")
    _fault(
        control,
        path=r"/v1/CustomerGroups/\d+$",
        match="regex",
        store=other.secure_url,
        status=429,
        message="Slow down",
    )
    create_group(sandbox_api)
    assert sandbox_api.get(f"{GROUPS}/1").status_code == 200  # another store
    with plain_client(sandbox.base_url + "/3dCartWebAPI/v1", headers_for(other)) as theirs:
        response = theirs.put(f"{GROUPS}/12", json={"Name": "x"})
        assert response.status_code == 429
        assert response.content == error_body(429, "Slow down")
        assert theirs.get(GROUPS).status_code == 404  # the collection: no match
        # The rule matches on the SecureURL header, before and whatever the authentication.
        response = theirs.get(f"{GROUPS}/1", headers={"Token": "wrong"})
        assert response.status_code == 429


def test_faults_never_touch_control_or_system_routes(control: httpx.Client, sandbox: LiveServer) -> None:
    _fault(control, status=500)
    assert control.get("/faults").status_code == 200
    with plain_client(sandbox.base_url) as raw:
        assert raw.get("/healthz").status_code == 200
        assert raw.get("/nothing").status_code == 404


def test_latency_is_awaited_through_the_sleep_then_the_request_runs(
    control: httpx.Client, sandbox_api: httpx.Client, slept: list[float]
) -> None:
    rule = _fault(control, method="POST", latency_ms=1500)
    group_id = create_group(sandbox_api)  # no status: the request is answered normally
    assert slept == [1.5]
    assert sandbox_api.get(f"{GROUPS}/{group_id}").status_code == 200
    assert slept == [1.5]
    entry, created = control.get(f"/stores/{STORE}/journal").json()
    assert created["status"] == 201 and created["fault_id"] == rule["id"]
    assert entry["fault_id"] is None


def test_latency_and_status_together(
    control: httpx.Client, sandbox_api: httpx.Client, slept: list[float]
) -> None:
    _fault(control, status=504, latency_ms=30_000)
    response = sandbox_api.get(GROUPS)
    assert response.status_code == 504
    assert response.content == error_body(504, "Gateway Timeout")
    assert slept == [30.0]


def test_latency_does_not_block_other_requests(
    sandbox: LiveServer, control: httpx.Client, sandbox_api: httpx.Client
) -> None:
    """While one request waits out its injected latency (here: until the test lets it go), the
    server answers others: the wait is an await on the event loop, not a blocking sleep."""
    layer = sandbox.app.sandbox_layer
    assert layer is not None
    waiting = threading.Event()
    loop_and_release: list[tuple[asyncio.AbstractEventLoop, asyncio.Event]] = []

    async def held_sleep(seconds: float) -> None:
        release = asyncio.Event()
        loop_and_release.append((asyncio.get_running_loop(), release))
        waiting.set()
        await release.wait()

    layer.sleep = held_sleep
    _fault(control, method="DELETE", latency_ms=60_000, status=503, times=1)
    answers: list[int] = []
    slow = threading.Thread(target=lambda: answers.append(sandbox_api.delete(f"{GROUPS}/1").status_code))
    slow.start()
    try:
        assert waiting.wait(10)
        assert sandbox_api.get(GROUPS).status_code == 404  # answered while the DELETE waits
        assert answers == []
    finally:
        for loop, release in loop_and_release:
            loop.call_soon_threadsafe(release.set)
        slow.join(10)
    assert answers == [503]


def test_probability_zero_never_one_always_and_between_per_draw(
    sandbox: LiveServer, control: httpx.Client, sandbox_api: httpx.Client
) -> None:
    never = _fault(control, path="*/1", status=500, probability=0)
    _fault(control, path="*/2", status=502, probability=1)
    _fault(control, path="*/3", status=503, probability=0.25)
    for _ in range(3):
        assert sandbox_api.get(f"{GROUPS}/1").status_code == 404
        assert sandbox_api.get(f"{GROUPS}/2").status_code == 502
    assert sandbox.app.sandbox is not None
    draws = iter([0.2, 0.25, 0.9])
    sandbox.app.sandbox.random = lambda: next(draws)
    statuses = [sandbox_api.get(f"{GROUPS}/3").status_code for _ in range(3)]
    assert statuses == [503, 404, 404]
    assert [f["applied"] for f in control.get("/faults").json()] == [0, 3, 1]
    assert never["probability"] == 0.0


def test_next_n_rule_expires_after_n_requests(
    control: httpx.Client, sandbox_api: httpx.Client, sandbox: LiveServer
) -> None:
    rule = _fault(control, method="GET", status=500, times=2)
    assert rule["times_left"] == 2
    assert sandbox_api.get(GROUPS).status_code == 500
    assert control.get(f"/faults/{rule['id']}").json()["times_left"] == 1
    assert sandbox_api.get(GROUPS).status_code == 500
    assert sandbox_api.get(GROUPS).status_code == 404  # expired: the real answer again
    assert control.get("/faults").json() == []
    assert control.get(f"/faults/{rule['id']}").status_code == 404
    with sandbox.db.read() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(tables.sandbox_faults)).scalar() == 0


def test_the_first_matching_rule_wins_and_a_missed_draw_falls_through(
    sandbox: LiveServer, control: httpx.Client, sandbox_api: httpx.Client
) -> None:
    _fault(control, status=500, probability=0.5)
    _fault(control, status=503, times=1)
    assert sandbox.app.sandbox is not None
    draws = iter([0.9, 0.1])
    sandbox.app.sandbox.random = lambda: next(draws)
    assert sandbox_api.get(GROUPS).status_code == 503  # the first missed its draw
    assert sandbox_api.get(GROUPS).status_code == 500


def test_list_get_delete_and_clear_rules(sandbox: LiveServer, control: httpx.Client) -> None:
    one = _fault(control, status=500)
    two = _fault(control, status=501, path="*/CustomerGroups")
    assert [f["id"] for f in control.get("/faults").json()] == [one["id"], two["id"]]
    assert control.get(f"/faults/{two['id']}").json() == two
    assert control.delete(f"/faults/{one['id']}").json() == {"deleted": 1}
    before = sandbox_state(sandbox.db)
    response = control.delete(f"/faults/{one['id']}")
    assert response.status_code == 404
    assert response.content == error_body(404, f"There is no fault rule {one['id']}", str(one["id"]))
    response = control.delete("/faults/x1")
    assert response.status_code == 400
    assert response.content == error_body(400, "A fault rule id is a whole number (got 'x1')", "x1")
    assert sandbox_state(sandbox.db) == before
    assert control.delete("/faults").json() == {"deleted": 1}
    assert control.get("/faults").json() == []


@pytest.mark.parametrize(
    ("rule", "message"),
    [
        ({}, "a fault needs a status, a latency_ms, or both"),
        ({"path": "*"}, "a fault needs a status, a latency_ms, or both"),
        ({"status": 399}, "status must be a whole number from 400 to 599"),
        ({"status": 600}, "status must be a whole number from 400 to 599"),
        ({"status": "500"}, "status must be a whole number from 400 to 599"),
        ({"status": True}, "status must be a whole number from 400 to 599"),
        ({"status": 500.5}, "status must be a whole number from 400 to 599"),
        ({"latency_ms": -1}, "latency_ms must be a whole number from 0 to 60000"),
        ({"latency_ms": 60_001}, "latency_ms must be a whole number from 0 to 60000"),
        ({"status": 500, "probability": 1.5}, "probability must be a number from 0 to 1"),
        ({"status": 500, "probability": -0.1}, "probability must be a number from 0 to 1"),
        ({"status": 500, "probability": "1"}, "probability must be a number from 0 to 1"),
        ({"status": 500, "times": 0}, "times must be a whole number from 1 to 1000000"),
        (
            {"status": 500, "method": "FETCH"},
            "method must be * or one of GET, POST, PUT, DELETE, PATCH, HEAD, OPTIONS",
        ),
        ({"status": 500, "match": "exact"}, "match must be glob or regex"),
        (
            {"status": 500, "match": "regex", "path": "("},
            "path is not a valid regular expression: missing ), unterminated subpattern at position 0",
        ),
        ({"status": 500, "path": "x" * 501}, "path must be at most 500 characters"),
        ({"status": 500, "path": 5}, "path must be a string"),
        ({"status": 500, "path": "a\x00b"}, "path must be valid Unicode text without NUL characters"),
        ({"status": 500, "message": "\x00"}, "message must be valid Unicode text without NUL characters"),
        ({"status": 500, "store": "a\x00.com"}, "store must be valid Unicode text without NUL characters"),
        ({"status": 500, "store": "nobody.example.com"}, "There is no store 'nobody.example.com'"),
        ({"latency_ms": 5, "message": "hi"}, "message needs a status"),
        ({"status": 500, "retry_after": -1}, "retry_after must be a whole number from 0 to 86400"),
        (
            {"status": 500, "colour": "red"},
            "Unknown field 'colour'; expected method, path, match, store, status, message, "
            "retry_after, latency_ms, probability, times",
        ),
        ([{"status": 500}], "The request body must be a JSON object"),
    ],
)
def test_bad_rules_are_rejected_and_nothing_is_stored(
    sandbox: LiveServer, control: httpx.Client, rule: object, message: str
) -> None:
    before = sandbox_state(sandbox.db)
    response = control.post("/faults", json=rule)
    assert response.status_code == 400
    assert response.json()[0]["Message"] == message
    assert sandbox_state(sandbox.db) == before


def test_the_journal_records_requests_and_answers_with_secrets_redacted(
    sandbox: LiveServer, control: httpx.Client, sandbox_creds: Issued
) -> None:
    assert sandbox_creds.private_key is not None
    secrets = [sandbox_creds.private_key, sandbox_creds.token, SANDBOX_TOKEN, "bearer-secret-xyz"]
    with plain_client(sandbox.base_url + "/3dCartWebAPI/v1", headers_for(sandbox_creds)) as api:
        created = api.post(GROUPS, json={"Name": "Wholesale", "MinimumOrder": 1.5})
        listed = api.get(GROUPS, params={"limit": 5, "Token": sandbox_creds.token})
        refused = api.get(
            f"{GROUPS}/1",
            headers={
                "Token": "",
                "Authorization": "Bearer bearer-secret-xyz",
                "Cookie": "s=bearer-secret-xyz",
            },
        )
    assert refused.status_code == 401
    response = control.get(f"/stores/{STORE}/journal")
    assert response.status_code == 200
    entries = response.json()
    assert [e["method"] for e in entries] == ["GET", "GET", "POST"]  # newest first
    third, second, first = entries
    assert first["path"] == "/3dCartWebAPI/v1/CustomerGroups"
    assert first["status"] == 201
    assert json.loads(first["request_body"]) == {"Name": "Wholesale", "MinimumOrder": 1.5}
    assert first["response_body"] == created.text
    assert second["query"] == "limit=5&Token=%5Bredacted%5D"
    assert second["response_body"] == listed.text
    assert third["status"] == 401 and third["response_body"] == refused.text
    for entry in entries:
        headers = entry["request_headers"]
        assert headers["privatekey"] == "[redacted]"
        assert headers["secureurl"] == STORE
        assert entry["time"].endswith("Z") and entry["duration_ms"] >= 0
        assert entry["fault_id"] is None
    assert third["request_headers"]["authorization"] == "[redacted]"
    assert third["request_headers"]["cookie"] == "[redacted]"
    assert third["request_headers"]["token"] == "[redacted]"
    # Nothing stored anywhere in the journal table holds a secret.
    with sandbox.db.read() as conn:
        stored = repr(conn.execute(sa.select(tables.sandbox_journal)).all())
    assert all(secret not in stored for secret in secrets)
    assert stored.count("[redacted]") >= 7


def test_the_journal_keeps_the_newest_n_per_store_and_limit_applies(
    sandbox: LiveServer, control: httpx.Client, sandbox_api: httpx.Client
) -> None:
    other = credentials.issue(sandbox.db, secure_url="other.example.com", application="other")
    with plain_client(sandbox.base_url + "/3dCartWebAPI/v1", headers_for(other)) as theirs:
        theirs.get(GROUPS, params={"offset": "other"})
    for offset in range(1, 9):  # the test server keeps 5 per store
        sandbox_api.get(GROUPS, params={"offset": offset})
    entries = control.get(f"/stores/{STORE}/journal").json()
    assert [e["query"] for e in entries] == [f"offset={n}" for n in (8, 7, 6, 5, 4)]
    limited = control.get(f"/stores/{STORE}/journal", params={"limit": 2}).json()
    assert [e["query"] for e in limited] == ["offset=8", "offset=7"]
    assert len(control.get(f"/stores/{other.secure_url}/journal").json()) == 1
    assert control.delete(f"/stores/{STORE}/journal").json() == {"deleted": 5}
    assert control.get(f"/stores/{STORE}/journal").json() == []
    assert len(control.get(f"/stores/{other.secure_url}/journal").json()) == 1


@pytest.mark.parametrize("limit", ["0", "-1", "x", "10001", "1.5"])
def test_journal_limit_must_be_in_range(control: httpx.Client, sandbox_creds: Issued, limit: str) -> None:
    response = control.get(f"/stores/{STORE}/journal", params={"limit": limit})
    assert response.status_code == 400
    assert response.content == error_body(400, "limit must be a whole number from 1 to 10000", limit)


def test_unknown_stores_and_no_secureurl_are_not_journaled(
    sandbox: LiveServer, control: httpx.Client, sandbox_creds: Issued
) -> None:
    with plain_client(sandbox.base_url + "/3dCartWebAPI/v1") as anonymous:
        anonymous.get(GROUPS)
        anonymous.get(GROUPS, headers={"SecureURL": "nobody.example.com"})
    with sandbox.db.read() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(tables.sandbox_journal)).scalar() == 0


def test_a_faulted_request_is_journaled_with_its_body_and_rule(
    control: httpx.Client, sandbox_api: httpx.Client
) -> None:
    rule = _fault(control, method="PUT", status=500, message="Boom")
    response = sandbox_api.put(f"{GROUPS}/4", json={"Name": "Changed"})
    assert response.status_code == 500
    [entry] = control.get(f"/stores/{STORE}/journal").json()
    assert entry["fault_id"] == rule["id"]
    assert entry["status"] == 500
    assert entry["response_body"] == error_body(500, "Boom").decode()
    assert json.loads(entry["request_body"]) == {"Name": "Changed"}
