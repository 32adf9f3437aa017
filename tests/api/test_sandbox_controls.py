"""The sandbox control endpoints under /_cartgroups/ (SQLite and PostgreSQL): off by default,
token guard, reset, seed, export, stores, throttling switch; every bad input answers its status
and message and changes nothing."""

from __future__ import annotations

import httpx
import pytest

from cartgroups.api.dispatch import RATE_LIMITED
from cartgroups.service import audit, credentials
from cartgroups.service.credentials import Issued
from cartgroups.service.sandbox import TOKEN_MISSING, TOKEN_WRONG
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

CONTROL_PATHS = [
    ("POST", "/_cartgroups/reset"),
    ("GET", "/_cartgroups/stores"),
    ("POST", f"/_cartgroups/stores/{STORE}/seed"),
    ("GET", f"/_cartgroups/stores/{STORE}/export"),
    ("GET", f"/_cartgroups/stores/{STORE}/journal"),
    ("PUT", f"/_cartgroups/stores/{STORE}/throttle"),
    ("GET", "/_cartgroups/faults"),
    ("DELETE", "/_cartgroups/faults/1"),
    ("GET", "/_cartgroups/nothing-here"),
]


@pytest.mark.parametrize(("method", "path"), CONTROL_PATHS)
def test_off_by_default_the_prefix_is_an_unknown_path(
    raw: httpx.Client, method: str, path: str, creds: Issued
) -> None:
    headers = {"Authorization": f"Bearer {SANDBOX_TOKEN}"}
    response = raw.request(method, path, headers=headers, json=[])
    unknown = raw.request(method, "/no/such/path", headers=headers, json=[])
    assert response.status_code == unknown.status_code == 404
    assert response.content == error_body(404, f"No resource matches the path {path}")
    assert response.headers.keys() == unknown.headers.keys()


@pytest.mark.parametrize(("method", "path"), CONTROL_PATHS)
@pytest.mark.parametrize(
    ("authorization", "message"),
    [
        (None, TOKEN_MISSING),
        ("Bearer", TOKEN_MISSING),
        (f"Basic {SANDBOX_TOKEN}", TOKEN_MISSING),
        ("Bearer wrong-token-wrong-token-wrong", TOKEN_WRONG),
        (f"Bearer {SANDBOX_TOKEN}x", TOKEN_WRONG),
        (f"Bearer {SANDBOX_TOKEN[:-1]}", TOKEN_WRONG),
    ],
)
def test_without_the_right_token_every_control_path_is_401(
    sandbox: LiveServer,
    sandbox_creds: Issued,
    method: str,
    path: str,
    authorization: str | None,
    message: str,
) -> None:
    headers = {"Authorization": authorization} if authorization is not None else {}
    before = sandbox_state(sandbox.db)
    with plain_client(sandbox.base_url) as client:
        response = client.request(method, path, headers=headers, json=[{"Name": "x"}])
    assert response.status_code == 401
    assert response.content == error_body(401, message)
    assert sandbox_state(sandbox.db) == before


def test_the_3dcart_routes_ignore_the_sandbox_token(sandbox: LiveServer) -> None:
    with plain_client(sandbox.base_url) as client:
        response = client.get(
            "/3dCartWebAPI/v1/CustomerGroups", headers={"Authorization": f"Bearer {SANDBOX_TOKEN}"}
        )
    assert response.status_code == 401
    assert b"Missing required header(s): SecureURL, PrivateKey" in response.content


def test_unknown_control_path_and_wrong_method(control: httpx.Client) -> None:
    response = control.get("/resets")
    assert response.status_code == 404
    assert response.content == error_body(404, "No resource matches the path /_cartgroups/resets")
    response = control.get("/reset")
    assert response.status_code == 405
    assert response.headers["allow"] == "POST"
    assert response.content == error_body(
        405, "The requested resource does not support http method 'GET'; allowed: POST"
    )


