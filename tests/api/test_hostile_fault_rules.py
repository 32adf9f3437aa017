"""Issue 15, items 10 and 9 (sandbox part): hostile fault rules and sandbox control input.

Item 10: a regex path rule like ``(a+)+$`` took exponential time on a path of many a's followed
by b (15 s for one request, the event loop frozen). Matching is now bounded
(service.sandbox.MATCH_TIMEOUT_SECONDS): such a rule is taken as not matching that path, and the
request is answered at once."""

from __future__ import annotations

import json
import time

import httpx
import pytest

from cartgroups.service.credentials import Issued
from cartgroups.service.sandbox import FAULT_FIELDS, _matches, compile_pattern
from cartgroups.storage.sandbox import FaultRow
from tests.conftest import STORE, LiveServer, error_body, sandbox_state

GROUPS = "/CustomerGroups"
# 28 a's: Python's re needs ~30 s for (a+)+$ on this path (4x more for every 2 a's).
HOSTILE_PATH = "/3dCartWebAPI/v1/CustomerGroups/" + "a" * 28 + "b"
PROMPT_SECONDS = 5.0


def _rule(path: str, regex: bool) -> FaultRow:
    return FaultRow(1, "*", path, regex, None, None, 503, None, None, 0, 1.0, None, 0)


def test_a_catastrophic_regex_is_cut_short_and_does_not_match() -> None:
    started = time.monotonic()
    assert _matches(_rule(r"(a+)+$", True), "GET", HOSTILE_PATH, None) is False
    assert time.monotonic() - started < PROMPT_SECONDS
    # Sane patterns match as before.
    assert _matches(_rule(r"a+b$", True), "GET", HOSTILE_PATH, None) is True
    assert _matches(_rule("*/CustomerGroups/a*b", False), "GET", HOSTILE_PATH, None) is True
    assert compile_pattern(r"CustomerGroups/\d+$", True).search("/x/CustomerGroups/12")


def test_a_catastrophic_regex_rule_does_not_freeze_the_server(
    sandbox: LiveServer, control: httpx.Client, sandbox_api: httpx.Client
) -> None:
    created = control.post("/faults", json={"path": "(a+)+$", "match": "regex", "status": 503})
    assert created.status_code == 201
    started = time.monotonic()
    response = sandbox_api.get(HOSTILE_PATH.removeprefix("/3dCartWebAPI/v1"))
    health = httpx.get(sandbox.base_url + "/healthz", timeout=30)
    assert time.monotonic() - started < PROMPT_SECONDS
    assert response.status_code == 400  # the store's own answer to a bad id: the rule did not fire
    assert health.status_code == 200
    # A path the pattern matches quickly still gets the fault.
    assert sandbox_api.get(f"{GROUPS}/aaa").status_code == 503


# Item 9 (sandbox part): NUL and lone surrogates in every sandbox control input are a 400 record
# (a 404 for a store that cannot exist), never a 500, and change nothing. JSON can carry both as
# escapes; PostgreSQL cannot store NUL in text, and no database can store a lone surrogate.
NUL, SURROGATE = "\x00", "\ud800"
TEXT_RULE = "{} must be valid Unicode text without NUL characters"
BAD_TEXTS = [pytest.param(NUL, id="nul"), pytest.param(SURROGATE, id="surrogate")]


def _json(obj: object) -> bytes:
    """JSON with \\u escapes for NUL and lone surrogates (as a hostile client sends them)."""
    return json.dumps(obj, ensure_ascii=True).encode()


@pytest.mark.parametrize("bad", BAD_TEXTS)
@pytest.mark.parametrize(
    ("field", "rule"),
    [
        ("message", {"status": 500}),
        ("path", {"status": 500}),
        ("path", {"status": 500, "match": "regex"}),
        ("store", {"status": 500}),
    ],
)
def test_a_fault_rule_with_nul_or_a_surrogate_is_a_400(
    sandbox: LiveServer,
    control: httpx.Client,
    sandbox_creds: Issued,
    field: str,
    rule: dict[str, object],
    bad: str,
) -> None:
    before = sandbox_state(sandbox.db)
    response = control.post("/faults", content=_json({**rule, field: f"x{bad}y"}))
    assert response.status_code == 400
    assert response.content == error_body(400, TEXT_RULE.format(field))
    assert sandbox_state(sandbox.db) == before


def _record(status: int, message: str, value: str = "") -> list[dict[str, str]]:
    return [{"Key": "Error", "Value": value, "Status": str(status), "Message": message}]


