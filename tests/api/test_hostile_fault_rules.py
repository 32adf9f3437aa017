"""Issue 15, items 10 and 9 (sandbox part): hostile fault rules and sandbox control input.

Item 10: a regex path rule like ``(a+)+$`` took exponential time on a path of many a's followed
by b (15 s for one request, the event loop frozen). Matching is now bounded
(service.sandbox.MATCH_TIMEOUT_SECONDS): such a rule is taken as not matching that path, and the
request is answered at once."""

from __future__ import annotations

import time

import httpx

from cartgroups.service.sandbox import _matches, compile_pattern
from cartgroups.storage.sandbox import FaultRow
from tests.conftest import LiveServer

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