def test_reset_everything_empties_every_store_and_keeps_credentials(
    sandbox: LiveServer, control: httpx.Client, sandbox_api: httpx.Client
) -> None:
    other = credentials.issue(sandbox.db, secure_url="other.example.com", application="other")
    create_group(sandbox_api)
    create_group(sandbox_api)
    control.post(f"/stores/{other.secure_url}/seed", json=[{"Name": "Theirs"}])
    control.post("/faults", json={"status": 500, "path": "/nowhere"})
    control.put(f"/stores/{STORE}/throttle", json={"throttle": True})

    response = control.post("/reset")
    assert response.status_code == 200
    assert response.json() == {"reset": "all", "stores": 2}
    assert control.get("/faults").json() == []
    assert control.get(f"/stores/{STORE}/throttle").json()["throttle"] is None
    assert control.get(f"/stores/{STORE}/journal").json() == []
    assert sandbox_api.get("/CustomerGroups").status_code == 404
    assert create_group(sandbox_api) == 1  # ids start again; the credentials still work
    assert control.get(f"/stores/{other.secure_url}/export").json() == []


def test_reset_one_store_leaves_the_others(
    sandbox: LiveServer, control: httpx.Client, sandbox_api: httpx.Client
) -> None:
    other = credentials.issue(sandbox.db, secure_url="other.example.com", application="other")
    create_group(sandbox_api)
    control.post(f"/stores/{other.secure_url}/seed", json=[{"Name": "Theirs"}])
    mine = control.post("/faults", json={"status": 500, "store": STORE}).json()
    everyone = control.post("/faults", json={"status": 502, "path": "/nowhere"}).json()
    control.put(f"/stores/{other.secure_url}/throttle", json={"throttle": False})

    response = control.post("/stores/https://www.Shop.Example.com//reset")
    assert response.status_code == 200
    assert response.json() == {"reset": STORE}
    assert control.get(f"/stores/{STORE}/export").json() == []
    assert [f["id"] for f in control.get("/faults").json()] == [everyone["id"]] != [mine["id"]]
    assert control.get(f"/stores/{other.secure_url}/export").json()[0]["Name"] == "Theirs"
    assert control.get(f"/stores/{other.secure_url}/throttle").json()["throttle"] is False
    assert create_group(sandbox_api) == 1


def test_unknown_store_is_404_for_every_store_action(sandbox: LiveServer, control: httpx.Client) -> None:
    before = sandbox_state(sandbox.db)
    for method, action in [
        ("POST", "reset"),
        ("POST", "seed"),
        ("GET", "export"),
        ("GET", "journal"),
        ("DELETE", "journal"),
        ("GET", "throttle"),
        ("PUT", "throttle"),
    ]:
        body = [{"Name": "x"}] if action == "seed" else {"throttle": True}
        response = control.request(method, f"/stores/nobody.example.com/{action}", json=body)
        assert response.status_code == 404, action
        assert response.content == error_body(
            404, "There is no store 'nobody.example.com'", "nobody.example.com"
        )
    assert sandbox_state(sandbox.db) == before


def test_seed_then_export_in_wire_format(
    sandbox: LiveServer, control: httpx.Client, sandbox_api: httpx.Client
) -> None:
    create_group(sandbox_api, Name="First")
    response = control.post(
        f"/stores/{STORE}/seed",
        content=b'[{"Name":"Retail","MinimumOrder":250.50,"CustomerGroupID":99},{"name":"lower"}]',
        headers={"Content-Type": "application/json"},
    )
    assert response.status_code == 201
    assert response.json() == {"ids": [2, 3]}
    exported = control.get(f"/stores/{STORE}/export")
    assert exported.status_code == 200
    assert exported.content == sandbox_api.get("/CustomerGroups", params={"limit": 500}).content
    assert b'"MinimumOrder":250.50' in exported.content
    assert [g["Name"] for g in exported.json()] == ["First", "Retail", "lower"]
    entries = audit.list_entries(sandbox.db, secure_url=STORE, filters=audit.Filters())
    # Newest first; seeded groups are recorded as creates made by no token or application.
    assert [(e.action, e.item_id, e.application is None) for e in entries] == [
        ("create", 3, True),
        ("create", 2, True),
        ("create", 1, False),
    ]
    assert entries[1].after is not None and '"MinimumOrder":250.50' in entries[1].after


def test_resetting_a_store_forgets_its_audit_entries(
    sandbox: LiveServer, control: httpx.Client, sandbox_api: httpx.Client
) -> None:
    create_group(sandbox_api, Name="First")
    assert control.post(f"/stores/{STORE}/reset").is_success
    assert audit.list_entries(sandbox.db, secure_url=STORE, filters=audit.Filters()) == []