@pytest.mark.parametrize("bad", BAD_TEXTS)
def test_other_fault_rule_fields_with_nul_or_a_surrogate_are_a_400(
    sandbox: LiveServer, control: httpx.Client, bad: str
) -> None:
    shown = bad if bad == NUL else "\ufffd"  # a record's text is UTF-8: a lone surrogate is U+FFFD
    key = f"x{bad}"
    cases = [
        ({"method": f"G{bad}T", "status": 500}, _record(400, TEXT_RULE.format("method"))),
        ({"match": f"re{bad}", "status": 500}, _record(400, TEXT_RULE.format("match"))),
        (
            {key: 1},
            _record(400, f"Unknown field {key!r}; expected " + ", ".join(FAULT_FIELDS), f"x{shown}"),
        ),
    ]
    before = sandbox_state(sandbox.db)
    for body, expected in cases:
        response = control.post("/faults", content=_json(body))
        assert (response.status_code, response.json()) == (400, expected)
    assert sandbox_state(sandbox.db) == before


@pytest.mark.parametrize("bad", BAD_TEXTS)
@pytest.mark.parametrize("field", ["SecureURL", "Application", "Scope"])
def test_a_store_with_nul_or_a_surrogate_is_a_400(
    sandbox: LiveServer, control: httpx.Client, field: str, bad: str
) -> None:
    body = {"SecureURL": "new.example.com", field: f"x{bad}y"}
    before = sandbox_state(sandbox.db)
    response = control.post("/stores", content=_json(body))
    assert response.status_code == 400
    assert response.content == error_body(400, TEXT_RULE.format(field))
    assert sandbox_state(sandbox.db) == before


@pytest.mark.parametrize(
    ("method", "action", "body"),
    [
        ("GET", "export", None),
        ("GET", "journal", None),
        ("DELETE", "journal", None),
        ("POST", "reset", None),
        ("POST", "seed", [{"Name": "x"}]),
        ("GET", "throttle", None),
        ("PUT", "throttle", {"throttle": True}),
    ],
)
@pytest.mark.parametrize("raw", ["%00", "x%00y", "%ED%A0%80", "%ff"])
def test_a_store_path_with_nul_or_a_surrogate_is_a_404(
    sandbox: LiveServer,
    control: httpx.Client,
    sandbox_creds: Issued,
    method: str,
    action: str,
    body: object,
    raw: str,
) -> None:
    before = sandbox_state(sandbox.db)
    response = control.request(method, f"/stores/{raw}/{action}", json=body)
    assert response.status_code == 404
    [record] = response.json()
    assert record["Message"].startswith("There is no store ")
    assert record["Status"] == "404"
    assert sandbox_state(sandbox.db) == before


@pytest.mark.parametrize("bad", BAD_TEXTS)
def test_seeded_groups_with_nul_or_a_surrogate_are_a_400(
    sandbox: LiveServer, control: httpx.Client, sandbox_creds: Issued, bad: str
) -> None:
    before = sandbox_state(sandbox.db)
    response = control.post(f"/stores/{STORE}/seed", content=_json([{"Name": f"x{bad}"}]))
    assert response.status_code == 400
    assert response.json()[0]["Message"] == TEXT_RULE.format("Name")
    assert sandbox_state(sandbox.db) == before


LIMIT_RULE = "limit must be a whole number from 1 to 10000"


@pytest.mark.parametrize(
    ("path", "message", "value"),
    [
        ("/faults/%00", "A fault rule id is a whole number (got '\\x00')", "\x00"),
        (f"/stores/{STORE}/journal?limit=%00", LIMIT_RULE, "\x00"),
        (f"/stores/{STORE}/journal?limit=%ED%A0%80", LIMIT_RULE, "\ufffd" * 3),  # decoded, replaced
    ],
)
def test_ids_and_query_parameters_with_nul_or_a_surrogate_are_a_400(
    control: httpx.Client, sandbox_creds: Issued, path: str, message: str, value: str
) -> None:
    response = control.get(path)
    assert response.status_code == 400
    [record] = response.json()
    assert record == {"Key": "Error", "Value": value, "Status": "400", "Message": message}


def test_a_journaled_request_with_nul_in_its_path_or_body_is_kept(
    control: httpx.Client, sandbox_api: httpx.Client
) -> None:
    assert sandbox_api.get(GROUPS + "/%00").status_code in (400, 404)
    assert sandbox_api.post(GROUPS, content=b'{"Name":"a\x00b"}').status_code == 400
    posted, got = control.get(f"/stores/{STORE}/journal").json()
    assert got["path"] == "/3dCartWebAPI/v1/CustomerGroups/\ufffd"
    assert posted["request_body"] == '{"Name":"a\ufffdb"}'