@pytest.mark.parametrize(
    ("body", "status", "expected"),
    [
        (
            b'[{"Name":"ok"},{"Name":""},{"MinimumOrder":-1}]',
            400,
            b'[{"Key":"Error","Value":"1","Status":"400","Message":"Name must not be empty"},'
            b'{"Key":"Error","Value":"2","Status":"400",'
            b'"Message":"Name is required; MinimumOrder must not be negative"}]',
        ),
        (
            b'{"Name":"one"}',
            400,
            error_body(400, "The request body must be a JSON array of CustomerGroup objects"),
        ),
        (b"", 400, error_body(400, "The request body must be a JSON array of CustomerGroup objects")),
        (b"[1,", 400, None),
        (
            b'["Name"]',
            400,
            b'[{"Key":"Error","Value":"0","Status":"400",'
            b'"Message":"The request body must be a JSON object (a CustomerGroup)"}]',
        ),
    ],
)
def test_seed_rejects_bad_groups_and_writes_nothing(
    sandbox: LiveServer,
    control: httpx.Client,
    sandbox_creds: Issued,
    body: bytes,
    status: int,
    expected: bytes | None,
) -> None:
    before = sandbox_state(sandbox.db)
    response = control.post(
        f"/stores/{STORE}/seed", content=body, headers={"Content-Type": "application/json"}
    )
    assert response.status_code == status
    if expected is not None:
        assert response.content == expected
    else:
        assert response.json()[0]["Message"].startswith("The request body is not valid JSON")
    assert sandbox_state(sandbox.db) == before


def test_export_of_an_empty_store_is_an_empty_array(control: httpx.Client, sandbox_creds: Issued) -> None:
    response = control.get(f"/stores/{STORE}/export")
    assert response.status_code == 200
    assert response.content == b"[]"


def test_create_store_gives_working_credentials(sandbox: LiveServer, control: httpx.Client) -> None:
    response = control.post("/stores", json={"SecureURL": "https://www.New-Shop.example.com/"})
    assert response.status_code == 201
    made = response.json()
    assert made["SecureURL"] == "new-shop.example.com"
    assert made["Scope"] == "read,write"
    assert len(made["PrivateKey"]) == len(made["Token"]) == 32
    headers = {k: made[k] for k in ("SecureURL", "PrivateKey", "Token")}
    with plain_client(sandbox.base_url + "/3dCartWebAPI/v1", headers) as api:
        assert create_group(api) == 1
    read_only = control.post("/stores", json={"SecureURL": made["SecureURL"], "Scope": "read"}).json()
    assert read_only["Scope"] == "read" and read_only["PrivateKey"] != made["PrivateKey"]
    listed = control.get("/stores").json()
    assert listed == [{"SecureURL": "new-shop.example.com", "groups": 1, "throttle": None}]


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({}, "SecureURL is required"),
        ({"SecureURL": ""}, "SecureURL must be a non-empty string"),
        ({"SecureURL": 5}, "SecureURL must be a non-empty string"),
        ({"SecureURL": "bad store!"}, "'bad store!' is not a store address such as shop.example.com"),
        (
            {"SecureURL": "a.example.com", "Scope": "admin"},
            "scope must be read, write or read,write (got 'admin')",
        ),
        (
            {"SecureURL": "a.example.com", "Owner": "me"},
            "Unknown field 'Owner'; expected SecureURL, Application, Scope",
        ),
        ([], "The request body must be a JSON object"),
    ],
)
def test_create_store_rejects_bad_input(
    sandbox: LiveServer, control: httpx.Client, body: object, message: str
) -> None:
    before = sandbox_state(sandbox.db)
    response = control.post("/stores", json=body)
    assert response.status_code == 400
    assert response.json()[0]["Message"] == message
    assert sandbox_state(sandbox.db) == before


def test_throttle_switch_round_trips_per_store(sandbox: LiveServer, control: httpx.Client) -> None:
    one = credentials.issue(sandbox.db, secure_url="one.example.com").secure_url
    two = credentials.issue(sandbox.db, secure_url="two.example.com").secure_url
    store_ids = {s: credentials.store_id_of(sandbox.db, s) for s in (one, two)}
    assert sandbox.app.sandbox is not None
    enabled = sandbox.app.sandbox.throttle_enabled
    assert control.get(f"/stores/{one}/throttle").json() == {"store": one, "throttle": None}
    assert enabled(store_ids[one]) is None

    assert control.put(f"/stores/{one}/throttle", json={"throttle": True}).json()["throttle"] is True
    assert control.put(f"/stores/{two}/throttle", json={"throttle": False}).json()["throttle"] is False
    assert (enabled(store_ids[one]), enabled(store_ids[two])) == (True, False)
    assert control.get(f"/stores/{two}/throttle").json() == {"store": two, "throttle": False}
    assert {s["SecureURL"]: s["throttle"] for s in control.get("/stores").json()} == {one: True, two: False}

    assert control.put(f"/stores/{one}/throttle", json={"throttle": None}).json()["throttle"] is None
    assert (enabled(store_ids[one]), enabled(store_ids[two])) == (None, False)


def test_a_store_switched_on_gets_3dcarts_bucket_and_the_others_do_not(
    sandbox: LiveServer, control: httpx.Client
) -> None:
    """The sandbox server runs without --rate-limit: only the store switched on is throttled,
    with 3dcart's bucket (50 requests, 2 per second), until it is switched off again."""
    one = credentials.issue(sandbox.db, secure_url="one.example.com", application="app-one")
    two = credentials.issue(sandbox.db, secure_url="two.example.com", application="app-two")
    services = sandbox.app.services
    assert services is not None and services.limiter is not None
    saved_clock = services.limiter.clock
    services.limiter.clock = lambda: 1_000_000.0  # time stands still: the bucket does not drain
    count = "/3dCartWebAPI/v1/CustomerGroups?countonly=1"
    try:
        with (
            plain_client(sandbox.base_url, headers_for(one)) as first,
            plain_client(sandbox.base_url, headers_for(two)) as second,
        ):
            assert control.put(f"/stores/{one.secure_url}/throttle", json={"throttle": True}).is_success
            assert [first.get(count).status_code for _ in range(50)] == [200] * 50
            refused = first.get(count)
            assert refused.status_code == 429
            assert refused.headers["Retry-After"] == "1"
            assert refused.content == error_body(429, RATE_LIMITED.format(1))
            assert {second.get(count).status_code for _ in range(60)} == {200}  # not switched on

            assert control.put(f"/stores/{one.secure_url}/throttle", json={"throttle": False}).is_success
            assert first.get(count).status_code == 200
    finally:
        services.limiter.clock = saved_clock


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({}, "throttle is required: true, false or null"),
        ({"throttle": "on"}, "throttle must be true, false or null"),
        ({"throttle": 1}, "throttle must be true, false or null"),
        ({"throttled": True}, "Unknown field 'throttled'; expected throttle"),
        ([True], "The request body must be a JSON object"),
    ],
)
def test_throttle_switch_rejects_bad_input(
    sandbox: LiveServer, control: httpx.Client, sandbox_creds: Issued, body: object, message: str
) -> None:
    control.put(f"/stores/{STORE}/throttle", json={"throttle": True})
    before = sandbox_state(sandbox.db)
    response = control.put(f"/stores/{STORE}/throttle", json=body)
    assert response.status_code == 400
    assert response.json()[0]["Message"] == message
    assert sandbox_state(sandbox.db) == before
    assert control.get(f"/stores/{STORE}/throttle").json()["throttle"] is True


def test_control_body_limits_apply(sandbox: LiveServer, control: httpx.Client, sandbox_creds: Issued) -> None:
    before = sandbox_state(sandbox.db)
    response = control.post(
        f"/stores/{STORE}/seed",
        content=b"[" + b'{"Name":"x"},' * 200_000 + b"{}]",
        headers={"Content-Type": "application/json"},
    )
    assert response.status_code == 413
    response = control.post(f"/stores/{STORE}/seed", content=b"[]", headers={"Content-Type": "text/plain"})
    assert response.status_code == 201  # the controls read JSON whatever the Content-Type says
    assert sandbox_state(sandbox.db) == before
